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
    ref_gelu_tanh,
    ref_layernorm,
    ref_rmsnorm,
    ref_rope,
    ref_silu,
    ref_softmax,
    rel_err,
)
from quant_blocks import ABI

F32_TOL = 1e-5  # max|got - ref| / max|ref|, for every op and weight dtype
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


def heavy(*values: object) -> object:
    """A parameter set large enough that emulated backends leave it out (``-m "not heavy"``)."""
    return pytest.param(*values, marks=pytest.mark.heavy)


DTYPES = pytest.mark.parametrize("dtype", [0, 1, 2, 3], ids=["f32", "f16", "q8_0", "q4_1"])


def check_matmul(inst: zerowasm.Instance, arena: Arena, m: int, n: int, k: int, dtype: int, seed: int) -> None:
    """C = A.B^T, then C += A.B^T; block-quantized k rounds up to whole 32-value blocks."""
    if dtype >= 2:
        k = (k + 31) // 32 * 32
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    stored, seen = encode_weights(w, dtype)
    pa, pb, pc = arena.put(a), arena.put(stored), arena.poisoned((m, n))
    inst.exports.matmul(pa, pb, pc, m, n, k, dtype << 8)
    ref = a.astype(np.float64) @ np.asarray(seen, np.float64).T
    assert rel_err(arena.get(pc, (m, n)), ref) <= F32_TOL
    inst.exports.matmul(pa, pb, pc, m, n, k, (dtype << 8) | 1)  # accumulate
    assert rel_err(arena.get(pc, (m, n)), 2 * ref) <= F32_TOL


@DTYPES
@pytest.mark.parametrize("seed", range(4))
def test_matmul(inst: zerowasm.Instance, arena: Arena, dtype: int, seed: int) -> None:
    rng = np.random.default_rng(seed * 7 + dtype)
    m, n, k = int(rng.integers(1, 40)), int(rng.integers(1, 70)), int(rng.integers(1, 300))
    check_matmul(inst, arena, m, n, k, dtype, seed)


# Edge and blocking shapes (m, n, k): one element, odd k, ragged tiles on every side,
# long k, many columns (the CPU's threaded blocks, the CUDA large-tile path).
MATMUL_SHAPES = [(1, 1, 1), (70, 65, 37), (13, 50, 257), (130, 129, 64), heavy(64, 96, 512), heavy(100, 70, 1000),
                 heavy(37, 129, 4096), heavy(150, 1100, 64)]


@DTYPES
@pytest.mark.parametrize("m,n,k", MATMUL_SHAPES)
def test_matmul_shapes(inst: zerowasm.Instance, arena: Arena, dtype: int, m: int, n: int, k: int) -> None:
    check_matmul(inst, arena, m, n, k, dtype, seed=m + n + k)


@pytest.mark.parametrize("m,k,n", [(1, 576, 576), heavy(7, 384, 1536), heavy(33, 1536, 384)])
def test_matmul_transformer_shapes_f32(inst: zerowasm.Instance, arena: Arena, m: int, k: int, n: int) -> None:
    check_matmul(inst, arena, m, n, k, 0, seed=m)


def elementwise_layouts() -> list[tuple[str, str]]:
    """(op, where out is): separate, aliasing a or b exactly, or every tensor at 4 mod 16."""
    cases = []
    for op in ("add", "mul", "scale", "gelu", "silu", "gelu_tanh"):
        for layout in ("separate", "out=a", "out=b", "unaligned"):
            if layout != "out=b" or op in ("add", "mul"):
                cases.append((op, layout))
    return cases


@pytest.mark.parametrize("n", [1, 7, 4099, heavy(300_003)])
@pytest.mark.parametrize("op,layout", elementwise_layouts())
def test_elementwise(inst: zerowasm.Instance, arena: Arena, op: str, layout: str, n: int) -> None:
    rng = np.random.default_rng(n)
    a = (rng.standard_normal(n) * 3).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    if layout == "unaligned":
        pa, pb, out = (arena.alloc(4 * n + 4, align=16) + 4 for _ in range(3))
        inst.memory.view(pa, n, np.float32)[:] = a
        inst.memory.view(pb, n, np.float32)[:] = b
        inst.memory.view(out, n, np.float32)[:] = np.nan
    else:
        pa, pb = arena.put(a), arena.put(b)
        out = {"out=a": pa, "out=b": pb}.get(layout) or arena.poisoned((n,))
    ref = {
        "add": lambda: a.astype(np.float64) + b,
        "mul": lambda: a.astype(np.float64) * b,
        "scale": lambda: a.astype(np.float64) * np.float32(0.37),
        "gelu": lambda: ref_gelu(a),
        "silu": lambda: ref_silu(a),
        "gelu_tanh": lambda: ref_gelu_tanh(a),
    }[op]()
    if op in ("add", "mul"):
        inst.call(op, pa, pb, out, n)
    elif op == "scale":
        inst.call(op, pa, out, n, 0.37)
    else:
        inst.call(op, pa, out, n)
    assert rel_err(arena.get(out, (n,)), ref) <= F32_TOL


# (rows, cols, in place): random sizes, then one column, odd widths, rows longer than
# a block or a threadgroup, many rows.
NORM_SHAPES = [(*map(int, np.random.default_rng(seed).integers(1, [20, 1100])), False) for seed in range(3)] + [
    (1, 1, False), (3, 7, True), (2, 5000, False), (4, 384, True), heavy(257, 576, False)]


@pytest.mark.parametrize("rows,cols,in_place", NORM_SHAPES)
@pytest.mark.parametrize("rms", [False, True], ids=["layernorm", "rmsnorm"])
def test_norms(inst: zerowasm.Instance, arena: Arena, rows: int, cols: int, in_place: int, rms: bool) -> None:
    rng = np.random.default_rng(rows * cols)
    x = (rng.standard_normal((rows, cols)) * 2 + 3.0).astype(np.float32)  # mean far from 0
    g = rng.standard_normal(cols).astype(np.float32)
    b = rng.standard_normal(cols).astype(np.float32)
    px, pg, pb = arena.put(x), arena.put(g), arena.put(b)
    po = px if in_place else arena.poisoned((rows, cols))
    if rms:
        inst.exports.rmsnorm(px, pg, po, rows, cols, 1e-5)
        ref = ref_rmsnorm(x, g, 1e-5)
    else:
        inst.exports.layernorm(px, pg, pb, po, rows, cols, 1e-12)
        ref = ref_layernorm(x, g, b, 1e-12)
    assert rel_err(arena.get(po, (rows, cols)), ref) <= F32_TOL


# (rows, cols, scale): random sizes, then single elements, more rows than columns (causal
# rows that see nothing), rows longer than a block, negative scales.
SOFTMAX_SHAPES = [(int(r), int(r + c), 0.125) for r, c in
                  (np.random.default_rng(seed).integers([1, 0], [30, 300]) for seed in range(3))] + [
    (1, 1, 1.0), (8, 3, 2.0), (5, 7, 0.5), heavy(64, 1000, -2.0), (4, 3000, 0.125), (2, 4096, 1.0)]


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("rows,cols,scale", SOFTMAX_SHAPES)
def test_softmax(inst: zerowasm.Instance, arena: Arena, causal: bool, rows: int, cols: int, scale: float) -> None:
    rng = np.random.default_rng(rows * cols)
    x = (rng.standard_normal((rows, cols)) * 4).astype(np.float32)
    px = arena.put(x)
    po = px if causal else arena.poisoned((rows, cols))  # in place on half the cases
    inst.exports.softmax(px, po, rows, cols, scale, int(causal))
    assert rel_err(arena.get(po, (rows, cols)), ref_softmax(x, scale, causal)) <= F32_TOL


@pytest.mark.parametrize("adjacent", [False, True])
@pytest.mark.parametrize("d,pos0", [(64, 0), (64, 457), (2, 7), (8, 5000), (64, 100_000)])
def test_rope(inst: zerowasm.Instance, arena: Arena, adjacent: bool, d: int, pos0: int) -> None:
    rng = np.random.default_rng(d + pos0)
    rows, heads, theta = 13, 3, 100000.0 if adjacent else 10000.0
    x = rng.standard_normal((rows, heads, d)).astype(np.float32)
    px, po = arena.put(x), arena.poisoned((rows, heads, d))
    ref = ref_rope(x, pos0, theta, adjacent)
    inst.exports.rope(px, po, rows, heads, d, pos0, theta, int(adjacent))
    assert rel_err(arena.get(po, (rows, heads, d)), ref) <= F32_TOL
    inst.exports.rope(px, px, rows, heads, d, pos0, theta, int(adjacent))  # in place
    assert rel_err(arena.get(px, (rows, heads, d)), ref) <= F32_TOL


@pytest.mark.parametrize("adjacent", [False, True])
@pytest.mark.parametrize("d,pos0", [(64, 0), (128, 3000), (2, 7), (64, 100_000)])
def test_rope_factors(inst: zerowasm.Instance, arena: Arena, adjacent: bool, d: int, pos0: int) -> None:
    """Frequencies divided by per-frequency factors (Llama 3.1's rope_freqs, which holds
    divisors from 1 to 8): random ones in that range."""
    rng = np.random.default_rng(d + pos0 + 1)
    rows, heads, theta = 11, 3, 500000.0
    x = rng.standard_normal((rows, heads, d)).astype(np.float32)
    factors = rng.uniform(1.0, 8.0, d // 2).astype(np.float32)
    px, po, pf = arena.put(x), arena.poisoned((rows, heads, d)), arena.put(factors)
    ref = ref_rope(x, pos0, theta, adjacent, factors)
    assert rel_err(ref, ref_rope(x, pos0, theta, adjacent)) > 1e-3  # the factors matter here
    inst.exports.rope_factors(px, po, rows, heads, d, pos0, theta, int(adjacent), pf)
    assert rel_err(arena.get(po, (rows, heads, d)), ref) <= F32_TOL
    inst.exports.rope_factors(px, px, rows, heads, d, pos0, theta, int(adjacent), pf)  # in place
    assert rel_err(arena.get(px, (rows, heads, d)), ref) <= F32_TOL


@pytest.mark.parametrize("n", [1, 7, 4099, heavy(300_003)])
@pytest.mark.parametrize("offset", [0, 2])
def test_to_f16(inst: zerowasm.Instance, arena: Arena, n: int, offset: int) -> None:
    """Bit-exact binary16 (numpy's float32 -> float16: round to nearest even) of random values
    and of edge cases: ties, subnormals, overflow to inf, infinities; NaN stays NaN.
    out at 2 mod 4 (offset 2): f16 outputs need only 2-byte alignment."""
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * np.exp(rng.uniform(-20, 12, n))).astype(np.float32)
    edges = np.array([0.0, -0.0, 1.0, 65504.0, 65519.99, 65520.0, -70000.0, np.inf, -np.inf, 6e-8, 3e-8, 2.9e-8,
                      -6.1e-5, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 2049.0, 2051.0, np.nan], np.float32)
    x[: min(n, edges.size)] = edges[: min(n, edges.size)]
    px = arena.put(x)
    out = arena.alloc(2 * n + 2, align=4) + offset
    inst.memory.view(out, 2 * n)[:] = 0xFF
    inst.call("to_f16", px, out, n)
    got = inst.memory.view(out, n, np.uint16).copy()
    want = x.astype(np.float16).view(np.uint16)
    nan = np.isnan(x)
    assert np.array_equal(got[~nan], want[~nan])
    assert np.isnan(got[nan].view(np.float16)).all()


# Backends whose attention kernel caps head_dim (README "Known limits"); past it the op traps.
ATTENTION_HEAD_DIM_LIMITS = {"vulkan": 1024}


@pytest.mark.parametrize(
    "sq,skv,heads,kvh,d,causal",
    [(1, 1, 1, 1, 8, False), (5, 5, 4, 4, 32, True), (3, 17, 9, 3, 64, True), (16, 16, 12, 12, 32, False),
     (1, 40, 6, 2, 64, True), (9, 9, 2, 1, 16, True),
     # many rows per KV head (the CPU backend's blocked path): odd d, ragged blocks,
     # queries that see no key at all (causal, seq_q > seq_kv), long key ranges
     heavy(50, 70, 4, 2, 40, True), (30, 10, 3, 1, 24, True), heavy(13, 300, 6, 3, 64, False),
     (20, 7, 2, 1, 8, True),
     # more keys than one key block (online softmax across blocks), in both CPU paths
     heavy(20, 1100, 2, 1, 32, True), heavy(2, 1300, 2, 2, 64, False), heavy(24, 700, 2, 2, 1, True),
     (1, 1500, 3, 1, 16, False), heavy(4, 2100, 2, 2, 64, True),
     # the CPU per-row path: GQA heads together, keys split in ranges merged after (causal,
     # rows at different lengths); rows that see no key
     (2, 1200, 6, 2, 32, True), (6, 2, 2, 2, 8, True),
     # ... with head_dim and key counts off the 8-wide vectors; more than 8 query heads per KV
     # head (done 8 at a time; head_dim past the blocked path's limit keeps it on this path)
     (1, 1001, 4, 2, 20, True), (2, 300, 10, 1, 516, True),
     # head_dim beyond one thread per element (CUDA, Metal), prefill-sized
     (3, 5, 2, 1, 100, True), (2, 40, 1, 1, 3000, False), heavy(128, 128, 12, 12, 32, False)],
)
def test_attention(inst: zerowasm.Instance, arena: Arena, sq: int, skv: int, heads: int, kvh: int, d: int,
                   causal: bool) -> None:
    check_attention(inst, arena, sq, skv, heads, kvh, d, causal, kv_f16=False)


@pytest.mark.parametrize(
    "sq,skv,heads,kvh,d,causal",
    [(1, 1, 1, 1, 8, False), (3, 17, 9, 3, 64, True), (1, 40, 6, 2, 64, True), heavy(50, 70, 4, 2, 40, True),
     (1, 1001, 4, 2, 20, True), (2, 1200, 6, 2, 32, True), heavy(20, 1100, 2, 1, 32, True), (1, 300, 4, 1, 256, True),
     (2, 300, 10, 1, 516, True), (7, 3, 2, 1, 16, True)],
)
def test_attention_f16_kv(inst: zerowasm.Instance, arena: Arena, sq: int, skv: int, heads: int, kvh: int, d: int,
                          causal: bool) -> None:
    """ZW_KV_F16: K/V in binary16 (an f16 KV cache), against float64 on the same f16 values;
    the CPU per-row and blocked paths, odd head_dim and key counts, GQA, split key ranges."""
    check_attention(inst, arena, sq, skv, heads, kvh, d, causal, kv_f16=True)


def check_attention(inst: zerowasm.Instance, arena: Arena, sq: int, skv: int, heads: int, kvh: int, d: int,
                    causal: bool, kv_f16: bool) -> None:
    rng = np.random.default_rng(sq * 100 + skv)
    kv_type = np.float16 if kv_f16 else np.float32
    q = rng.standard_normal((sq, heads, d)).astype(np.float32)
    k = rng.standard_normal((skv, kvh, d)).astype(kv_type)
    v = rng.standard_normal((skv, kvh, d)).astype(kv_type)
    pq, pk, pv, po = arena.put(q), arena.put(k), arena.put(v), arena.poisoned((sq, heads, d))
    if kv_f16 and skv > 1:  # f16 K/V need only 2-byte alignment: V at 2 mod 4 too
        pv = arena.alloc(v.nbytes + 2) + 2
        inst.memory.view(pv, v.nbytes)[:] = v.view(np.uint8).ravel()
    scale = 1.0 / np.sqrt(d)
    flags = int(causal) | (ABI["ZW_KV_F16"] if kv_f16 else 0)
    limit = ATTENTION_HEAD_DIM_LIMITS.get(inst.backend)
    if limit is not None and d > limit:  # a documented backend limit: a clean trap, nothing written
        with pytest.raises(zerowasm.Trap, match=f"head_dim {d} exceeds"):
            inst.exports.attention(pq, pk, pv, po, sq, skv, heads, kvh, d, scale, flags)
        return
    inst.exports.attention(pq, pk, pv, po, sq, skv, heads, kvh, d, scale, flags)
    assert rel_err(arena.get(po, (sq, heads, d)), ref_attention(q, k, v, np.float32(scale), causal)) <= F32_TOL


@DTYPES
@pytest.mark.parametrize("dim", [32, 96, 576])
def test_gather(inst: zerowasm.Instance, arena: Arena, dtype: int, dim: int) -> None:
    rng = np.random.default_rng(dtype * 1000 + dim)
    rows, n = 50, 23
    table = rng.standard_normal((rows, dim)).astype(np.float32)
    stored, seen = encode_weights(table, dtype)
    ids = rng.integers(0, rows, size=n).astype(np.int32)
    ids[:3] = [0, rows - 1, ids[3]]  # both ends, a repeat
    pt, pi, po = arena.put(stored), arena.put(ids), arena.poisoned((n, dim))
    inst.exports.gather(pt, rows, pi, po, n, dim, dtype)
    assert rel_err(arena.get(po, (n, dim)), np.asarray(seen, np.float64)[ids]) <= F32_TOL


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
