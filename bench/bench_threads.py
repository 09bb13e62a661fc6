"""Two Python threads, each calling its own instance of a compute-bound guest (pure Wasm,
no ops), against the same work done serially: the speed-up of parallel instances.

    python bench/bench_threads.py [--n 30] [--calls 4] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    mod = zerowasm.Runtime("cpu").load(FIB_WAT)
    insts = [mod.instantiate(), mod.instantiate()]
    insts[0].call("fib", 20)  # warm up
    insts[1].call("fib", 20)

    def work(inst: zerowasm.Instance) -> None:
        for _ in range(args.calls):
            inst.call("fib", args.n)

    # Serial and threaded runs alternate, so a neighbour's burst of load on this shared
    # VM hits both kinds alike; each pair gives one ratio and the median is reported.
    serial_times: list[float] = []
    threaded_times: list[float] = []
    busy: list[float] = []  # process CPU seconds per wall second of a threaded run (2.0: both ran at once)
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for inst in insts:
            work(inst)
        serial_times.append(time.perf_counter() - t0)
        threads = [threading.Thread(target=work, args=(inst,)) for inst in insts]
        t0, cpu0 = time.perf_counter(), os.times()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall, cpu1 = time.perf_counter() - t0, os.times()
        busy.append((cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall)
        threaded_times.append(wall)
    ratios = sorted(s / t for s, t in zip(serial_times, threaded_times))
    print(f"fib({args.n}) x {args.calls} calls x 2 instances, {args.repeat} alternating pairs: "
          f"serial best {min(serial_times):.3f} s, 2 threads best {min(threaded_times):.3f} s; "
          f"speed-up best-of {min(serial_times) / min(threaded_times):.2f}x, "
          f"per pair median {statistics.median(ratios):.2f}x (min {ratios[0]:.2f}, max {ratios[-1]:.2f}); "
          f"threaded runs used {statistics.median(busy):.2f} CPU-s/s; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
