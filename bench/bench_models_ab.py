"""MiniLM and SmolLM through zerowasm only, for comparing two builds of zerowasm.

Run it once per build (each in its own virtualenv), alternating, on an idle machine:

    for i in 1 2; do
      A/.venv/bin/python bench/bench_models_ab.py --label before
      B/.venv/bin/python bench/bench_models_ab.py --label after
    done

Prints one JSON line per run: MiniLM batch 32 x 128 tokens and single-sentence
latency (median ms), SmolLM prefill of 128 tokens and 64 greedy decode tokens
(tokens/s, median of --repeat).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--label", default="")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    os.environ["ZEROWASM_NUM_THREADS"] = str(args.threads)

    from bench_minilm import SINGLE, median_time, texts_of_tokens
    from bench_smollm import prompt_ids
    from zerowasm.models.minilm import MiniLM
    from zerowasm.models.smollm import SmolLM

    out: dict[str, object] = {"label": args.label, "threads": args.threads}
    minilm = MiniLM("cpu")
    batch = texts_of_tokens(minilm, 32, 128)
    out["minilm_batch_ms"] = median_time(lambda: minilm.embed(batch, batch_size=32), args.repeat) * 1e3
    out["minilm_single_ms"] = median_time(lambda: minilm.embed([SINGLE]), 10 * args.repeat) * 1e3

    model = SmolLM(backend="cpu", quiet=True)
    ids = prompt_ids(model, 128)
    pre, dec = [], []
    for _ in range(args.repeat):
        with model.session(n_ctx=128 + 64 + 8) as s:
            s.feed(ids)
            t = time.perf_counter()
            s.eval()
            pre.append(time.perf_counter() - t)
            t = time.perf_counter()
            for _tok in s.generate(64, stop=()):
                pass
            dec.append(time.perf_counter() - t)
    out["smollm_prefill128_tok_s"] = 128 / statistics.median(pre)
    out["smollm_decode64_tok_s"] = 64 / statistics.median(dec)
    out["load_avg"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
