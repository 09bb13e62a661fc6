"""Pieces of the wheel build that run without building one (scripts/build-wheel.sh builds,
installs and smoke-tests a real wheel as its own CI step): prebuilt guests are used only
when they match the installed sources, and are added to a wheel with a correct RECORD."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import zipfile
from pathlib import Path

import pytest
from zerowasm import guests, toolchain

REPO = Path(__file__).resolve().parents[1]


def load_prebuild_script():
    spec = importlib.util.spec_from_file_location("prebuild_guests", REPO / "scripts" / "prebuild_guests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prebuilt_guest_is_used_only_for_matching_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(guests, "PREBUILT_DIR", tmp_path)
    (tmp_path / "vec_add.wasm").write_bytes(b"\0asm\1\0\0\0")
    manifest = {"vec_add": {"file": "vec_add.wasm", "sources": guests.source_digest("vec_add")}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    def no_compiler():
        raise toolchain.NoCompilerError("no compiler in this test")

    monkeypatch.setattr(toolchain, "find_compiler", no_compiler)
    assert guests.guest_path("vec_add") == tmp_path / "vec_add.wasm"  # no compiler was asked for
    manifest["vec_add"]["sources"] = "0" * 64  # built from other sources: not used
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert guests.prebuilt_path("vec_add") is None
    with pytest.raises(toolchain.NoCompilerError):
        guests.guest_path("vec_add")
    assert guests.prebuilt_path("minilm") is None  # not in the manifest


def test_source_digest_follows_the_sources():
    digests = {name: guests.source_digest(name) for name in guests.GUESTS}
    assert len(set(digests.values())) == len(digests)
    assert digests["vec_add"] == guests.source_digest("vec_add")


def test_files_added_to_a_wheel_are_in_its_record(tmp_path):
    prebuild = load_prebuild_script()
    wheel = tmp_path / "zerowasm-0.1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("zerowasm/__init__.py", "x = 1\n")
        z.writestr("zerowasm-0.1.0.dist-info/RECORD",
                   prebuild.record_line("zerowasm/__init__.py", b"x = 1\n") + "\nzerowasm-0.1.0.dist-info/RECORD,,\n")
    added = {"zerowasm/prebuilt/a.wasm": b"\0asm\1\0\0\0", "zerowasm/prebuilt/manifest.json": b"{}\n"}
    prebuild.add_to_wheel(wheel, added)
    with zipfile.ZipFile(wheel) as z:
        record = z.read("zerowasm-0.1.0.dist-info/RECORD").decode().splitlines()
        assert record[-1] == "zerowasm-0.1.0.dist-info/RECORD,,"
        listed = {line.split(",")[0]: line.split(",")[1:] for line in record}
        for name in ["zerowasm/__init__.py", *added]:
            data = z.read(name)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert listed[name] == [f"sha256={digest}", str(len(data))]
