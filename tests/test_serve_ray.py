"""Ray Serve: tests/ray_cases.py, run in a child pytest.

``ray.init()`` installs Ray's crash handlers (SIGILL, SIGSEGV, ...) over the ones wasmtime
installed when the process made its first engine, and they do not hand wasm faults back:
after it, a guest trap in that process (wasmtime turns traps into those signals) kills the
process instead of raising ``Trap``. Measured: a trap raised ``Trap`` before ``ray.init()``
and ended the process with "Fatal Python error: Illegal instruction" after it. Ray's worker
processes install theirs before the replica creates its runtime, so wasmtime's come second
and chain correctly there; in this test process they would not, hence the child.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'zerowasm[ray]')")
pytest.importorskip("openai", reason="the openai client is not installed (test extra)")

pytestmark = pytest.mark.slow


def test_ray_cases_in_a_child_process() -> None:
    tests = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", str(tests / "ray_cases.py")],
        cwd=tests.parent, capture_output=True, text=True, timeout=1500, check=False,
    )
    report = done.stdout[-6000:] + done.stderr[-3000:]
    print(report)
    assert done.returncode == 0, report
    assert " passed" in done.stdout and " failed" not in done.stdout, report
