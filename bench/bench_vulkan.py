"""The Vulkan backend: per-op cost, elementwise bandwidth and matmul throughput,
measured from a guest that loops over zw.* calls itself (then one zw.sync).

    python bench/bench_vulkan.py [--max-mib 64] [--json out.json]

On a software driver (Mesa lavapipe: device type CPU) the figures are for spotting
regressions only, not speed claims; the report says which kind of device ran.
Set ZEROWASM_VULKAN_DEVICE=<n> to pick another usable device.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zerowasm  # noqa: E402
from bench_cuda_common import BENCH_WAT, Arena, best_seconds, iterations_for, write_json  # noqa: E402


def require_vulkan() -> str:
    """The Vulkan device description, or exit 0 with the reason (benches are optional)."""
    for name, available, detail in zerowasm.backend_details():
        if name == "vulkan":
            if available:
                return detail
            print(f"skipped: no Vulkan: {detail}")
            sys.exit(0)
    print("skipped: the vulkan backend is not compiled into this build")
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mib", type=int, default=64, help="largest elementwise tensor (MiB)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    detail = require_vulkan()
    software = "CPU device" in detail
    print(f"vulkan: {detail}")
    if software:
        print("NOTE: software driver (runs on the CPU): figures are for regressions, not speed claims")
    max_bytes = 3 * args.max_mib * 2**20 + (64 << 20)
    inst = zerowasm.Runtime("vulkan").load(BENCH_WAT).instantiate(max_memory=max_bytes)
    arena = Arena(inst)
    results: dict[str, object] = {"device": detail, "software_driver": software, "date": time.strftime("%F")}

    # Per-op cost: tiny adds back to back (validation, recording, batched submits).
    a, b, o = (arena.put(np.ones(64, np.float32)) for _ in range(3))
    iters = 2000
    t = best_seconds(lambda: inst.exports.add_loop(iters, a, b, o, 64))
    results["op_overhead_us"] = t / iters * 1e6
    print(f"tiny zw.add back to back: {t / iters * 1e6:8.1f} us/op")

    # Elementwise bandwidth (3 tensors per op).
    rows = []
    size = 4096
    while size <= args.max_mib * 2**20:
        n = size // 4
        arena.top = 1024
        pa, pb, po = arena.put(np.ones(n, np.float32)), arena.put(np.ones(n, np.float32)), arena.alloc(size)
        t1 = best_seconds(partial(inst.exports.add_loop, 1, pa, pb, po, n), repeats=2)
        iters = iterations_for(t1)
        t = best_seconds(partial(inst.exports.add_loop, iters, pa, pb, po, n), repeats=2) / iters
        rows.append({"bytes": size, "seconds": t, "gb_s": 3 * size / t / 1e9})
        print(f"zw.add {size / 2**20:9.3f} MiB: {t * 1e6:10.1f} us  {3 * size / t / 1e9:7.2f} GB/s")
        size *= 8
    results["elementwise"] = rows

    # Matmul: a decode step (gemv path) and a prefill-sized GEMM, f32 and Q4_1 weights.
    mm = []
    for m, n, k in ((1, 1536, 576), (64, 1536, 576)):
        for dtype, name in ((0, "f32"), (3, "q4_1")):
            arena.top = 1024
            pa = arena.put(np.random.default_rng(0).standard_normal((m, k)).astype(np.float32))
            wbytes = n * k * 4 if dtype == 0 else n * (k // 32) * 20
            pb = arena.put(np.zeros(wbytes, np.uint8))
            pc = arena.alloc(m * n * 4)
            t1 = best_seconds(partial(inst.exports.matmul_loop, 1, pa, pb, pc, m, n, k, dtype << 8), repeats=2)
            iters = iterations_for(t1)
            loop = partial(inst.exports.matmul_loop, iters, pa, pb, pc, m, n, k, dtype << 8)
            t = best_seconds(loop, repeats=2) / iters
            gflops = 2 * m * n * k / t / 1e9
            mm.append({"m": m, "n": n, "k": k, "dtype": name, "seconds": t, "gflop_s": gflops})
            print(f"zw.matmul {m:3d}x{n}x{k} {name:5s}: {t * 1e6:10.1f} us  {gflops:7.2f} GFLOP/s")
    results["matmul"] = mm
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
