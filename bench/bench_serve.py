"""Load on one local `zerowasm serve`: mixed traffic, and embedding batching on vs off.

1. Mixed: ``--requests`` (default 2,000) requests at concurrency ``--concurrency`` (32)
   against one server: two client populations, one sending embeddings of 1-4 random
   sentences, the other (``--chat-clients``, 1/8 of the clients) short greedy chats
   (``--chat-share`` of the requests); counts errors (any non-200) and reports p50/p99
   latency per kind and overall throughput. (One population per kind: a single closed loop
   would pile all 32 clients onto the slow chat queue.)
2. Batching: ``--embed-requests`` single-sentence embedding requests at concurrency 16,
   against a server with dynamic batching on (``--batch-window-ms``, ``--max-batch``) and
   then one with it off (``--max-batch 1``), in the same run; reports both throughputs.

Each server is a subprocess (`python -m zerowasm serve`) on a free port of 127.0.0.1.

Usage: python bench/bench_serve.py [--requests 2000] [--concurrency 32] [--backend cpu]
Prints one Markdown table and a JSON line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

WORDS = ("cat river quantum bread Paris engine blue silent running graph tomorrow seven garden window "
         "music winter coffee mountain letter yellow").split()
PROMPTS = ["What is the capital of France?", "Name a prime number.", "Say hello.", "What color is the sky?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(args: argparse.Namespace, *extra: str) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "zerowasm", "serve", "--port", str(port), "--backend", args.backend,
           "--instances", str(args.instances), "--queue-size", "256", "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {' '.join(cmd)}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).json().get("status") == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16)))


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def drive(url: str, classes: dict[str, tuple[list[dict[str, Any]], int]]) -> dict[str, Any]:
    """Send every job of every class (endpoint -> (bodies, concurrency)), each class with at
    most its concurrency in flight (separate client populations sharing one server)."""
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    total = sum(c for _, c in classes.values())
    limits = httpx.Limits(max_connections=total, max_keepalive_connections=total)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
        async def worker(endpoint: str, queue: list[dict[str, Any]]) -> None:
            kind = endpoint.rsplit("/", 1)[-1]
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                r = await client.post(endpoint, json=body)
                dt = time.perf_counter() - t0
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                latencies.setdefault(kind, []).append(dt)

        workers = []
        for endpoint, (jobs, n) in classes.items():
            queue = list(reversed(jobs))  # shared by the class's n workers
            workers += [worker(endpoint, queue) for _ in range(n)]
        t0 = time.perf_counter()
        await asyncio.gather(*workers)
        wall = time.perf_counter() - t0
    everything = [x for v in latencies.values() for x in v]
    return {"requests": len(everything), "errors": len(errors), "first_errors": errors[:3], "wall_s": wall,
            "req_per_s": len(everything) / wall, "p50_s": pct(everything, 0.5), "p99_s": pct(everything, 0.99),
            "by_kind": {k: {"n": len(v), "p50_s": pct(v, 0.5), "p99_s": pct(v, 0.99)} for k, v in latencies.items()}}


def chat_body(rng: random.Random) -> dict[str, Any]:
    return {"model": "smollm", "temperature": 0, "max_tokens": rng.randint(4, 12),
            "messages": [{"role": "user", "content": rng.choice(PROMPTS)}]}


def embed_body(rng: random.Random, texts: int) -> dict[str, Any]:
    # base64: what the official openai client asks for unless told otherwise
    return {"model": "minilm", "encoding_format": "base64", "input": [sentence(rng) for _ in range(texts)]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--chat-share", type=float, default=0.1, help="share of the mixed requests that are chats")
    p.add_argument("--chat-clients", type=float, default=0.125, help="share of the concurrency that sends chats")
    p.add_argument("--embed-requests", type=int, default=1000)
    p.add_argument("--embed-concurrency", type=int, default=16)
    p.add_argument("--batch-window-ms", type=float, default=20.0)
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    results: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "args": vars(args),
                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}

    batching = ["--batch-window-ms", str(args.batch_window_ms), "--max-batch", str(args.max_batch)]
    n_chat = round(args.requests * args.chat_share)
    chat_clients = max(1, round(args.concurrency * args.chat_clients))
    embed_jobs = [embed_body(rng, 1) for _ in range(args.embed_requests)]
    with server(args, *batching) as url:
        if args.requests:
            mixed = {"/v1/embeddings": ([embed_body(rng, rng.randint(1, 4)) for _ in range(args.requests - n_chat)],
                                        args.concurrency - chat_clients),
                     "/v1/chat/completions": ([chat_body(rng) for _ in range(n_chat)], chat_clients)}
            asyncio.run(drive(url, {k: (v[0][:32], v[1]) for k, v in mixed.items()}))  # warm-up, not counted
            results["mixed"] = asyncio.run(drive(url, mixed))
        asyncio.run(drive(url, {"/v1/embeddings": (embed_jobs[:64], args.embed_concurrency)}))
        results["batching_on"] = asyncio.run(drive(url, {"/v1/embeddings": (embed_jobs, args.embed_concurrency)}))
    with server(args, "--models", "minilm", "--max-batch", "1", "--batch-window-ms", "0") as url:
        asyncio.run(drive(url, {"/v1/embeddings": (embed_jobs[:64], args.embed_concurrency)}))
        results["batching_off"] = asyncio.run(drive(url, {"/v1/embeddings": (embed_jobs, args.embed_concurrency)}))
    results["batching_speedup"] = results["batching_on"]["req_per_s"] / results["batching_off"]["req_per_s"]

    on, off = results["batching_on"], results["batching_off"]
    print(f"\n{results['date']}, {results['machine']}, backend {args.backend}, {args.instances} instance(s)/model\n")
    print("| run | requests | errors | throughput | p50 | p99 |")
    print("|---|---:|---:|---:|---:|---:|")
    if "mixed" in results:
        m = results["mixed"]
        print(f"| mixed: {args.concurrency - chat_clients} embedding clients (1-4 sentences) + {chat_clients} chat "
              f"clients (4-12 tokens) | {m['requests']} | {m['errors']} | {m['req_per_s']:.1f} req/s | "
              f"{m['p50_s'] * 1e3:.0f} ms | {m['p99_s'] * 1e3:.0f} ms |")
        for kind, k in m["by_kind"].items():
            print(f"| &nbsp; of which {kind} | {k['n']} | | | {k['p50_s'] * 1e3:.0f} ms | {k['p99_s'] * 1e3:.0f} ms |")
    for name, r in (("batching on", on), ("batching off", off)):
        print(f"| embeddings, 1 sentence, concurrency {args.embed_concurrency}, {name} | {r['requests']} | "
              f"{r['errors']} | {r['req_per_s']:.1f} req/s | {r['p50_s'] * 1e3:.0f} ms | {r['p99_s'] * 1e3:.0f} ms |")
    print(f"\nbatching speed-up: {results['batching_speedup']:.2f}x")
    print(json.dumps(results))
    return 0 if all(r["errors"] == 0 for r in (results.get("mixed", on), on, off)) else 1


if __name__ == "__main__":
    sys.exit(main())
