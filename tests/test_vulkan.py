"""The Vulkan backend: zero copies, growth under load, teardown, leaks, its shader paths.

The op checks themselves run on Vulkan in tests/test_ops.py (every backend present);
conftest fails any Vulkan test that makes the validation layer report a message.

Runs on whatever Vulkan device the backend picks; in CI that is Mesa's lavapipe (a
conformant software driver), with the Khronos validation layer (core + synchronization)
on: every test fails if the layer reports anything. Skips with the registry's reason
when there is no Vulkan loader or usable device.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

# Before anything probes the backends: validation on when the layer is installed
# (conftest sets it too; this keeps the file runnable alone). A session that probed
# earlier without it is detected below.
VALIDATION_FROM_ENV = os.environ.get("ZEROWASM_VULKAN_VALIDATION")
os.environ.setdefault("ZEROWASM_VULKAN_VALIDATION", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import zerowasm  # noqa: E402
from ops_harness import Arena, harness_wat, ref_rope, ref_softmax, rel_err  # noqa: E402


def vulkan_detail() -> str:
    """The registry's live description: device, validation message count, live objects."""
    for name, _, detail in zerowasm.backend_details():
        if name == "vulkan":
            return detail
    return "the vulkan backend is not compiled into this build"


def _vulkan_unavailable_reason() -> str | None:
    for name, available, detail in zerowasm.backend_details():
        if name == "vulkan":
            return None if available else detail
    return "the vulkan backend is not compiled into this build"


def _counter(label: str) -> int:
    detail = vulkan_detail()
    at = detail.find(label)
    assert at >= 0, f"no '{label}' in {detail!r}"
    return int(detail[at + len(label) :].split()[0].rstrip(";"))


def validation_messages() -> int:
    return _counter("validation on: ") if "validation on" in vulkan_detail() else 0


def live_objects() -> int:
    return _counter("live objects ")


VK_REASON = _vulkan_unavailable_reason()
pytestmark = pytest.mark.skipif(VK_REASON is not None, reason=f"no Vulkan: {VK_REASON}")


@pytest.fixture(scope="module")
def inst() -> zerowasm.Instance:
    return zerowasm.Runtime("vulkan").load(harness_wat()).instantiate(max_memory=256 * 2**20)


@pytest.fixture
def arena(inst: zerowasm.Instance) -> Arena:
    return Arena(inst)


def is_software_device() -> bool:
    return "CPU device" in vulkan_detail()


def test_backend_reports_the_device() -> None:
    detail = vulkan_detail()
    print(f"vulkan: {detail}")
    assert "Vulkan 1." in detail and "import alignment" in detail
    if is_software_device():  # "auto" never prefers a software rasterizer over the CPU backend
        assert zerowasm.Runtime("auto").backend != "vulkan"


def test_validation_layer_is_active() -> None:
    if VALIDATION_FROM_ENV not in (None, "1"):
        pytest.skip(f"ZEROWASM_VULKAN_VALIDATION={VALIDATION_FROM_ENV} in the environment")
    if VALIDATION_FROM_ENV is None and "validation off" in vulkan_detail():
        pytest.skip("another test module probed the backends before this one could enable validation; "
                    "export ZEROWASM_VULKAN_VALIDATION=1 (as .ci/run does) to validate the whole suite")
    assert "validation on: " in vulkan_detail()


# ---- zero copies ----------------------------------------------------------------

# A guest that writes its inputs, has zw.add compute on them, rewrites one input with
# plain stores and computes again: the second op must see the guest's new bytes.
ZERO_COPY_WAT = """
(module
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (import "zw" "gather" (func $gather (param i32 i32 i32 i32 i32 i32 i32)))
  (import "zw" "sync" (func $sync))
  (memory (export "memory") 32 16384)
  (func $fill (param $p i32) (param $n i32) (param $mul f32) (param $add f32)
    (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (f32.store (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))
                 (f32.add (f32.mul (f32.convert_i32_s (local.get $i)) (local.get $mul)) (local.get $add)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  ;; a = i, b = 2i + 0.5; out1 = a + b; then a = 10i (guest stores); out2 = a + b.
  (func (export "add_rewrite_add") (param $n i32)
    (local $a i32) (local $b i32)
    (local.set $a (i32.const 4096))
    (local.set $b (i32.add (i32.const 4096) (i32.shl (local.get $n) (i32.const 2))))
    (call $fill (local.get $a) (local.get $n) (f32.const 1) (f32.const 0))
    (call $fill (local.get $b) (local.get $n) (f32.const 2) (f32.const 0.5))
    (call $add (local.get $a) (local.get $b)
               (i32.add (i32.const 4096) (i32.shl (local.get $n) (i32.const 3))) (local.get $n))
    (call $sync)
    (call $fill (local.get $a) (local.get $n) (f32.const 10) (f32.const 0))
    (call $add (local.get $a) (local.get $b)
               (i32.add (i32.const 4096) (i32.mul (local.get $n) (i32.const 12))) (local.get $n)))
  ;; zw.gather, then the id it validated is rewritten before the sync: the shader
  ;; must never read outside the table whichever value it sees.
  (func (export "gather_then_rewrite") (param $table i32) (param $rows i32) (param $ids i32)
        (param $out i32) (param $dim i32) (param $bad i32)
    (call $gather (local.get $table) (local.get $rows) (local.get $ids) (local.get $out)
                  (i32.const 1) (local.get $dim) (i32.const 0))
    (i32.store (local.get $ids) (local.get $bad))
    (call $sync)))
"""


@pytest.fixture
def guest() -> zerowasm.Instance:
    return zerowasm.Runtime("vulkan").load(ZERO_COPY_WAT).instantiate()


@pytest.mark.parametrize("n", [1, 1000, 1 << 16])
def test_zero_copy_guest_write_between_ops(guest: zerowasm.Instance, n: int) -> None:
    guest.reset_stats()
    guest.exports.add_rewrite_add(n)
    i = np.arange(n, dtype=np.float64)
    first = guest.memory.view(4096 + 8 * n, n, np.float32)
    second = guest.memory.view(4096 + 12 * n, n, np.float32)
    assert np.array_equal(first, (3 * i + 0.5).astype(np.float32))
    assert np.array_equal(second, (12 * i + 0.5).astype(np.float32))
    stats = guest.stats()
    assert stats["copies"] == 0
    assert stats["ops"]["add"]["calls"] == 2
    if is_software_device():  # lavapipe's device address of an import is the host pointer itself
        assert guest.device_address(4096) == guest.memory.address + 4096


def test_rewritten_gather_ids_never_escape(guest: zerowasm.Instance) -> None:
    mem = guest.memory
    rows, dim = 8, 64
    table = np.arange(rows * dim, dtype=np.float32).reshape(rows, dim)
    pt, pi, po = 1 << 16, (1 << 16) + table.nbytes, (1 << 16) + table.nbytes + 64
    mem.view(pt, table.shape, np.float32)[:] = table
    for bad in (0x7FFFFFFF, -1, rows):
        mem.view(pi, 1, np.int32)[:] = 5
        guest.exports.gather_then_rewrite(pt, rows, pi, po, dim, bad)
        got = mem.view(po, dim, np.float32)
        assert np.array_equal(got, table[5]) or not got.any()


def test_gather_rechecks_ids_in_the_shader(inst: zerowasm.Instance, arena: Arena) -> None:
    # Ids are validated on the host at issue time; here they are fine then, and the
    # shader's own check is what keeps a later rewrite harmless (previous test).
    table = np.arange(4 * 32, dtype=np.float32).reshape(4, 32)
    pt, pi, po = arena.put(table), arena.put(np.array([3, 0], np.int32)), arena.poisoned((2, 32))
    inst.exports.gather(pt, 4, pi, po, 2, 32, 0)
    assert np.array_equal(arena.get(po, (2, 32)), table[[3, 0]])


def test_trap_leaves_the_queue_usable(inst: zerowasm.Instance, arena: Arena) -> None:
    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    px, po = arena.put(x), arena.poisoned((4096,))
    inst.exports.add(px, px, po, 4096)
    with pytest.raises(zerowasm.Trap, match="zw.add"):
        inst.exports.add(px, px, inst.memory.size - 8, 4096)  # out of bounds: rejected before enqueue
    inst.exports.scale(po, po, 4096, 0.5)
    assert np.array_equal(arena.get(po, (4096,)), x)


# ---- growth under load ------------------------------------------------------------

# Each iteration grows the memory by one page, writes n floats x[i] = i that start
# 2n bytes below the old end (so x spans the old and the new pages), queues
# zw.scale(x, x, 2) and acc += x, and never syncs: all ops of all iterations are in
# flight together while later grows replace the imports they use.
GROW_WAT = """
(module
  (import "zw" "scale" (func $scale (param i32 i32 i32 f32)))
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (memory (export "memory") 2 4096)
  (func (export "grow_loop") (param $iters i32) (param $n i32) (param $acc i32)
    (local $it i32) (local $x i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $it) (local.get $iters)))
      (local.set $x (i32.sub (i32.shl (memory.grow (i32.const 1)) (i32.const 16))
                             (i32.shl (local.get $n) (i32.const 1))))
      (local.set $i (i32.const 0))
      (block $filled (loop $fill
        (br_if $filled (i32.ge_s (local.get $i) (local.get $n)))
        (f32.store (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))
                   (f32.convert_i32_s (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $fill)))
      (call $scale (local.get $x) (local.get $x) (local.get $n) (f32.const 2))
      (call $add (local.get $acc) (local.get $x) (local.get $acc) (local.get $n))
      (local.set $it (i32.add (local.get $it) (i32.const 1)))
      (br $next))))
)
"""


@pytest.mark.parametrize("window", [None, 256 * 1024], ids=["one-import", "256KiB-windows"])
def test_growth_under_load(monkeypatch: pytest.MonkeyPatch, window: int | None) -> None:
    if window is not None:  # force the multi-window scheme of big memories onto a small one
        monkeypatch.setenv("ZEROWASM_VULKAN_MAX_IMPORT", str(window))
    inst = zerowasm.Runtime("vulkan").load(GROW_WAT).instantiate()
    baseline = live_objects()
    iters, n, acc = 150, 4096, 1024  # x: 16 KiB across each page boundary; 300 queued ops
    inst.memory.view(acc, n, np.float32)[:] = 0
    start_pages = inst.memory.size // zerowasm.PAGE_SIZE
    inst.exports.grow_loop(iters, n, acc)  # the host syncs when the export returns
    assert inst.memory.size // zerowasm.PAGE_SIZE == start_pages + iters
    ref = 2 * np.arange(n, dtype=np.float32)
    for it in range(iters):  # each x, half in the old pages, half in the new one
        end = (start_pages + it) * zerowasm.PAGE_SIZE
        x = inst.memory.view(end - 2 * n, n, np.float32)
        assert np.array_equal(x, ref), f"iteration {it}"
    assert np.array_equal(inst.memory.view(acc, n, np.float32), iters * ref)
    # Retired imports were freed once their ops finished: only the current ones remain.
    windows = inst.memory.size // (window // 2) + 1 if window else 1
    assert live_objects() <= baseline + 2 * windows  # a buffer and a memory each
    del inst
    gc.collect()


def test_operand_larger_than_half_a_window_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROWASM_VULKAN_MAX_IMPORT", str(256 * 1024))
    inst = zerowasm.Runtime("vulkan").load(harness_wat(pages=16)).instantiate()
    with pytest.raises(zerowasm.Error, match="import window"):
        inst.exports.scale(4096, 4096, 64 * 1024, 1.0)  # 256 KiB not starting at a window start
    inst.exports.scale(0, 0, 32 * 1024, 1.0)  # 128 KiB: fits one window wherever it starts
    inst.exports.scale(4096, 4096, 32 * 1024, 1.0)


# ---- teardown and leaks -------------------------------------------------------------

TRAP_WAT = """
(module
  (import "zw" "softmax" (func $softmax (param i32 i32 i32 i32 f32 i32)))
  (memory (export "memory") 64)
  (func (export "queue_then_trap") (param $n i32)
    (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (call $softmax (i32.const 0) (i32.const 0) (i32.const 64) (i32.const 4096) (f32.const 1) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    unreachable))
"""


def test_teardown_with_work_in_flight() -> None:
    baseline = live_objects()
    for _ in range(2):
        inst = zerowasm.Runtime("vulkan").load(TRAP_WAT).instantiate()
        inst.memory.view(0, 64 * 4096, np.float32)[:] = 1.0
        with pytest.raises(zerowasm.Trap):
            inst.exports.queue_then_trap(100)  # 100 x 1 MiB softmax (two batches) queued, then a trap
        del inst
        gc.collect()
    assert live_objects() == baseline


def _mapping_count() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_instantiate_op_destroy_cycles_leak_nothing() -> None:
    module = zerowasm.Runtime("vulkan").load(harness_wat(pages=2, max_pages=16))
    x = np.arange(256, dtype=np.float32)

    def cycle() -> None:
        inst = module.instantiate()
        inst.memory.view(0, 256, np.float32)[:] = x
        inst.exports.scale(0, 1024, 256, 2.0)
        assert np.array_equal(inst.memory.view(1024, 256, np.float32), 2 * x)

    for _ in range(20):  # warm up: pipelines, allocator pools, wasmtime caches
        cycle()
    gc.collect()
    objects, maps = live_objects(), _mapping_count()
    for _ in range(1000):
        cycle()
    gc.collect()
    assert live_objects() == objects
    assert _mapping_count() <= maps + 8  # allocator noise, not one mapping per cycle


# ---- shapes that take the shaders' other paths --------------------------------------


def test_vocab_sized_causal_softmax(inst: zerowasm.Instance, arena: Arena) -> None:
    x = np.random.default_rng(4).standard_normal((3, 49152)).astype(np.float32) * 4
    px = arena.put(x)
    inst.exports.softmax(px, px, 3, 49152, 1.0, 1)  # in place
    assert rel_err(arena.get(px, x.shape), ref_softmax(x, 1.0, True)) <= 1e-5


def test_rope_at_large_positions(inst: zerowasm.Instance, arena: Arena) -> None:
    x = np.random.default_rng(6).standard_normal((4, 2, 64)).astype(np.float32)
    px, po = arena.put(x), arena.poisoned(x.shape)
    for pos0, theta in ((30000, 10000.0), (100000, 1e6)):
        inst.exports.rope(px, po, 4, 2, 64, pos0, theta, 1)
        assert rel_err(arena.get(po, x.shape), ref_rope(x, pos0, theta, True)) <= 1e-5


ROPE_WITHOUT_F64 = """
import numpy as np, zerowasm
from ops_harness import Arena, harness_wat, ref_rope, rel_err
assert "no f64" in dict((n, d) for n, _, d in zerowasm.backend_details())["vulkan"]
inst = zerowasm.Runtime("vulkan").load(harness_wat()).instantiate(max_memory=64 * 2**20)
arena = Arena(inst)
rng = np.random.default_rng(7)
x = rng.standard_normal((4, 2, 64)).astype(np.float32)
factors = rng.uniform(1.0, 8.0, 32).astype(np.float32)
px, po, pf = arena.put(x), arena.poisoned(x.shape), arena.put(factors)
for pos0, theta in ((30000, 10000.0), (100000, 1e6)):
    inst.exports.rope(px, po, 4, 2, 64, pos0, theta, 1)
    assert rel_err(arena.get(po, x.shape), ref_rope(x, pos0, theta, True)) <= 1e-5
    inst.exports.rope_factors(px, po, 4, 2, 64, pos0, theta, 0, pf)
    assert rel_err(arena.get(po, x.shape), ref_rope(x, pos0, theta, False, factors)) <= 1e-5
print("ok")
"""


def test_rope_without_f64_shaders() -> None:
    """Devices without shaderFloat64 (most GPUs; lavapipe has it, so it is switched off here in a
    child process) form the angle from the host's float-pair frequencies, divided by the
    factors in the shader: still within 1e-5 of float64 at positions of 10^5."""
    env = {**os.environ, "ZEROWASM_VULKAN_NO_F64": "1"}
    run = subprocess.run([sys.executable, "-c", ROPE_WITHOUT_F64], cwd=Path(__file__).parent, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stdout + run.stderr


CHAIN_WAT = """
(module
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (memory (export "memory") 8)
  ;; x += one, `times` times, no sync: each op depends on the previous one.
  (func (export "chain") (param $x i32) (param $one i32) (param $n i32) (param $times i32)
    (block $done (loop $next
      (br_if $done (i32.le_s (local.get $times) (i32.const 0)))
      (call $add (local.get $x) (local.get $one) (local.get $x) (local.get $n))
      (local.set $times (i32.sub (local.get $times) (i32.const 1)))
      (br $next))))
)
"""


def test_dependent_ops_across_batches() -> None:
    # More dispatches than one submitted batch: the barriers must order them across
    # command buffers too (synchronization validation cannot see buffer-reference
    # accesses, so only the result proves it).
    inst = zerowasm.Runtime("vulkan").load(CHAIN_WAT).instantiate()
    n, times = 60_000, 300
    inst.memory.view(0, n, np.float32)[:] = 0
    inst.memory.view(4 * n, n, np.float32)[:] = 1
    inst.exports.chain(0, 4 * n, n, times)
    assert np.array_equal(inst.memory.view(0, n, np.float32), np.full(n, times, np.float32))
