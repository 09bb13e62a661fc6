"""Every native test (CTest, tests/cpp/CMakeLists.txt): builds the project's CMake with
ZEROWASM_BUILD_TESTS=ON once per session (tests/native_build.py) and runs ``ctest``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from native_build import NativeBuild


def test_ctest(native_build: NativeBuild) -> None:
    ctest = shutil.which("ctest")
    assert ctest is not None, "ctest is not installed (pip install cmake)"
    done = subprocess.run(
        [ctest, "--test-dir", str(native_build.dir), "--output-on-failure", "--timeout", "900",
         "-j", str(os.cpu_count() or 2)],
        capture_output=True, text=True, timeout=1800,
    )
    out = done.stdout + done.stderr
    print(out)
    assert done.returncode == 0, out[-12000:]
    summary = re.search(r"100% tests passed,? (?:0 tests failed )?out of (\d+)", out)
    assert summary and int(summary.group(1)) >= 3, out[-4000:]
