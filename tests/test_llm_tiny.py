"""The generic GGUF guest (zerowasm.models.LLM) on tiny synthetic files of every
architecture it runs (llama, qwen2 with q/k/v biases, gemma3 with a sliding window of 8
so local and global layers differ within a short prompt), against the independent numpy
float64 forward pass of tests/llm_tiny.py. Also: what an unsupported file says at load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llm_tiny import ARCHS, TinyModel, reference_greedy, reference_logits, write_tiny

pytest.importorskip("gguf")
zerowasm = pytest.importorskip("zerowasm")
from zerowasm.models.llm import LLM, LLMError  # noqa: E402

# gemma3: 6 layers (5 local + 1 global), head_dim 32 != d_model / n_head, one kv head
SHAPES = {
    "llama": {},
    "qwen2": {},
    "gemma3": {"n_layer": 6, "head_dim": 32, "n_kv_head": 1, "window": 8},
}


@pytest.fixture(scope="module", params=ARCHS)
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[LLM, TinyModel]:
    arch = request.param
    path = tmp_path_factory.mktemp(arch) / f"{arch}.gguf"
    ref = write_tiny(path, arch, seed=len(arch), **SHAPES[arch])
    return LLM(path, backend="cpu", quiet=True), ref


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))


def prompt(model: LLM, n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(t) for t in rng.integers(3, model.info["n_vocab"], n)]


@pytest.mark.parametrize("length", [5, 21])
def test_logits_and_greedy_match_reference(tiny: tuple[LLM, TinyModel], length: int) -> None:
    """21 tokens > the gemma3 window (8): prefill takes the per-query window path, and
    decoding then runs past the window on local layers."""
    model, ref = tiny
    ids = prompt(model, length, length)
    with model.session(n_ctx=64) as s:
        s.feed(ids)
        s.eval()
        assert rel_err(s.logits(), reference_logits(ref, ids)[-1]) < 1e-4
        got = list(s.generate(12, stop=()))
    assert got == reference_greedy(ref, ids, 12)


def test_prefill_in_chunks_equals_one_pass(tiny: tuple[LLM, TinyModel]) -> None:
    """Prefill of 150 tokens (two chunks of at most 128) = the reference over all of them."""
    model, ref = tiny
    ids = prompt(model, 150, 7)
    with model.session(n_ctx=160) as s:
        s.feed(ids)
        s.eval()
        assert rel_err(s.logits(), reference_logits(ref, ids)[-1]) < 1e-4


def test_chat_template_and_stop(tiny: tuple[LLM, TinyModel]) -> None:
    model, _ = tiny
    assert model.architecture == tiny[1].arch
    with model.session(system="") as s:
        s.chat("hi", max_tokens=0)
        text = model.detokenize(s.tokens)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def expect_load_error(path: Path, *words: str) -> str:
    with pytest.raises(LLMError) as e:
        LLM(path, backend="cpu", quiet=True)
    for w in words:
        assert w in str(e.value), str(e.value)
    return str(e.value)


def test_unsupported_architecture_is_named(tmp_path: Path) -> None:
    path = tmp_path / "falcon.gguf"
    write_tiny(path, "llama")
    data = path.read_bytes()
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # type, then the string's u64 length
    assert data[at:at + 5] == b"llama"
    path.write_bytes(data[:at] + b"nolla" + data[at + 5:])
    expect_load_error(path, "architecture 'nolla' is not supported")


def test_unsupported_tensor_type_is_named(tmp_path: Path) -> None:
    from gguf import GGMLQuantizationType as Q

    path = tmp_path / "q2k.gguf"
    write_tiny(path, "llama", d_model=256, n_head=4, n_kv_head=4, d_ff=256, qtype=Q.Q2_K)
    expect_load_error(path, "blk.0.attn_q.weight", "Q2_K", "supported:")


def test_rope_scaling_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "yarn.gguf"
    write_tiny(path, "llama", extra_kv={"llama.rope.scaling.type": "yarn"})
    expect_load_error(path, "rope scaling 'yarn'")


@pytest.fixture(scope="module")
def llama31(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TinyModel]:
    """A tiny llama with Llama 3.1's per-frequency rope factors (rope_freqs.weight)."""
    path = tmp_path_factory.mktemp("llama31") / "llama31.gguf"
    return path, write_tiny(path, "llama", seed=31, head_dim=32, n_head=2, n_kv_head=1, rope_factors=True)


def without_rope_factors(ref: TinyModel) -> TinyModel:
    return TinyModel(ref.arch, ref.n_head, ref.n_kv_head, ref.head_dim, ref.eps, ref.rope_base, ref.window,
                     {k: v for k, v in ref.t.items() if k != "rope_freqs.weight"}, ref.n_layer)


def test_rope_factors_match_reference(llama31: tuple[Path, TinyModel]) -> None:
    """zw.rope_factors in the guest: logits and greedy tokens equal the float64 reference that
    divides each rope frequency by its factor, which is far from the one without factors."""
    path, ref = llama31
    model = LLM(path, backend="cpu", quiet=True)
    ids = prompt(model, 21, 3)
    with model.session(n_ctx=64) as s:
        s.feed(ids)
        s.eval()
        logits = s.logits()
        got = list(s.generate(12, stop=()))
    want = reference_logits(ref, ids)[-1]
    assert rel_err(logits, want) < 1e-4
    assert rel_err(reference_logits(without_rope_factors(ref), ids)[-1], want) > 1e-2
    assert got == reference_greedy(ref, ids, 12)


def test_rope_factors_as_llama_cpp_reads_them(llama31: tuple[Path, TinyModel]) -> None:
    """The reference's reading of rope_freqs (divide frequency i by factor i) is llama.cpp's:
    llama.cpp's logits on the same file lie near it and far from the reading without factors."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    path, ref = llama31
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_threads=2, logits_all=True, verbose=False)
    ids = prompt(LLM(path, backend="cpu", quiet=True, vocab_only=True), 21, 3)
    llm.eval(ids)
    got = np.array(llm.scores[len(ids) - 1], dtype=np.float64)
    near = rel_err(got, reference_logits(ref, ids)[-1])
    far = rel_err(got, reference_logits(without_rope_factors(ref), ids)[-1])
    assert near < 0.02 and far > 5 * near, (near, far)


def test_base_model_without_template(tmp_path: Path, tiny: tuple[LLM, TinyModel]) -> None:
    """A file without tokenizer.chat_template completes, and chat says why it cannot."""
    path = tmp_path / "base.gguf"
    write_tiny(path, "llama", extra_kv={})
    data = path.read_bytes()
    key = b"tokenizer.chat_template"
    path.write_bytes(data.replace(key, b"tokenizer.chat_templatX"))
    model = LLM(path, backend="cpu", quiet=True)
    assert not model.has_chat_template
    with pytest.raises(LLMError, match="no chat template"):
        model.chat("hi")
    with model.session() as s, pytest.raises(LLMError, match="no chat template"):
        s.chat("hi")
    assert isinstance(model.complete("the", max_tokens=4), str)
