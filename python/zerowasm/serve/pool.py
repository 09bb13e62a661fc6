"""A pool of guest instances of one model version, with a bounded wait queue.

Each :class:`Worker` owns one model object (one guest instance) and runs one request at a
time, on its own thread (calls into an instance serialize anyway). Requests wait for a
worker in FIFO order; when ``queue_size`` requests already wait, the next one is refused
(429). A request waits at most until its deadline (504). A worker whose guest trapped or
was stopped at a deadline is *replaced*: its model is dropped and a fresh instance is built
in the background, so no guest is ever reused in a state a stop may have left it in.

All pool state is touched on the event loop only; guest calls run on the worker's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import APIError

log = logging.getLogger("zerowasm.serve")


class DeadlineExceeded(Exception):
    """The request's deadline passed (answered 504)."""


def merge_op_stats(total: dict[str, Any], stats: dict[str, Any]) -> None:
    """Add one instance's ``stats()`` into total (same shape: ops by name, copies)."""
    ops = total.setdefault("ops", {})
    for name, op in stats.get("ops", {}).items():
        into = ops.setdefault(name, {"calls": 0, "bytes": 0, "seconds": 0.0})
        into["calls"] += int(op.get("calls", 0))
        into["bytes"] += int(op.get("bytes", 0))
        into["seconds"] += float(op.get("seconds", 0.0))
    total["copies"] = total.get("copies", 0) + int(stats.get("copies", 0))


@dataclass
class Worker:
    """One guest instance of a pool (``model`` is None while it is being (re)built)."""

    index: int
    model: Any = None
    busy: bool = False
    replacements: int = 0
    stats: dict[str, Any] = field(default_factory=dict)  # inst.stats() as of the end of its last request
    state: dict[str, Any] = field(default_factory=dict)  # per-model state (chat: sessions living here)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "zw-worker"))

    def refresh_stats(self) -> None:
        """Read the instance's op statistics (call only while holding the worker)."""
        if self.model is not None:
            self.stats = dict(self.model.instance.stats())


@dataclass
class _Waiter:
    future: asyncio.Future[Worker]
    require: Worker | None


class Pool:
    """Workers of one model version. ``factory()`` builds one model object (a blocking call)."""

    def __init__(self, name: str, factory: Callable[[], Any], instances: int, queue_size: int) -> None:
        self.name = name
        self.factory = factory
        self.queue_size = queue_size
        self.workers = [Worker(i) for i in range(instances)]
        self._waiters: list[_Waiter] = []
        self.retired_stats: dict[str, Any] = {}  # op statistics of replaced instances
        self.replacements = 0
        self.closed = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        """Build every worker's model (in parallel on their threads)."""
        loop = asyncio.get_running_loop()
        models = await asyncio.gather(*(loop.run_in_executor(w.executor, self.factory) for w in self.workers))
        for w, m in zip(self.workers, models):
            w.model = m
            w.refresh_stats()

    @property
    def queue_depth(self) -> int:
        return len(self._waiters)

    @property
    def busy(self) -> int:
        return sum(1 for w in self.workers if w.busy)

    def op_stats(self) -> dict[str, Any]:
        total: dict[str, Any] = {"ops": {}, "copies": 0}
        merge_op_stats(total, self.retired_stats)
        for w in self.workers:
            merge_op_stats(total, w.stats)
        return total

    async def acquire(self, deadline: float, require: Worker | None = None) -> Worker:
        """A free worker (``require``: that one), waiting in FIFO order until ``deadline``
        (``time.monotonic()``). Raises APIError 429 when the queue is full, 504 at the deadline."""
        if self.closed:
            raise APIError(503, f"{self.name} is being unloaded", code="model_unloading")
        # A worker is free only while no waiter can use it (release hands it over at once),
        # so taking a free one here never jumps the queue.
        worker = self._free(require)
        if worker is not None:
            return self._take(worker)
        if len(self._waiters) >= self.queue_size:
            raise APIError(429, f"{self.name}: {len(self._waiters)} requests are already waiting; try again later",
                           code="queue_full", headers={"Retry-After": "1"})
        waiter = _Waiter(asyncio.get_running_loop().create_future(), require)
        self._waiters.append(waiter)
        future = waiter.future
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            if future.done() and not future.cancelled() and future.exception() is None:
                return future.result()  # handed over just as the deadline passed
            future.cancel()
            raise APIError(504, f"{self.name}: the request's deadline passed while it waited for a guest instance",
                           code="deadline_exceeded") from None
        except asyncio.CancelledError:  # the request went away (client disconnected)
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())
            future.cancel()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _free(self, require: Worker | None) -> Worker | None:
        if require is not None:
            return require if (not require.busy and require.model is not None) else None
        for w in self.workers:
            if not w.busy and w.model is not None:
                return w
        return None

    def _take(self, worker: Worker) -> Worker:
        worker.busy = True
        self.in_flight += 1
        self._idle.clear()
        return worker

    def release(self, worker: Worker, *, broken: bool = False) -> None:
        """Give the worker back; broken: its guest may be in any state, build a new one."""
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()
        worker.busy = False
        if broken:
            self._replace(worker)
            return
        self._hand_over(worker)

    def _hand_over(self, worker: Worker) -> None:
        """Give a free worker to the first waiter that can use it."""
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if waiter.require is None or waiter.require is worker:
                self._waiters.remove(waiter)
                self._take(worker)
                waiter.future.set_result(worker)
                return

    def _replace(self, worker: Worker) -> None:
        merge_op_stats(self.retired_stats, worker.stats)
        worker.stats = {}
        old, worker.model = worker.model, None
        worker.state.clear()
        worker.replacements += 1
        self.replacements += 1
        del old  # the instance (and its memory) goes once nothing refers to it
        asyncio.get_running_loop().create_task(self._rebuild(worker))

    async def _rebuild(self, worker: Worker) -> None:
        loop = asyncio.get_running_loop()
        delay = 0.5
        while not self.closed:
            try:
                worker.model = await loop.run_in_executor(worker.executor, self.factory)
                worker.refresh_stats()
                log.info("%s: instance %d replaced", self.name, worker.index)
                self._hand_over(worker)
                return
            except Exception:  # keep trying: the pool must not lose capacity for good
                log.exception("%s: rebuilding instance %d failed; retrying in %.1f s", self.name, worker.index, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def close(self) -> None:
        """Refuse new requests, let the ones in flight finish, then drop the instances."""
        self.closed = True
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_exception(APIError(503, f"{self.name} was unloaded", code="model_unloading"))
        self._waiters.clear()
        await self._idle.wait()
        for w in self.workers:
            w.model = None
            w.state.clear()
            w.executor.shutdown(wait=False)

