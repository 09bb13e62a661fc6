"""The op suite (tests/test_ops.py) in child processes: the runs of backends.CHILD_RUNS,
which need environment the library reads once per process (the CPU's generic kernels,
the CUDA backend on the CPU-emulated driver of the native test build).

A child run fails when any of its tests fails or when it ran none; its test ids name
the run (e.g. ``test_matmul[cuda-emulated-managed-f32-0]``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import zerowasm
from backends import CHILD_RUNS, ChildRun
from native_build import REPO

NATIVE_FILE = re.compile(r"\{native:(\w+)\}")


def compiled_in(backend: str) -> str | None:
    """None if this build of the extension has `backend`, else why not."""
    for name, _, detail in zerowasm.backend_details():
        if name == backend:
            return None if not detail.startswith("not built") else detail
    return "not in this build's registry"


@pytest.mark.parametrize("run", CHILD_RUNS, ids=lambda r: r.label)
def test_op_suite(run: ChildRun, request: pytest.FixtureRequest) -> None:
    why = compiled_in(run.backend)
    if why is not None:
        pytest.skip(f"{run.backend}: {why}")
    env = dict(os.environ, ZEROWASM_TEST_BACKENDS=run.backend, ZEROWASM_TEST_VARIANT=run.label)
    for key, value in run.env.items():
        for target in NATIVE_FILE.findall(value):
            lib = request.getfixturevalue("native_build").library(target)
            assert lib is not None, f"the native test build has no {target} library"
            value = value.replace(f"{{native:{target}}}", str(lib))
        env[key] = value
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *run.pytest_args, *run.tests]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    out = done.stdout + done.stderr
    print(out)
    assert done.returncode == 0, f"{' '.join(f'{k}={v}' for k, v in run.env.items())} {' '.join(cmd)}\n{out[-12000:]}"
    passed = re.search(r"(\d+) passed", out)
    assert passed and int(passed.group(1)) > 0, out[-4000:]
