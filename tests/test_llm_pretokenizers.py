"""Llama 3's and Qwen2's byte-level BPE pre-tokenizers in the LLM guest, against HF tokenizers.

Tiny GGUF files (tests/llm_tiny.py) with ``tokenizer.ggml.pre`` = ``llama-bpe`` or ``qwen2``,
whose merges join every pair of symbols of a small alphabet: a merged token never spans two
pieces, so every piece boundary of the pre-tokenizer shows in the ids. A few whole-word tokens
that no merge reaches test Llama 3's ``ignore_merges`` (a piece that is a token is that token).

The reference is HF ``tokenizers`` configured as Llama 3's / Qwen2's ``tokenizer.json``: a
regex ``Split`` (isolated) then ``ByteLevel`` without its own regex, a BPE model over the same
tokens and merges (``ignore_merges`` for Llama 3 only, as there and in llama.cpp).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from llm_tiny import write_tiny
from smollm_reference import byte_chars

pytest.importorskip("tokenizers")
pytest.importorskip("gguf")

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")
CASES = {"llama-bpe": (LLAMA3_REGEX, True), "qwen2": (QWEN2_REGEX, False)}

# Fragments of the test strings: every character class the regexes tell apart. (No U+017F
# or U+212A: Unicode case folding makes "'ſ" a contraction for the reference's regex engine,
# not for llama.cpp, which folds ASCII only.)
FRAGMENTS = ["a", "A", "b", "Z", "é", "Ω", "1", "2", "3", "٣", " ", "  ", "\n", "\r\n", "\t", "!", "'", "s", "S",
             "t", "'re", "'LL", "'d", ",", ".", "中", "😀", "x", "\u00a0", "-", "_"]
WHOLE_WORDS = ["abZ", " ab", "123", "!!", "\n\n"]
FIXED = ["Hello world", "123456789", " !hello", "  \n\n  x", "don't DON'T we're I'M", "tab\tx", "abc   ",
         "   ", "\n", "a\r\n\r\nb", "x  !!  y", "1 22 333 4444", "(hello)", "'s's'S", "abZ abZ", " ab ab"]


def byte_level(text: str) -> str:
    table = byte_chars()
    return "".join(table[b] for b in text.encode("utf-8"))


def pair_merges() -> list[tuple[str, str]]:
    symbols = sorted({byte_level(ch) for frag in FRAGMENTS for ch in frag if len(byte_level(ch)) == 1})
    pairs = [(x, y) for x in symbols for y in symbols]
    random.Random(7).shuffle(pairs)  # ranks in no meaningful order
    return pairs


def hf_tokenizer(path: Path, regex: str, ignore_merges: bool) -> Any:
    from gguf import GGUFReader
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    r = GGUFReader(str(path))
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    f = r.fields["tokenizer.ggml.merges"]
    merges = [tuple(bytes(f.parts[i]).decode("utf-8").split(" ")) for i in f.data]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    return tok


def random_strings(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 24))) for _ in range(n)]


@pytest.mark.parametrize("pre", sorted(CASES))
def test_pretokenizer_matches_hf_tokenizers(pre: str, tmp_path: Path) -> None:
    from zerowasm.models.llm import LLM

    regex, ignore_merges = CASES[pre]
    path = tmp_path / f"tiny-{pre}.gguf"
    write_tiny(path, "llama", pre=pre, merges_of=pair_merges(),
               extra_tokens=[byte_level(w) for w in WHOLE_WORDS])
    ref = hf_tokenizer(path, regex, ignore_merges)
    model = LLM(path, backend="cpu", quiet=True)
    texts = FIXED + random_strings(300, seed=len(pre))
    wrong = [(t, model.tokenize(t), ref.encode(t, add_special_tokens=False).ids) for t in texts]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, f"{len(wrong)} of {len(texts)} differ, e.g. {wrong[:3]}"
    # the whole-word tokens are used by Llama 3 (ignore_merges) and reached by no merge in Qwen2
    abz = model.tokenize("abZ")
    assert (abz == [ref.token_to_id(byte_level("abZ"))]) == ignore_merges


def test_unknown_pretokenizer_is_named(tmp_path: Path) -> None:
    from zerowasm.models.llm import LLM, LLMError

    path = tmp_path / "tiny-unknown.gguf"
    write_tiny(path, "llama", pre="deepseek-coder")
    with pytest.raises(LLMError, match="pre-tokenizer 'deepseek-coder' is not supported"):
        LLM(path, backend="cpu", quiet=True)
