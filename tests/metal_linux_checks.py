"""Builds the Metal backend's Linux checks once per test session.

csrc/backend/metal/linux_check/checks.cmake defines them (CTest label
``metal``) in the project's own CMake build: shader and Objective-C++ syntax
checks, the kernel-name and embedding checks, the CPU emulator of the shaders
(``zw_metal_kernel_driver``) and the buffer-view planner driver. The tests
configure that build under build/metal-linux-checks (incremental across
runs), build it, and either run ctest or drive the built programs.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "metal-linux-checks"
CMAKE = shutil.which("cmake")
CTEST = shutil.which("ctest")
CXX = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)


@functools.cache
def _build() -> tuple[bool, str]:
    configure = _run(
        [
            str(CMAKE),
            "-S",
            str(ROOT),
            "-B",
            str(BUILD),
            "-DZEROWASM_METAL_LINUX_CHECKS=ON",
            "-DZEROWASM_CUDA=OFF",
            "-DZEROWASM_PYTHON=OFF",
            "-DZEROWASM_INSTALL_CMAKE_PACKAGE=OFF",
        ]
    )
    if configure.returncode != 0:
        return False, f"cmake configure failed:\n{configure.stdout}\n{configure.stderr}"
    build = _run([str(CMAKE), "--build", str(BUILD), "--target", "zw_metal_linux_checks"])
    if build.returncode != 0:
        return False, f"cmake --build failed:\n{build.stdout}\n{build.stderr}"
    return True, ""


def build() -> Path:
    """The configured and built check tree; fails the calling test if the build fails."""
    if CMAKE is None or CTEST is None or CXX is None:
        pytest.skip(f"needs cmake, ctest and a C++20 compiler (cmake: {CMAKE}, ctest: {CTEST}, c++: {CXX})")
    ok, log = _build()
    assert ok, log
    return BUILD


def program(name: str) -> Path:
    return build() / name


def ctest(*args: str) -> subprocess.CompletedProcess[str]:
    assert CTEST is not None
    return _run([CTEST, "--test-dir", str(build()), "--output-on-failure", "-j2", *args])
