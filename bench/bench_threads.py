"""Two Python threads, each calling its own instance of a compute-bound guest (pure Wasm,
no ops), against the same work done serially: the speed-up of parallel instances.

    python bench/bench_threads.py [--n 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import zerowasm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from limit_guests import FIB_WAT  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=30, help="fib(n) per call")
    p.add_argument("--calls", type=int, default=4, help="calls per instance")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    mod = zerowasm.Runtime("cpu").load(FIB_WAT)
    insts = [mod.instantiate(), mod.instantiate()]
    insts[0].call("fib", 20)  # warm up
    insts[1].call("fib", 20)

    def work(inst: zerowasm.Instance) -> None:
        for _ in range(args.calls):
            inst.call("fib", args.n)

    best_serial = best_threaded = float("inf")
    busy = 0.0  # process CPU seconds per wall second during the threaded run (2.0: both ran at once)
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for inst in insts:
            work(inst)
        best_serial = min(best_serial, time.perf_counter() - t0)
        threads = [threading.Thread(target=work, args=(inst,)) for inst in insts]
        t0, cpu0 = time.perf_counter(), os.times()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu1 = time.perf_counter() - t0, os.times()
        busy = max(busy, (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall)
        best_threaded = min(best_threaded, wall)
    print(f"fib({args.n}) x {args.calls} calls x 2 instances: serial {best_serial:.3f} s, "
          f"2 threads {best_threaded:.3f} s, speed-up {best_serial / best_threaded:.2f}x "
          f"(threaded run used {busy:.2f} CPU-seconds per second; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
