"""POST /v1/embeddings: MiniLM, with dynamic batching.

Requests for the same version that arrive while its instances are busy, or within
``batch_window_ms`` of each other, are merged into one guest call of up to ``max_batch``
texts; each request gets exactly its own rows back (MiniLM's results do not depend on
which texts share a batch). ``max_batch`` 1 turns batching off.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import errors as zw_errors
from .errors import APIError
from .pool import DeadlineExceeded, Pool, Worker

log = logging.getLogger("zerowasm.serve")

GUEST_BATCH = 256  # texts per guest call inside one merged batch (bounds guest scratch memory)


@dataclass
class _Item:
    texts: list[str]
    deadline: float
    future: asyncio.Future[tuple[np.ndarray, list[int]]]


@dataclass
class BatchResult:
    embeddings: np.ndarray
    tokens: list[int]


@dataclass
class EmbeddingBatcher:
    """Collects embedding requests of one version and runs them as merged guest calls."""

    pool: Pool
    window_s: float
    max_batch: int
    queue_size: int
    on_batch: Any = None  # callback(n_texts) for metrics
    pending: deque[_Item] = field(default_factory=deque)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _task: Any = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for item in self.pending:
            if not item.future.done():
                item.future.set_exception(APIError(503, "the model version was unloaded", code="model_unloading"))
        self.pending.clear()

    async def embed(self, texts: list[str], deadline: float) -> tuple[np.ndarray, list[int]]:
        if len(self.pending) >= self.queue_size:
            raise APIError(429, f"{self.pool.name}: {len(self.pending)} embedding requests are already waiting; "
                           "try again later", code="queue_full", headers={"Retry-After": "1"})
        item = _Item(texts, deadline, asyncio.get_running_loop().create_future())
        self.pending.append(item)
        self._arrived.set()
        left = max(0.0, deadline - time.monotonic())
        try:
            return await asyncio.wait_for(asyncio.shield(item.future), left)
        except asyncio.TimeoutError:
            if item.future.done() and item.future.exception() is None:
                return item.future.result()
            item.future.cancel()  # the batcher skips it (or its result is dropped)
            raise APIError(504, "the request's deadline passed before its embeddings were computed",
                           code="deadline_exceeded") from None

    async def _next_item(self, timeout: float | None) -> _Item | None:
        while True:
            while self.pending:
                item = self.pending.popleft()
                if not item.future.done():  # skip requests that gave up
                    return item
            self._arrived.clear()
            if timeout is not None and timeout <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except asyncio.TimeoutError:
                return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._next_item(None)
            assert first is not None
            try:
                worker = await self.pool.acquire(first.deadline)
            except APIError as e:
                if not first.future.done():
                    first.future.set_exception(e)
                continue
            # Merge what is waiting, then what arrives within the window, up to max_batch texts.
            batch, count = [first], len(first.texts)
            window_end = loop.time() + self.window_s
            while count < self.max_batch:
                if self.pending and count + len(self.pending[0].texts) > self.max_batch:
                    break
                item = await self._next_item(window_end - loop.time())
                if item is None:
                    break
                batch.append(item)
                count += len(item.texts)
            loop.create_task(self._execute(worker, batch))

    async def _execute(self, worker: Worker, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        texts = [t for item in batch for t in item.texts]
        deadline = max(item.deadline for item in batch)
        broken = False
        try:
            result = await loop.run_in_executor(worker.executor, _embed_on, worker, texts, deadline)
        except BaseException as e:  # noqa: BLE001 - every failure reaches every request of the batch
            err, broken = guest_failure(e)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(err)
            return
        finally:
            self.pool.release(worker, broken=broken)
        if self.on_batch is not None:
            self.on_batch(len(texts))
        at = 0
        for item in batch:
            n = len(item.texts)
            if not item.future.done():
                item.future.set_result((result.embeddings[at:at + n], result.tokens[at:at + n]))
            at += n


def _embed_on(worker: Worker, texts: list[str], deadline: float) -> BatchResult:
    model = worker.model
    model.deadline = deadline
    try:
        if time.monotonic() >= deadline:
            raise DeadlineExceeded()
        emb = model.embed(texts, batch_size=max(1, min(len(texts), GUEST_BATCH))) if texts else np.zeros(
            (0, model.hidden), np.float32)
        tokens = [len(t) for t in model.tokenize(texts)] if texts else []
        return BatchResult(emb, tokens)
    finally:
        model.deadline = None
        worker.refresh_stats()


def guest_failure(e: BaseException) -> tuple[APIError, bool]:
    """The API error for a failure inside a guest request, and whether its instance must be replaced."""
    if isinstance(e, APIError):
        return e, False
    if isinstance(e, DeadlineExceeded):
        return APIError(504, "the request's deadline passed between guest calls",
                        code="deadline_exceeded"), False
    if isinstance(e, zw_errors.Timeout):
        return APIError(504, f"the request's deadline passed; the guest was stopped: {e}",
                        code="deadline_exceeded"), True
    if isinstance(e, zw_errors.GuestError):  # the guest refused the request; it stays usable
        return APIError(400, str(e), code="guest_rejected"), False
    if isinstance(e, zw_errors.Trap):
        log.warning("guest trap (instance replaced): %s", e)
        return APIError(500, f"the guest trapped: {e}", code="guest_trap"), True
    log.exception("request failed", exc_info=e)
    return APIError(500, f"{type(e).__name__}: {e}", code="internal_error"), True


def encode_embedding(vector: np.ndarray, encoding_format: str) -> Any:
    if encoding_format == "base64":  # little-endian float32, as the OpenAI API sends
        return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
