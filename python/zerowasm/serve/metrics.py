"""What the server counts, for ``/metrics`` (Prometheus text) and ``/v1/stats`` (JSON).

Request counts, latency histograms and token counters are prometheus_client objects in a
registry of the app's own (two apps in one process never share counters). Guest-side
figures (per-op calls/bytes/seconds and the ``copies`` counter of ``Instance.stats()``,
queue depth, instances, sessions) are read at scrape time by a collector from the pools:
each worker refreshes its instance's statistics when it finishes a request, so a scrape
never waits for a guest call.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RATE_WINDOW_S = 10.0  # tokens/s is the rate over this many recent seconds


class ModelWindow:
    """Recent latencies and token events of one model (for percentiles and rates)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: deque[float] = deque(maxlen=4096)
        self.token_events: deque[tuple[float, int]] = deque(maxlen=65536)
        self.requests = 0
        self.errors = 0

    def record(self, latency: float, ok: bool, tokens: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            self.errors += 0 if ok else 1
            self.latencies.append(latency)
            if tokens:
                self.token_events.append((now, tokens))

    def summary(self) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            lat = sorted(self.latencies)
            recent = sum(n for t, n in self.token_events if now - t <= RATE_WINDOW_S)
            requests, errors = self.requests, self.errors

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        return {"requests": requests, "errors": errors, "latency_p50_s": pct(0.5), "latency_p99_s": pct(0.99),
                "tokens_per_s": recent / RATE_WINDOW_S}


class Metrics:
    """All counters of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("zerowasm_requests", "HTTP requests answered", ["model", "endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("zerowasm_request_latency_seconds", "Request latency (queueing included)",
                                 ["model", "endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.tokens = Counter("zerowasm_tokens", "Tokens processed", ["model", "kind"], registry=self.registry)
        self.batch_texts = Histogram("zerowasm_embedding_batch_texts", "Texts per guest embedding call",
                                     ["model"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                                     registry=self.registry)
        self.prefill = Counter("zerowasm_chat_prefill_tokens", "Prompt tokens evaluated (not found in a cache)",
                               ["model"], registry=self.registry)
        self.cached = Counter("zerowasm_chat_cached_tokens", "Prompt tokens found in a session's KV cache",
                              ["model"], registry=self.registry)
        self.evictions = Counter("zerowasm_session_evictions", "Sessions snapshotted to host memory (LRU)",
                                 ["model"], registry=self.registry)
        self.restores = Counter("zerowasm_session_restores", "Sessions restored from a host snapshot",
                                ["model"], registry=self.registry)
        self.windows: dict[str, ModelWindow] = {}

    def window(self, model: str) -> ModelWindow:
        w = self.windows.get(model)
        if w is None:
            w = self.windows[model] = ModelWindow()
        return w

    def observe(self, model: str, endpoint: str, status: int, latency: float, tokens: int = 0) -> None:
        self.requests.labels(model, endpoint, str(status)).inc()
        self.latency.labels(model, endpoint).observe(latency)
        if model:
            self.window(model).record(latency, status < 400, tokens)

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self.registry.register(_FunctionCollector(collect))


class _FunctionCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()

    def describe(self) -> Iterable[Metric]:
        return []


def pool_metrics(models: Iterable[Any], metrics: Metrics) -> list[Metric]:
    """Gauges and counters read from the served models' pools at scrape time."""
    queue = GaugeMetricFamily("zerowasm_queue_depth", "Requests waiting for a guest instance", labels=["model"])
    busy = GaugeMetricFamily("zerowasm_instances_busy", "Guest instances running a request", labels=["model"])
    instances = GaugeMetricFamily("zerowasm_instances", "Guest instances per loaded version",
                                  labels=["model", "version", "active"])
    replaced = CounterMetricFamily("zerowasm_instance_replacements", "Instances replaced after a trap or deadline",
                                   labels=["model"])
    op_calls = CounterMetricFamily("zerowasm_op_calls", "zw.* op calls (Instance.stats())", labels=["model", "op"])
    op_seconds = CounterMetricFamily("zerowasm_op_seconds", "Seconds in zw.* ops (Instance.stats())",
                                     labels=["model", "op"])
    op_bytes = CounterMetricFamily("zerowasm_op_bytes", "Bytes zw.* ops touched (Instance.stats())",
                                   labels=["model", "op"])
    copies = CounterMetricFamily("zerowasm_copies", "Staging copies any backend made (zero-copy: stays 0)",
                                 labels=["model"])
    tok_rate = GaugeMetricFamily("zerowasm_tokens_per_second", f"Tokens/s over the last {RATE_WINDOW_S:.0f} s",
                                 labels=["model"])
    sessions = GaugeMetricFamily("zerowasm_sessions", "Chat sessions by where their state is",
                                 labels=["model", "state"])
    for m in models:
        depth = sum(v.pool.queue_depth for v in m.versions.values())
        depth += sum(len(v.extra["batcher"].pending) for v in m.versions.values() if "batcher" in v.extra)
        queue.add_metric([m.name], depth)
        busy.add_metric([m.name], sum(v.pool.busy for v in m.versions.values()))
        replaced.add_metric([m.name], sum(v.pool.replacements for v in m.versions.values()))
        totals: dict[str, Any] = {"ops": {}, "copies": 0}
        from .pool import merge_op_stats

        for v in m.versions.values():
            instances.add_metric([m.name, v.id, str(v is m.active).lower()], len(v.pool.workers))
            merge_op_stats(totals, v.pool.op_stats())
        for op, s in sorted(totals["ops"].items()):
            op_calls.add_metric([m.name, op], s["calls"])
            op_seconds.add_metric([m.name, op], s["seconds"])
            op_bytes.add_metric([m.name, op], s["bytes"])
        copies.add_metric([m.name], totals["copies"])
        tok_rate.add_metric([m.name], metrics.window(m.name).summary()["tokens_per_s"])
        store = getattr(m, "sessions", None)
        if store is not None:
            for state, n in store.counts().items():
                sessions.add_metric([m.name, state], n)
    return [queue, busy, instances, replaced, op_calls, op_seconds, op_bytes, copies, tok_rate, sessions]
