"""The CUDA backend: every op of ABI v1 in both memory modes, zero-copy, growth, lifetime.

Skips (with the registry's reason) unless the ``cuda`` backend is usable. Without a GPU
it can still run against the CPU-emulated driver: build with ``-DZEROWASM_CUDA_EMU_TESTS=ON``
and set ``ZEROWASM_LIBCUDA=<build>/libzw_fake_cuda.so`` (slow: kernels run on CPU threads).
"""

from __future__ import annotations

import numpy as np
import pytest
import zerowasm
from ops_harness import Arena, harness_wat, ref_attention, ref_softmax, rel_err

# The op checks of test_ops.py, collected again here against the cuda fixtures below.
from test_ops import (  # noqa: F401
    test_attention,
    test_elementwise,
    test_gather,
    test_hints_and_sync_are_harmless,
    test_matmul,
    test_matmul_transformer_shapes_f32,
    test_norms,
    test_rope,
    test_softmax,
    test_stats_count_ops_and_copies,
)


def cuda_unavailable_reason() -> str | None:
    for name, available, detail in zerowasm.backend_details():
        if name == "cuda":
            return None if available else detail
    return "the cuda backend is not compiled into this build"


REASON = cuda_unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no CUDA: {REASON}")

MODES = ["mapped", "managed"]  # "mapped" = host pages registered with the GPU (alias of "guard")

# A guest that computes on its own memory: fills inputs, adds them on the GPU, reads back.
ZERO_COPY_WAT = """
(module
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (import "zw" "gather" (func $gather (param i32 i32 i32 i32 i32 i32 i32)))
  (import "zw" "sync" (func $sync))
  (memory (export "memory") 16 16384)
  ;; a, b, out: n f32 each at 4096, 4096 + 4n, 4096 + 8n. Returns sum(out) as f64.
  (func (export "fill_add_sum") (param $n i32) (result f64)
    (local $i i32) (local $a i32) (local $b i32) (local $o i32) (local $s f64)
    (local.set $a (i32.const 4096))
    (local.set $b (i32.add (i32.const 4096) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $o (i32.add (i32.const 4096) (i32.shl (local.get $n) (i32.const 3))))
    (block $filled (loop $fill
      (br_if $filled (i32.ge_s (local.get $i) (local.get $n)))
      (f32.store (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2)))
                 (f32.convert_i32_s (local.get $i)))
      (f32.store (i32.add (local.get $b) (i32.shl (local.get $i) (i32.const 2)))
                 (f32.add (f32.mul (f32.convert_i32_s (local.get $i)) (f32.const 2)) (f32.const 0.5)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (call $add (local.get $a) (local.get $b) (local.get $o) (local.get $n))
    (call $sync)
    (local.set $i (i32.const 0))
    (block $summed (loop $sum
      (br_if $summed (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $s (f64.add (local.get $s)
        (f64.promote_f32 (f32.load (i32.add (local.get $o) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $sum)))
    (local.get $s))
  ;; Issues zw.gather, then rewrites the id it validated before syncing: the kernel
  ;; must never read outside the table whichever value it sees.
  (func (export "gather_then_rewrite") (param $table i32) (param $rows i32) (param $ids i32)
        (param $out i32) (param $dim i32) (param $bad i32)
    (call $gather (local.get $table) (local.get $rows) (local.get $ids) (local.get $out)
                  (i32.const 1) (local.get $dim) (i32.const 0))
    (i32.store (local.get $ids) (local.get $bad))
    (call $sync)))
"""


@pytest.fixture(scope="module", params=[("cuda", m) for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def inst(request: pytest.FixtureRequest) -> zerowasm.Instance:
    backend, memory = request.param
    return zerowasm.Runtime(backend, memory=memory).load(harness_wat()).instantiate(max_memory=256 * 2**20)


@pytest.fixture
def arena(inst: zerowasm.Instance) -> Arena:
    return Arena(inst)


@pytest.fixture(params=MODES)
def guest(request: pytest.FixtureRequest) -> zerowasm.Instance:
    return zerowasm.Runtime("cuda", memory=request.param).load(ZERO_COPY_WAT).instantiate()


def test_backend_reports_the_device() -> None:
    detail = dict((n, d) for n, _, d in zerowasm.backend_details())["cuda"]
    print(f"cuda: {detail}")
    assert "sm_" in detail and "driver CUDA" in detail
    assert zerowasm.Runtime("auto").backend == "cuda"  # GPUs come first in "auto"


@pytest.mark.parametrize("n", [1, 1000, 1 << 16])  # fits the initial 1 MiB
def test_zero_copy_guest_writes_gpu_adds_guest_reads(guest: zerowasm.Instance, n: int) -> None:
    guest.reset_stats()
    total = guest.exports.fill_add_sum(n)
    i = np.arange(n, dtype=np.float64)
    assert total == float(np.sum(3 * i + 0.5))
    a_off, out_off = 4096, 4096 + 8 * n
    out = guest.memory.view(out_off, n, np.float32)
    assert np.array_equal(out, (3 * i + 0.5).astype(np.float32))
    stats = guest.stats()
    assert stats["copies"] == 0
    assert stats["ops"]["add"]["calls"] == 1
    # The kernels addressed the guest's own bytes: same address, no device twin.
    assert guest.device_address(a_off) == guest.memory.address + a_off
    assert guest.device_address(out_off) == guest.memory.address + out_off


def test_growth_is_usable_at_once(guest: zerowasm.Instance) -> None:
    mem = guest.memory
    before = mem.size
    assert mem.grow(256) == before // zerowasm.PAGE_SIZE  # + 16 MiB, registered inside grow
    n = 1 << 20  # 4 MiB per tensor: b and out lie entirely in the new pages
    guest.exports.fill_add_sum(n)
    out = mem.view(4096 + 8 * n, n, np.float32)
    assert np.array_equal(out, (3 * np.arange(n, dtype=np.float64) + 0.5).astype(np.float32))
    assert guest.device_address(mem.size - 4) == mem.address + mem.size - 4


def test_trap_leaves_the_queue_usable(inst: zerowasm.Instance, arena: Arena) -> None:
    x = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
    px, po = arena.put(x), arena.poisoned((4096,))
    for _ in range(3):  # queued, not yet synced
        inst.exports.add(px, px, po, 4096)
    with pytest.raises(zerowasm.Trap, match="zw.add"):
        inst.exports.add(px, px, inst.memory.size - 8, 4096)  # out of bounds: rejected before enqueue
    inst.exports.scale(po, po, 4096, 0.5)
    assert np.array_equal(arena.get(po, (4096,)), x)


def test_rewritten_gather_ids_never_escape(guest: zerowasm.Instance) -> None:
    mem = guest.memory
    rows, dim = 8, 64
    table = np.arange(rows * dim, dtype=np.float32).reshape(rows, dim)
    pt, pi, po = 1 << 16, (1 << 16) + table.nbytes, (1 << 16) + table.nbytes + 64
    mem.view(pt, table.shape, np.float32)[:] = table
    mem.view(pi, 1, np.int32)[:] = 5
    guest.exports.gather_then_rewrite(pt, rows, pi, po, dim, 0x7FFFFFFF)
    got = mem.view(po, dim, np.float32)
    # Depending on timing the kernel saw id 5 or the rewritten one (then: zeros).
    assert np.array_equal(got, table[5]) or not got.any()


@pytest.mark.parametrize("mode", MODES)
def test_managed_prefetch_roundtrip(mode: str) -> None:
    inst = zerowasm.Runtime("cuda", memory=mode).load(harness_wat()).instantiate(max_memory=64 * 2**20)
    assert inst.memory.mode == ("managed" if mode == "managed" else "guard")
    arena = Arena(inst)
    x = np.random.default_rng(1).standard_normal(1 << 16).astype(np.float32)
    px, po = arena.put(x), arena.poisoned(x.shape)
    inst.exports.prefetch(px, x.nbytes, 1)  # to the GPU (a no-op when mapped)
    inst.exports.advise(px, x.nbytes, 1)
    inst.exports.silu(px, po, x.size)
    inst.exports.prefetch(po, x.nbytes, 0)  # back to the host
    inst.exports.sync()
    got = arena.get(po, x.shape)
    ref = x.astype(np.float64) / (1 + np.exp(-x.astype(np.float64)))
    assert rel_err(got, ref) <= 1e-5


# Shapes that take the CUDA kernels' other paths: multi-chunk online softmax,
# large-tile GEMM, rows longer than a block, unaligned (non-float4) tensors.


def test_attention_longer_than_one_chunk(inst: zerowasm.Instance, arena: Arena) -> None:
    rng = np.random.default_rng(2)
    sq, skv, h, kvh, d = 3, 2500, 4, 2, 64
    q = rng.standard_normal((sq, h, d)).astype(np.float32)
    k = rng.standard_normal((skv, kvh, d)).astype(np.float32)
    v = rng.standard_normal((skv, kvh, d)).astype(np.float32)
    pq, pk, pv, po = arena.put(q), arena.put(k), arena.put(v), arena.poisoned(q.shape)
    for causal in (0, 1):
        inst.exports.attention(pq, pk, pv, po, sq, skv, h, kvh, d, 0.125, causal)
        assert rel_err(arena.get(po, q.shape), ref_attention(q, k, v, 0.125, bool(causal))) <= 1e-5


def test_large_tiled_matmul(inst: zerowasm.Instance, arena: Arena) -> None:
    rng = np.random.default_rng(3)
    m, n, k = 1536, 1536, 64  # >= one 128x128 tile per SM on big GPUs
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32)
    pa, pb, pc = arena.put(a), arena.put(b), arena.poisoned((m, n))
    inst.exports.matmul(pa, pb, pc, m, n, k, 0)
    assert rel_err(arena.get(pc, (m, n)), a.astype(np.float64) @ b.astype(np.float64).T) <= 1e-5


def test_vocab_sized_causal_softmax(inst: zerowasm.Instance, arena: Arena) -> None:
    x = np.random.default_rng(4).standard_normal((3, 49152)).astype(np.float32) * 4
    px = arena.put(x)
    inst.exports.softmax(px, px, 3, 49152, 1.0, 1)  # in place
    assert rel_err(arena.get(px, x.shape), ref_softmax(x, 1.0, True)) <= 1e-5


def test_unaligned_elementwise(inst: zerowasm.Instance, arena: Arena) -> None:
    rng = np.random.default_rng(5)
    n = 1001
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    pa = arena.alloc(4 * n + 4) + 4  # 4 mod 16: the scalar path
    pb = arena.alloc(4 * n)
    inst.memory.view(pa, n, np.float32)[:] = a
    inst.memory.view(pb, n, np.float32)[:] = b
    inst.exports.mul(pa, pb, pa, n)
    assert np.array_equal(arena.get(pa, (n,)), a * b)


def test_bench_hooks_stay_out_of_the_extension() -> None:
    assert not hasattr(zerowasm._zerowasm, "_debug")


def test_raw_launch_bench_hooks() -> None:
    # Only in builds with -DZEROWASM_BENCH_HOOKS=ON (never the wheel).
    hooks = pytest.importorskip("zerowasm._cuda_bench", reason="built without -DZEROWASM_BENCH_HOOKS=ON")
    seconds = hooks.cuda_raw_launch_loop(100, 256)
    assert 0 < seconds < 60
    assert hooks.cuda_copy_path_add(2, 1 << 16, False) > 0
