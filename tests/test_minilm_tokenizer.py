"""The guest's WordPiece tokenizer gives exactly the reference tokenizer's ids.

Reference: HF ``tokenizers`` with the model's own tokenizer.json (no padding,
truncation at 256 including [CLS]/[SEP]), as sentence-transformers uses it.
"""

from __future__ import annotations

import pytest
from minilm_fixtures import HANDWRITTEN, load_model, varied_sentences

tokenizers = pytest.importorskip("tokenizers")
pytestmark = pytest.mark.slow  # downloads and loads the real model


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    return load_model()


@pytest.fixture(scope="module")
def reference():  # noqa: ANN201
    from zerowasm.models.minilm import model_dir

    tok = tokenizers.Tokenizer.from_file(str(model_dir(quiet=True) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    return tok


def ref_ids(reference, texts: list[str]) -> list[list[int]]:  # noqa: ANN001
    return [e.ids for e in reference.encode_batch(texts)]


def assert_same(got: list[list[int]], want: list[list[int]], texts: list[str]) -> None:
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert len(got) == len(want)
    assert not bad, "\n".join(f"{texts[i]!r}:\n  guest {got[i]}\n  ref   {want[i]}" for i in bad[:5])


def test_varied_sentences(model, reference) -> None:  # noqa: ANN001
    texts = varied_sentences()
    assert len(texts) >= 200
    want = ref_ids(reference, texts)
    assert_same(model.tokenize(texts), want, texts)
    assert any(len(ids) == 256 for ids in want), "some inputs must hit truncation"


def test_truncation_limit(model, reference) -> None:  # noqa: ANN001
    texts = ["word " * 300, "日本" * 200, "a" * 101 + " b" * 300]
    for limit in (2, 3, 10, 128):
        reference.enable_truncation(limit)
        try:
            assert_same(model.tokenize(texts, max_tokens=limit), ref_ids(reference, texts), texts)
        finally:
            reference.enable_truncation(256)


def test_every_code_point(model, reference) -> None:  # noqa: ANN001
    """Each code point between two letters ("a?b"): covers every normalization and split rule."""
    chars = [c for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF
             and (c < 0x32000 or c >= 0xE0000 or c % 97 == 0)]  # all of planes 0-2, 14-16; a sample of 3-13
    texts = [" ".join(f"a{chr(c)}b" for c in chars[i:i + 40]) for i in range(0, len(chars), 40)]
    got = model.tokenize(texts)
    want = ref_ids(reference, texts)
    assert_same(got, want, texts)


def test_one_by_one_equals_batch(model) -> None:  # noqa: ANN001
    texts = HANDWRITTEN[:30]
    assert model.tokenize(texts) == [model.tokenize([t])[0] for t in texts]


def test_rejects_bad_arguments(model) -> None:  # noqa: ANN001
    with pytest.raises(TypeError):
        model.tokenize("a single string")
    with pytest.raises(ValueError):
        model.tokenize(["x"], max_tokens=1)
    assert model.tokenize([]) == []
