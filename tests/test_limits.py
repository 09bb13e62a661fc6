"""Sandbox limits: deadlines, interrupt(), Ctrl-C, fuel and the runtime memory budget."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zerowasm
from limit_guests import SPIN_WAT, ops_wat

MIB = 1 << 20
PAGE = zerowasm.PAGE_SIZE


@pytest.fixture(scope="module")
def spin_module() -> zerowasm.Module:
    return zerowasm.Runtime("cpu").load(SPIN_WAT)


def test_spin_times_out_within_30ms_of_its_deadline(spin_module: zerowasm.Module) -> None:
    inst = spin_module.instantiate()
    t0 = time.perf_counter()
    with pytest.raises(zerowasm.Timeout) as info:
        inst.call("spin", timeout=0.05)
    took = time.perf_counter() - t0
    assert 0.05 <= took < 0.05 + 0.030, took
    assert isinstance(info.value, zerowasm.Trap)
    assert 0.05 <= info.value.elapsed <= took
    assert info.value.timeout == pytest.approx(0.05)
    assert "spin" in str(info.value) and "timed out after 0.0" in str(info.value)
    # Not poisoned: the same instance runs the next call to completion.
    assert inst.call("count", 1000) == 1000
    assert inst.call("count", 10, timeout=5.0) == 10


def test_runtime_default_timeout_and_per_call_override() -> None:
    rt = zerowasm.Runtime("cpu", timeout=0.05)
    inst = rt.load(SPIN_WAT).instantiate()
    t0 = time.perf_counter()
    with pytest.raises(zerowasm.Timeout):
        inst.call("spin")
    assert time.perf_counter() - t0 < 0.05 + 0.030
    with pytest.raises(zerowasm.Timeout) as info:
        inst.call("spin", timeout=0.1)
    assert info.value.elapsed >= 0.1
    # A call that finishes in time is unaffected by its deadline.
    assert inst.call("count", 100_000) == 100_000


def test_deadline_stops_an_op_loop_at_the_next_op_boundary() -> None:
    m = n = k = 192
    floats = m * k + n * k + 2 * m * n
    inst = zerowasm.Runtime("cpu").load(ops_wat(floats * 4 // PAGE + 1)).instantiate()
    rng = np.random.default_rng(1)
    inst.memory.view(0, m * k + n * k, np.float32)[:] = rng.standard_normal(m * k + n * k)
    t0 = time.perf_counter()
    inst.call("matmul_loop", 3, m, n, k)
    per_iter = (time.perf_counter() - t0) / 3
    inst.reset_stats()
    inst.memory.view((m * k + n * k + m * n) * 4, m * n, np.float32)[:] = 0  # d, which the warm-up filled
    timeout = max(0.1, 5 * per_iter)
    t0 = time.perf_counter()
    with pytest.raises(zerowasm.Timeout) as info:
        inst.call("matmul_loop", 1_000_000, m, n, k, timeout=timeout)
    took = time.perf_counter() - t0
    calls = inst.stats()["ops"]["matmul"]["calls"]
    # Stopped after the deadline, at most one op (plus scheduling slack) later...
    assert timeout <= info.value.elapsed <= took < timeout + 2 * per_iter + 0.05, (took, per_iter)
    # ...and the ops before the stop all ran: d holds exactly `calls` products.
    a = inst.memory.view(0, (m, k), np.float32).astype(np.float64)
    b = inst.memory.view(m * k * 4, (n, k), np.float32).astype(np.float64)
    d = inst.memory.view((m * k + n * k + m * n) * 4, (m, n), np.float32)
    adds = inst.stats()["ops"].get("add", {"calls": 0})["calls"]
    assert adds in (calls, calls - 1) and adds >= 1
    np.testing.assert_allclose(d, adds * (a @ b.T), rtol=1e-3, atol=1e-2 * adds)


def test_interrupt_from_another_thread_stops_spin_within_30ms(spin_module: zerowasm.Module) -> None:
    inst = spin_module.instantiate()
    caught: list[BaseException] = []
    ended: list[float] = []

    def run() -> None:
        try:
            inst.call("spin")
        except BaseException as e:  # noqa: BLE001 (the test inspects it)
            caught.append(e)
        ended.append(time.perf_counter())

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    assert worker.is_alive()
    t0 = time.perf_counter()
    inst.interrupt()
    worker.join(5)
    assert not worker.is_alive()
    assert ended[0] - t0 < 0.030, ended[0] - t0
    assert isinstance(caught[0], zerowasm.Interrupted), caught
    assert caught[0].elapsed >= 0.2
    assert inst.call("count", 5) == 5  # the interrupt was consumed; the instance works


def test_interrupt_before_a_call_stops_the_next_call(spin_module: zerowasm.Module) -> None:
    inst = spin_module.instantiate()
    inst.interrupt()
    with pytest.raises(zerowasm.Interrupted):
        inst.call("spin")
    assert inst.call("count", 3) == 3


SIGINT_PY = """
import zerowasm, sys
inst = zerowasm.Runtime("cpu").load(open(sys.argv[1]).read()).instantiate()
inst.call("ready_spin")
"""


def _signal_state(pid: int) -> str:
    """The child's signal masks and its threads' states (Linux), for a hang's failure message."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        lines = [line for line in status if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
            stat = (task / "stat").read_text()
            state = stat[stat.rindex(")") + 2:].split()[0]
            lines.append(f"thread {task.name}: state {state}, wchan {(task / 'wchan').read_text()}")
        return "; ".join(lines)
    except OSError as e:
        return f"(no /proc state: {e})"


def _interrupt_after_ready(cmd: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the guest prints "ready" right before it spins
        assert line == "ready\n", (line, proc.stderr.read() if proc.stderr else "")
        time.sleep(0.1)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            # Seen once, on a heavily loaded machine, and not reproduced: say what the child was doing.
            pytest.fail(f"no exit 10 s after SIGINT; child {_signal_state(proc.pid)}")
        took = time.perf_counter() - t0
    finally:
        proc.kill()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), took


@pytest.mark.parametrize("how", ["python", "cli"])
def test_sigint_ends_a_spinning_call_with_keyboardinterrupt(tmp_path: Path, how: str) -> None:
    wat = tmp_path / "spin.wat"
    wat.write_text(SPIN_WAT)
    if how == "python":
        cmd = [sys.executable, "-c", SIGINT_PY, str(wat)]
    else:
        cmd = [sys.executable, "-m", "zerowasm", "run", "--backend", "cpu", str(wat), "ready_spin"]
    done, took = _interrupt_after_ready(cmd)
    assert took < 1.0, took
    assert "KeyboardInterrupt" in done.stderr, done.stderr
    # Python's exit for an uncaught KeyboardInterrupt: killed by SIGINT.
    assert done.returncode == -signal.SIGINT, (done.returncode, done.stderr)


def test_fuel_exhaustion_and_add_fuel(spin_module: zerowasm.Module) -> None:
    inst = spin_module.instantiate(fuel=100_000)
    start = inst.fuel_remaining
    assert 0 < start <= 100_000
    assert inst.call("count", 1000) == 1000
    used = start - inst.fuel_remaining
    assert 1000 <= used <= 20 * 1000, used  # a few units per loop iteration
    with pytest.raises(zerowasm.OutOfFuel) as info:
        inst.call("count", 10_000_000)
    assert isinstance(info.value, zerowasm.Trap) and "fuel" in str(info.value)
    assert inst.fuel_remaining == 0
    with pytest.raises(zerowasm.OutOfFuel):
        inst.call("count", 1)
    inst.add_fuel(10 * used)
    assert inst.call("count", 1000) == 1000
    assert inst.fuel_remaining == pytest.approx(9 * used, abs=50)
    with pytest.raises(zerowasm.OutOfFuel):
        inst.call("spin")  # fuel also bounds an infinite loop without a deadline


def test_fuel_is_refused_on_unmetered_instances(spin_module: zerowasm.Module) -> None:
    inst = spin_module.instantiate()
    with pytest.raises(zerowasm.Error, match="fuel"):
        inst.add_fuel(1)
    with pytest.raises(zerowasm.Error, match="fuel"):
        _ = inst.fuel_remaining


def test_memory_limit_is_shared_by_all_instances_of_a_runtime() -> None:
    rt = zerowasm.Runtime("cpu", memory_limit=64 * MIB)
    mod = rt.load(SPIN_WAT)  # 1 page initially
    budget_pages = 64 * MIB // PAGE
    first = [mod.instantiate() for _ in range(3)]
    for inst in first:
        assert inst.call("grow", 335) == 1  # 336 pages = 21 MiB each
    fourth = mod.instantiate()  # 3 * 336 + 1 = 1009 pages committed
    assert fourth.call("grow", budget_pages - 1009 + 1) == -1  # one page past the budget
    assert fourth.memory.size == PAGE  # a failed grow leaves the memory as it was
    assert fourth.call("grow", budget_pages - 1009) == 1  # exactly the budget
    assert fourth.call("grow", 1) == -1
    with pytest.raises(zerowasm.Error, match=f"memory_limit of {64 * MIB} bytes"):
        mod.instantiate()
    # Host-side growth is held to the same budget, and says so (Memory.grow raises with the
    # cause for any failure other than passing the memory's own maximum).
    with pytest.raises(zerowasm.Error, match=f"memory_limit of {64 * MIB} bytes is exhausted"):
        first[0].memory.grow(1)
    # Destroying an instance returns its pages to the budget.
    del first[0]
    gc.collect()
    assert fourth.call("grow", 300) == budget_pages - 3 * 336  # its previous size, in pages
    assert fourth.memory.size == (budget_pages - 3 * 336 + 300) * PAGE
    # Other runtimes have their own budget.
    assert zerowasm.Runtime("cpu", memory_limit=2 * MIB).load(SPIN_WAT).instantiate().call("grow", 31) == 1
