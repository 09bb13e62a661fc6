"""The SmolLM guest on a tiny synthetic llama GGUF (same tensor types and tokenizer
as SmolLM2, random weights): every code path in seconds, nothing to download.

Reference: tests/smollm_reference.py (numpy float64 on weights dequantized by the
``gguf`` package).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from smollm_reference import ReferenceSession, load_reference, write_tiny_gguf

zerowasm = pytest.importorskip("zerowasm")
from zerowasm.models.smollm import SessionSnapshot, SmolLM, SmolLMError  # noqa: E402

PROMPTS = [
    "the cat is here",
    "Hello, world! 12345 café's  \n\n  tabs\tand spaces",
    "x",
]


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module", params=[True, False], ids=["tied", "untied"])
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[SmolLM, object]:
    path = write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf", seed=7, tied=request.param)
    return SmolLM(path, backend="cpu", quiet=True), load_reference(path)


def prompt_ids(model: SmolLM, text: str) -> list[int]:
    return model.tokenize(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n", special=True)


def test_weights_placed_once(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    assert model.stats["weights"] in ("mapped", "read")
    assert model.info["n_layer"] == 2 and model.info["n_vocab"] == 278


@pytest.mark.parametrize("text", PROMPTS)
def test_logits_and_greedy_match_reference(tiny: tuple[SmolLM, object], text: str) -> None:
    model, ref = tiny
    ids = prompt_ids(model, text)
    with model.session() as s:
        s.feed(ids)
        assert s.eval() == len(ids)
        logits = s.logits()
        rs = ReferenceSession(ref)  # type: ignore[arg-type]
        assert rel_err(logits, rs.forward(ids)) < 1e-3
        got = list(s.generate(32, stop=()))
    want = ReferenceSession(ref).greedy(ids, 32)  # type: ignore[arg-type]
    assert got == want


def test_prefill_longer_than_a_batch(tiny: tuple[SmolLM, object]) -> None:
    """Prompts over MODEL_MAX_BATCH tokens are evaluated in chunks against the cache."""
    model, ref = tiny
    rng = np.random.default_rng(3)
    ids = rng.integers(3, model.info["n_vocab"], size=model.info["max_batch"] * 2 + 37).tolist()
    with model.session() as s:
        s.feed(ids)
        s.eval()
        assert rel_err(s.logits(), ReferenceSession(ref).forward(ids)) < 1e-3  # type: ignore[arg-type]


def test_follow_up_reuses_cache_and_equals_replay(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    s = model.session()
    first = s.chat("the cat", max_tokens=12)
    assert isinstance(first, str)
    n_after_first = len(s.tokens)
    cached = s.n_past
    assert cached == n_after_first - 1  # the last sampled token is queued, not yet evaluated
    answer = list(s.chat("is here", max_tokens=16, stream=True))
    turn_tokens = s.stats["turn_tokens"]
    assert s.stats["cached_tokens"] == cached
    assert s.stats["prefill_tokens"] == turn_tokens + 1  # the new turn plus the queued token
    history = s.tokens
    prompt2 = history[: n_after_first + turn_tokens]
    generated = history[n_after_first + turn_tokens :]
    with model.session() as replay:
        replay.feed(prompt2)
        again = list(replay.generate(len(generated), stop=()))
    assert again == generated
    assert "".join(answer) == model.detokenize([t for t in generated if t not in (0, 2)])
    s.close()


def test_turn_template_tokens(tiny: tuple[SmolLM, object]) -> None:
    """The queued tokens equal the tokenized rendering of the ChatML template."""
    model, _ = tiny
    with model.session() as s:  # default system prompt from the GGUF's chat template
        s.chat("hi", max_tokens=1)
        want = model.tokenize("<|im_start|>system\nYou are a tiny test model<|im_end|>\n"
                              "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", special=True)
        assert s.tokens[: len(want)] == want
    with model.session(system="") as s:
        s.chat("hi", max_tokens=1)
        assert s.tokens[:-1] == model.tokenize("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
                                               special=True)
    with model.session(system="Be brief.") as s:
        s.chat("hi", max_tokens=2)
        n = len(s.tokens)
        last = s.tokens[-1]
        s.chat("more", max_tokens=0)
        closing = "" if last == model.info["im_end"] else "<|im_end|>"
        want = model.tokenize(f"{closing}\n<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n", special=True)
        assert s.tokens[n:] == want


def test_snapshot_restore(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    s = model.session(seed=5)
    s.chat("the cat", max_tokens=8)
    snap = s.snapshot()
    a = list(s.generate(10, temperature=0.9, top_p=0.95, stop=()))
    s.restore(snap)
    b = list(s.generate(10, temperature=0.9, top_p=0.95, stop=()))
    assert a == b  # the sampler state travels with the snapshot
    other = model.session(seed=99)
    other.restore(snap)
    assert list(other.generate(10, temperature=0.9, top_p=0.95, stop=())) == a
    small = model.session(n_ctx=64)
    with pytest.raises(SmolLMError, match="cannot restore"):
        small.restore(snap)
    # Damaged bytes are an error that leaves the session exactly as it was.
    other.restore(snap)
    next(other.generate(1, temperature=0.9, top_p=0.95, stop=()))
    before = other.snapshot()
    data = snap.data
    rng = np.random.default_rng(7)
    flipped = []
    for at in [0, 4, 8, 12, 16, 20, 40, 48, 56, 64, *rng.integers(0, len(data), size=40).tolist()]:
        buf = bytearray(data)
        buf[at] ^= 1 << int(rng.integers(8))
        flipped.append(bytes(buf))
    for bad in [data[:-4], data + bytes(4), data[:10], bytes(len(data)), *flipped]:
        with pytest.raises(SmolLMError, match="snapshot"):
            other.restore(SessionSnapshot(bad))
        assert other.snapshot() == before
    with pytest.raises(SmolLMError, match="empty"):
        other.restore(SessionSnapshot(b""))
    assert list(other.generate(9, temperature=0.9, top_p=0.95, stop=())) == a[1:]
    for sess in (s, other, small):
        sess.close()


def test_sessions_are_independent(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    solo = {}
    for text in ("the cat", "is here"):
        with model.session() as s:
            s.chat(text, max_tokens=0)
            solo[text] = list(s.generate(20, stop=()))
    a, b = model.session(), model.session()
    a.chat("the cat", max_tokens=0)
    b.chat("is here", max_tokens=0)
    ga, gb = a.generate(20, stop=()), b.generate(20, stop=())
    got_a, got_b = [], []
    for _ in range(20):  # interleave decode steps of the two sessions
        got_a.append(next(ga))
        got_b.append(next(gb))
    assert got_a == solo["the cat"] and got_b == solo["is here"]
    a.close()
    b.close()


def test_sessions_from_many_threads(tiny: tuple[SmolLM, object]) -> None:
    """One model used from several threads at once: requests serialize, each session's
    results equal what it gives alone (the same rule as MiniLM's)."""
    import threading

    model, _ = tiny
    texts = ["the cat", "is here", "a dog", "the cat is"]
    alone = {}
    for text in texts:
        with model.session(seed=3) as s:
            alone[text] = (s.chat(text, max_tokens=12, temperature=0.8), s.tokens)
    got: dict[str, tuple[str, list[int]]] = {}
    errors: list[BaseException] = []

    def worker(text: str) -> None:
        try:
            with model.session(seed=3) as s:
                pieces = "".join(s.chat(text, max_tokens=12, temperature=0.8, stream=True))
                got[text] = (pieces, s.tokens)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == alone


def test_context_full(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    with model.session(system="", n_ctx=40) as s:
        s.chat("the cat", max_tokens=0)
        with pytest.raises(SmolLMError, match="context full"):
            list(s.generate(100, stop=()))
        assert len(s.tokens) == 40
        with pytest.raises(SmolLMError, match="context full"):
            s.chat("more")


def test_sampling_follows_the_distribution(tiny: tuple[SmolLM, object]) -> None:
    """Temperature sampling draws from softmax(logits / T); top-p keeps to the nucleus."""
    model, ref = tiny
    ids = prompt_ids(model, "the cat")
    logits = ReferenceSession(ref).forward(ids)  # type: ignore[arg-type]
    temp = 2.0
    p = np.exp((logits - logits.max()) / temp)
    p /= p.sum()
    order = np.argsort(-p)
    cum = np.cumsum(p[order])
    top_p = float(cum[2] + cum[3]) / 2  # the nucleus is exactly the 4 most probable tokens
    nucleus = set(order[:4].tolist())
    s = model.session()
    s.feed(ids)
    snap = s.snapshot()
    counts = np.zeros(len(p))
    n = 3000
    for seed in range(n):
        s.restore(snap)
        s.seed(seed)
        counts[next(s.generate(1, temperature=temp, top_p=1.0, stop=()))] += 1
    # total variation distance between the empirical and the reference distribution
    assert 0.5 * np.abs(counts / n - p).sum() < 0.08
    seen = set()
    for seed in range(300):
        s.restore(snap)
        s.seed(seed)
        seen.add(next(s.generate(1, temperature=temp, top_p=top_p, stop=())))
    assert seen <= nucleus and len(seen) > 1
    s.restore(snap)
    assert next(s.generate(1, temperature=temp, top_p=0.0, stop=())) == int(order[0])
    s.close()


def test_bad_requests_leave_the_model_usable(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    with model.session() as s:
        with pytest.raises(SmolLMError, match="out of range"):
            s.feed([model.info["n_vocab"]])
        with pytest.raises(SmolLMError, match="nothing to evaluate"):
            s.eval()
        s.chat("ok", max_tokens=3)
    with pytest.raises(SmolLMError, match="n_ctx"):
        model.session(n_ctx=10**6)


def test_model_file_path_is_kept(tiny: tuple[SmolLM, object]) -> None:
    assert isinstance(tiny[0].path, Path)


def test_a_new_turn_ends_the_old_stream(tiny: tuple[SmolLM, object]) -> None:
    model, _ = tiny
    with model.session(system="") as s:
        old = s.chat("the cat", max_tokens=20, stream=True)
        next(old, None)
        s.chat("is here", max_tokens=0)
        before = s.tokens
        assert list(old) == []  # stopped without sampling into the new turn
        assert s.tokens == before


def test_read_path_when_mapping_is_unavailable(tiny: tuple[SmolLM, object], monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = tiny
    monkeypatch.setattr(zerowasm.runtime.Memory, "map_file", lambda self, *args: False)
    read = SmolLM(model.path, backend="cpu", quiet=True)
    assert read.stats["weights"] == "read"
    ids = prompt_ids(model, "the cat")
    outs = []
    for m in (model, read):
        with m.session() as s:
            s.feed(ids)
            s.eval()
            outs.append((s.logits(), list(s.generate(8, stop=()))))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1] == outs[1][1]
