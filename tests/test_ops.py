"""Every zw.* op of ABI v1, driven from a guest on random shapes, against numpy float64:
the one reference for op results.

Outputs are poisoned with NaN first, so an element a kernel forgets to write fails.
Runs on every backend and memory mode present (the `op_target` fixture, tests/backends.py;
ids name the backend), and in child processes on the CPU's generic kernels and the
emulated CUDA driver (tests/test_op_suites.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import zerowasm
from backends import OpTarget
from gguf import GGMLQuantizationType, quants
from ops_harness import (
    Arena,
    harness_wat,
    ref_attention,
    ref_gelu,
    ref_layernorm,
    ref_rmsnorm,
    ref_rope,
    ref_silu,
    ref_softmax,
    rel_err,
)

F32_TOL = 1e-5
LOWP_TOL = 1e-2
GGML_TYPE = {1: GGMLQuantizationType.F16, 2: GGMLQuantizationType.Q8_0, 3: GGMLQuantizationType.Q4_1}


@pytest.fixture(scope="module")
def inst(op_target: OpTarget) -> zerowasm.Instance:
    rt = zerowasm.Runtime(op_target.backend, memory=op_target.memory)
    assert rt.backend == op_target.backend
    return rt.load(harness_wat()).instantiate(max_memory=256 * 2**20)


@pytest.fixture
def arena(inst: zerowasm.Instance) -> Arena:
    return Arena(inst)


def encode_weights(w: np.ndarray, dtype: int) -> tuple[np.ndarray, np.ndarray]:
    """(bytes as stored in guest memory, the values the kernel must see)."""
    if dtype == 0:
        return w.astype(np.float32), w.astype(np.float32)
    raw = quants.quantize(w.astype(np.float32), GGML_TYPE[dtype])
    return raw, quants.dequantize(raw, GGML_TYPE[dtype]).astype(np.float64)


@pytest.mark.parametrize("dtype", [0, 1, 2, 3], ids=["f32", "f16", "q8_0", "q4_1"])
@pytest.mark.parametrize("seed", range(4))
def test_matmul(inst: zerowasm.Instance, arena: Arena, dtype: int, seed: int) -> None:
    rng = np.random.default_rng(seed * 7 + dtype)
    m, n = int(rng.integers(1, 40)), int(rng.integers(1, 70))
    k = int(rng.integers(1, 9)) * 32 if dtype >= 2 else int(rng.integers(1, 300))
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    stored, seen = encode_weights(w, dtype)
    pa, pb, pc = arena.put(a), arena.put(stored), arena.poisoned((m, n))
    inst.exports.matmul(pa, pb, pc, m, n, k, dtype << 8)
    ref = a.astype(np.float64) @ seen.T
    tol = F32_TOL if dtype == 0 else LOWP_TOL
    assert rel_err(arena.get(pc, (m, n)), ref) <= tol
    # accumulate: C += A.B^T
    inst.exports.matmul(pa, pb, pc, m, n, k, (dtype << 8) | 1)
    assert rel_err(arena.get(pc, (m, n)), 2 * ref) <= tol


@pytest.mark.parametrize("shape", [(1, 576, 576), (7, 384, 1536), (33, 1536, 384)])
def test_matmul_transformer_shapes_f32(inst: zerowasm.Instance, arena: Arena, shape: tuple[int, int, int]) -> None:
    m, k, n = shape
    rng = np.random.default_rng(m)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    pa, pb, pc = arena.put(a), arena.put(w), arena.poisoned((m, n))
    inst.exports.matmul(pa, pb, pc, m, n, k, 0)
    assert rel_err(arena.get(pc, (m, n)), a.astype(np.float64) @ w.T.astype(np.float64)) <= F32_TOL


@pytest.mark.parametrize("op", ["add", "mul", "scale", "gelu", "silu"])
@pytest.mark.parametrize("alias", [False, True])
def test_elementwise(inst: zerowasm.Instance, arena: Arena, op: str, alias: bool) -> None:
    rng = np.random.default_rng(hash(op) % 1000)
    n = int(rng.integers(1, 5000))
    a = (rng.standard_normal(n) * 3).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    pa, pb = arena.put(a), arena.put(b)
    out = pa if alias else arena.poisoned((n,))
    ref = {
        "add": lambda: a.astype(np.float64) + b,
        "mul": lambda: a.astype(np.float64) * b,
        "scale": lambda: a.astype(np.float64) * np.float32(0.37),
        "gelu": lambda: ref_gelu(a),
        "silu": lambda: ref_silu(a),
    }[op]()
    if op in ("add", "mul"):
        inst.call(op, pa, pb, out, n)
    elif op == "scale":
        inst.call(op, pa, out, n, 0.37)
    else:
        inst.call(op, pa, out, n)
    assert rel_err(arena.get(out, (n,)), ref) <= F32_TOL


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("rms", [False, True], ids=["layernorm", "rmsnorm"])
def test_norms(inst: zerowasm.Instance, arena: Arena, seed: int, rms: bool) -> None:
    rng = np.random.default_rng(seed)
    rows, cols = int(rng.integers(1, 20)), int(rng.integers(1, 1100))
    x = (rng.standard_normal((rows, cols)) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    px, pg, pb, po = arena.put(x), arena.put(g), arena.put(b), arena.poisoned((rows, cols))
    if rms:
        inst.exports.rmsnorm(px, pg, po, rows, cols, 1e-5)
        ref = ref_rmsnorm(x, g, 1e-5)
    else:
        inst.exports.layernorm(px, pg, pb, po, rows, cols, 1e-12)
        ref = ref_layernorm(x, g, b, 1e-12)
    assert rel_err(arena.get(po, (rows, cols)), ref) <= F32_TOL


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_softmax(inst: zerowasm.Instance, arena: Arena, causal: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 30))
    cols = rows + int(rng.integers(0, 300))
    x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
    px, po = arena.put(x), arena.poisoned((rows, cols))
    inst.exports.softmax(px, po, rows, cols, 0.125, int(causal))
    assert rel_err(arena.get(po, (rows, cols)), ref_softmax(x, 0.125, causal)) <= F32_TOL


@pytest.mark.parametrize("adjacent", [False, True])
def test_rope(inst: zerowasm.Instance, arena: Arena, adjacent: bool) -> None:
    rng = np.random.default_rng(int(adjacent))
    rows, heads, d, pos0 = 13, 3, 64, int(rng.integers(0, 500))
    x = rng.standard_normal((rows, heads, d)).astype(np.float32)
    px, po = arena.put(x), arena.poisoned((rows, heads, d))
    inst.exports.rope(px, po, rows, heads, d, pos0, 10000.0, int(adjacent))
    assert rel_err(arena.get(po, (rows, heads, d)), ref_rope(x, pos0, 10000.0, adjacent)) <= F32_TOL
    inst.exports.rope(px, px, rows, heads, d, pos0, 10000.0, int(adjacent))  # in place
    assert rel_err(arena.get(px, (rows, heads, d)), ref_rope(x, pos0, 10000.0, adjacent)) <= F32_TOL


@pytest.mark.parametrize(
    "sq,skv,heads,kvh,d,causal",
    [(1, 1, 1, 1, 8, False), (5, 5, 4, 4, 32, True), (3, 17, 9, 3, 64, True), (16, 16, 12, 12, 32, False),
     (1, 40, 6, 2, 64, True), (9, 9, 2, 1, 16, True),
     # many rows per KV head (the CPU backend's blocked path): odd d, ragged blocks,
     # queries that see no key at all (causal, seq_q > seq_kv), long key ranges
     (50, 70, 4, 2, 40, True), (30, 10, 3, 1, 24, True), (13, 300, 6, 3, 64, False),
     # more keys than one key block (online softmax across blocks), in both CPU paths
     (20, 1100, 2, 1, 32, True), (2, 1300, 2, 2, 64, False), (24, 700, 2, 2, 1, True)],
)
def test_attention(inst: zerowasm.Instance, arena: Arena, sq: int, skv: int, heads: int, kvh: int, d: int,
                   causal: bool) -> None:
    rng = np.random.default_rng(sq * 100 + skv)
    q = rng.standard_normal((sq, heads, d)).astype(np.float32)
    k = rng.standard_normal((skv, kvh, d)).astype(np.float32)
    v = rng.standard_normal((skv, kvh, d)).astype(np.float32)
    pq, pk, pv, po = arena.put(q), arena.put(k), arena.put(v), arena.poisoned((sq, heads, d))
    scale = 1.0 / np.sqrt(d)
    inst.exports.attention(pq, pk, pv, po, sq, skv, heads, kvh, d, scale, int(causal))
    assert rel_err(arena.get(po, (sq, heads, d)), ref_attention(q, k, v, np.float32(scale), causal)) <= F32_TOL


@pytest.mark.parametrize("dtype", [0, 1, 2, 3], ids=["f32", "f16", "q8_0", "q4_1"])
def test_gather(inst: zerowasm.Instance, arena: Arena, dtype: int) -> None:
    rng = np.random.default_rng(dtype)
    rows, dim, n = 50, 96, 23
    table = rng.standard_normal((rows, dim)).astype(np.float32)
    stored, seen = encode_weights(table, dtype)
    ids = rng.integers(0, rows, size=n).astype(np.int32)
    pt, pi, po = arena.put(stored), arena.put(ids), arena.poisoned((n, dim))
    inst.exports.gather(pt, rows, pi, po, n, dim, dtype)
    tol = F32_TOL if dtype == 0 else LOWP_TOL
    assert rel_err(arena.get(po, (n, dim)), np.asarray(seen, np.float64)[ids]) <= tol


def test_hints_and_sync_are_harmless(inst: zerowasm.Instance, arena: Arena) -> None:
    x = np.arange(100, dtype=np.float32)
    px = arena.put(x)
    inst.exports.prefetch(px, 400, 1)
    inst.exports.advise(px, 400, 1)
    inst.exports.prefetch(px, 0, 0)
    inst.exports.sync()
    assert np.array_equal(arena.get(px, (100,)), x)


def test_stats_count_ops_and_copies(inst: zerowasm.Instance, arena: Arena) -> None:
    inst.reset_stats()
    x = arena.put(np.ones(256, np.float32))
    for _ in range(3):
        inst.exports.add(x, x, x, 256)
    stats = inst.stats()
    assert stats["ops"]["add"]["calls"] == 3
    assert stats["ops"]["add"]["bytes"] == 3 * 3 * 1024
    assert stats["copies"] == 0
    assert inst.device_address(x) == inst.memory.address + x or inst.backend != "cpu"
