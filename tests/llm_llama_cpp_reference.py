"""Reference answers for the llm guest on the real GGUF files, committed as
tests/llm_reference.json so the tests need neither llama-cpp-python (a 5-15 minute sdist
build on 2 cores) nor minutes of building references. Regenerate (project venv):

    python tests/llm_llama_cpp_reference.py                 # all from llama.cpp (pip install llama-cpp-python)
    python tests/llm_llama_cpp_reference.py --hf-tokenize   # tokenizer ids from HF tokenizers
    python tests/llm_llama_cpp_reference.py --numpy         # greedy tokens from the numpy float64 decoder

Per model: the ids of every string in STRINGS (without bos; special tokens parsed and
not), and for PROMPTS[:5] the prompt ids (bos as the file asks) and 32 greedy tokens
(argmax of the logits, fed back). "tokenize_source" / "greedy_source" say who wrote them.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).with_name("llm_reference.json")
N_GREEDY = 32
MODEL_NAMES = ("gemma3-270m", "smollm2-135m")

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
]

# Pieces random strings are made of: words, scripts, whitespace runs, digits, symbols, tokens.
PIECES = [
    "the", "The", " of", " and", "ing", "tion", " un", "believ", "able", "Hello", " world", "Paris", "x", "Q",
    " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", "0", "7", "42", "1999", "3.14", "-", "_", ".", ",", "!",
    "?", "'", "\"", "(", ")", "{", "}", "[", "]", "<", ">", "/", "\\", "#", "@", "$", "%", "&", "*", "+", "=",
    "é", "ü", "ñ", "ß", "Ö", "日本", "語", "中文", "한국", "Привет", "мир", "مرحبا", "שלום", "हिन्दी", "ไทย",
    "😀", "👍🏽", "🇫🇷", "∑", "∞", "½", "①", "\u200b", "\u00a0", "\u3000", "▁", "<|im_end|>", "<end_of_turn>",
    "<start_of_turn>", "<eos>", "<bos>", "<|endoftext|>", "'s", "'ll", "n't", "http://", ".com",
]


def strings() -> list[str]:
    """HAND_WRITTEN plus seeded random compositions of PIECES: >= 200 varied strings."""
    rng = random.Random(16)
    out = list(HAND_WRITTEN)
    while len(out) < 220:
        out.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 24))))
    return out


def llama_cpp_tokenize(llm: Any, text: str, special: bool) -> list[int]:
    return [int(t) for t in llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)]


def llama_cpp_greedy(llm: Any, prompt_ids: list[int], n: int) -> list[int]:
    """n greedy tokens: argmax of llama.cpp's last-token logits, fed back one at a time."""
    llm.reset()
    llm.eval(prompt_ids)
    out = []
    for _ in range(n):
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        tok = int(np.argmax(logits))
        out.append(tok)
        llm.eval([tok])
    return out


def open_llama_cpp(path: str, vocab_only: bool = False) -> Any:
    import llama_cpp

    return llama_cpp.Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=2, n_threads_batch=2,
                           vocab_only=vocab_only, verbose=False)


def model_reference(path: str) -> dict[str, Any]:
    llm = open_llama_cpp(path)
    tokenize = [[s, llama_cpp_tokenize(llm, s, False), llama_cpp_tokenize(llm, s, True)] for s in strings()]
    greedy = []
    for prompt in PROMPTS[:5]:
        ids = [int(t) for t in llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)]
        greedy.append({"prompt": prompt, "prompt_ids": ids, "tokens": llama_cpp_greedy(llm, ids, N_GREEDY)})
    return {"tokenize": tokenize, "greedy": greedy}


def numpy_model_reference(path: str, prompt_ids: dict[str, list[int]]) -> dict[str, Any]:
    from llm_tiny import load_gguf, reference_greedy

    m = load_gguf(path)
    greedy = []
    for prompt in PROMPTS[:5]:
        ids = prompt_ids[prompt]
        greedy.append({"prompt": prompt, "prompt_ids": ids, "tokens": reference_greedy(m, ids, N_GREEDY)})
        print(f"  {prompt!r}: {greedy[-1]['tokens']}", file=sys.stderr, flush=True)
    return {"greedy": greedy}


def hf_tokenize_reference(name: str, path: str) -> list[list[Any]]:
    """[text, ids, ids with special tokens parsed] by HF tokenizers built from the file's vocabulary."""
    from llm_tiny import hf_spm_tokenizer
    from smollm_reference import hf_tokenizer

    hf = hf_spm_tokenizer(path) if name == "gemma3-270m" else hf_tokenizer(path)
    out = []
    for text in strings():
        row: list[Any] = [text]
        for special in (False, True):
            hf.encode_special_tokens = not special  # True: control tokens stay text
            row.append(hf.encode(text, add_special_tokens=False).ids)
        out.append(row)
    return out


def main(argv: list[str]) -> int:
    """No option: everything from llama.cpp. --numpy: greedy tokens from the numpy decoder.
    --hf-tokenize: tokenizer ids from HF tokenizers. Sections not asked for are kept."""
    from zerowasm.models.llm import LLM, resolve_model  # the installed zerowasm (scripts/test.sh's venv)

    out: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8")) if REFERENCE.is_file() else {}
    out.setdefault("models", {})
    for name in MODEL_NAMES:
        path = str(resolve_model(name))
        entry = out["models"].setdefault(name, {})
        print(f"{name}: {path}", file=sys.stderr)
        if "--hf-tokenize" in argv:
            entry["tokenize"] = hf_tokenize_reference(name, path)
            entry["tokenize_source"] = "HF tokenizers built from the file's vocabulary (tests/llm_tiny.py, " \
                                       "tests/smollm_reference.py)"
        if "--numpy" in argv:  # prompt ids from the guest's tokenizer (checked against the references on their own)
            tok = LLM(path, backend="cpu", vocab_only=True)
            bos = [tok.info["bos"]] if tok.info["add_bos"] else []
            ids = {p: bos + tok.tokenize(p, special=True) for p in PROMPTS}
            entry.update(numpy_model_reference(path, ids))
            entry["greedy_source"] = "numpy float64 decoder (tests/llm_tiny.py) on gguf-dequantized weights"
        if not argv:
            import llama_cpp

            entry.update(model_reference(path))
            entry["tokenize_source"] = entry["greedy_source"] = f"llama.cpp (llama-cpp-python {llama_cpp.__version__})"
        REFERENCE.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {REFERENCE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
