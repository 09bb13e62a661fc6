"""The GGUF block types of issue 16 (Q4_0, Q5_0, Q4_K, Q5_K, Q6_K) as zw weights.

- zw.gather dequantizes rows of random blocks (extreme scales, all-zero and all-max
  quants included) bit-exactly to the `gguf` package's `quants.dequantize`.
- zw.matmul with such a B matches the float64 product of gguf's dequantized weights
  within 1e-5 relative (f32 accumulation), on the decode (few rows of A) and the
  tiled paths, plain and accumulating.
- Validation knows each type's block: K-quant rows must be whole 256-value
  super-blocks, B must be 2-byte aligned and lie inside memory.

Runs on every backend and memory mode present (the `op_target` fixture), and in the
child runs of tests/backends.py (the CPU's generic kernels, the emulated CUDA driver),
where `heavy` shapes are left out.
"""

from __future__ import annotations

import numpy as np
import pytest
import zerowasm
from backends import OpTarget
from ops_harness import Arena, harness_wat, rel_err
from quant_blocks import ALL_QTYPES, NEW_QTYPES, QType, dequantize, random_rows

F32_TOL = 1e-5
QTYPES = pytest.mark.parametrize("q", NEW_QTYPES, ids=[q.name for q in NEW_QTYPES])
EVERY_QTYPE = pytest.mark.parametrize("q", ALL_QTYPES, ids=[q.name for q in ALL_QTYPES])


@pytest.fixture(scope="module")
def inst(op_target: OpTarget) -> zerowasm.Instance:
    rt = zerowasm.Runtime(op_target.backend, memory=op_target.memory)
    return rt.load(harness_wat()).instantiate(max_memory=256 * 2**20)


@pytest.fixture
def arena(inst: zerowasm.Instance) -> Arena:
    return Arena(inst)


def heavy(*values: object) -> object:
    return pytest.param(*values, marks=pytest.mark.heavy)


@QTYPES
def test_gather_is_bit_exact_to_gguf(inst: zerowasm.Instance, arena: Arena, q: QType) -> None:
    rng = np.random.default_rng(q.code)
    rows, dim = 12, 2 * 256  # two super-blocks (16 blocks of the 32-value types) per row
    raw = random_rows(q, rows, dim, rng, extremes=True)
    expected = dequantize(q, raw, rows, dim)
    assert np.isfinite(expected).all()
    ids = np.array([0, 1, 2, 3, 4, 5, 6, 7, 11, 8, 0, 9, 10], dtype=np.int32)  # every row, a repeat
    pt, pi, po = arena.put(raw), arena.put(ids), arena.poisoned((len(ids), dim))
    inst.exports.gather(pt, rows, pi, po, len(ids), dim, q.code)
    got = arena.get(po, (len(ids), dim))
    mismatch = np.argwhere(got.view(np.uint32) != expected[ids].view(np.uint32))
    assert mismatch.size == 0, f"{q.name}: first differing (row, col) {mismatch[:3].tolist()}"


def check_matmul(inst: zerowasm.Instance, arena: Arena, q: QType, m: int, n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    raw = random_rows(q, n, k, rng)
    w = dequantize(q, raw, n, k).astype(np.float64)
    pa, pb, pc = arena.put(a), arena.put(raw), arena.poisoned((m, n))
    inst.exports.matmul(pa, pb, pc, m, n, k, q.code << 8)
    ref = a.astype(np.float64) @ w.T
    assert rel_err(arena.get(pc, (m, n)), ref) <= F32_TOL
    inst.exports.matmul(pa, pb, pc, m, n, k, (q.code << 8) | 1)  # accumulate
    assert rel_err(arena.get(pc, (m, n)), 2 * ref) <= F32_TOL


# (m, n, k): decode rows (1, 3), the tiled path with ragged tiles (9, 37), k over
# several super-blocks and the CPU's k slices; heavy: model-sized rows.
SHAPES = [(1, 37, 512), (3, 19, 256), (9, 37, 768), heavy(1, 640, 2048), heavy(70, 129, 2048)]


@QTYPES
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matmul_matches_float64(inst: zerowasm.Instance, arena: Arena, q: QType, m: int, n: int, k: int) -> None:
    check_matmul(inst, arena, q, m, n, k, seed=q.code * 100 + m)


def decode_a(rng: np.random.Generator, k: int, exponents: np.ndarray) -> np.ndarray:
    """One row of A whose 32-value blocks are scaled by 10**exponents[b] (np.inf: a zero block)."""
    a = rng.standard_normal(k)
    for b, e in enumerate(exponents):
        a[32 * b:32 * b + 32] = 0.0 if np.isinf(e) else a[32 * b:32 * b + 32] * 10.0**e
    return a.astype(np.float32)


@EVERY_QTYPE
@pytest.mark.parametrize("case", ["wide_scales", "out_of_range_block", "nan"])
def test_decode_row_with_any_block_scales(inst: zerowasm.Instance, arena: Arena, q: QType, case: str) -> None:
    """One A row against >= 64 B rows (the CPU's decode GEMV splits each 32-value block of A
    into a power-of-two scale and two int16 pieces): blocks of A from 1e-15 to 1e15 and zero
    blocks stay within 1e-5 of float64; a block below 2^-60 (its exact-split range) still
    does, by the f32 path; a NaN makes every output NaN, as in float64."""
    rng = np.random.default_rng(q.code * 7 + len(case))
    m, n, k = 1, 96, 512
    exponents = rng.uniform(-15.0, 15.0, k // 32)
    exponents[3] = np.inf  # a zero block
    if case == "out_of_range_block":
        exponents[5] = -25.0
    a = decode_a(rng, k, exponents)
    if case == "nan":
        a[77] = np.nan
    raw = random_rows(q, n, k, rng)
    w = dequantize(q, raw, n, k).astype(np.float64)
    pa, pb, pc = arena.put(a), arena.put(raw), arena.poisoned((m, n))
    inst.exports.matmul(pa, pb, pc, m, n, k, q.code << 8)
    got = arena.get(pc, (m, n))
    if case == "nan":
        assert np.isnan(got).all()
        return
    ref = a.astype(np.float64)[None, :] @ w.T
    # Relative to each output's own scale: sum |a| |w| (cancellation makes the sum itself small).
    bound = np.abs(a.astype(np.float64))[None, :] @ np.abs(w).T
    assert np.all(np.abs(got - ref) <= F32_TOL * bound), float(np.max(np.abs(got - ref) / bound))


@QTYPES
def test_block_size_and_alignment_are_validated(inst: zerowasm.Instance, arena: Arena, q: QType) -> None:
    n, k = 3, 2 * q.block_values
    raw = random_rows(q, n, k, np.random.default_rng(0))
    pa, pc = arena.put(np.ones((1, k), np.float32)), arena.poisoned((1, n))
    pb = arena.put(raw)
    short_k = k - 32 if q.block_values == 256 else k - 16  # not a whole block of this type
    with pytest.raises(zerowasm.Trap, match=f"k = {short_k} must be a multiple of {q.block_values}"):
        inst.exports.matmul(pa, pb, pc, 1, n, short_k, q.code << 8)
    with pytest.raises(zerowasm.Trap, match="2-byte aligned"):
        inst.exports.matmul(pa, pb + 1, pc, 1, n, k, q.code << 8)
    ids = arena.put(np.zeros(1, np.int32))
    with pytest.raises(zerowasm.Trap, match=f"dim = {short_k} must be a multiple of {q.block_values}"):
        inst.exports.gather(pb, n, ids, pc, 1, short_k, q.code)
    # The op still works on the same memory after the rejections.
    inst.exports.matmul(pa, pb, pc, 1, n, k, q.code << 8)
    ref = dequantize(q, raw, n, k).astype(np.float64).sum(axis=1)
    assert rel_err(arena.get(pc, (1, n))[0], ref) <= F32_TOL
