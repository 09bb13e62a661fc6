"""Versioned modules under load: 500 embedding requests across an activation and a rollback,
0 failures, every response tagged with the version that served it (the `openai` client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

from serve_harness import live_server  # noqa: E402
from zerowasm.serve import EMBEDDING_MODEL, ServeSettings  # noqa: E402

pytestmark = pytest.mark.slow  # loads the real model (twice)

TOKEN = "versions-token"
REQUESTS = 500
CONCURRENCY = 8


def rebuilt_guest(tmp_path: Path) -> Path:
    """The bundled MiniLM guest plus a custom section: the same program, another content hash
    (what a rebuild with another toolchain version gives)."""
    from zerowasm.guests import guest_path

    data = guest_path("minilm", quiet=True).read_bytes()
    name, payload = b"zerowasm-build", b"test rebuild " + str(time.time()).encode()
    body = bytes([len(name)]) + name + payload
    size = len(body)
    leb = bytearray()
    while True:
        byte, size = size & 0x7F, size >> 7
        leb.append(byte | (0x80 if size else 0))
        if not size:
            break
    out = tmp_path / "minilm-rebuilt.wasm"
    out.write_bytes(data + b"\x00" + bytes(leb) + body)  # section id 0: custom
    return out


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    settings = ServeSettings(backend="cpu", instances=1, queue_size=64, admin_token=TOKEN, models=("minilm",),
                             batch_window_ms=2)
    with live_server(settings) as url:
        yield url


def admin(server: str, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{server}/admin/models/{EMBEDDING_MODEL}{path}", timeout=120,
                         headers={"Authorization": f"Bearer {TOKEN}"}, **kw)


def test_swap_and_rollback_under_load(server: str, tmp_path: Path) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=60)
    v1 = httpx.get(f"{server}/v1/models/{EMBEDDING_MODEL}", timeout=10).json()["active_version"]
    r = admin(server, "POST", "/versions", json={"guest": str(rebuilt_guest(tmp_path))})
    assert r.status_code == 201, r.text
    v2 = r.json()["version"]["id"]
    assert v2 != v1 and not r.json()["version"]["active"]
    listed = httpx.get(f"{server}/v1/models/{EMBEDDING_MODEL}", timeout=10).json()
    assert {v["id"] for v in listed["versions"]} == {v1, v2} and listed["active_version"] == v1

    texts = ["versions are swapped while this runs", "a second sentence"]
    from zerowasm.models import MiniLM

    ref = MiniLM("cpu", quiet=True).embed(texts)
    results: list[tuple[float, float, str]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(REQUESTS))
    done = threading.Semaphore(0)

    def worker() -> None:
        for _ in iter(lambda: next(counter, None), None):
            t0 = time.monotonic()
            try:
                raw = client.embeddings.with_raw_response.create(model=EMBEDDING_MODEL, input=texts)
                got = np.array([d.embedding for d in raw.parse().data])
                np.testing.assert_allclose(got, ref, atol=1e-6, rtol=0)
                with lock:
                    results.append((t0, time.monotonic(), raw.headers["X-Model-Version"]))
            except BaseException as e:  # noqa: BLE001
                with lock:
                    failures.append(e)
            done.release()

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for _ in range(REQUESTS // 3):
        done.acquire()
    r = admin(server, "POST", "/activate", json={"version": v2})
    activated = time.monotonic()
    assert r.status_code == 200 and r.json()["active_version"] == v2
    for _ in range(REQUESTS // 3):
        done.acquire()
    rolling_back = time.monotonic()
    r = admin(server, "POST", "/rollback")
    rolled_back = time.monotonic()
    assert r.status_code == 200 and r.json()["active_version"] == v1
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert len(results) == REQUESTS
    assert {v for _, _, v in results} == {v1, v2}
    # started after the activation and finished before the rollback began: the new version
    assert all(v == v2 for t0, t1, v in results if t0 > activated and t1 < rolling_back)
    assert all(v == v1 for t0, _, v in results if t0 > rolled_back)
    assert sum(1 for t0, t1, v in results if t0 > activated and t1 < rolling_back) > 10
    assert httpx.get(f"{server}/v1/models/{EMBEDDING_MODEL}", timeout=10).json()["active_version"] == v1
    # the inactive version can be unloaded; the active one cannot
    assert admin(server, "DELETE", f"/versions/{v1}").status_code == 409
    assert admin(server, "DELETE", f"/versions/{v2}").status_code == 200
    assert client.embeddings.create(model=f"{EMBEDDING_MODEL}@{v1}", input="pinned").data
