"""Runs the standalone C++ CPU-backend harness (tests/cpp/build_and_run.sh) under pytest.

The harness checks every CPU kernel against float64 references, with the AVX2
kernels and again with the portable fallback; this wrapper only builds and runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("build_and_run.sh")


@pytest.mark.skipif(os.name == "nt", reason="the harness script is bash")
def test_cpu_backend_cpp_harness(tmp_path: Path) -> None:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        pytest.skip(f"no C++ compiler ({cxx}) to build the harness")
    env = dict(os.environ, BUILD_DIR=str(tmp_path))
    run = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert out.count(" 0 failed") == 2, out[-4000:]
