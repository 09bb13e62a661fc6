"""Decode-step GEMV (m = 1..2 rows of A) of every quantized weight type on the CPU backend.

    python bench/bench_quant_gemv.py [--threads N] [--reps R]

Shapes are Gemma 3 270M's decode matmuls (d 640, FFN 2048, q 1024) and its tied output
head (262144 x 640, Q8_0 in the Q4_K_M file). Prints, per dtype and shape, the median
time of one zw.matmul called from a guest and the weight bytes streamed per second,
so kernels of different block layouts compare on the memory they read.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ops_harness import Arena, harness_wat  # noqa: E402
from quant_blocks import ABI, ALL_QTYPES, random_rows  # noqa: E402

# (n, k): rows of B (outputs) and their length. K-quants need k % 256 == 0 (files fall back
# to Q5_0/Q8_0 elsewhere), so they get the k = 2048 and 1024 shapes.
SHAPES = [(2048, 640), (640, 2048), (640, 1024), (262144, 640)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None, help="ZEROWASM_NUM_THREADS (default: all cores)")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--rows", type=int, nargs="+", default=[1], help="rows of A (decode: 1)")
    parser.add_argument("--types", nargs="+", default=[q.name for q in ALL_QTYPES])
    args = parser.parse_args()
    if args.threads:
        os.environ["ZEROWASM_NUM_THREADS"] = str(args.threads)
    import zerowasm

    inst = zerowasm.Runtime("cpu").load(harness_wat(max_pages=8192)).instantiate(max_memory=1 << 30)
    print(f"# {zerowasm.backend_details()[-1][2]}")
    print(f"{'dtype':6} {'m':>2} {'n':>7} {'k':>5} {'MiB':>7} {'us':>9} {'GB/s':>6}")
    rng = np.random.default_rng(0)
    for q in (q for q in ALL_QTYPES if q.name in args.types):
        for n, k in SHAPES:
            if (n > 100_000 and q.name != "q8_0") or k % q.block_values:
                continue  # the output head is Q8_0 in the files benchmarked
            arena = Arena(inst)
            raw = random_rows(q, n, k, rng, scale=0.002)
            pb = arena.put(raw)
            for m in args.rows:
                pa = arena.put(rng.standard_normal((m, k)).astype(np.float32))
                pc = arena.alloc(4 * m * n)
                flags = ABI[f"ZW_DTYPE_{q.name.upper()}"] << 8
                reps = max(3, args.reps if n < 100_000 else args.reps // 5)
                for _ in range(2):
                    inst.exports.matmul(pa, pb, pc, m, n, k, flags)
                times = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    inst.exports.matmul(pa, pb, pc, m, n, k, flags)
                    times.append(time.perf_counter() - t0)
                t = statistics.median(times)
                print(f"{q.name:6} {m:>2} {n:>7} {k:>5} {raw.nbytes / 2**20:7.2f} {t * 1e6:9.1f} "
                      f"{raw.nbytes / t / 1e9:6.2f}")


if __name__ == "__main__":
    main()
