"""Threads: instances run in parallel (GIL released, shared CPU pool), one instance is serialized.

Speed-up is measured by bench/bench_threads.py, not asserted here.
"""

from __future__ import annotations

import threading

import numpy as np
import zerowasm
from limit_guests import SPIN_WAT, ops_wat

PAGE = zerowasm.PAGE_SIZE
M, N, K = 48, 40, 64  # big enough that the CPU pool splits the matmul
FLOATS = M * K + N * K + 2 * M * N
ITERS = 1000


def _fresh(mod: zerowasm.Module, seed: int) -> zerowasm.Instance:
    inst = mod.instantiate()
    rng = np.random.default_rng(seed)
    inst.memory.view(0, M * K + N * K, np.float32)[:] = rng.standard_normal(M * K + N * K)
    return inst


def _result(inst: zerowasm.Instance) -> bytes:
    return inst.memory.read((M * K + N * K + M * N) * 4, M * N * 4)


def test_threaded_op_loops_are_bit_identical_to_serial() -> None:
    mod = zerowasm.Runtime("cpu").load(ops_wat(FLOATS * 4 // PAGE + 1))
    serial = []
    for seed in (1, 2):
        inst = _fresh(mod, seed)
        assert inst.call("matmul_loop", ITERS, M, N, K) == ITERS
        serial.append(_result(inst))
    assert serial[0] != serial[1]

    threaded = [_fresh(mod, seed) for seed in (1, 2)]
    errors: list[BaseException] = []

    def run(inst: zerowasm.Instance) -> None:
        try:
            assert inst.call("matmul_loop", ITERS, M, N, K, timeout=120) == ITERS
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    workers = [threading.Thread(target=run, args=(inst,)) for inst in threaded]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert not errors and not any(w.is_alive() for w in workers), errors
    assert [_result(inst) for inst in threaded] == serial
    # And the accumulated product is right (float64 reference).
    a = threaded[0].memory.view(0, (M, K), np.float32).astype(np.float64)
    b = threaded[0].memory.view(M * K * 4, (N, K), np.float32).astype(np.float64)
    d = np.frombuffer(serial[0], np.float32).reshape(M, N)
    np.testing.assert_allclose(d, ITERS * (a @ b.T), rtol=1e-3, atol=1e-2 * ITERS)


def test_one_instance_from_two_threads_is_serialized() -> None:
    inst = zerowasm.Runtime("cpu").load(SPIN_WAT).instantiate()
    rounds, per_call = 20, 200_000
    seen: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        for _ in range(rounds):
            value = inst.call("bump", per_call)  # global += 1, per_call times, non-atomically
            with lock:
                seen.append(value)

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    # Calls never interleaved: every call saw a whole multiple of per_call, each once.
    assert sorted(seen) == [per_call * i for i in range(1, 2 * rounds + 1)]


def test_interrupt_reaches_the_call_while_another_thread_waits_for_the_instance() -> None:
    inst = zerowasm.Runtime("cpu").load(SPIN_WAT).instantiate()
    outcomes: list[str] = []

    def spin() -> None:
        try:
            inst.call("spin", timeout=0.3)
        except zerowasm.Timeout:
            outcomes.append("timeout")

    def count() -> None:
        outcomes.append(str(inst.call("count", 7)))  # waits for the spinning call

    first = threading.Thread(target=spin)
    first.start()
    second = threading.Thread(target=count)
    second.start()
    first.join(10)
    second.join(10)
    assert sorted(outcomes) == ["7", "timeout"]
