"""The kernel ABI numbers have one source, guest/include/zerowasm_abi.h.

- The host reports the dtype codes, flag bits and block sizes its op table and
  args structs were compiled with (`_zerowasm.abi()`); they must equal the
  header's #defines, and every #define must be reported, so a value edited in
  the header alone is enough and a host constant written down elsewhere fails.
- Ops called with flag words and block layouts built from the parsed header
  behave as the float64 references say, and codes one past the header's range
  are rejected: the numbers are not only equal, they are the ones in use.
- A C guest compiled against zerowasm.h gets the same numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import zerowasm
from ops_harness import Arena, harness_wat, rel_err

HEADER = Path(__file__).resolve().parents[1] / "guest" / "include" / "zerowasm_abi.h"
DEFINE = re.compile(r"^\s*#\s*define\s+(ZW_\w+)\s+(0x[0-9a-fA-F]+|\d+)u?\b", re.MULTILINE)


def parse_header(text: str) -> dict[str, int]:
    """Every `#define ZW_NAME <integer>` of the header (the include guard has no value)."""
    return {name: int(value, 0) for name, value in DEFINE.findall(text)}


ABI = parse_header(HEADER.read_text())


def test_parser_reads_every_numeric_define() -> None:
    # A define the regex skipped (a new spelling, an expression) would escape the check below.
    names = set(re.findall(r"^\s*#\s*define\s+(ZW_\w+)\s+\S", HEADER.read_text(), re.MULTILINE))
    assert names == set(ABI)
    assert {"ZW_DTYPE_F32", "ZW_DTYPE_COUNT", "ZW_QBLOCK", "ZW_ACCUMULATE", "ZW_CAUSAL"} <= names


def test_host_compiled_the_header_values() -> None:
    host = zerowasm._zerowasm.abi()
    assert host == ABI


def quantize_q8_0(w: np.ndarray) -> tuple[bytes, np.ndarray]:
    """GGUF Q8_0 rows laid out with the header's block size; returns (bytes, dequantized)."""
    block = ABI["ZW_QBLOCK"]
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // block, block).astype(np.float64)
    d = (np.abs(blocks).max(-1, keepdims=True) / 127.0).astype(np.float16)
    q = np.where(d == 0, 0, np.round(blocks / np.where(d == 0, 1, d.astype(np.float64)))).astype(np.int8)
    raw = np.concatenate([d.view(np.uint8).reshape(rows, -1, 2), q.view(np.uint8)], axis=-1)
    assert raw.shape[-1] == ABI["ZW_Q8_0_BYTES"]
    return raw.tobytes(), (d.astype(np.float64) * q).reshape(rows, cols)


@pytest.fixture(scope="module")
def inst() -> zerowasm.Instance:
    return zerowasm.Runtime("cpu").load(harness_wat(pages=16, max_pages=64)).instantiate()


def test_matmul_flags_from_the_header(inst: zerowasm.Instance) -> None:
    rng = np.random.default_rng(11)
    m, n, k = 3, 5, 2 * ABI["ZW_QBLOCK"]
    arena = Arena(inst)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float16)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    pa, pb, pc = arena.put(a), arena.put(b), arena.put(c0)
    flags = (ABI["ZW_DTYPE_F16"] << ABI["ZW_B_DTYPE_SHIFT"]) | ABI["ZW_ACCUMULATE"]
    assert flags & ~ABI["ZW_B_DTYPE_MASK"] == ABI["ZW_ACCUMULATE"]
    inst.call("matmul", pa, pb, pc, m, n, k, flags)
    ref = c0.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64).T
    assert rel_err(arena.get(pc, (m, n)), ref) < 1e-5

    wq, deq = quantize_q8_0(rng.standard_normal((n, k)).astype(np.float32))
    pq = arena.put(np.frombuffer(wq, np.uint8))
    pout = arena.poisoned((m, n))
    inst.call("matmul", pa, pq, pout, m, n, k, ABI["ZW_DTYPE_Q8_0"] << ABI["ZW_B_DTYPE_SHIFT"])
    assert rel_err(arena.get(pout, (m, n)), a.astype(np.float64) @ deq.T) < 1e-5

    unknown = ABI["ZW_DTYPE_COUNT"] << ABI["ZW_B_DTYPE_SHIFT"]
    with pytest.raises(zerowasm.Trap, match=f"unknown dtype {ABI['ZW_DTYPE_COUNT']}"):
        inst.call("matmul", pa, pb, pc, m, n, k, unknown)


def test_gather_block_layout_from_the_header(inst: zerowasm.Instance) -> None:
    rng = np.random.default_rng(12)
    rows, dim = 7, 3 * ABI["ZW_QBLOCK"]
    arena = Arena(inst)
    wq, deq = quantize_q8_0(rng.standard_normal((rows, dim)).astype(np.float32))
    assert len(wq) == rows * dim // ABI["ZW_QBLOCK"] * ABI["ZW_Q8_0_BYTES"]
    pt = arena.put(np.frombuffer(wq, np.uint8))
    ids = np.array([6, 0, 3, 3], np.int32)
    pi, pout = arena.put(ids), arena.poisoned((len(ids), dim))
    inst.call("gather", pt, rows, pi, pout, len(ids), dim, ABI["ZW_DTYPE_Q8_0"])
    assert rel_err(arena.get(pout, (len(ids), dim)), deq[ids]) < 1e-6
    # One byte short of the header's layout: the table no longer fits the memory.
    with pytest.raises(zerowasm.Trap, match="table"):
        inst.call("gather", inst.memory.size - len(wq) + 1, rows, pi, pout, len(ids), dim, ABI["ZW_DTYPE_Q8_0"])


def test_causal_and_rope_flags_from_the_header(inst: zerowasm.Instance) -> None:
    rng = np.random.default_rng(13)
    arena = Arena(inst)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    px, pout = arena.put(x), arena.poisoned(x.shape)
    inst.call("softmax", px, pout, 4, 6, 1.0, ABI["ZW_CAUSAL"])
    got = arena.get(pout, x.shape)
    mask = np.arange(6)[None, :] <= np.arange(4)[:, None] + 2
    assert np.all(got[~mask] == 0) and np.allclose(got.sum(-1), 1.0, atol=1e-6)
    with pytest.raises(zerowasm.Trap, match="unknown flag bits"):
        inst.call("softmax", px, pout, 4, 6, 1.0, ABI["ZW_CAUSAL"] << 1)

    v = rng.standard_normal((1, 1, 4)).astype(np.float32)
    pv, pr = arena.put(v), arena.poisoned(v.shape)
    inst.call("rope", pv, pr, 1, 1, 4, 1, 10000.0, ABI["ZW_ROPE_ADJACENT"])
    angle = 1.0 * 10000.0 ** (-np.arange(2) / 2.0)  # pos 1, frequencies theta^(-2i/d)
    a, b = v[0, 0, 0::2].astype(np.float64), v[0, 0, 1::2].astype(np.float64)
    want = np.empty(4)
    want[0::2], want[1::2] = a * np.cos(angle) - b * np.sin(angle), a * np.sin(angle) + b * np.cos(angle)
    assert rel_err(arena.get(pr, v.shape).ravel(), want) < 1e-6


def test_hint_codes_from_the_header(inst: zerowasm.Instance) -> None:
    for where in (ABI["ZW_HOST"], ABI["ZW_DEVICE"]):
        inst.call("prefetch", 0, 4096, where)
    inst.call("advise", 0, 4096, ABI["ZW_ADVISE_READ_MOSTLY"])
    bad = max(ABI["ZW_HOST"], ABI["ZW_DEVICE"]) + 1
    with pytest.raises(zerowasm.Trap, match=f"where = {bad}"):
        inst.call("prefetch", 0, 4096, bad)


GUEST = r"""
#include "zerowasm.h"
__attribute__((export_name("abi_value")))
int32_t abi_value(int32_t which) {
  switch (which) {
    case 0: return ZW_F32;
    case 1: return ZW_F16;
    case 2: return ZW_Q8_0;
    case 3: return ZW_Q4_1;
    case 4: return (int32_t)ZW_B_DTYPE(ZW_Q4_1);
    case 5: return ZW_QBLOCK * 1000 + ZW_Q8_0_BYTES;
    default: return -1;
  }
}
"""


def test_guest_sdk_sees_the_same_numbers(build_guest) -> None:  # noqa: ANN001 (conftest fixture)
    inst = zerowasm.Runtime("cpu").load(build_guest(GUEST, name="abi_values")).instantiate()
    got = [inst.call("abi_value", i) for i in range(6)]
    assert got == [
        ABI["ZW_DTYPE_F32"],
        ABI["ZW_DTYPE_F16"],
        ABI["ZW_DTYPE_Q8_0"],
        ABI["ZW_DTYPE_Q4_1"],
        ABI["ZW_DTYPE_Q4_1"] << ABI["ZW_B_DTYPE_SHIFT"],
        ABI["ZW_QBLOCK"] * 1000 + ABI["ZW_Q8_0_BYTES"],
    ]
