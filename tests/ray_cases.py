"""``zerowasm serve`` as a Ray Serve application: a local Ray cluster of 2 CPUs, 2 replicas of
the server (one CPU each), driven through Ray Serve's HTTP proxy with the official ``openai``
client. Every response names the replica that served it (``X-Zerowasm-Replica``, plus its pid):
both replicas must serve, each from its own process, and each must answer correctly
(embeddings equal ``MiniLM().embed`` computed here; a streamed chat answer through the proxy).

Skips with the reason when Ray Serve (``zerowasm[ray]``) or ``openai`` is not installed.
Run by tests/test_serve_ray.py in a child pytest (see there why), not collected directly.
"""

from __future__ import annotations

import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'zerowasm[ray]')")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'zerowasm[ray]')")
openai = pytest.importorskip("openai", reason="the openai client is not installed (test extra)")

from zerowasm.serve import ServeSettings  # noqa: E402
from zerowasm.serve.ray_app import PID_HEADER, REPLICA_HEADER, run  # noqa: E402

pytestmark = pytest.mark.slow

REPLICAS = 2
SENTENCES = ["The cat sits on the mat.", "A feline rests on a rug.", "Stock markets fell sharply today."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_server() -> Iterator[str]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=REPLICAS, include_dashboard=False, log_to_driver=False,
             configure_logging=False, ignore_reinit_error=True)
    try:
        port = free_port()
        settings = ServeSettings(host="127.0.0.1", port=port, backend="cpu", instances=1)
        run(settings, num_replicas=REPLICAS, num_cpus=1, num_gpus=0)
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()


def test_two_replicas_serve_openai_clients(ray_server: str) -> None:
    client = openai.OpenAI(base_url=f"{ray_server}/v1", api_key="unused", max_retries=0, timeout=120)
    models = {m.id for m in client.models.list().data}
    assert {"all-MiniLM-L6-v2", "SmolLM2-135M-Instruct"} <= models

    from zerowasm.models import MiniLM

    expected = MiniLM(backend="cpu", quiet=True).embed(SENTENCES)

    def embed_once(_: int) -> tuple[str, str, np.ndarray]:
        raw = client.embeddings.with_raw_response.create(model="all-MiniLM-L6-v2", input=SENTENCES)
        vectors = np.array([d.embedding for d in sorted(raw.parse().data, key=lambda d: d.index)])
        return raw.headers[REPLICA_HEADER], raw.headers[PID_HEADER], vectors

    # Concurrent requests until both replicas have answered (the proxy routes by load).
    seen: dict[str, set[str]] = defaultdict(set)
    served = 0
    deadline = time.monotonic() + 90
    with ThreadPoolExecutor(max_workers=4) as pool:
        while len(seen) < REPLICAS and time.monotonic() < deadline:
            for replica, pid, vectors in pool.map(embed_once, range(8)):
                seen[replica].add(pid)
                served += 1
                np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert len(seen) == REPLICAS, f"only {sorted(seen)} served {served} requests"
    pids = {pid for p in seen.values() for pid in p}
    assert len(pids) == REPLICAS and str(os.getpid()) not in pids, f"replica processes: {seen}"

    # A streamed chat answer through Ray Serve's proxy (Server-Sent Events end to end).
    stream = client.chat.completions.create(
        model="SmolLM2-135M-Instruct", stream=True, max_tokens=16, temperature=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}])
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "Paris" in "".join(pieces)

    # /v1/stats answers per replica: the replicas' request counts add up to what was sent.
    counts: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        import httpx

        deadline = time.monotonic() + 60
        while len(counts) < REPLICAS and time.monotonic() < deadline:
            for r in pool.map(lambda _: httpx.get(f"{ray_server}/v1/stats", timeout=30), range(8)):
                counts[r.headers[REPLICA_HEADER]] = r.json()["models"]["all-MiniLM-L6-v2"]["requests"]
    assert set(counts) == set(seen)
    assert sum(counts.values()) == served


@pytest.mark.parametrize(("backend", "asked", "gpus"), [
    ("cuda", None, 1.0), ("vulkan", None, 1.0), ("metal", None, 1.0), ("cpu", None, 0.0),
    ("cpu", 0.5, 0.5), ("cuda", 0.0, 0.0)])
def test_replica_resources_follow_the_backend(backend: str, asked: float | None, gpus: float) -> None:
    from zerowasm.serve.ray_app import replica_resources

    cpus = 1.0 + len(backend) / 8  # any value: it is passed through
    assert replica_resources(ServeSettings(backend=backend), asked, cpus) == {"num_cpus": cpus, "num_gpus": gpus}
