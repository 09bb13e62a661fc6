"""Shared pieces of the CUDA benches: a looping guest, timing, availability.

The guest loops over zw.* calls itself, so a measurement covers exactly what a real
guest pays per op (Wasm -> host call, validation, launch) and not Python's call overhead.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zerowasm

# Tensors go into bench guests through the test harness's bump allocator.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ops_harness import Arena  # noqa: E402, F401

BENCH_WAT = """
(module
  (import "zw" "add" (func $add (param i32 i32 i32 i32)))
  (import "zw" "matmul" (func $matmul (param i32 i32 i32 i32 i32 i32 i32)))
  (import "zw" "prefetch" (func $prefetch (param i32 i32 i32)))
  (import "zw" "sync" (func $sync))
  (memory (export "memory") 1 65536)
  (func (export "add_loop") (param $iters i32) (param $a i32) (param $b i32) (param $o i32) (param $n i32)
    (block $done (loop $next
      (br_if $done (i32.le_s (local.get $iters) (i32.const 0)))
      (call $add (local.get $a) (local.get $b) (local.get $o) (local.get $n))
      (local.set $iters (i32.sub (local.get $iters) (i32.const 1)))
      (br $next)))
    (call $sync))
  (func (export "matmul_loop") (param $iters i32) (param $a i32) (param $b i32) (param $c i32)
        (param $m i32) (param $n i32) (param $k i32) (param $flags i32)
    (block $done (loop $next
      (br_if $done (i32.le_s (local.get $iters) (i32.const 0)))
      (call $matmul (local.get $a) (local.get $b) (local.get $c) (local.get $m) (local.get $n) (local.get $k)
                    (local.get $flags))
      (local.set $iters (i32.sub (local.get $iters) (i32.const 1)))
      (br $next)))
    (call $sync))
  (func (export "prefetch") (param $p i32) (param $len i32) (param $where i32)
    (call $prefetch (local.get $p) (local.get $len) (local.get $where))
    (call $sync)))
"""


def require_cuda() -> str:
    """The CUDA device description, or exit 0 with the reason (benches are optional)."""
    for name, available, detail in zerowasm.backend_details():
        if name == "cuda":
            if available:
                return detail
            print(f"skipped: no CUDA: {detail}")
            sys.exit(0)
    print("skipped: the cuda backend is not compiled into this build")
    sys.exit(0)


BENCH_HOOKS_HINT = "build with SKBUILD_CMAKE_ARGS=-DZEROWASM_BENCH_HOOKS=ON pip install . to get them"


def debug_entry(name: str) -> Callable[..., float] | None:
    """zerowasm._cuda_bench.<name>: only in builds with -DZEROWASM_BENCH_HOOKS=ON (never the wheel)."""
    try:
        hooks = importlib.import_module("zerowasm._cuda_bench")
    except ImportError:
        return None
    return getattr(hooks, name, None)


def instance(memory: str, max_bytes: int) -> zerowasm.Instance:
    return zerowasm.Runtime("cuda", memory=memory).load(BENCH_WAT).instantiate(max_memory=max_bytes)


def best_seconds(run: Callable[[], Any], repeats: int = 3) -> float:
    """Fastest of `repeats` wall-clock runs of `run` (after one warm-up)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def iterations_for(seconds_per_iter: float, budget: float = 0.2, lo: int = 3, hi: int = 100_000) -> int:
    return int(min(hi, max(lo, budget / max(seconds_per_iter, 1e-9))))


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2))
        print(f"wrote {path}")
