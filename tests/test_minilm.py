"""MiniLM embeddings from the Wasm guest vs independent references.

* an independent numpy float64 BERT forward pass over the same weights (always runs);
* sentence-transformers on PyTorch CPU (runs when torch and sentence-transformers
  are installed: the ``test`` extras).

Every check runs on the CPU backend and again on each GPU backend present (cuda, metal).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import zerowasm
from minilm_fixtures import HANDWRITTEN, load_model, varied_sentences
from zerowasm.models import minilm
from zerowasm.models.demo_data import CORPUS, QUERIES
from zerowasm.models.safetensors import SafetensorsFile

pytestmark = pytest.mark.slow  # downloads and loads the real model


BACKENDS = ["cpu"] + [b for b in zerowasm.backends() if b in ("cuda", "metal")]


@pytest.fixture(scope="module", params=BACKENDS)
def model(request: pytest.FixtureRequest):  # noqa: ANN201
    return load_model(request.param)


def embedding_sentences() -> list[str]:
    """>= 50 sentences: the demo corpus and queries, varied text, and truncated long inputs."""
    texts = list(CORPUS) + list(QUERIES) + HANDWRITTEN[:30]
    texts += varied_sentences(n_random=0)[-5:]  # the long inputs (> 256 tokens)
    return texts


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1)


# ---- independent numpy float64 reference ----

_erf = np.frompyfunc(math.erf, 1, 1)


def _layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * g + b


def reference_embedding(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = _layernorm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    for layer in range(6):
        p = f"encoder.layer.{layer}."

        def lin(name: str, v: np.ndarray, p: str = p) -> np.ndarray:
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (lin(f"attention.self.{m}", x).reshape(n, 12, 32) for m in ("query", "key", "value"))
        s = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(32)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = np.einsum("hqk,khd->qhd", s, v).reshape(n, 384)
        x = _layernorm(lin("attention.output.dense", ctx) + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"])
        h = lin("intermediate.dense", x)
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2)).astype(np.float64))
        x = _layernorm(lin("output.dense", h) + x, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"])
    pooled = x.mean(0)
    return pooled / max(np.linalg.norm(pooled), 1e-12)


@pytest.fixture(scope="module")
def weights64() -> dict[str, np.ndarray]:
    path = minilm.model_dir(quiet=True) / "model.safetensors"
    with SafetensorsFile(path) as st:
        return {name: st.read(name).astype(np.float64) for name, _ in minilm.weight_shapes()}


def test_matches_numpy_float64_reference(model, weights64) -> None:  # noqa: ANN001
    texts = list(CORPUS[:6]) + HANDWRITTEN[:6] + [varied_sentences(n_random=0)[-2]]  # last one truncated
    got = model.embed(texts)
    ids = model.tokenize(texts)
    want = np.stack([reference_embedding(weights64, i) for i in ids])
    cos = cosines(got, want)
    assert cos.min() >= 0.99999, cos
    assert np.abs(got - want).max() < 1e-4


# ---- sentence-transformers (PyTorch CPU) ----


def test_matches_sentence_transformers(model) -> None:  # noqa: ANN001
    torch = pytest.importorskip("torch")
    st_module = pytest.importorskip("sentence_transformers")
    torch.manual_seed(0)
    reference = st_module.SentenceTransformer(str(minilm.model_dir(quiet=True)), device="cpu")
    assert reference.max_seq_length == 256
    texts = embedding_sentences()
    assert len(texts) >= 50
    want = reference.encode(texts, batch_size=16, convert_to_numpy=True)
    got = model.embed(texts)
    cos = cosines(got, want)
    worst = int(cos.argmin())
    print(f"cosine vs sentence-transformers over {len(texts)} sentences: "
          f"min {cos.min():.7f} mean {cos.mean():.7f}")
    assert cos.min() >= 0.9999, f"{texts[worst]!r}: {cos[worst]}"


# ---- behaviour ----


def test_batching_does_not_change_results(model) -> None:  # noqa: ANN001
    texts = embedding_sentences()
    batched = model.embed(texts, batch_size=32)
    single = np.stack([model.embed([t])[0] for t in texts])
    odd = model.embed(texts[::-1], batch_size=7)[::-1]
    for other in (single, odd):
        assert cosines(batched, other).min() >= 0.999999
        assert np.abs(batched - other).max() < 1e-5


def test_output_shape_and_norm(model) -> None:  # noqa: ANN001
    emb = model.embed(["one", "two words", ""])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert model.embed([]).shape == (0, 384)


def test_semantics(model) -> None:  # noqa: ANN001
    emb = model.embed(["A man is eating food.", "A man is eating a piece of bread.",
                       "The stock market crashed today."])
    sims = emb @ emb.T
    assert sims[0, 1] > 0.6 > sims[0, 2]


def test_rejects_bad_arguments(model) -> None:  # noqa: ANN001
    with pytest.raises(TypeError):
        model.embed("a single string")
    with pytest.raises(ValueError):
        model.embed(["x"], batch_size=0)


def test_guest_errors_are_zerowasm_errors(model) -> None:  # noqa: ANN001
    """A refused request raises the guest's own message as a zerowasm.GuestError; the model goes on."""
    with pytest.raises(minilm.MiniLMError, match="text count 0") as info:
        model._call("embed", 0, 0, 0, 0)
    assert isinstance(info.value, zerowasm.GuestError) and info.value.code < 0
    with pytest.raises(zerowasm.Error, match="slot 9999"):
        model._call("set_weight", 9999, 64, 4)
    assert model.embed(["still works"]).shape == (1, model.hidden)


def test_reuse_and_threads(model) -> None:  # noqa: ANN001
    texts = list(CORPUS)
    want = model.embed(texts)
    # grow the guest's buffers with a big batch (40 x 256 tokens: split into two passes
    # inside the guest), then go back to small ones
    big = model.embed(["long text " * 200] * 40, batch_size=40)
    np.testing.assert_allclose(big, np.repeat(model.embed(["long text " * 200]), 40, axis=0), atol=1e-5)
    np.testing.assert_allclose(model.embed(texts[:3]), want[:3], atol=1e-5)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results.append(model.embed(texts[i:] + texts[:i], batch_size=5 + i))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 3
    for r in results:
        assert np.abs(np.sort(r, axis=0) - np.sort(want, axis=0)).max() < 1e-5


def test_no_staging_copies(model) -> None:  # noqa: ANN001
    model.embed(list(CORPUS[:4]))
    assert model.stats().get("copies", 0) == 0


def test_cli_embed(capsys) -> None:  # noqa: ANN001
    load_model()  # skips if the model cannot be downloaded
    assert minilm.main_embed(["--backend", "cpu", "A cat.", "A kitten.", "Interest rates."]) == 0
    out = capsys.readouterr().out
    assert "A kitten." in out and "1.000" in out


def test_cli_demo(capsys) -> None:  # noqa: ANN001
    load_model()
    assert minilm.main_demo(["--backend", "cpu", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "copies: 0" in out
    assert "query: Someone is having a meal." in out
