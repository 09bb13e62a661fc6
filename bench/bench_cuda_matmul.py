"""P3: zw.matmul GFLOP/s on the GPU vs PyTorch (cuBLAS, full f32: TF32 off).

    python bench/bench_cuda_matmul.py [--quick] [--json out.json]

C[m,n] = A[m,k] . B^T with B [n,k]. zerowasm runs on managed memory after a prefetch
(weights GPU-resident, like cuBLAS's operands) and on mapped host memory (every read
crosses the bus: the price of zero-copy without migration). Quantized B is compared
against cuBLAS on the dequantized f32 weights: the work a user would otherwise do.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cuda_common import Arena, best_seconds, instance, iterations_for, require_cuda, write_json  # noqa: E402

SHAPES = [  # m, n, k
    (1, 576, 576),  # SmolLM decode, q/o projection
    (1, 49152, 576),  # SmolLM decode, tied lm head
    (128, 1536, 384),  # MiniLM FFN up, one sequence
    (512, 576, 1536),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
    (4096, 4096, 4096),
]
DTYPES = {"f32": 0, "f16": 1, "q8_0": 2, "q4_1": 3}


def encode(w: np.ndarray, code: int) -> np.ndarray:
    if code == 0:
        return w
    if code == 1:
        return w.astype(np.float16)
    from gguf import GGMLQuantizationType, quants  # noqa: PLC0415

    return quants.quantize(w, GGMLQuantizationType.Q8_0 if code == 2 else GGMLQuantizationType.Q4_1)


def torch_seconds(m: int, n: int, k: int) -> float | None:
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(m, k, device="cuda")
    b = torch.randn(n, k, device="cuda")
    c = a @ b.T
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    c = a @ b.T
    torch.cuda.synchronize()
    iters = iterations_for(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(iters):
        c = a @ b.T
    torch.cuda.synchronize()
    del c
    return (time.perf_counter() - t0) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="f32 only, no 4096^3")
    parser.add_argument("--max-gflop", type=float, help="skip shapes above this many GFLOP per matmul")
    parser.add_argument("--json")
    args = parser.parse_args()
    device = require_cuda()
    print(f"device: {device}\n")
    shapes = SHAPES[:-1] if args.quick else SHAPES
    if args.max_gflop is not None:
        shapes = [s for s in shapes if 2.0 * s[0] * s[1] * s[2] / 1e9 <= args.max_gflop]
    dtypes = {"f32": 0} if args.quick else DTYPES
    room = 1 << 30
    insts = {mode: instance(mode, room) for mode in ("managed", "mapped")}

    print(f"{'m x n x k':>20}{'dtype':>7}{'managed':>12}{'mapped':>12}{'cuBLAS f32':>12}   (GFLOP/s)")
    rows: list[dict[str, Any]] = []
    for m, n, k in shapes:
        flop = 2.0 * m * n * k
        cublas = torch_seconds(m, n, k)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((n, k)).astype(np.float32)
        for name, code in dtypes.items():
            row: dict[str, Any] = {"m": m, "n": n, "k": k, "dtype": name}
            stored = encode(w, code)
            for mode, inst in insts.items():
                arena = Arena(inst)
                pa, pb, pc = arena.put(a), arena.put(stored), arena.alloc(4 * m * n)
                if mode == "managed":
                    inst.exports.prefetch(pa, pc + 4 * m * n - pa, 1)
                flags = code << 8
                once = best_seconds(lambda: inst.exports.matmul_loop(1, pa, pb, pc, m, n, k, flags), repeats=1)  # noqa: B023
                iters = iterations_for(once, lo=2, hi=10_000)
                seconds = best_seconds(lambda: inst.exports.matmul_loop(iters, pa, pb, pc, m, n, k, flags)) / iters  # noqa: B023
                row[mode] = flop / seconds / 1e9
            if cublas is not None:
                row["cublas_f32"] = flop / cublas / 1e9
            rows.append(row)
            cub = f"{row['cublas_f32']:>12.1f}" if "cublas_f32" in row else f"{'-':>12}"
            print(f"{f'{m} x {n} x {k}':>20}{name:>7}{row['managed']:>12.1f}{row['mapped']:>12.1f}{cub}")
    if torch_seconds(1, 1, 1) is None:
        print("(PyTorch with CUDA is not installed: no cuBLAS column)")
    write_json(args.json, {"device": device, "rows": rows})


if __name__ == "__main__":
    main()
