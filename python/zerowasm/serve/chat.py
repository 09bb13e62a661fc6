"""POST /v1/chat/completions: SmolLM, with stateful sessions.

A request may name a session (header ``X-Session-Id``). The session's KV cache stays in
the guest's memory between requests: when a follow-up's messages start with the
conversation the cache holds (the earlier messages plus the answer it generated), only
the new messages are queued and prefilled; the response reports that in
``usage.prompt_tokens_details.cached_tokens``, ``usage.prefill_tokens`` and the
``X-Prefill-Tokens`` / ``X-Cached-Tokens`` headers. Any mismatch (edited history, another
model version) simply starts the session over: the cache is an optimisation, never a
source of different answers.

Each chat instance keeps at most ``max_sessions`` sessions resident; the least recently
used idle ones are evicted with ``Session.snapshot()`` into host memory and restored with
``Session.restore()`` (on whichever instance serves them next) when they are used again,
so a restored session continues exactly as it would have.

Everything in this module that touches a guest runs on the worker's own thread (one thread
per instance), so such calls never interleave and never block the event loop.
"""

from __future__ import annotations

import codecs
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import APIError
from .pool import DeadlineExceeded, Worker

Turn = tuple[str, str]  # (role, text): "user" | "assistant"


class Cancelled(Exception):
    """The client went away (streaming): generation stopped at a token boundary."""


@dataclass
class ChatParams:
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: list[str]


@dataclass
class ChatResult:
    text: str
    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    prefill_tokens: int
    completion_tokens: int
    restored: bool = False
    decode_s: float = 0.0


@dataclass
class ChatSession:
    """A named conversation: where its state lives and what its KV cache holds."""

    id: str
    lock: Any  # asyncio.Lock: one request per session at a time
    version_id: str | None = None
    worker: Worker | None = None  # resident on this worker's guest...
    session: Any = None  # ...as this zerowasm.models.smollm.Session
    snapshot: Any = None  # or evicted: a SessionSnapshot in host memory
    system: str | None = None
    turns: list[Turn] | None = None  # the conversation the cache holds (None: nothing reusable)
    last_used: float = field(default_factory=time.monotonic)


class SessionStore:
    """Sessions of one chat model, in LRU order (least recently used first)."""

    def __init__(self, max_sessions: int, max_evicted: int) -> None:
        self.max_sessions = max_sessions
        self.max_evicted = max_evicted
        self.lock = threading.Lock()
        self.sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self.evictions = 0
        self.restores = 0

    def get(self, session_id: str, make_lock: Callable[[], Any]) -> ChatSession:
        with self.lock:
            s = self.sessions.get(session_id)
            if s is None:
                s = self.sessions[session_id] = ChatSession(session_id, make_lock())
            self.sessions.move_to_end(session_id)
            s.last_used = time.monotonic()
            return s

    def counts(self) -> dict[str, int]:
        with self.lock:
            resident = sum(1 for s in self.sessions.values() if s.worker is not None)
            evicted = sum(1 for s in self.sessions.values() if s.worker is None and s.snapshot is not None)
        return {"resident": resident, "evicted": evicted}

    def clear(self) -> None:
        """Drop every session (server shutdown): a resident one holds its guest instance
        alive, which would outlive the server (nanobind reports it as leaked at exit)."""
        with self.lock:
            self.sessions.clear()

    def forget_worker(self, worker: Worker) -> None:
        """The worker's guest is gone (replaced): sessions that lived there start over."""
        with self.lock:
            for s in self.sessions.values():
                if s.worker is worker:
                    s.worker, s.session, s.turns = None, None, None

    def evict_lru(self, worker: Worker, keep: ChatSession | None) -> int:
        """Snapshot the least recently used idle sessions on worker beyond max_sessions into
        host memory (run on the worker's thread while holding it). Returns how many."""
        with self.lock:
            here = [s for s in self.sessions.values() if s.worker is worker]
            excess = len(here) - self.max_sessions
            victims = [s for s in here if s is not keep and not s.lock.locked()][:max(0, excess)]
        for s in victims:
            snap = s.session.snapshot()
            s.session.close()
            with self.lock:
                s.snapshot, s.session, s.worker = snap, None, None
        with self.lock:
            self.evictions += len(victims)
            evicted = [s for s in self.sessions.values() if s.worker is None and s.snapshot is not None]
            dropped = evicted[:max(0, len(evicted) - self.max_evicted)]
            # ...and sessions that have held nothing for a while (their last request failed)
            stale = time.monotonic() - 60.0
            dropped += [s for s in self.sessions.values()
                        if s.worker is None and s.snapshot is None and s.last_used < stale]
            for s in dropped:
                if not s.lock.locked():
                    del self.sessions[s.id]
        return len(victims)


def stop_ids(model: Any) -> set[int]:
    return {model.info[k] for k in ("eos", "eot", "im_end") if model.info.get(k, -1) >= 0}


def _scratch_session(worker: Worker, n_ctx: int) -> Any:
    s = worker.state.get("scratch")
    if s is None:
        s = worker.state["scratch"] = worker.model.session(None, n_ctx=n_ctx)
    return s


def run_chat(worker: Worker, record: ChatSession | None, store: SessionStore | None, version_id: str,
             system: str | None, turns: list[Turn], params: ChatParams, n_ctx: int, deadline: float,
             emit: Callable[[str], None] | None, cancel: threading.Event) -> ChatResult:
    """Answer the conversation's last user turn on worker (its thread, holding it)."""
    model = worker.model
    model.deadline = deadline
    try:
        return _chat(worker, model, record, store, version_id, system, turns, params, n_ctx, deadline, emit, cancel)
    finally:
        model.deadline = None
        worker.refresh_stats()


def _chat(worker: Worker, model: Any, record: ChatSession | None, store: SessionStore | None, version_id: str,
          system: str | None, turns: list[Turn], params: ChatParams, n_ctx: int, deadline: float,
          emit: Callable[[str], None] | None, cancel: threading.Event) -> ChatResult:
    restored = False
    reusable = False
    if record is None:
        session = _scratch_session(worker, n_ctx)
    else:
        assert store is not None
        if record.version_id != version_id:  # another model version: nothing carries over
            record.snapshot, record.turns = None, None
            if record.session is not None and record.worker is worker:
                record.session.close()
            record.session, record.worker = None, None
        if record.worker is worker and record.session is not None:
            session = record.session
        else:
            session = model.session(system, n_ctx=n_ctx)
            if record.snapshot is not None and record.turns is not None:
                session.restore(record.snapshot)
                restored = True
                store.restores += 1
            with store.lock:
                record.session, record.worker, record.snapshot = session, worker, None
                record.version_id = version_id
        held = record.turns
        reusable = (held is not None and record.system == system and len(turns) > len(held)
                    and turns[:len(held)] == held)
    if reusable:
        assert record is not None and record.turns is not None
        new_turns = turns[len(record.turns):]
    else:
        session.reset()
        session.system = system
        new_turns = turns
    if record is not None:  # until this request completes, the cache holds no known conversation
        record.turns, record.system = None, system

    cached = session.n_past
    for role, text in new_turns[:-1]:
        if role == "user":
            session.chat(text, stream=True)  # queues the turn's template tokens; generates nothing
        else:
            session.feed(model.tokenize(text))
    session.chat(new_turns[-1][1], stream=True)
    queued = len(session.tokens)
    if queued + params.max_tokens > n_ctx:
        session.reset()
        raise APIError(400, f"this model's context holds {n_ctx} tokens; the messages take {queued} and "
                       f"max_tokens asks for {params.max_tokens} more", code="context_length_exceeded",
                       param="messages")
    if params.seed is not None:
        session.seed(params.seed)
    elif params.temperature > 0:
        session.seed(random.getrandbits(63))

    ends = stop_ids(model)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text, emitted, finish, generated = "", 0, "length", 0
    hold = max((len(s) for s in params.stop), default=1) - 1
    t_decode = time.perf_counter()
    stopped_by_string = False
    for token in session.generate(params.max_tokens, temperature=params.temperature, top_p=params.top_p,
                                  stop=()):
        generated += 1
        if token in ends:
            finish = "stop"
            break
        text += decoder.decode(model.token_bytes(token))
        cut = _find_stop(text, params.stop, emitted - hold)
        if cut is not None:
            text, finish, stopped_by_string = text[:cut], "stop", True
            break
        safe = len(text) - hold
        if emit is not None and safe > emitted:
            emit(text[emitted:safe])
            emitted = safe
        if cancel.is_set():
            raise Cancelled()
        if time.monotonic() >= deadline and generated < params.max_tokens:
            raise DeadlineExceeded()
    else:
        text += decoder.decode(b"", final=True)
    if emit is not None and len(text) > emitted:
        emit(text[emitted:])
    decode_s = time.perf_counter() - t_decode
    stats = session.stats
    prefill = int(stats.get("prefill_tokens", 0))
    model.deadline = None  # the answer is complete: housekeeping below must not fail the request
    if record is not None and store is not None:
        # A stop string cut the answer: the cache holds more than the client saw; start over next time.
        record.turns = None if stopped_by_string else [*turns, ("assistant", text)]
        store.evict_lru(worker, keep=record)
    return ChatResult(text, finish, cached + prefill, cached, prefill, generated, restored, decode_s)


def _find_stop(text: str, stops: list[str], start: int) -> int | None:
    best = None
    for s in stops:
        i = text.find(s, max(0, start))
        if i >= 0 and (best is None or i < best):
            best = i
    return best
