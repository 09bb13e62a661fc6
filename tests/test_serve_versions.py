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


def _leb(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned LEB128 at data[at:]: (value, offset after it)."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _name(data: bytes, at: int) -> tuple[bytes, int]:
    n, at = _leb(data, at)
    return data[at:at + n], at + n


def trapping_guest(tmp_path: Path, export: str) -> Path:
    """The bundled MiniLM guest with the body of `export` replaced by `unreachable` (a valid
    module whose every call of that function traps), written next to the test's files."""
    from zerowasm.guests import guest_path

    data = guest_path("minilm", quiet=True).read_bytes()
    at, sections = 8, []
    while at < len(data):
        sid = data[at]
        size, start = _leb(data, at + 1)
        sections.append((sid, at, start, start + size))
        at = start + size
    imported_funcs, target = 0, None
    for sid, _, start, _end in sections:
        if sid == 2:  # imports: count the functions among them
            count, p = _leb(data, start)
            for _ in range(count):
                _, p = _name(data, p)
                _, p = _name(data, p)
                kind = data[p]
                p += 1
                if kind == 0:
                    imported_funcs += 1
                    _, p = _leb(data, p)
                elif kind == 1:  # table: reftype + limits
                    flags, p = _leb(data, p + 1)
                    _, p = _leb(data, p)
                    if flags & 1:
                        _, p = _leb(data, p)
                elif kind == 2:  # memory: limits
                    flags, p = _leb(data, p)
                    _, p = _leb(data, p)
                    if flags & 1:
                        _, p = _leb(data, p)
                else:  # global: valtype + mutability
                    p += 2
        if sid == 7:  # exports
            count, p = _leb(data, start)
            for _ in range(count):
                name, p = _name(data, p)
                kind = data[p]
                index, p = _leb(data, p + 1)
                if kind == 0 and name == export.encode():
                    target = index
    assert target is not None and target >= imported_funcs
    sid, head, start, end = next(s for s in sections if s[0] == 10)  # code
    count, p = _leb(data, start)
    bodies = []
    for _ in range(count):
        size, body = _leb(data, p)
        bodies.append(data[body:body + size])
        p = body + size
    bodies[target - imported_funcs] = b"\x00\x00\x0b"  # no locals; unreachable; end
    payload = _uleb(count) + b"".join(_uleb(len(b)) + b for b in bodies)
    out = tmp_path / f"minilm-trapping-{export}.wasm"
    out.write_bytes(data[:head] + b"\x0a" + _uleb(len(payload)) + payload + data[end:])
    return out


def test_guest_trap_is_a_500_and_the_instance_is_replaced(server: str, tmp_path: Path) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=60)
    r = admin(server, "POST", "/versions", json={"guest": str(trapping_guest(tmp_path, "embed"))})
    assert r.status_code == 201, r.text
    bad = r.json()["version"]["id"]
    for attempt in range(2):  # the replaced instance is a fresh one of the same (trapping) guest
        with pytest.raises(openai.InternalServerError) as e:
            client.embeddings.create(model=f"{EMBEDDING_MODEL}@{bad}", input="boom")
        assert e.value.status_code == 500 and e.value.body["code"] == "guest_trap"
        assert "unreachable" in e.value.body["message"]
        listed = httpx.get(f"{server}/v1/models/{EMBEDDING_MODEL}", timeout=10).json()
        assert next(v for v in listed["versions"] if v["id"] == bad)["replacements"] == attempt + 1
    # the active version never noticed
    assert client.embeddings.create(model=EMBEDDING_MODEL, input="still serving").data
    assert admin(server, "DELETE", f"/versions/{bad}").status_code == 200
