"""Put the bundled guests, prebuilt, into a wheel (scripts/build-wheel.sh):
``python scripts/prebuild_guests.py WHEEL``.

Builds every guest of zerowasm.guests.GUESTS with the toolchain of record (the
ziglang package) and adds them with their manifest under ``zerowasm/prebuilt/``
(RECORD updated), so the installed package needs no compiler at first use.
Runs from a source checkout before the extension exists: zerowasm.guests and its
imports are pure Python, so the package is set up without running its __init__
(which loads the compiled module).
"""

from __future__ import annotations

import base64
import hashlib
import sys
import tempfile
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def add_to_wheel(wheel: Path, files: dict[str, bytes]) -> None:
    """Rewrite `wheel` with `files` (archive name -> bytes) added and listed in its RECORD."""
    out = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        record_name = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        for item in src.infolist():
            if item.filename != record_name and item.filename not in files:
                dst.writestr(item, src.read(item.filename))
        lines = [ln for ln in src.read(record_name).decode().splitlines() if ln.split(",")[0] not in files]
        for name, data in sorted(files.items()):
            dst.writestr(name, data)
            lines.insert(len(lines) - 1, record_line(name, data))  # RECORD's own line stays last
        dst.writestr(record_name, "\n".join(lines) + "\n")
    out.replace(wheel)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    wheel = Path(sys.argv[1])
    package = types.ModuleType("zerowasm")
    package.__path__ = [str(ROOT / "python" / "zerowasm")]
    sys.modules["zerowasm"] = package
    from zerowasm import guests

    with tempfile.TemporaryDirectory() as tmp:
        manifest = guests.prebuild(Path(tmp))
        files = {f"zerowasm/prebuilt/{p.name}": p.read_bytes() for p in sorted(Path(tmp).iterdir())}
    add_to_wheel(wheel, files)
    for name, entry in sorted(manifest.items()):
        print(f"prebuilt guest {name}: {len(files['zerowasm/prebuilt/' + entry['file']]):,} bytes")


if __name__ == "__main__":
    main()
