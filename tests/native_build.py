"""The native test build: the project's CMake with ZEROWASM_BUILD_TESTS=ON, configured
and built once per test session into one reused directory (build/native-tests, or
``ZEROWASM_NATIVE_BUILD_DIR``), so a second session only rebuilds what changed.

It holds the CTest tests (tests/cpp/CMakeLists.txt) and, where the CUDA backend is
built, the CPU-emulated CUDA driver that the op suite runs on (tests/backends.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_DIR = Path(os.environ.get("ZEROWASM_NATIVE_BUILD_DIR", REPO / "build" / "native-tests"))

CONFIGURE_ARGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DZEROWASM_BUILD_TESTS=ON",
    "-DZEROWASM_INSTALL_CMAKE_PACKAGE=OFF",
    # The fake driver only checks that the embedded image is a fatbin: PTX for one
    # architecture is the cheapest nvcc run that makes one.
    "-DZEROWASM_CUDA_ARCHS=",
    "-DZEROWASM_CUDA_PTX_ARCH=80",
]


class NativeBuildError(Exception):
    """cmake is missing, or configuring or building failed (the message has its output)."""


@dataclass(frozen=True)
class NativeBuild:
    dir: Path

    def library(self, target: str) -> Path | None:
        """The shared library a CMake target built here (None if it was not built)."""
        found = sorted(self.dir.glob(f"**/lib{target}.so")) + sorted(self.dir.glob(f"**/lib{target}.dylib"))
        return found[0] if found else None


def _run(cmd: list[str], timeout: float) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise NativeBuildError(f"{' '.join(cmd)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-8000:]}")


def build() -> NativeBuild:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise NativeBuildError("cmake is not installed (pip install cmake)")
    args = list(CONFIGURE_ARGS)
    if shutil.which("ninja"):
        args[:0] = ["-G", "Ninja"]
    # Configure only when the arguments changed (it costs tens of seconds with CUDA);
    # the build re-runs cmake by itself when a CMakeLists.txt changed.
    stamp = BUILD_DIR / "zerowasm-test-configure.json"
    wanted = json.dumps({"cmake": cmake, "args": args})
    if not (BUILD_DIR / "CMakeCache.txt").is_file() or not stamp.is_file() or stamp.read_text() != wanted:
        (BUILD_DIR / "CMakeCache.txt").unlink(missing_ok=True)  # a generator change needs a fresh cache
        _run([cmake, "-S", str(REPO), "-B", str(BUILD_DIR), *args], timeout=900)
        stamp.write_text(wanted)
    _run([cmake, "--build", str(BUILD_DIR), "-j", str(os.cpu_count() or 2)], timeout=1800)
    return NativeBuild(BUILD_DIR)
