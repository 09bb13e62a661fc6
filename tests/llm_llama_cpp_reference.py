"""llama.cpp's answers for the llm guest's tests (tests/test_llm.py), live or committed.

Where ``llama_cpp`` (llama-cpp-python) is importable the tests ask it directly, and the
SmolLM2 re-quantizations (Q4_K_M, Q6_K; llama.cpp's quantize API, ``allow_requantize``)
are built once into the model cache, keyed by the source file's sha256 and the
llama-cpp-python version. CI cannot afford the 10+ minute sdist build, so for the files
fetched from PyPI the answers are also committed in tests/llm_reference.json, written by
this script (pip install 'llama-cpp-python==0.3.36'; then, in the project venv):

    python tests/llm_llama_cpp_reference.py

For every model the file records its sha256, the ids of every string in strings()
(without bos; special tokens parsed and not: the settings of ``LLM.tokenize``), and for
every prompt in PROMPTS the prompt ids (bos as the vocabulary asks, special tokens
parsed: the settings of ``Session.prompt``) and N_GREEDY greedy tokens (argmax of the
logits, fed back) with llama.cpp's TOP_K best logits at each step. A reference whose sha256,
strings or prompts differ from this file's is stale: the tests fail on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).with_name("llm_reference.json")
N_GREEDY = 32
TOP_K = 5  # llama.cpp's best logits recorded at each greedy step (for the near-tie rule)
N_THREADS = 2  # llama.cpp's results are recorded (and compared live) with this many threads
PYPI_MODELS = ("smollm2-135m", "gemma3-270m")
# name -> (source model, llama.cpp ftype name): fixtures built with llama.cpp's quantize API
REQUANTIZED = {"smollm2-135m-q4_k_m": ("smollm2-135m", "Q4_K_M"), "smollm2-135m-q6_k": ("smollm2-135m", "Q6_K")}

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
    "def fibonacci(n):\n",
    "Water boils at a temperature of",
    "In 1969, the first humans to walk on the Moon",
]

HAND_WRITTEN = [
    "", " ", "  ", "\n", "\n\n", "\t", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's already 2024... isn't it? They'll say we'd've known; I'M SURE 'TIS",
    "Prices rose 3.5% to $1,234.56 (up from €1,100) on 12/31/2023.",
    "E-mail john.doe@example.com or visit https://example.org/a?b=c&d=e#frag.",
    "Ünïcödé naïve café İstanbul résumé coöperate façade jalapeño",
    "ΣΊΣΥΦΟΣ οδυσσεύς — Ελληνικά! Привет, как дела? Всё хорошо.",
    "日本語のテキストを分割します。我爱自然语言处理！한국어 문장도",
    "مرحبا بالعالم، كيف حالك؟ שלום עולם! हिन्दी में एक वाक्य। ภาษาไทย",
    "emoji 😀🥰👍🏽 and flags 🇫🇷🇯🇵 and family 👨‍👩‍👧",
    "Math: ∑ x_i ≤ ∞, ∫ f(x) dx ≈ 3.14159, √2 ≠ 1.41 ½ ¾ ① Ⅻ ٣٤٥",
    "Tabs\tand\nnewlines\r\nand   multiple    spaces   \n\n\n   end  ",
    "Zero\u200bwidth\u200dspace, soft\u00adhyphen, BOM\ufeff, nbsp\u00a0, em\u2003space, \u3000ideo",
    "Control\x01chars\x07in\x1bthe\x7ftext\u0085too",
    "Full-width ＡＢＣ １２３ ！？ and half-width ｶﾀｶﾅ",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 and precomposed é à ö ñ",
    "C++: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; } // done",
    "Python: print(f'{x!r:>10}')  # comment\n    return None",
    "JSON {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "supercalifragilisticexpialidocious antidisestablishmentarianism " + "a" * 300,
    "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nhi<|im_end|>",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad><unk> <mask> [multimodal] <unused0> <|endoftext|>",
    "   leading and trailing   ", "'s 're 've 'm 'll 'd 't 'S ''s x's", " 1 22 333 ' 4' a1b2c3 ١٢٣ 𝟘𝟙𝟚",
    "<table><tr><td>cell</td></tr></table> <h1>Title</h1> <br/>",
    "    def f(x):\n        return x  # four and eight spaces\n",
    "1234567890 12345678901234567890 3.141592653589793",
    "▁already▁escaped▁text and ▁ alone",
    # bytes SmolLM2's vocabulary has no token for (0x04 0x06 0x13 0x14 0x16 0x1d, UTF-8 lead bytes
    # 0xc0 0xc1 0xf1 0xf2 0xf5..0xff): llama.cpp drops them after merging, so its neighbours stay apart
    "   \x14\U0001f97f", "'T   \x14\U0001f97f", "\u2252 \x1d\u226f'll", "a\x04b \x06c\x13\x16d",
    "\u20ac\U00050000\U00090000 \U00050000x", "...\x1d... \x1d\x1d...",
]

# Pieces random strings are made of: words, scripts, whitespace runs, digits, symbols, tokens.
PIECES = [
    "the", "The", " of", " and", "ing", "tion", " un", "believ", "able", "Hello", " world", "Paris", "x", "Q",
    " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", "0", "7", "42", "1999", "3.14", "-", "_", ".", ",", "!",
    "?", "'", "\"", "(", ")", "{", "}", "[", "]", "<", ">", "/", "\\", "#", "@", "$", "%", "&", "*", "+", "=",
    "é", "ü", "ñ", "ß", "Ö", "日本", "語", "中文", "한국", "Привет", "мир", "مرحبا", "שלום", "हिन्दी", "ไทย",
    "😀", "👍🏽", "🇫🇷", "∑", "∞", "½", "①", "\u200b", "\u00a0", "\u3000", "▁", "<|im_end|>", "<end_of_turn>",
    "<start_of_turn>", "<eos>", "<bos>", "<|endoftext|>", "'s", "'ll", "n't", "http://", ".com",
    "\x14", "\x1d", "\U00050000", "\U0001f97f",
]


def strings() -> list[str]:
    """HAND_WRITTEN plus seeded random compositions of PIECES: >= 200 varied strings."""
    rng = random.Random(16)
    out = list(HAND_WRITTEN)
    while len(out) < 240:
        out.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 24))))
    return out


def sha256_of(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_llama_cpp(path: str | os.PathLike[str], vocab_only: bool = False) -> Any:
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=512, n_batch=512, n_threads=N_THREADS,
                           n_threads_batch=N_THREADS, vocab_only=vocab_only, verbose=False)


def llama_cpp_tokenize(llm: Any, text: str, special: bool) -> list[int]:
    """As LLM.tokenize(text, special=special): no bos."""
    return [int(t) for t in llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)]


def llama_cpp_prompt_ids(llm: Any, prompt: str) -> list[int]:
    """As Session.prompt(prompt) on a new session: bos when the vocabulary adds one, special tokens parsed."""
    return [int(t) for t in llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)]


def llama_cpp_greedy(llm: Any, prompt_ids: list[int], n: int) -> tuple[list[int], list[list[list[Any]]]]:
    """n greedy tokens (argmax of the last-token logits, fed back one at a time), and at each
    step llama.cpp's TOP_K best [id, logit], best first."""
    llm.reset()
    llm.eval(prompt_ids)
    tokens: list[int] = []
    top: list[list[list[Any]]] = []
    for _ in range(n):
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        best = int(np.argmax(logits))  # the lowest id among equal maxima, as the guest's sampler
        order = np.argsort(-logits, kind="stable")[:TOP_K]
        tokens.append(best)
        top.append([[int(i), float(logits[i])] for i in order])
        llm.eval([best])
    return tokens, top


def model_reference(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything the tests compare for one file, from llama.cpp."""
    out: dict[str, Any] = {"file": Path(path).name, "sha256": sha256_of(path)}
    vocab = open_llama_cpp(path, vocab_only=True)
    out["tokenize"] = [[s, llama_cpp_tokenize(vocab, s, False), llama_cpp_tokenize(vocab, s, True)] for s in strings()]
    vocab.close()
    llm = open_llama_cpp(path)
    greedy = []
    for prompt in PROMPTS:
        ids = llama_cpp_prompt_ids(llm, prompt)
        tokens, top = llama_cpp_greedy(llm, ids, N_GREEDY)
        greedy.append({"prompt": prompt, "prompt_ids": ids, "tokens": tokens, "top": top})
    llm.close()
    out["greedy"] = greedy
    return out


def requantized(source: Path, ftype: str, *, quiet: bool = True) -> Path:
    """source re-quantized by llama.cpp (llama_model_quantize, allow_requantize) to ftype
    ("Q4_K_M", "Q6_K"), built once into the model cache: the name holds the source's
    sha256 and the llama-cpp-python version, so a new source or llama.cpp builds anew."""
    import llama_cpp
    from zerowasm.models.fetch import cache_dir

    key = f"{sha256_of(source)[:16]}-llama-cpp-python-{llama_cpp.__version__}"
    target = cache_dir() / "llm-requantized" / key / f"{source.stem}.{ftype}.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.allow_requantize = True
    params.nthread = N_THREADS
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    if not quiet:
        print(f"re-quantizing {source.name} to {ftype} with llama.cpp ...", file=sys.stderr)
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), params)
    if rc != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"llama_model_quantize({source.name} -> {ftype}) failed with {rc}")
    partial.replace(target)  # atomic: a concurrent builder or an interrupted one leaves no half file
    return target


def dump(reference: dict[str, Any]) -> str:
    """JSON with one line per tokenized string and per greedy run (diffable, not 40k lines)."""
    head = {k: v for k, v in reference.items() if k != "models"}
    models = []
    for name, entry in reference["models"].items():
        fields = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entry.items() if k not in ("tokenize", "greedy")]
        for k in ("tokenize", "greedy"):
            rows = ",\n".join(json.dumps(row, ensure_ascii=False) for row in entry.get(k, []))
            fields.append(f"{json.dumps(k)}: [\n{rows}\n]")
        models.append(f"{json.dumps(name)}: {{\n" + ",\n".join(fields) + "\n}")
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "models": {\n' + ",\n".join(models) + "\n}\n}\n"
    assert json.loads(text) == reference
    return text


def main(argv: list[str]) -> int:
    """Write REFERENCE for PYPI_MODELS from the llama.cpp this venv has."""
    import llama_cpp
    from zerowasm.models.llm import resolve_model

    out: dict[str, Any] = {
        "generator": "tests/llm_llama_cpp_reference.py",
        "source": f"llama.cpp (llama-cpp-python {llama_cpp.__version__}, CPU, {N_THREADS} threads)",
        "llama_cpp_python": llama_cpp.__version__,
        "n_greedy": N_GREEDY,
        "models": {},
    }
    for name in PYPI_MODELS:
        path = resolve_model(name)
        print(f"{name}: {path}", file=sys.stderr, flush=True)
        out["models"][name] = model_reference(path)
    REFERENCE.write_text(dump(out), encoding="utf-8")
    print(f"wrote {REFERENCE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
