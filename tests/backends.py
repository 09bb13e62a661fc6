"""Which backends the op suite (tests/test_ops.py) runs on, and how.

Two kinds of run, both checked against the numpy float64 reference (ops_harness.py):

* In this process: every compiled-in backend that starts here when asked by name
  (``cpu`` always; ``cuda``, ``metal``, ``vulkan`` where their device is), once per
  memory mode. A backend the registry knows needs no line here; one with memory
  modes beyond ``guard`` adds them to MEMORY_MODES.
* In a child process (CHILD_RUNS, driven by tests/test_op_suites.py): runs that need
  environment the library reads once per process, such as the CPU's generic kernels
  or the CUDA backend on the CPU-emulated driver. Adding one is one line.

Test ids name what ran: ``cpu-guard``, ``cuda-managed``, and in child runs the run's
label, e.g. ``cuda-emulated-guard``. ``ZEROWASM_TEST_BACKENDS=a,b`` narrows the
in-process list (``ZEROWASM_TEST_MEMORY=guard,...`` the memory modes); a backend named
there that cannot start fails the tests that use it (a child run never passes by
silently testing nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import zerowasm

# Memory modes the op suite runs per backend, besides "guard".
MEMORY_MODES: dict[str, tuple[str, ...]] = {"cuda": ("managed",)}

# Placeholder in a child run's environment for a file of the native test build
# (tests/native_build.py), e.g. the fake CUDA driver.
FAKE_LIBCUDA = "{native:zw_fake_cuda}"

# The op suite and the hostile-argument checks that take its backend parametrization.
OP_SUITE = ("tests/test_ops.py", "tests/test_quant.py", "tests/test_hostile.py::test_valid_call_after_every_rejection")


@dataclass(frozen=True)
class ChildRun:
    """The op suite in a child process with `env`, on backend `backend` only.

    pytest_args narrow it where a run is slow: e.g. ``-m "not heavy"`` leaves out the
    large shapes a software emulator would spend minutes on.
    """

    label: str
    backend: str
    env: dict[str, str]
    tests: tuple[str, ...] = OP_SUITE
    pytest_args: tuple[str, ...] = ()


CHILD_RUNS: tuple[ChildRun, ...] = (
    # The portable kernels that CPUs without AVX2 get, on more threads than cores.
    ChildRun("cpu-generic", "cpu", {"ZEROWASM_CPU_ISA": "generic", "ZEROWASM_NUM_THREADS": "3"}),
    # The real CUDA backend (executor, registration, launches) on a driver that runs
    # the real kernel sources on CPU threads (csrc/backend/cuda/emu/): one memory mode
    # (the kernels are the same in both; test_cuda_backend.py covers managed memory),
    # without the heavy shapes (one OS thread per CUDA thread makes those take minutes).
    ChildRun("cuda-emulated", "cuda", {"ZEROWASM_LIBCUDA": FAKE_LIBCUDA, "ZEROWASM_TEST_MEMORY": "guard"},
             (*OP_SUITE, "tests/test_cuda_backend.py"), ("-m", "not heavy")),
)


@dataclass(frozen=True)
class OpTarget:
    """One backend and memory mode the op suite runs on (None: `why` it cannot)."""

    backend: str
    memory: str
    why_unavailable: str | None = None

    @property
    def label(self) -> str:
        variant = os.environ.get("ZEROWASM_TEST_VARIANT")
        return f"{variant or self.backend}-{self.memory}"


def _start_reason(name: str) -> str | None:
    """None if `Runtime(name)` starts here, else why not."""
    try:
        zerowasm.Runtime(name)
    except zerowasm.Error as err:
        return str(err)
    return None


def op_targets() -> list[OpTarget]:
    wanted = os.environ.get("ZEROWASM_TEST_BACKENDS")
    if wanted:
        names = [n.strip() for n in wanted.split(",") if n.strip()]
    else:
        names = [name for name, _, _ in zerowasm.backend_details()]
    targets = []
    for name in names:
        why = _start_reason(name)
        if why is not None and not wanted:
            continue  # compiled in, but no device here
        for memory in ("guard", *MEMORY_MODES.get(name, ())):
            if memory in os.environ.get("ZEROWASM_TEST_MEMORY", memory).split(","):
                targets.append(OpTarget(name, memory, why))
    return targets
