"""`zerowasm serve` driven as a user would: the official `openai` client against a live
server on 127.0.0.1 (embeddings, chat, streaming, sessions, errors, deadlines, metrics).
The swap/rollback-under-load test is in test_serve_versions.py."""

from __future__ import annotations

import json
import random
import string
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

from serve_harness import live_server  # noqa: E402
from zerowasm.serve import CHAT_MODEL, EMBEDDING_MODEL, ServeSettings  # noqa: E402

pytestmark = pytest.mark.slow  # loads both real models

TOKEN = "test-admin-token"
QUEUE = 32
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    settings = ServeSettings(backend="cpu", instances=1, queue_size=QUEUE, admin_token=TOKEN, n_ctx=512,
                             max_sessions=1, max_body_bytes=64 << 10, max_input_chars=20_000, batch_window_ms=20)
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def client(server: str) -> Any:
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def minilm() -> Any:
    from zerowasm.models import MiniLM

    return MiniLM("cpu", quiet=True)


def random_sentences(rng: random.Random, n: int) -> list[str]:
    words = ["cat", "river", "quantum", "bread", "Paris", "engine", "blue", "silent", "running", "42", "école",
             "☃", "graph", "tomorrow", "seven"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) +
            "".join(rng.choice(string.punctuation) for _ in range(rng.randint(0, 3))) for _ in range(n)]


def stats(server: str) -> dict[str, Any]:
    return httpx.get(f"{server}/v1/stats", timeout=10).json()


def test_cli_help() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "zerowasm", "serve", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0
    for flag in ("--host", "--port", "--backend", "--instances", "--queue-size", "--request-timeout",
                 "--batch-window-ms", "--max-batch", "--admin-token", "--ray"):
        assert flag in out.stdout
    bad = subprocess.run([sys.executable, "-m", "zerowasm", "serve", "--instances", "0"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "instances must be >= 1" in bad.stderr


def test_models_and_health(server: str, client: Any) -> None:
    assert httpx.get(f"{server}/healthz", timeout=10).json()["status"] == "ok"
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {EMBEDDING_MODEL, CHAT_MODEL}
    for m in models.values():
        extra = m.model_extra or {}
        assert extra["active_version"] and len(extra["versions"]) == 1 and extra["versions"][0]["active"]


def test_embeddings_equal_minilm(server: str, client: Any, minilm: Any) -> None:
    rng = random.Random(7)
    texts = random_sentences(rng, 9)
    ref = minilm.embed(texts)
    single = client.embeddings.create(model=EMBEDDING_MODEL, input=texts[0])
    assert len(single.data) == 1 and single.usage.prompt_tokens == len(minilm.tokenize([texts[0]])[0])
    np.testing.assert_allclose(np.array(single.data[0].embedding), ref[0], atol=1e-6, rtol=0)
    many = client.embeddings.create(model=EMBEDDING_MODEL, input=texts)
    assert [d.index for d in many.data] == list(range(len(texts)))
    np.testing.assert_allclose(np.array([d.embedding for d in many.data]), ref, atol=1e-6, rtol=0)
    # float encoding (the client asks for base64 unless told otherwise)
    floats = client.embeddings.create(model="minilm", input=texts[:2], encoding_format="float")
    np.testing.assert_allclose(np.array([d.embedding for d in floats.data]), ref[:2], atol=1e-6, rtol=0)


def batch_counts(server: str) -> tuple[float, float]:
    """(guest embedding calls, texts in them) so far."""
    m = metric_samples(server)
    label = frozenset({("model", EMBEDDING_MODEL)})
    return m[("zerowasm_embedding_batch_texts_count", label)], m[("zerowasm_embedding_batch_texts_sum", label)]


def test_concurrent_embeddings_are_batched_and_split_exactly(server: str, client: Any, minilm: Any) -> None:
    rng = random.Random(11)
    requests = [random_sentences(rng, rng.randint(1, 3)) for _ in range(24)]
    results: list[Any] = [None] * len(requests)

    def one(i: int) -> None:
        r = client.embeddings.create(model=EMBEDDING_MODEL, input=requests[i])
        results[i] = np.array([d.embedding for d in r.data])

    before = batch_counts(server)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for texts, got in zip(requests, results):
        np.testing.assert_allclose(got, minilm.embed(texts), atol=1e-6, rtol=0)
    after = batch_counts(server)
    assert after[1] - before[1] == sum(len(texts) for texts in requests)
    assert after[0] - before[0] < len(requests)  # some guest calls carried more than one request's texts


def test_chat_france(client: Any) -> None:
    r = client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=0, max_tokens=24)
    answer = r.choices[0].message.content
    assert "Paris" in answer
    assert r.usage.completion_tokens >= 1 and r.usage.prompt_tokens > 10
    assert r.choices[0].finish_reason in ("stop", "length")
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=0, max_tokens=24,
                                            stream=True, stream_options={"include_usage": True})
    pieces, usage = [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    assert "".join(pieces) == answer and len(pieces) > 3  # streamed piece by piece, same greedy answer
    assert usage is not None and usage.completion_tokens == r.usage.completion_tokens


def test_stop_strings_and_seeds(client: Any) -> None:
    full = client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=0, max_tokens=12)
    text = full.choices[0].message.content
    cut = text.index(" France")
    r = client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=0, max_tokens=12,
                                       stop=[" France", "zzz"])
    assert r.choices[0].message.content == text[:cut] and r.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=0, max_tokens=12,
                                            stop=" France", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text[:cut]
    sampled = [client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=1.2, max_tokens=6,
                                              seed=seed).choices[0].message.content for seed in (5, 5)]
    assert sampled[0] == sampled[1]


def test_stream_ends_with_done(server: str) -> None:
    body = {"model": CHAT_MODEL, "messages": FRANCE, "max_tokens": 4, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    assert json.loads(events[-2][6:])["choices"][0]["finish_reason"] == "length"


def _turn(client: Any, messages: list[dict[str, str]], session: str | None, max_tokens: int = 12) -> Any:
    headers = {"X-Session-Id": session} if session else {}
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=messages, temperature=0,
                                                           max_tokens=max_tokens, extra_headers=headers)
    return raw.parse(), raw.headers


def test_session_follow_up_prefills_only_the_new_turn(client: Any) -> None:
    first, _ = _turn(client, FRANCE, "s-follow")
    history = [*FRANCE, {"role": "assistant", "content": first.choices[0].message.content},
               {"role": "user", "content": "And of Italy?"}]
    follow, headers = _turn(client, history, "s-follow")
    stateless, _ = _turn(client, history, None)
    u = follow.usage
    extra = u.model_extra or {}
    # the cache held the whole first exchange (all but the last sampled token, which was never evaluated)
    assert u.prompt_tokens_details.cached_tokens == first.usage.prompt_tokens + first.usage.completion_tokens - 1
    assert extra["prefill_tokens"] == u.prompt_tokens - u.prompt_tokens_details.cached_tokens
    assert int(headers["X-Prefill-Tokens"]) == extra["prefill_tokens"]
    assert extra["prefill_tokens"] < 20 < stateless.usage.model_extra["prefill_tokens"]
    assert stateless.usage.prompt_tokens_details.cached_tokens == 0
    assert follow.choices[0].message.content == stateless.choices[0].message.content


def test_evicted_session_continues_identically(server: str, client: Any) -> None:
    before = stats(server)["models"][CHAT_MODEL]["sessions"]
    opening = [{"role": "user", "content": "Name a color."}]
    a1, _ = _turn(client, opening, "s-evict-a")
    b1, _ = _turn(client, opening, "s-evict-b")  # max_sessions=1: a is snapshotted to host memory
    assert a1.choices[0].message.content == b1.choices[0].message.content
    mid = stats(server)["models"][CHAT_MODEL]["sessions"]
    assert mid["evictions"] > before["evictions"] and mid["evicted"] >= 1
    history = [*opening, {"role": "assistant", "content": a1.choices[0].message.content},
               {"role": "user", "content": "Another one, please."}]
    b2, _ = _turn(client, history, "s-evict-b", max_tokens=16)  # resident
    a2, _ = _turn(client, history, "s-evict-a", max_tokens=16)  # restored from its snapshot
    after = stats(server)["models"][CHAT_MODEL]["sessions"]
    assert after["restores"] > mid["restores"]
    assert a2.choices[0].message.content == b2.choices[0].message.content
    assert a2.usage.prompt_tokens_details.cached_tokens == b2.usage.prompt_tokens_details.cached_tokens > 0
    assert a2.usage.model_extra["prefill_tokens"] == b2.usage.model_extra["prefill_tokens"]


def test_bad_input_is_an_openai_error(server: str, client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(model="no-such-model", input="x")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=EMBEDDING_MODEL, messages=FRANCE)  # not a chat model
    with pytest.raises(openai.BadRequestError) as e:  # roles must alternate
        client.chat.completions.create(model=CHAT_MODEL, messages=[*FRANCE, *FRANCE], max_tokens=2)
    assert e.value.body["param"] == "messages.1.role"
    with pytest.raises(openai.BadRequestError) as e:  # over-long input
        client.embeddings.create(model=EMBEDDING_MODEL, input=["a " * 15_000])
    assert e.value.body["code"] == "input_too_long"
    with pytest.raises(openai.BadRequestError) as e:  # prompt + max_tokens past the context
        client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, max_tokens=600)
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.UnprocessableEntityError):  # wrong type
        client.embeddings.create(model=EMBEDDING_MODEL, input=[{"not": "text"}])  # type: ignore[list-item]
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, max_tokens="many")  # type: ignore[arg-type]
    with pytest.raises(openai.APIStatusError) as e:  # body over --max-body-bytes
        client.embeddings.create(model=EMBEDDING_MODEL, input=["word " * 4000] * 4)
    assert e.value.status_code == 413 and e.value.body["code"] == "request_too_large"
    r = httpx.post(f"{server}/v1/embeddings", content=b'{"model": "minilm", "input": [', timeout=10,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    # the server is still serving
    assert client.embeddings.create(model=EMBEDDING_MODEL, input="still here").data


def test_admin_needs_the_token(server: str) -> None:
    url = f"{server}/admin/models/minilm/rollback"
    r = httpx.post(url, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.post(url, headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_token"
    r = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 409  # authorized; nothing to roll back to yet


def test_full_queue_answers_429(server: str, client: Any) -> None:
    long_body = {"model": CHAT_MODEL, "messages": FRANCE, "max_tokens": 120, "temperature": 0,
                 "stream": True}
    statuses: list[int] = []
    lock = threading.Lock()

    def short() -> None:
        try:  # queued requests give up after 2 s (504) instead of all running after the long one
            client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, max_tokens=1,
                                           extra_headers={"X-Request-Timeout": "2"})
            code = 200
        except openai.RateLimitError as e:
            assert e.response.headers["Retry-After"] and e.body["code"] == "queue_full"
            code = 429
        except openai.APIStatusError as e:
            code = e.status_code
        with lock:
            statuses.append(code)

    with httpx.stream("POST", f"{server}/v1/chat/completions", json=long_body, timeout=120) as r:
        lines = r.iter_lines()
        next(lines)  # generation started: the only chat instance is busy
        threads = [threading.Thread(target=short) for _ in range(QUEUE + 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for _ in lines:
            pass
    assert len(statuses) == QUEUE + 4 and statuses.count(429) >= 1
    assert set(statuses) <= {200, 429, 504}


def test_deadline_gives_504_and_the_pool_recovers(server: str, client: Any) -> None:
    before = stats(server)["models"][CHAT_MODEL]["replacements"]
    long_prompt = [{"role": "user", "content": "Summarize: " + " ".join(["the river runs to the sea"] * 60)}]
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as e:  # prefill alone takes longer than 0.05 s
        client.chat.completions.create(model=CHAT_MODEL, messages=long_prompt, max_tokens=50,
                                       extra_headers={"X-Request-Timeout": "0.05"})
    assert e.value.status_code == 504 and e.value.body["code"] == "deadline_exceeded"
    assert time.monotonic() - t0 < 10  # stopped near its deadline, not after the whole generation
    t0 = time.monotonic()
    # A generation that outlives its deadline: this prompt runs greedily to all 400 tokens (3.0 s
    # on the 2-core dev box; "count to 300" stops after 121 tokens, which fits in 1 s there now).
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model=CHAT_MODEL, max_tokens=400, temperature=0,
                                       messages=[{"role": "user", "content": "Write a long story about a river "
                                                  "that runs to the sea."}], extra_headers={"X-Request-Timeout": "1.0"})
    assert e.value.status_code == 504
    assert time.monotonic() - t0 < 15
    r = client.chat.completions.create(model=CHAT_MODEL, messages=FRANCE, temperature=0, max_tokens=24)
    assert "Paris" in r.choices[0].message.content
    assert stats(server)["models"][CHAT_MODEL]["replacements"] > before  # the stopped guest was replaced


def metric_samples(server: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_and_stats(server: str, client: Any) -> None:
    client.embeddings.create(model=EMBEDDING_MODEL, input="count me")
    m = metric_samples(server)

    def value(name: str, **labels: str) -> float:
        return m[(name, frozenset(labels.items()))]

    assert value("zerowasm_copies_total", model=EMBEDDING_MODEL) == 0
    assert value("zerowasm_copies_total", model=CHAT_MODEL) == 0
    assert value("zerowasm_op_calls_total", model=EMBEDDING_MODEL, op="matmul") > 0
    assert value("zerowasm_op_seconds_total", model=CHAT_MODEL, op="attention") > 0
    assert value("zerowasm_requests_total", model=EMBEDDING_MODEL, endpoint="embeddings", status="200") > 0
    assert value("zerowasm_requests_total", model=EMBEDDING_MODEL, endpoint="embeddings", status="400") > 0
    assert value("zerowasm_requests_total", model="", endpoint="embeddings", status="404") > 0  # unknown model
    assert value("zerowasm_requests_total", model="", endpoint="chat", status="422") > 0
    assert value("zerowasm_queue_depth", model=CHAT_MODEL) == 0
    assert value("zerowasm_tokens_total", model=CHAT_MODEL, kind="completion") > 0
    assert value("zerowasm_request_latency_seconds_count", model=CHAT_MODEL, endpoint="chat") > 0
    s = stats(server)["models"]
    for name in (EMBEDDING_MODEL, CHAT_MODEL):
        m = s[name]
        assert m["requests"] > 0 and m["copies"] == 0 and m["latency_p50_s"] <= m["latency_p99_s"]
        assert m["ops"] and m["active_version"] == m["versions"][0]["id"]
    assert s[EMBEDDING_MODEL]["errors"] > 0  # the error tests above count
