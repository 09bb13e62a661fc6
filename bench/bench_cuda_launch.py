"""P1: per-op overhead of a tiny zw.add issued from a guest loop vs the same kernel
launched straight from C++ through the driver API, in the same process.

    python bench/bench_cuda_launch.py [--iters 20000] [--elements 256] [--json out.json]

The raw loop (zerowasm._cuda_bench.cuda_raw_launch_loop, in builds with -DZEROWASM_BENCH_HOOKS=ON)
launches the very kernel, parameter block and grid that zw.add uses, so the difference is the
Wasm boundary + validation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cuda_common import (  # noqa: E402
    BENCH_HOOKS_HINT,
    Arena,
    best_seconds,
    debug_entry,
    instance,
    require_cuda,
    write_json,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=20_000)
    parser.add_argument("--elements", type=int, default=256)
    parser.add_argument("--json")
    args = parser.parse_args()
    device = require_cuda()
    n, iters = args.elements, args.iters
    print(f"device: {device}\nzw.add of {n} floats, {iters} back-to-back ops, then one sync\n")

    results: dict[str, float] = {}
    for mode in ("mapped", "managed"):
        inst = instance(mode, 64 << 20)
        arena = Arena(inst)
        x = np.ones(n, np.float32)
        pa, pb, po = arena.put(x), arena.put(x), arena.alloc(4 * n)
        seconds = best_seconds(lambda: inst.exports.add_loop(iters, pa, pb, po, n))  # noqa: B023
        results[f"guest_{mode}_us"] = seconds / iters * 1e6
    raw = debug_entry("cuda_raw_launch_loop")
    if raw is not None:
        results["raw_launch_us"] = best_seconds(lambda: raw(iters, n)) / iters * 1e6
    else:
        print(f"(no zerowasm._cuda_bench in this build: no raw baseline; {BENCH_HOOKS_HINT})")

    print(f"{'path':<34}{'us/op':>10}")
    for key, label in (
        ("raw_launch_us", "raw cuLaunchKernel loop (C++)"),
        ("guest_mapped_us", "guest loop, mapped memory"),
        ("guest_managed_us", "guest loop, managed memory"),
    ):
        if key in results:
            print(f"{label:<34}{results[key]:>10.2f}")
    if "raw_launch_us" in results:
        for mode in ("mapped", "managed"):
            ratio = results[f"guest_{mode}_us"] / results["raw_launch_us"]
            print(f"guest/raw ({mode}): {ratio:.2f}x")
    write_json(args.json, {"device": device, "elements": n, "iterations": iters, **results})


if __name__ == "__main__":
    main()
