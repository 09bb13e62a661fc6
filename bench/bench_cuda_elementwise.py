"""P2: an elementwise op (out = a + b) over 4 KiB .. 256 MiB tensors:
zerowasm on mapped host memory, zerowasm on managed memory after a prefetch,
and the copy path (copy out of guest memory -> H2D -> kernel -> D2H -> copy back in).

    python bench/bench_cuda_elementwise.py [--max-mib 256] [--json out.json]

Bandwidth counts the 3 tensors the op touches (read a, read b, write out) per op.
The copy paths come from zerowasm._cuda_bench.cuda_copy_path_add (same kernel; pageable
and pinned staging; only in builds with -DZEROWASM_BENCH_HOOKS=ON) and, where PyTorch with
CUDA is installed, torch tensors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cuda_common import (  # noqa: E402
    BENCH_HOOKS_HINT,
    Arena,
    best_seconds,
    debug_entry,
    instance,
    iterations_for,
    require_cuda,
    write_json,
)


def torch_copy_path(a: np.ndarray, b: np.ndarray, out: np.ndarray, iters: int) -> float | None:
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None

    def once() -> None:
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        out[:] = (ta + tb).cpu().numpy()

    once()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        once()
    return (time.perf_counter() - t0) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-mib", type=int, default=256)
    parser.add_argument("--json")
    args = parser.parse_args()
    device = require_cuda()
    print(f"device: {device}\n")
    max_bytes = args.max_mib << 20
    sizes = [4096 << (2 * i) for i in range(12) if (4096 << (2 * i)) <= max_bytes]
    room = 3 * max_bytes + (16 << 20)
    insts = {mode: instance(mode, room) for mode in ("mapped", "managed")}
    copy_add = debug_entry("cuda_copy_path_add")

    columns = ["mapped", "managed+prefetch", "copy pageable", "copy pinned", "torch copy"]
    print(f"{'tensor':>10}" + "".join(f"{c:>18}" for c in columns) + "   (GB/s)")
    rows: list[dict[str, Any]] = []
    for size in sizes:
        n = size // 4
        row: dict[str, Any] = {"bytes": size}
        rng = np.random.default_rng(0)
        a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
        for mode, inst in insts.items():
            arena = Arena(inst)
            pa, pb, po = arena.put(a), arena.put(b), arena.alloc(size)
            if mode == "managed":
                inst.exports.prefetch(pa, po + size - pa, 1)
            per_op = best_seconds(lambda: inst.exports.add_loop(1, pa, pb, po, n), repeats=1)  # noqa: B023
            iters = iterations_for(per_op)
            seconds = best_seconds(lambda: inst.exports.add_loop(iters, pa, pb, po, n)) / iters  # noqa: B023
            assert np.array_equal(inst.memory.view(po, n, np.float32), a + b)
            row["mapped" if mode == "mapped" else "managed+prefetch"] = 3 * size / seconds / 1e9
        if copy_add is not None:
            for pinned in (False, True):
                per_iter = copy_add(1, n, pinned)
                row["copy pinned" if pinned else "copy pageable"] = (
                    3 * size / copy_add(iterations_for(per_iter, lo=2, hi=1000), n, pinned) / 1e9
                )
        out = np.empty_like(a)
        t = torch_copy_path(a, b, out, iterations_for(1e-3 + size / 5e9, lo=2, hi=1000))
        if t is not None:
            row["torch copy"] = 3 * size / t / 1e9
        rows.append(row)
        label = f"{size >> 10} KiB" if size < (1 << 20) else f"{size >> 20} MiB"
        print(f"{label:>10}" + "".join(f"{row[c]:>18.2f}" if c in row else f"{'-':>18}" for c in columns))
    if copy_add is None:
        print(f"(no zerowasm._cuda_bench in this build: no copy-path columns; {BENCH_HOOKS_HINT})")
    write_json(args.json, {"device": device, "rows": rows})


if __name__ == "__main__":
    main()
