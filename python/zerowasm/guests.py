"""The guest modules zerowasm ships as C sources, built on first use and cached.

Shipping sources (not binaries) keeps one toolchain of record (``zerowasm cc``,
the ziglang PyPI package by default) and lets users rebuild or modify the
guests; the build is cached by a hash of the sources, flags and compiler.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import toolchain
from .models.fetch import cache_dir


@dataclass(frozen=True)
class GuestSpec:
    directory: str  # relative to the guest source root
    shared: tuple[str, ...] = ()  # more source directories built in (and on the include path)
    borrowed: tuple[str, ...] = ()  # single sources of other guests built in (their directory on the include path)
    stack_size: int = 1 << 20
    defines: tuple[str, ...] = ()
    extra_flags: tuple[str, ...] = field(default=())


GUESTS: dict[str, GuestSpec] = {
    "vec_add": GuestSpec("examples/vec_add"),
    "column_reduce": GuestSpec("examples/column_reduce"),  # reductions over Arrow columns (interop_arrow)
    # the model guests share the host protocol of guest/models/common/guest_api.h
    "minilm": GuestSpec("models/minilm", shared=("models/common",)),
    # any GGUF decoder (SmolLM2, the bundled chat model, included), with SmolLM2's byte-level BPE tokenizer
    "llm": GuestSpec("models/llm", shared=("models/common",), borrowed=("models/smollm/tokenizer.c",)),
}


def source_root() -> Path:
    """guest/ sources: installed as package data, or the repository's guest/ directory."""
    installed = Path(__file__).parent / "guest"
    if installed.is_dir():
        return installed
    repo = Path(__file__).resolve().parents[2] / "guest"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("zerowasm's guest sources are missing from this installation")


def _sources(spec: GuestSpec) -> list[Path]:
    root = source_root()
    target = root / spec.directory
    own = sorted(target.glob("*.c")) if target.is_dir() else [target.with_suffix(".c")]
    return (own + [c for d in spec.shared for c in sorted((root / d).glob("*.c"))]
            + [root / b for b in spec.borrowed])


def _include_dirs(spec: GuestSpec, sources: list[Path]) -> list[Path]:
    borrowed_dirs = dict.fromkeys(source_root() / Path(b).parent for b in spec.borrowed)
    return [sources[0].parent, *(source_root() / d for d in spec.shared), *borrowed_dirs]


PREBUILT_DIR = Path(__file__).parent / "prebuilt"  # wheels ship built guests here (scripts/build-wheel.sh)
PREBUILT_MANIFEST = "manifest.json"


def source_digest(name: str) -> str:
    """Hash of everything a guest is built from (sources, headers, SDK headers, build spec),
    independent of the compiler: a prebuilt guest is used only when it matches."""
    spec = GUESTS[name]
    sources = _sources(spec)
    include_dirs = _include_dirs(spec, sources)
    headers = sorted({h for d in include_dirs for h in d.glob("*.h")})
    digest = hashlib.sha256()
    sdk = toolchain.sdk_include_dir()
    for path in [*sources, *headers, sdk / "zerowasm.h", sdk / "zerowasm_abi.h"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(repr(spec).encode())
    return digest.hexdigest()


def prebuilt_path(name: str) -> Path | None:
    """The guest this installation ships prebuilt, if it was built from these very sources."""
    manifest = PREBUILT_DIR / PREBUILT_MANIFEST
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text()).get(name)
    if not entry or entry.get("sources") != source_digest(name):
        return None
    path = PREBUILT_DIR / entry["file"]
    return path if path.is_file() else None


def guest_path(name: str, *, quiet: bool = False) -> Path:
    """Path to the built ``name`` guest (.wasm): the installation's prebuilt one when it
    matches the sources (wheels; no compiler needed), else compiled once and cached."""
    prebuilt = prebuilt_path(name)
    if prebuilt is not None:
        return prebuilt
    spec = GUESTS[name]
    sources = _sources(spec)
    include_dirs = _include_dirs(spec, sources)
    compiler = toolchain.find_compiler()
    digest = hashlib.sha256(source_digest(name).encode())
    digest.update(repr((compiler.kind, compiler.ident, compiler.flags)).encode())
    out = cache_dir() / "guests" / f"{name}-{digest.hexdigest()[:16]}.wasm"
    if not out.is_file():
        if not quiet:
            print(f"zerowasm: building the {name} guest (first use; cached in {out.parent})...", file=sys.stderr)
        toolchain.compile_c(sources, out, include_dirs=include_dirs, defines=spec.defines,
                            stack_size=spec.stack_size, extra_flags=spec.extra_flags, compiler=compiler)
    return out


def prebuild(out_dir: Path) -> dict[str, dict[str, str]]:
    """Build every bundled guest into ``out_dir`` with a manifest (name -> file, source digest),
    for a wheel's ``zerowasm/prebuilt``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, str]] = {}
    for name in GUESTS:
        target = out_dir / f"{name}.wasm"
        shutil.copyfile(guest_path(name, quiet=True), target)
        manifest[name] = {"file": target.name, "sources": source_digest(name)}
    (out_dir / PREBUILT_MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
