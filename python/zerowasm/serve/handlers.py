"""Request handling behind the routes of zerowasm.serve.app: input checks, the chat
completion (JSON or Server-Sent Events) and the /v1/stats summary."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .chat import Cancelled, ChatParams, ChatResult, ChatSession, SessionStore, run_chat
from .embeddings import guest_failure
from .errors import APIError
from .pool import merge_op_stats
from .schemas import ChatRequest, EmbeddingRequest
from .settings import ServeSettings
from .versions import ServedModel, Version

if TYPE_CHECKING:
    from .app import ServerState

VERSION_HEADER = "X-Model-Version"
SESSION_HEADER = "X-Session-Id"
TIMEOUT_HEADER = "X-Request-Timeout"
MAX_SESSION_ID = 128


def embedding_texts(body: EmbeddingRequest, settings: ServeSettings) -> list[str]:
    raw = body.input
    if isinstance(raw, str):
        texts = [raw]
    elif raw and not isinstance(raw[0], str):
        raise APIError(400, "token-id input is not supported by this server; send strings", param="input",
                       code="unsupported_input")
    else:
        texts = list(raw)  # type: ignore[arg-type]
    if not texts:
        raise APIError(400, "input must not be empty", param="input")
    if len(texts) > settings.max_input_items:
        raise APIError(400, f"input has {len(texts)} items; at most {settings.max_input_items} per request",
                       param="input", code="too_many_inputs")
    for i, t in enumerate(texts):
        if len(t) > settings.max_input_chars:
            raise APIError(400, f"input[{i}] has {len(t)} characters; at most {settings.max_input_chars}",
                           param="input", code="input_too_long")
    return texts


def _chat_turns(body: ChatRequest, settings: ServeSettings) -> tuple[str | None, list[tuple[str, str]]]:
    """(system text or None for the model's default, [(role, text)...]) of the request's messages."""
    if not body.messages:
        raise APIError(400, "messages must not be empty", param="messages")
    system: str | None = None
    turns: list[tuple[str, str]] = []
    for i, m in enumerate(body.messages):
        if isinstance(m.content, list):
            parts = []
            for p in m.content:
                if p.type != "text" or p.text is None:
                    raise APIError(400, f"messages[{i}]: only text content parts are supported, got {p.type!r}",
                                   param=f"messages.{i}.content")
                parts.append(p.text)
            text = "".join(parts)
        else:
            text = m.content or ""
        if len(text) > settings.max_input_chars:
            raise APIError(400, f"messages[{i}] has {len(text)} characters; at most {settings.max_input_chars}",
                           param=f"messages.{i}.content", code="input_too_long")
        role = m.role
        if role in ("system", "developer"):
            if i != 0:
                raise APIError(400, f"messages[{i}]: a {role} message is supported only as the first message",
                               param=f"messages.{i}.role")
            system = text
            continue
        if role not in ("user", "assistant"):
            raise APIError(400, f"messages[{i}]: unsupported role {role!r} (system, user, assistant)",
                           param=f"messages.{i}.role")
        expected = "user" if not turns or turns[-1][0] == "assistant" else "assistant"
        if role != expected:
            raise APIError(400, f"messages[{i}]: expected a {expected} message (after an optional system message, "
                           "user and assistant messages alternate)", param=f"messages.{i}.role")
        turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise APIError(400, "the last message must be a user message", param="messages")
    return system, turns


def _chat_params(body: ChatRequest, settings: ServeSettings) -> ChatParams:
    if body.n not in (None, 1):
        raise APIError(400, "only n=1 is supported", param="n")
    if body.tools:
        raise APIError(400, "tools are not supported by this model", param="tools")
    max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    if max_tokens is None:
        max_tokens = settings.default_max_tokens
    if max_tokens < 1:
        raise APIError(400, f"max_tokens must be >= 1, got {max_tokens}", param="max_tokens")
    temperature = 1.0 if body.temperature is None else float(body.temperature)
    if not 0.0 <= temperature <= 2.0:
        raise APIError(400, f"temperature must be in [0, 2], got {temperature}", param="temperature")
    top_p = 1.0 if body.top_p is None else float(body.top_p)
    if not 0.0 < top_p <= 1.0:
        raise APIError(400, f"top_p must be in (0, 1], got {top_p}", param="top_p")
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > 4 or any(not s for s in stop):
        raise APIError(400, "stop takes up to 4 non-empty strings", param="stop")
    return ChatParams(max_tokens, temperature, top_p, body.seed, stop)


def _usage(r: ChatResult) -> dict[str, Any]:
    return {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
            "total_tokens": r.prompt_tokens + r.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": r.cached_tokens}, "prefill_tokens": r.prefill_tokens}


async def chat_completion(state: ServerState, model: ServedModel, version: Version, body: ChatRequest,
                request: Request) -> Response:
    settings = state.settings
    system, turns = _chat_turns(body, settings)
    params = _chat_params(body, settings)
    deadline = state.deadline(request)
    store: SessionStore = state.sessions[model.name]
    session_id = request.headers.get(SESSION_HEADER)
    record: ChatSession | None = None
    if session_id is not None:
        if not 0 < len(session_id) <= MAX_SESSION_ID:
            raise APIError(400, f"{SESSION_HEADER} must have 1 to {MAX_SESSION_ID} characters",
                           code="invalid_session_id")
        record = store.get(session_id, asyncio.Lock)
        try:
            await asyncio.wait_for(record.lock.acquire(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise APIError(504, f"session {session_id!r} stayed busy with another request past this request's "
                           "deadline", code="deadline_exceeded") from None
    loop = asyncio.get_running_loop()
    pool = version.pool
    try:
        require = record.worker if (record is not None and record.worker is not None
                                    and record.version_id == version.id
                                    and record.worker in pool.workers) else None
        worker = await pool.acquire(deadline, require)
    except BaseException:
        if record is not None:
            record.lock.release()
        raise

    pieces: asyncio.Queue[Any] = asyncio.Queue()
    cancel = threading.Event()
    stream = bool(body.stream)

    def emit(piece: str) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, piece)

    job = loop.run_in_executor(worker.executor, run_chat, worker, record, store if record else None, version.id,
                               system, turns, params, settings.n_ctx, deadline, emit if stream else None, cancel)

    def finished(fut: asyncio.Future[ChatResult]) -> None:
        broken = False
        exc = fut.exception() if not fut.cancelled() else None
        if exc is not None and not isinstance(exc, Cancelled):
            _, broken = guest_failure(exc)
        if broken:
            store.forget_worker(worker)
        pool.release(worker, broken=broken)
        if record is not None:
            record.lock.release()
        if exc is None and not fut.cancelled():
            r = fut.result()
            state.metrics.tokens.labels(model.name, "prompt").inc(r.prompt_tokens)
            state.metrics.tokens.labels(model.name, "completion").inc(r.completion_tokens)
            state.metrics.prefill.labels(model.name).inc(r.prefill_tokens)
            state.metrics.cached.labels(model.name).inc(r.cached_tokens)
            if r.restored:
                state.metrics.restores.labels(model.name).inc()
        pieces.put_nowait(_END)

    job.add_done_callback(finished)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    headers = {VERSION_HEADER: version.id}
    if session_id is not None:
        headers[SESSION_HEADER] = session_id

    if not stream:
        try:
            result = await asyncio.shield(job)
        except BaseException as e:  # noqa: BLE001
            raise guest_failure(e)[0] from None
        request.state.zw_tokens = result.completion_tokens
        headers.update({"X-Prefill-Tokens": str(result.prefill_tokens), "X-Cached-Tokens": str(result.cached_tokens)})
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": model.name,
            "system_fingerprint": version.id,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                         "finish_reason": result.finish_reason, "logprobs": None}],
            "usage": _usage(result)}, headers=headers)

    # Wait for the first piece (or the end) before answering, so that errors found before any
    # text exists (context length, a deadline during prefill) are proper HTTP errors.
    try:
        first = await pieces.get()
    except asyncio.CancelledError:
        cancel.set()
        raise
    failure = job.exception() if first is _END else None
    if failure is not None:
        raise guest_failure(failure)[0]
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return "data: " + json.dumps({
            "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model.name,
            "system_fingerprint": version.id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}) + "\n\n"

    async def events() -> AsyncIterator[str]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            item = first
            while item is not _END:
                yield chunk({"content": item})
                item = await pieces.get()
            try:
                result = job.result()
            except BaseException as e:  # noqa: BLE001
                err = guest_failure(e)[0]
                yield "data: " + json.dumps(err.body()) + "\n\n"
                return
            request.state.zw_tokens = result.completion_tokens
            yield chunk({}, result.finish_reason)
            if include_usage:
                yield "data: " + json.dumps({
                    "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model.name,
                    "system_fingerprint": version.id, "choices": [], "usage": _usage(result)}) + "\n\n"
            yield "data: [DONE]\n\n"
        finally:
            cancel.set()  # the client went away (or we are done): stop generating at the next token

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


_END = object()


def server_stats(state: ServerState) -> dict[str, Any]:
    """The JSON behind the dashboard: per model requests, errors, latency, tokens/s, queue,
    per-op totals, copies, versions."""
    out: dict[str, Any] = {"uptime_s": time.time() - state.started,
                           "backend": state.runtime.backend if state.runtime else None, "models": {}}
    for m in state.models.values():
        totals: dict[str, Any] = {"ops": {}, "copies": 0}
        for v in m.versions.values():
            merge_op_stats(totals, v.pool.op_stats())
        summary = state.metrics.window(m.name).summary()
        depth = sum(v.pool.queue_depth for v in m.versions.values())
        depth += sum(len(v.extra["batcher"].pending) for v in m.versions.values() if "batcher" in v.extra)
        entry = {**summary, "kind": m.kind, "queue_depth": depth,
                 "busy_instances": sum(v.pool.busy for v in m.versions.values()),
                 "instances": sum(len(v.pool.workers) for v in m.versions.values()),
                 "replacements": sum(v.pool.replacements for v in m.versions.values()),
                 "active_version": m.active.id if m.active else None,
                 "versions": [v.describe(v is m.active) for v in m.versions.values()],
                 "ops": totals["ops"], "copies": totals["copies"]}
        store = state.sessions.get(m.name)
        if store is not None:
            entry["sessions"] = {**store.counts(), "evictions": store.evictions, "restores": store.restores}
        out["models"][m.name] = entry
    return out

