"""Random GGUF blocks of every quantized zw dtype, for the quantized-type tests.

Blocks are built from random bytes with their f16 scale fields overwritten by finite
values (random bytes would make NaN/inf scales), so every quant bit pattern and every
packed 6-bit scale/min occurs. Extreme blocks are added on purpose: all-zero and all-max
quant bytes, the largest f16 scale (65504), the smallest subnormal one, zero and
negative scales. What a block means is decided by the `gguf` package's own
`quants.dequantize` (an independent NumPy implementation of ggml's layouts), never by
code written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, quants

ABI_HEADER = Path(__file__).resolve().parents[1] / "guest" / "include" / "zerowasm_abi.h"
ABI = {name: int(value) for name, value in re.findall(r"#define (ZW_\w+) (\d+)", ABI_HEADER.read_text())}


@dataclass(frozen=True)
class QType:
    name: str  # zw spelling: "q4_k"
    ggml: GGMLQuantizationType
    block_values: int
    block_bytes: int
    scale_offsets: tuple[int, ...]  # byte offsets of the block's f16 fields

    @property
    def code(self) -> int:
        return ABI[f"ZW_DTYPE_{self.name.upper()}"]


def _qtype(name: str, ggml: GGMLQuantizationType, block: str, scales: tuple[int, ...]) -> QType:
    return QType(name, ggml, ABI[block], ABI[f"ZW_{name.upper()}_BYTES"], scales)


# The types issue 16 added (Q8_0 and Q4_1 have their own tests since ABI v1).
NEW_QTYPES = [
    _qtype("q4_0", GGMLQuantizationType.Q4_0, "ZW_QBLOCK", (0,)),
    _qtype("q5_0", GGMLQuantizationType.Q5_0, "ZW_QBLOCK", (0,)),
    _qtype("q4_k", GGMLQuantizationType.Q4_K, "ZW_QK_K", (0, 2)),
    _qtype("q5_k", GGMLQuantizationType.Q5_K, "ZW_QK_K", (0, 2)),
    _qtype("q6_k", GGMLQuantizationType.Q6_K, "ZW_QK_K", (208,)),
]
BY_NAME = {q.name: q for q in NEW_QTYPES}
# Every block type zw knows (for the validation checks).
ALL_QTYPES = [
    _qtype("q8_0", GGMLQuantizationType.Q8_0, "ZW_QBLOCK", (0,)),
    _qtype("q4_1", GGMLQuantizationType.Q4_1, "ZW_QBLOCK", (0, 2)),
    *NEW_QTYPES,
]

EXTREME_SCALES = np.array([65504.0, -65504.0, 2.0**-24, -(2.0**-24), 0.0, 1.0], dtype=np.float16)


def random_blocks(q: QType, count: int, rng: np.random.Generator, scale: float = 0.05,
                  extremes: bool = False) -> np.ndarray:
    """`count` blocks [count, block_bytes] of random bytes with finite f16 scales.

    extremes: the first blocks take the extreme cases (all-zero, all-max quant bytes,
    EXTREME_SCALES); the rest are random with scales ~ N(0, scale).
    """
    raw = rng.integers(0, 256, size=(count, q.block_bytes), dtype=np.uint8)
    scales = (rng.standard_normal((count, len(q.scale_offsets))) * scale).astype(np.float16)
    if extremes:
        special = min(count, 2 + len(EXTREME_SCALES))
        raw[0] = 0x00  # all-zero quants (and zero packed scales for K-quants)
        raw[1 % count] = 0xFF  # all-max quants and scales
        for i in range(2, special):
            scales[i] = EXTREME_SCALES[i - 2]
        scales[:2] = np.float16(1.5)
    for j, off in enumerate(q.scale_offsets):
        raw[:, off:off + 2] = scales[:, j:j + 1].view(np.uint8).reshape(count, 2)
    return raw


def random_rows(q: QType, rows: int, cols: int, rng: np.random.Generator, scale: float = 0.05,
                extremes: bool = False) -> np.ndarray:
    """A [rows, row_bytes] weight tensor of `q` holding `cols` values per row."""
    assert cols % q.block_values == 0
    per_row = cols // q.block_values
    return random_blocks(q, rows * per_row, rng, scale, extremes).reshape(rows, per_row * q.block_bytes)


def dequantize(q: QType, raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The gguf package's f32 values of a [rows, row_bytes] tensor."""
    return quants.dequantize(np.ascontiguousarray(raw), q.ggml).reshape(rows, cols).astype(np.float32)
