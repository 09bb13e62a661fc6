"""Shared inputs for the MiniLM tests: varied sentences and model loading helpers."""

from __future__ import annotations

import random

import pytest

HANDWRITTEN: list[str] = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's already 2024... isn't it?",
    "Prices rose 3.5% to $1,234.56 (up from €1,100) on 12/31/2023.",
    "E-mail me at john.doe@example.com or visit https://example.org/a?b=c&d=e#frag.",
    "Ünïcödé naïve café İstanbul résumé coöperate façade jalapeño",
    "Straße, Größe, ÆØÅ æøå, Œuvre, Ĳssel, ǅemal, ﬁnance ﬂow",
    "ΣΊΣΥΦΟΣ οδυσσεύς ΟΔΥΣΣΕΥΣ — Ελληνικά!",
    "Привет, как дела? Всё хорошо. ЁЖИК",
    "日本語のテキストを分割します。東京は晴れ。",
    "我爱自然语言处理，也喜欢机器学习！",
    "한국어 문장도 토큰화합니다. 안녕하세요?",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם! מה שלומך?",
    "हिन्दी में एक वाक्य। नमस्ते",
    "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "emoji 😀🥰👍🏽 and flags 🇫🇷🇯🇵 and family 👨‍👩‍👧",
    "Math: ∑ x_i ≤ ∞, ∫ f(x) dx ≈ 3.14159, √2 ≠ 1.41",
    "Quotes “curly” ‘single’ «guillemets» „low“ and dashes – — ―",
    "Tabs\tand\nnewlines\r\nand   multiple    spaces",
    "Zero\u200bwidth\u200dspace and soft\u00adhyphen and BOM\ufeff here",
    "Control\x00chars\x07in\x1bthe\x7ftext\u0085too",
    "Full-width ＡＢＣ １２３ ！？ and half-width ｶﾀｶﾅ",
    "Combining: e\u0301 a\u0300 o\u0308 n\u0303 and precomposed é à ö ñ",
    "hello [MASK] world [CLS] and [SEP][PAD][UNK] specials",
    "[mask] lower-case specials are not special; neither is [ MASK ]",
    "C++ code: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; }",
    "Python: print(f'{x!r:>10}') # comment",
    "JSON {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 99,
    "b" * 100,
    "c" * 101,
    "x" * 300 + " tail",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "",
    "   ",
    "\t\n",
    "!!!???...,,,;;;:::",
    "@#$%^&*()_+-=[]{}|\\:;\"'<>,.?/~`",
    "Ａ ¡ ¿ § ¶ • … ‰ ′ ″ ‹ › ※ ‼ ⁇ ⁈ ⁉",
    "Numbers: 0 1 12 123 1234 12345 123456 3.14 -42 1e10 0x1F 1,000,000",
    "Dates 2023-01-15T10:30:00Z and times 10:30am, 22h45",
    "Mixed scripts: Tokyo東京Seoul서울Moscowмосква",
    "Ligatures and compatibility: ﬀ ﬃ ㎏ ℃ № ™ ½ ² ⅷ",
    "Private use \ue000\uf8ff and noncharacters \ufdd0\uffff here",
    "Variation selectors ❤\ufe0f ☺\ufe0e and tags \U000e0041",
    "Ancient: 𐌰𐌱𐌲 𓀀𓀁 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝",
    "Rare CJK ext B: 𠀀𠀁𠜎 and compat 豈更車",
    "Vietnamese: Tiếng Việt có dấu rất nhiều: ắ ằ ẳ ẵ ặ",
    "Turkish dotless ı and dotted İ, Azeri Ə ə",
    "Lithuanian Ą̃ and Polish Żółć gęślą jaźń",
    "Icelandic Þ þ Ð ð and Old English ƿ ȝ",
    "Armenian Բարեւ, Georgian გამარჯობა, Ethiopic ሰላም",
    "Mongolian ᠮᠣᠩᠭᠣᠯ and Tibetan བོད་ཡིག",
    "The café's crème brûlée was très délicieux!",
    "Don't stop-believing; it's the well-known state-of-the-art.",
    "U.S.A. vs. U.K.: Mr. Smith & Dr. Jones, Ph.D.",
    "I'm gonna win!!! 🏆🏆🏆 #winning @everyone",
]

WORDS = [
    "the", "model", "embedding", "café", "naïve", "東京", "서울", "москва", "λόγος", "😀", "42", "3.14",
    "don't", "state-of-the-art", "e-mail", "[MASK]", "ﬁ", "Straße", "İ", "ΣΑΣ", "x" * 30, "¿qué?",
    "（括弧）", "﹏", "‿", "⁀", "\u0301", "\u200d", "\ufeff", "\t", "—", "…", "¡", "¥", "₹", "™",
    "Ⅻ", "①", "ꙮ", "ǆ", "ẞ", "ﬆ", "Å", "Ω", "K", "ſ", "ß", "ŉ", "ǰ", "ΐ",
]

# Code point ranges sampled for random text (every script family, symbols, marks, controls).
RANGES = [
    (0x20, 0x7E), (0x80, 0x24F), (0x250, 0x36F), (0x370, 0x52F), (0x530, 0x8FF), (0x900, 0xDFF),
    (0xE00, 0xFFF), (0x1000, 0x1FFF), (0x2000, 0x2BFF), (0x2C00, 0x2FFF), (0x3000, 0x33FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xABFF), (0xAC00, 0xD7FF), (0xE000, 0xF8FF),
    (0xF900, 0xFFFD), (0x10000, 0x1FFFF), (0x20000, 0x2FFFF), (0x30000, 0x3FFFF), (0xE0000, 0xE01EF),
]


def random_text(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 20)))
    if kind == 1:
        out = []
        for _ in range(rng.randrange(1, 60)):
            lo, hi = rng.choice(RANGES)
            out.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.2:
                out.append(" ")
        return "".join(out)
    return rng.choice(HANDWRITTEN) + rng.choice(["", " ", "... ", "\n"]) + rng.choice(WORDS)


def varied_sentences(n_random: int = 200, seed: int = 1234) -> list[str]:
    """Handwritten cases, long inputs that must be truncated, then seeded random texts."""
    rng = random.Random(seed)
    long_texts = [
        " ".join(HANDWRITTEN[:20]) * 3,                       # > 256 tokens
        "word " * 400,                                        # exactly-truncated repeated word
        "日本" * 300,                                          # one token per CJK char
        "a, " * 300,                                           # punctuation-heavy
        " ".join("supercalifragilistic" for _ in range(100)),  # many pieces per word
    ]
    return HANDWRITTEN + long_texts + [random_text(rng) for _ in range(n_random)]


def load_model(backend: str = "cpu"):  # noqa: ANN201 (MiniLM; imported lazily)
    """A MiniLM instance, skipping the test when the model files cannot be downloaded."""
    from zerowasm.models import minilm

    try:
        minilm.model_dir(quiet=True)
    except (RuntimeError, OSError) as e:
        pytest.skip(f"model files unavailable: {e}")
    return minilm.MiniLM(backend)
