"""``zerowasm serve``: an OpenAI-compatible HTTP server over sandboxed guests.

Install with ``pip install 'zerowasm[serve]'`` (FastAPI, uvicorn, prometheus-client), then::

    zerowasm serve --port 8000 --instances 2 --admin-token secret

and use any OpenAI client::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.embeddings.create(model="all-MiniLM-L6-v2", input=["a sentence", "another"])
    client.chat.completions.create(model="SmolLM2-135M-Instruct", stream=True,
                                   messages=[{"role": "user", "content": "What is the capital of France?"}])

Endpoints:

- ``POST /v1/embeddings`` (MiniLM, alias ``minilm``): ``input`` a string or a list of them,
  ``encoding_format`` float | base64. Concurrent requests are merged into one guest batch
  (``--batch-window-ms``, ``--max-batch``; ``--max-batch 1`` turns batching off).
- ``POST /v1/chat/completions`` (SmolLM2, alias ``smollm``): ``messages``, ``max_tokens``,
  ``temperature``, ``top_p``, ``seed``, ``stop``, ``stream`` (Server-Sent Events ending with
  ``data: [DONE]``; ``stream_options.include_usage``). Header ``X-Session-Id: <id>`` keeps the
  conversation's KV cache in the guest: a follow-up prefills only its new messages
  (``usage.prompt_tokens_details.cached_tokens``, ``usage.prefill_tokens``, headers
  ``X-Prefill-Tokens`` / ``X-Cached-Tokens``); idle sessions beyond ``--max-sessions`` per instance
  are snapshotted to host memory (LRU) and restored on their next request.
- ``GET /v1/models`` (each model's versions and the active one), ``GET /healthz``,
  ``GET /metrics`` (Prometheus), ``GET /`` (the web page, when ``zerowasm/serve/static/`` is
  installed), ``GET /v1/stats`` (JSON for the dashboard: ``{"uptime_s", "backend", "models":
  {name: {"requests", "errors", "latency_p50_s", "latency_p99_s", "tokens_per_s", "queue_depth",
  "busy_instances", "instances", "replacements", "active_version", "versions": [...],
  "ops": {op: {"calls", "bytes", "seconds"}}, "copies", "sessions" (chat: resident, evicted,
  evictions, restores)}}}``; latency and tokens/s cover recent requests).
- Admin (``Authorization: Bearer <--admin-token>``; 401 without, 403 wrong):
  ``POST /admin/models/{model}/versions`` ``{"guest": path, "weights": path, "activate": bool}``
  loads a version (named by the SHA-256 of its files), ``POST /admin/models/{model}/activate``
  ``{"version": id}``, ``POST /admin/models/{model}/rollback``,
  ``DELETE /admin/models/{model}/versions/{id}``, ``GET /admin/models``.

Every response of a model carries ``X-Model-Version``; ``"model": "name@version"`` pins a
loaded version. Each request has a deadline (``--request-timeout``, or less with the header
``X-Request-Timeout: seconds``): past it the answer is 504 and a guest stopped mid-call is
replaced. A full queue answers 429 with ``Retry-After``; bad input a 4xx OpenAI error object;
a guest trap a 500 with its message (the instance is replaced, the server keeps serving).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from .settings import CHAT_MODEL, EMBEDDING_MODEL, ServeSettings

__all__ = ["CHAT_MODEL", "EMBEDDING_MODEL", "ServeSettings", "create_app", "main", "build_parser"]


def create_app(settings: ServeSettings) -> Any:
    """The FastAPI app (see :func:`zerowasm.serve.app.create_app`)."""
    from .app import create_app as make

    return make(settings)


def build_parser() -> argparse.ArgumentParser:
    d = ServeSettings()
    p = argparse.ArgumentParser(prog="zerowasm serve", description="OpenAI-compatible server: MiniLM embeddings "
                                "and SmolLM2 chat computed by Wasm guests.")
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--backend", default=d.backend, help="auto, cpu, cuda, metal or vulkan")
    p.add_argument("--instances", type=int, default=d.instances, help="guest instances per model version")
    p.add_argument("--queue-size", type=int, default=d.queue_size, help="waiting requests per model before 429")
    p.add_argument("--request-timeout", type=float, default=d.request_timeout_s, help="deadline of a request (s)")
    p.add_argument("--batch-window-ms", type=float, default=d.batch_window_ms,
                   help="embedding requests arriving within this window share a guest call")
    p.add_argument("--max-batch", type=int, default=d.max_batch, help="texts per merged embedding call (1: off)")
    p.add_argument("--admin-token", default=None, help="bearer token of the /admin API (default: admin API off)")
    p.add_argument("--models", default=",".join(d.models), help="comma-separated: minilm,smollm")
    p.add_argument("--n-ctx", type=int, default=d.n_ctx, help="KV positions per chat session")
    p.add_argument("--max-sessions", type=int, default=d.max_sessions,
                   help="resident chat sessions per instance (more are snapshotted to host memory)")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--log-level", default="info")
    p.add_argument("--ray", action="store_true", help="run as a Ray Serve deployment (zerowasm[ray])")
    return p


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    return ServeSettings(
        host=args.host, port=args.port, backend=args.backend, instances=args.instances, queue_size=args.queue_size,
        request_timeout_s=args.request_timeout, batch_window_ms=args.batch_window_ms, max_batch=args.max_batch,
        admin_token=args.admin_token, models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        n_ctx=args.n_ctx, max_sessions=args.max_sessions, max_body_bytes=args.max_body_bytes)


def main(argv: list[str]) -> int:
    """``zerowasm serve [flags]`` (flags: ``zerowasm serve --help``)."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not args.ray:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        settings = settings_from_args(args)
    except ValueError as e:
        parser.error(str(e))
    if args.ray:
        from . import ray_app  # written for Ray Serve deployments (zerowasm[ray])

        return int(ray_app.main(settings, rest))
    try:
        import uvicorn
    except ImportError:
        print("zerowasm serve needs the serve extra: pip install 'zerowasm[serve]'", file=sys.stderr)
        return 1
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level)
    return 0
