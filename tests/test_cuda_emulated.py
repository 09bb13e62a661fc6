"""The CUDA backend's host side on a CPU-emulated driver, so CI without a GPU still runs it:
registration of linear memory and its growth (including failed growth), both address
modes, launches of every op, and driver error paths (csrc/backend/cuda/emu/).

Needs cmake and nvcc (the backend is only compiled where a CUDA toolkit exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("nvcc") is None,
    reason="needs cmake and nvcc to build the CUDA backend and its emulated driver",
)


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done.stdout


def test_cuda_backend_on_the_emulated_driver(tmp_path: Path) -> None:
    build = tmp_path / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", str(REPO), "-B", str(build), *gen, "-DCMAKE_BUILD_TYPE=Release", "-DZEROWASM_CUDA=ON",
         "-DZEROWASM_CUDA_EMU_TESTS=ON", "-DZEROWASM_INSTALL_CMAKE_PACKAGE=OFF"])
    run(["cmake", "--build", str(build), "--target", "zw_cuda_emu_test", "zw_fake_cuda",
         "-j", str(os.cpu_count() or 2)])
    out = run(["ctest", "--test-dir", str(build), "--output-on-failure"])
    assert "100% tests passed" in out, out
