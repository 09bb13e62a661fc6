"""CPU kernels through the guest boundary vs numpy doing the same work, in one run.

    python -m pytest bench/bench_ops.py --benchmark-sort=name --benchmark-columns=median,ops,rounds

Quantized matmuls are compared with numpy's f32 matmul on the dequantized weights
(numpy has no quantized kernel; that is the work a user would otherwise do).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import zerowasm
from gguf import GGMLQuantizationType, quants

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ops_harness import Arena, harness_wat  # noqa: E402

SHAPES = [(1, 576, 576), (128, 384, 1536), (512, 1536, 384)]  # m, k, n
DTYPES = {"f32": 0, "q8_0": 2, "q4_1": 3}
GGML = {2: GGMLQuantizationType.Q8_0, 3: GGMLQuantizationType.Q4_1}

LOOP_WAT = """
(module
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "loop_add") (param $n i32) (param $iters i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get $iters)))
      (call $add (i32.const 0) (i32.const 1024) (i32.const 2048) (local.get $n))
      (local.set $iters (i32.sub (local.get $iters) (i32.const 1)))
      (br 0)))))
"""


@pytest.fixture(scope="module")
def inst() -> zerowasm.Instance:
    return zerowasm.Runtime("cpu").load(harness_wat()).instantiate(max_memory=1 << 30)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_matmul_zerowasm(benchmark, inst: zerowasm.Instance, shape: tuple[int, int, int], dtype: str) -> None:
    m, k, n = shape
    rng = np.random.default_rng(0)
    arena = Arena(inst)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    code = DTYPES[dtype]
    stored = w if code == 0 else quants.quantize(w, GGML[code])
    pa, pb, pc = arena.put(a), arena.put(stored), arena.alloc(m * n * 4)
    benchmark.extra_info.update(case=f"matmul {dtype} {m}x{k}x{n}", gflop=2 * m * n * k / 1e9)
    benchmark(inst.exports.matmul, pa, pb, pc, m, n, k, code << 8)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_numpy(benchmark, shape: tuple[int, int, int]) -> None:
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    benchmark.extra_info.update(case=f"numpy f32 {m}x{k}x{n}", gflop=2 * m * n * k / 1e9)
    benchmark(np.matmul, a, w.T, out=out)


@pytest.mark.parametrize("n", [16])
def test_tiny_op_overhead_guest_loop(benchmark, n: int) -> None:
    """1,000 zw.add calls of 16 floats from a guest loop: time per call is the boundary cost."""
    inst = zerowasm.Runtime("cpu").load(LOOP_WAT).instantiate()
    benchmark.extra_info.update(case="tiny add x1000 from guest", calls=1000)
    benchmark(inst.exports.loop_add, n, 1000)


def test_tiny_op_numpy(benchmark) -> None:
    a, b, out = np.ones(16, np.float32), np.ones(16, np.float32), np.empty(16, np.float32)
    benchmark.extra_info.update(case="numpy tiny add x1")
    benchmark(np.add, a, b, out=out)
