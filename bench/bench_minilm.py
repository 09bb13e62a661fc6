"""MiniLM-L6 embeddings: zerowasm guest vs sentence-transformers (PyTorch CPU).

Both run in this one process with the same thread count (ZEROWASM_NUM_THREADS for
zerowasm's CPU pool, torch.set_num_threads for PyTorch), on the same texts:

* batch: 32 texts of exactly 128 tokens each ([CLS] and [SEP] included);
* single: one short sentence per call (latency).

Usage: python bench/bench_minilm.py [--threads N] [--backend cpu] [--repeat 5]
Prints a table of median times and the zerowasm / sentence-transformers ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

SINGLE = "A man is eating a piece of bread."


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    # Let the other framework's idle threads stop spinning first (OpenMP workers spin for
    # a while after each parallel region and would steal one of our cores).
    time.sleep(0.5)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def texts_of_tokens(model, count: int, tokens: int) -> list[str]:  # noqa: ANN001
    """`count` different texts that tokenize to exactly `tokens` ids."""
    from zerowasm.models.demo_data import CORPUS

    words = " ".join(CORPUS).split()
    texts = []
    for i in range(count):
        ring = words[i % len(words):] + words[:i % len(words)]
        text, j = "", 0
        while True:
            candidate = (text + " " + ring[j % len(ring)]).strip()
            if len(model.tokenize([candidate])[0]) > tokens:
                break
            text, j = candidate, j + 1
        pad = 0
        while len(model.tokenize([text])[0]) < tokens:  # top up with single-token words
            pad += 1
            text += " a"
        assert len(model.tokenize([text])[0]) == tokens, (i, pad)
        texts.append(text)
    return texts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both (default: ZEROWASM_NUM_THREADS or all cores)")
    p.add_argument("--backend", default="cpu")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--single-repeat", type=int, default=50)
    args = p.parse_args(argv)

    threads = args.threads or int(os.environ.get("ZEROWASM_NUM_THREADS") or os.cpu_count() or 1)
    os.environ["ZEROWASM_NUM_THREADS"] = str(threads)  # before zerowasm's pool exists

    from zerowasm.models.minilm import MiniLM, model_dir

    t0 = time.perf_counter()
    model = MiniLM(args.backend)
    load_zw = time.perf_counter() - t0
    batch = texts_of_tokens(model, 32, 128)

    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        torch = None
        print(f"sentence-transformers unavailable ({e}); zerowasm only", file=sys.stderr)

    rows = []

    def add_row(name: str, tokens: int, zw_fn: Callable[[], object], st_fn: Callable[[], object] | None,
                repeat: int) -> None:
        t_zw = median_time(zw_fn, repeat)
        t_st = median_time(st_fn, repeat) if st_fn else float("nan")
        rows.append((name, tokens, t_zw, t_st))

    st_model = None
    load_st = float("nan")
    if torch is not None:
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        st_model = SentenceTransformer(str(model_dir(quiet=True)), device="cpu")
        load_st = time.perf_counter() - t0
        a = model.embed(batch)
        b = st_model.encode(batch, batch_size=32, convert_to_numpy=True)
        print(f"check: min cosine zerowasm vs sentence-transformers on the batch = "
              f"{float(np.min(np.sum(a * b, axis=1))):.7f}")

    def st_encode(texts: list[str], bs: int) -> Callable[[], object] | None:
        if st_model is None:
            return None
        return lambda: st_model.encode(texts, batch_size=bs, convert_to_numpy=True)

    add_row("batch 32 x 128 tokens", 32 * 128, lambda: model.embed(batch, batch_size=32),
            st_encode(batch, 32), args.repeat)
    single_tokens = len(model.tokenize([SINGLE])[0])
    add_row(f"single sentence ({single_tokens} tokens)", single_tokens, lambda: model.embed([SINGLE]),
            st_encode([SINGLE], 1), args.single_repeat)

    print(f"\nMiniLM-L6-v2, backend {model.backend}, {threads} thread(s); "
          f"load: zerowasm {load_zw * 1e3:.0f} ms, sentence-transformers {load_st * 1e3:.0f} ms")
    print(f"{'case':<32} {'zerowasm ms':>12} {'s-t ms':>10} {'zw/s-t':>8} {'zw tokens/s':>12}")
    for name, tokens, t_zw, t_st in rows:
        print(f"{name:<32} {t_zw * 1e3:12.2f} {t_st * 1e3:10.2f} {t_zw / t_st:8.2f} {tokens / t_zw:12.0f}")
    print(f"copies: {model.stats().get('copies', 0)}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} exceeds the {os.cpu_count()} cores: timings are noisy "
              "(PyTorch's spinning OpenMP threads suffer most)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
