"""The guest's byte-level BPE tokenizer (built from GGUF metadata) vs independent ones:

* known ids for SmolLM2 (produced by llama.cpp 0.3.36 via llama-cpp-python on the same file);
* HF ``tokenizers`` BPE built from the same vocab/merges with SmolLM's pre-tokenizer
  (Digits(individual_digits) + ByteLevel regex), on hand-written and random text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from smollm_reference import byte_chars, hf_tokenizer, write_tiny_gguf

zerowasm = pytest.importorskip("zerowasm")
from zerowasm.models import smollm  # noqa: E402

# (text, ids): llama.cpp's tokenization of the real file (special tokens parsed)
KNOWN_IDS = [
    ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
     [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]),
    ("Hello world 12345 it's   spaced\n\n  tabs\there",
     [19556, 905, 216, 33, 34, 35, 36, 37, 357, 506, 256, 23861, 8866, 29416, 197, 1531]),
    ("naïve café 日本語 ÀÉ ½ ٣",
     [3546, 46494, 37366, 17097, 241, 115, 40993, 179, 120, 248, 5549, 218, 39614, 216, 16738, 216, 164, 113]),
]

TEXTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's already 2024... isn't it? They'll say we'd've known; I'M SURE 'TIS",
    "Prices rose 3.5% to $1,234.56 (up from €1,100) on 12/31/2023.",
    "E-mail john.doe@example.com or visit https://example.org/a?b=c&d=e#frag.",
    "Ünïcödé naïve café İstanbul résumé coöperate façade jalapeño",
    "ΣΊΣΥΦΟΣ οδυσσεύς — Ελληνικά! Привет, как дела? Всё хорошо.",
    "日本語のテキストを分割します。我爱自然语言处理！한국어 문장도",
    "مرحبا بالعالم، كيف حالك؟ שלום עולם! हिन्दी में एक वाक्य। ภาษาไทย",
    "emoji 😀🥰👍🏽 and flags 🇫🇷🇯🇵 and family 👨‍👩‍👧",
    "Math: ∑ x_i ≤ ∞, ∫ f(x) dx ≈ 3.14159, √2 ≠ 1.41 ½ ¾ ① Ⅻ ٣٤٥ ߁߂",
    "Tabs\tand\nnewlines\r\nand   multiple    spaces   \n\n\n   end  ",
    "Zero\u200bwidth\u200dspace, soft\u00adhyphen, BOM\ufeff, nbsp\u00a0, em\u2003space, \u3000ideo",
    "Control\x01chars\x07in\x1bthe\x7ftext\u0085too and \x04\x06\x13 bytes the vocab lacks",
    "Full-width ＡＢＣ １２３ ！？ and half-width ｶﾀｶﾅ",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 and precomposed é à ö ñ",
    "C++: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; } // done",
    "Python: print(f'{x!r:>10}')  # comment\n    return None",
    "JSON {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "supercalifragilisticexpialidocious antidisestablishmentarianism " + "a" * 300,
    "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nhi<|im_end|>",
    "<|im_start|><|im_start|>x<|im_end|<|endoftext|><repo_name>y<file_sep>",
    "   leading and trailing   ",
    "'s 're 've 'm 'll 'd 't 'S ''s x's",
    " 1 22 333 ' 4' a1b2c3 ١٢٣ 𝟘𝟙𝟚",
    "",
    " ",
    "\n",
]


@pytest.fixture(scope="module")
def real() -> smollm.SmolLM:
    try:
        path = smollm.model_path(quiet=True)
    except (RuntimeError, OSError) as e:
        pytest.skip(f"model file unavailable: {e}")
    return smollm.SmolLM(path, backend="cpu", quiet=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[smollm.SmolLM, Path]:
    path = write_tiny_gguf(tmp_path_factory.mktemp("tok") / "tiny.gguf")
    return smollm.SmolLM(path, backend="cpu", quiet=True), path


@pytest.mark.parametrize("text,ids", KNOWN_IDS)
def test_known_ids(real: smollm.SmolLM, text: str, ids: list[int]) -> None:
    assert real.tokenize(text, special=True) == ids


def test_france_prompt_round_trip(real: smollm.SmolLM) -> None:
    ids = real.tokenize("The capital of France is Paris.")
    assert ids == [504, 3575, 282, 4649, 314, 7042, 30]
    assert real.detokenize(ids) == "The capital of France is Paris."


def test_special_tokens_only_when_asked(real: smollm.SmolLM) -> None:
    text = "<|im_start|>user"
    assert real.tokenize(text, special=True)[0] == 1
    plain = real.tokenize(text)
    assert 1 not in plain and real.detokenize(plain) == text


def test_real_vocab_matches_hf_tokenizers(real: smollm.SmolLM) -> None:
    pytest.importorskip("tokenizers")
    hf = hf_tokenizer(real.path)
    for text in TEXTS:
        assert real.tokenize(text, special=True) == hf.encode(text).ids, text
        plain = hf.encode(text, add_special_tokens=False).ids
        assert real.detokenize(real.tokenize(text, special=True)) == hf.decode(plain, skip_special_tokens=False)


def test_tiny_vocab_matches_hf_tokenizers(tiny: tuple[smollm.SmolLM, Path]) -> None:
    pytest.importorskip("tokenizers")
    model, path = tiny
    hf = hf_tokenizer(path)
    for text in TEXTS:
        assert model.tokenize(text, special=True) == hf.encode(text).ids, text


_hf_cache: dict[str, object] = {}

text_strategy = st.lists(
    st.one_of(
        st.sampled_from(list(" \t\n\r'sdtmlrve0123456789.,!?-_aAzZéü日本😀٣½") + ["<|im_end|>", "'ll", "  "]),
        st.characters(codec="utf-8"),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=text_strategy)
def test_random_text_matches_hf_tokenizers(real: smollm.SmolLM, text: str) -> None:
    pytest.importorskip("tokenizers")
    key = str(real.path)
    if key not in _hf_cache:
        _hf_cache[key] = hf_tokenizer(real.path)
    hf = _hf_cache[key]
    # A byte the vocabulary has no token for (SmolLM2 lacks 0x16, 0x1d, ...): HF drops it before
    # merging, so its neighbours merge across it; llama.cpp keeps it as a symbol that merges with
    # nothing. The guest follows llama.cpp, which test_llm.py checks on such bytes.
    assume(not _tokenless_bytes(hf) & set(text.encode()))
    assert real.tokenize(text, special=True) == hf.encode(text).ids  # type: ignore[attr-defined]


def _tokenless_bytes(hf: object) -> set[int]:
    chars = byte_chars()
    return {b for b in range(256) if hf.token_to_id(chars[b]) is None}  # type: ignore[attr-defined]


def test_long_pieces(real: smollm.SmolLM) -> None:
    """One pre-token of 10^5 bytes: merges run in O(n log n) and still match HF's."""
    pytest.importorskip("tokenizers")
    hf = hf_tokenizer(real.path)
    for text in (" " * 100_000, "a" * 100_000, "ab" * 50_000, "é" * 30_000):
        assert real.tokenize(text) == hf.encode(text).ids
