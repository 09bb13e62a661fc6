"""Hostile guests: every op with out-of-range, overflowing, negative, misaligned and
overlapping arguments traps with a message, writes nothing, and leaves the instance usable."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
import zerowasm
from backends import OpTarget
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ops_harness import SIGNATURES, Arena, harness_wat
from quant_blocks import ABI, ALL_QTYPES

PAGE = zerowasm.PAGE_SIZE


@pytest.fixture(scope="module")
def inst(op_target: OpTarget) -> zerowasm.Instance:
    """Each backend of the op suite (tests/backends.py): validation precedes every executor."""
    rt = zerowasm.Runtime(op_target.backend, memory=op_target.memory)
    return rt.load(harness_wat(pages=4, max_pages=4)).instantiate()


def checksum(inst: zerowasm.Instance) -> int:
    return zlib.crc32(memoryview(inst.memory))


def expect_trap(inst: zerowasm.Instance, op: str, args: tuple, *fragments: str) -> None:
    before = checksum(inst)
    with pytest.raises(zerowasm.Trap) as err:
        inst.call(op, *args)
    message = str(err.value)
    assert f"zw.{op}" in message
    for fragment in fragments:
        assert fragment in message, message
    assert checksum(inst) == before, "a rejected op wrote memory"


def test_valid_call_after_every_rejection(inst: zerowasm.Instance) -> None:
    a = Arena(inst)
    x = a.put(np.arange(64, dtype=np.float32))
    out = a.alloc(256)
    size = inst.memory.size
    cases = [
        # (op, args, fragments)
        ("add", (x, x, size - 8, 64), ("argument out", "outside the committed memory")),
        ("add", (x, x, out, -1), ("argument n = -1", ">= 1")),
        ("add", (x + 1, x, out, 4), ("not 4-byte aligned",)),
        ("add", (x, x, x + 4, 16), ("partially overlaps input a",)),
        ("add", (0xFFFFFFFC, x, out, 2), ("argument a",)),
        ("scale", (x, x + 8, 8, 2.0), ("partially overlaps",)),
        ("gelu", (x, size, 1), ("argument out",)),
        ("silu", (x, out, 0), (">= 1",)),
        ("gelu_tanh", (x, x + 4, 8), ("partially overlaps",)),
        # m*k*4 wraps 32 bits to 0 — must be caught in 64-bit arithmetic.
        ("matmul", (x, x, out, 65536, 1, 16384, 0), ("argument a",)),
        ("matmul", (x, x, out, 1, 1, 16, 0xFF << 8), ("unknown dtype 255",)),
        ("matmul", (x, x, out, 1, 1, 16, 1 << 20), ("unknown flag bits",)),
        ("matmul", (x, x, out, 1, 1, 48, 2 << 8), ("multiple of 32",)),
        ("matmul", (x, x, x, 2, 2, 2, 0), ("may not alias input a",)),
        ("matmul", (x, x + 2, out, 1, 1, 4, 0), ("not 4-byte aligned",)),
        ("layernorm", (x, x, x, out, 2, -3, 1e-5), ("argument cols",)),
        ("layernorm", (x, x, x, out, 1, 8, -1.0), ("eps",)),
        ("layernorm", (x, x, x, x + 4, 1, 8, 1e-5), ("partially overlaps",)),
        ("rmsnorm", (x, out, out, 1, 8, 1e-5), ("may not alias input gamma",)),
        ("softmax", (x, out, 0x7FFFFFFF, 0x7FFFFFFF, 1.0, 0), ("argument x",)),
        ("softmax", (x, out, 1, 8, 1.0, 2), ("unknown flag bits",)),
        ("rope", (x, out, 1, 1, 7, 0, 1e4, 0), ("must be even",)),
        ("rope", (x, out, 1, 1, 8, -5, 1e4, 0), ("pos0",)),
        ("rope", (x, out, 1, 1, 8, 0, -1.0, 0), ("theta",)),
        ("rope_factors", (x, out, 1, 1, 8, 0, 1e4, 0, x + 2), ("argument factors", "not 4-byte aligned")),
        ("rope_factors", (x, out, 1, 1, 8, 0, 1e4, 0, size - 12), ("argument factors", "outside the committed memory")),
        ("rope_factors", (x, out, 1, 1, 8, 0, 1e4, 0, out + 4), ("factors", "overlaps")),
        ("rope_factors", (x, out, 1, 1, 8, 0, 1e4, 0, out), ("out", "overlaps input factors")),
        ("rope_factors", (x, out, 1, 1, 8, 0, 1e4, 2, x), ("unknown flag bits",)),
        ("attention", (x, x, x, out, 1, 1, 3, 2, 4, 1.0, 0), ("not a multiple of kv_heads",)),
        ("attention", (x, x, x, x, 1, 1, 1, 1, 4, 1.0, 0), ("may not alias input q",)),
        ("attention", (x, x, x, out, 1, 0x100000, 1, 1, 4, 1.0, 0), ("argument k",)),
        ("attention", (x, x, x, out, 1, 1, 1, 1, 4, 1.0, 4), ("unknown flag bits",)),
        ("attention", (x, x + 1, x, out, 1, 1, 1, 1, 4, 1.0, 2), ("argument k", "not 2-byte aligned")),  # f16 K
        ("attention", (x, x, size - 6, out, 1, 1, 1, 1, 4, 1.0, 2), ("argument v", "outside the committed memory")),
        ("to_f16", (x, x + 3, 4), ("argument out", "not 2-byte aligned")),
        ("to_f16", (x, x + 2, 8), ("partially overlaps",)),
        ("to_f16", (x, x, 8), ("overlaps",)),  # the same start: still an overlap (sizes differ)
        ("to_f16", (x, size - 6, 4), ("argument out", "outside the committed memory")),
        ("gather", (x, 4, x, out, 2, 4, 0), ("ids[1] = ",)),  # ids = bits of floats 0.0, 1.0
        ("gather", (x, 4, x, out, 1, 4, 9), ("unknown dtype 9",)),
        ("gather", (x, -4, x, out, 1, 4, 0), ("argument rows",)),
        ("prefetch", (x, 16, 2), ("where = 2",)),
        ("prefetch", (size - 4, 8, 1), ("argument ptr",)),
        ("advise", (x, 16, 7), ("advice = 7",)),
    ]
    ids = a.put(np.array([1, 4], np.int32))
    cases.append(("gather", (x, 4, ids, out, 2, 4, 0), ("ids[1] = 4 is outside [0, 4)",)))
    ids_neg = a.put(np.array([-1], np.int32))
    cases.append(("gather", (x, 4, ids_neg, out, 1, 4, 0), ("ids[0] = -1",)))
    cases += quantized_weight_cases(a, x, out, size)
    for op, args, fragments in cases:
        expect_trap(inst, op, args, *fragments)
        # The instance stays usable: a valid op right after succeeds.
        inst.exports.add(x, x, out, 64)
        assert np.array_equal(inst.memory.view(out, 64, np.float32), 2 * np.arange(64, dtype=np.float32))
    assert inst.stats()["ops"]["add"]["rejected"] >= 5


def quantized_weight_cases(a: Arena, x: int, out: int, size: int) -> list[tuple[str, tuple, tuple[str, ...]]]:
    """Every GGUF block type as matmul's B and gather's table: misaligned, short (past the
    committed memory), not whole blocks, and overlapping the output."""
    cases: list[tuple[str, tuple, tuple[str, ...]]] = []
    for q in ALL_QTYPES:
        k = 2 * q.block_values
        row = k // q.block_values * q.block_bytes
        w = a.alloc(4 * row)  # four rows of zero blocks
        ids = a.put(np.zeros(2, np.int32))
        flags = q.code << 8
        cases += [
            ("matmul", (x, w + 1, out, 1, 4, k, flags), ("argument b", "not 2-byte aligned")),
            ("matmul", (x, size - row, out, 1, 4, k, flags), ("argument b", "outside the committed memory")),
            ("matmul", (x, w, out, 1, 4, k - 16, flags), (f"multiple of {q.block_values}",)),
            ("matmul", (x, w, w + row, 1, 4, k, flags), ("output c", "partially overlaps input b")),
            ("gather", (w + 1, 4, ids, out, 2, k, q.code), ("argument table", "not 2-byte aligned")),
            ("gather", (size - 3 * row, 4, ids, out, 2, k, q.code), ("argument table", "outside the committed")),
            ("gather", (w, 4, ids, out, 2, k + 16, q.code), (f"multiple of {q.block_values}",)),
            ("gather", (w, 4, ids, w, 2, k, q.code), ("output out", "input table")),
        ]
    return cases


@st.composite
def op_calls(draw: st.DrawFn) -> tuple[str, tuple]:
    op = draw(st.sampled_from(sorted(k for k in SIGNATURES if k != "sync")))
    size = 4 * PAGE
    edge_ints = st.sampled_from([0, 1, -1, 2, 3, 4, 31, 32, 33, 64, 4096, size - 4, size, size + 4,
                                 2**31 - 1, -(2**31), 2**16, 2**30])
    small = st.integers(-4, 300)
    ptr = st.integers(0, size + 64) | st.integers(-(2**31), 2**31 - 1)
    dtype_flags = st.integers(0, ABI["ZW_DTYPE_COUNT"]).map(lambda t: t << 8)  # every dtype, one unknown
    ints = st.one_of(edge_ints, small, ptr, dtype_flags, st.just(0x301))
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    args = tuple(draw(ints if c == "i" else floats) for c in SIGNATURES[op])
    return op, args


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(call=op_calls())
def test_random_argument_sets_never_escape(call: tuple[str, tuple]) -> None:
    op, args = call
    inst = _property_instance()
    before = checksum(inst)
    try:
        inst.call(op, *args)
    except zerowasm.Trap as err:
        assert f"zw.{op}" in str(err)
        assert checksum(inst) == before
    # Whatever happened, the instance still works.
    assert inst.memory.size == 4 * PAGE


_INSTANCE: list[zerowasm.Instance] = []


def _property_instance() -> zerowasm.Instance:
    if not _INSTANCE:
        _INSTANCE.append(zerowasm.Runtime("cpu").load(harness_wat(pages=4, max_pages=4)).instantiate())
    return _INSTANCE[0]


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc (Linux)")
def test_long_attention_does_not_amplify_host_memory() -> None:
    """A guest pays 4 bytes per key (head_dim 1, K and V aliased); the host's scratch must
    not grow with seq_kv (it once took ~116 bytes per key per thread, for good)."""
    seq_kv, seq_q = 1 << 22, 96
    inst = zerowasm.Runtime("cpu").load(harness_wat()).instantiate(max_memory=64 * 2**20)
    a = Arena(inst)
    rng = np.random.default_rng(3)
    kv = a.put(rng.standard_normal(seq_kv).astype(np.float32))
    q = a.put(rng.standard_normal(seq_q).astype(np.float32))
    out = a.poisoned((seq_q,))
    before = _rss_bytes()
    inst.exports.attention(q, kv, kv, out, seq_q, seq_kv, 1, 1, 1, 1.0, 0)
    grown = _rss_bytes() - before
    assert grown < 64 * 2**20, f"host RSS grew by {grown / 2**20:.0f} MiB for a {seq_kv * 4 / 2**20:.0f} MiB K/V"
    assert np.all(np.isfinite(a.get(out, (seq_q,))))
