"""Writes the seed corpus of fuzz_ops.cpp (tests/fuzz/corpus): one valid call per op shape.

Layout (see fuzz_ops.cpp): op index, pages - 1, then (mode byte, u32 value) per parameter,
then memory contents. Run: python tests/fuzz/make_seeds.py
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

OPS = ["matmul", "add", "mul", "scale", "gelu", "silu", "layernorm", "rmsnorm", "softmax", "rope",
       "attention", "gather", "sync", "prefetch", "advise", "gelu_tanh", "to_f16",
       "rope_factors"]
K = 16384  # offset unit


def ptr(off: int) -> tuple[int, int]:
    return (1 | (2 << 2), off)  # a 4-byte aligned offset


def dim(v: int) -> tuple[int, int]:
    return (0, v + 8)


def raw(v: int) -> tuple[int, int]:
    return (2, v & 0xFFFFFFFF)


def fl(x: float) -> tuple[int, int]:
    return (2, struct.unpack("<I", struct.pack("<f", x))[0])


SEEDS: dict[str, list[list[tuple[int, int]]]] = {
    "matmul": [[ptr(0), ptr(4 * K), ptr(8 * K), dim(4), dim(8), dim(32), raw(f)] for f in (0, 1, 0x100, 0x200, 0x301)],
    "add": [[ptr(0), ptr(K), ptr(2 * K), dim(64)], [ptr(0), ptr(K), ptr(0), dim(64)]],
    "mul": [[ptr(0), ptr(K), ptr(2 * K), dim(33)]],
    "scale": [[ptr(0), ptr(K), dim(17), fl(0.5)]],
    "gelu": [[ptr(0), ptr(K), dim(100)]],
    "silu": [[ptr(0), ptr(0), dim(100)]],
    "layernorm": [[ptr(0), ptr(K), ptr(2 * K), ptr(3 * K), dim(3), dim(40), fl(1e-5)]],
    "rmsnorm": [[ptr(0), ptr(K), ptr(2 * K), dim(3), dim(40), fl(1e-5)]],
    "softmax": [[ptr(0), ptr(K), dim(4), dim(30), fl(1.0), raw(c)] for c in (0, 1)],
    "rope": [[ptr(0), ptr(K), dim(3), dim(2), dim(8), dim(5), fl(10000.0), raw(a)] for a in (0, 1)],
    "attention": [[ptr(0), ptr(K), ptr(2 * K), ptr(3 * K), dim(3), dim(5), dim(4), dim(2), dim(8), fl(0.35), raw(c)]
                  for c in (0, 1, 2, 3)],
    "gather": [[ptr(0), dim(10), ptr(4 * K), ptr(5 * K), dim(4), dim(32), raw(t)] for t in (0, 1, 2, 3)],
    "sync": [[]],
    "prefetch": [[ptr(0), dim(100), raw(0)]],
    "advise": [[ptr(0), dim(100), raw(1)]],
    "gelu_tanh": [[ptr(0), ptr(K), dim(100)]],
    "to_f16": [[ptr(0), ptr(K), dim(100)]],
    "rope_factors": [[ptr(0), ptr(K), dim(3), dim(2), dim(8), dim(5), fl(500000.0), raw(a), ptr(2 * K)]
                     for a in (0, 1)],
}


def main() -> None:
    out = Path(__file__).parent / "corpus"
    out.mkdir(exist_ok=True)
    rng = random.Random(13)
    for name, seeds in SEEDS.items():
        for i, params in enumerate(seeds):
            body = bytes([OPS.index(name), 3])
            for mode, value in params:
                body += bytes([mode]) + struct.pack("<I", value)
            # Memory: small floats, and bytes that decode as valid gather ids (< 10) too.
            body += b"".join(struct.pack("<f", rng.uniform(-2, 2)) for _ in range(96)) + bytes(range(10)) * 4
            (out / f"{name}-{i}").write_bytes(body)


if __name__ == "__main__":
    main()
