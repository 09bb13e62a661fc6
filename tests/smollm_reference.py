"""Independent numpy float64 reference for the SmolLM guest (llama architecture).

Weights come from the ``gguf`` PyPI package (its own GGUF reader and
dequantizers), not from anything the guest does. Q/K rows in GGUF files are
permuted so that RoPE rotates adjacent pairs (2i, 2i+1); the reference rotates
those pairs directly. Also builds an HF ``tokenizers`` BPE from the file's
vocabulary and merges, with SmolLM's pre-tokenizer, to check the guest's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


def _field_str(reader: Any, key: str) -> str:
    f = reader.fields[key]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def _field_scalar(reader: Any, key: str) -> float:
    f = reader.fields[key]
    return f.parts[f.data[0]].item()


def _field_strs(reader: Any, key: str) -> list[str]:
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


@dataclass
class Layer:
    attn_norm: np.ndarray
    wq: np.ndarray  # [q_dim, d]
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    ffn_norm: np.ndarray
    w_gate: np.ndarray
    w_up: np.ndarray
    w_down: np.ndarray


@dataclass
class ReferenceModel:
    n_head: int
    n_kv_head: int
    eps: float
    rope_base: float
    tok_embd: np.ndarray  # [vocab, d]
    out_norm: np.ndarray
    output: np.ndarray
    layers: list[Layer] = field(default_factory=list)

    @property
    def d_model(self) -> int:
        return int(self.tok_embd.shape[1])

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


def load_reference(path: str | Path, dtype: Any = np.float64) -> ReferenceModel:
    """Dequantize every tensor of a llama GGUF with the gguf package, as float64."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    arch = _field_str(reader, "general.architecture")
    tensors: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        # gguf returns shape [ne1, ne0] for 2-D tensors: rows are outputs (weight layout)
        tensors[t.name] = np.asarray(dequantize(t.data, t.tensor_type), dtype=dtype).reshape(
            [int(x) for x in reversed(t.shape)])
    n_layer = int(_field_scalar(reader, f"{arch}.block_count"))
    base_key = f"{arch}.rope.freq_base"
    model = ReferenceModel(
        n_head=int(_field_scalar(reader, f"{arch}.attention.head_count")),
        n_kv_head=int(_field_scalar(reader, f"{arch}.attention.head_count_kv")),
        eps=float(_field_scalar(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
        rope_base=float(_field_scalar(reader, base_key)) if base_key in reader.fields else 10000.0,
        tok_embd=tensors["token_embd.weight"],
        out_norm=tensors["output_norm.weight"],
        output=tensors.get("output.weight", tensors["token_embd.weight"]),
    )
    for i in range(n_layer):
        p = f"blk.{i}."
        model.layers.append(Layer(*(tensors[p + n + ".weight"] for n in (
            "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
            "ffn_down"))))
    return model


@functools.lru_cache(maxsize=2)
def cached_reference(path: str) -> ReferenceModel:
    """One dequantized copy per test session (the real model takes ~1 GB as float64)."""
    return load_reference(path)


def f16_cache(x: np.ndarray) -> np.ndarray:
    """x as an f16 KV cache stores it: rounded to binary16 (nearest even), read back exactly.
    Rounded from float32 as the guest does (it computes K/V in f32): rounding the float64
    value directly could land on the other side of a binary16 tie."""
    return x.astype(np.float32).astype(np.float16).astype(np.float64)


def _rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope_adjacent(x: np.ndarray, pos: np.ndarray, base: float) -> np.ndarray:
    """x: [seq, heads, head_dim]; rotates pairs (2i, 2i+1) by pos * base^(-2i/head_dim)."""
    hd = x.shape[-1]
    freqs = base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = pos[:, None].astype(np.float64) * freqs[None, :]  # [seq, hd/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out


class ReferenceSession:
    """One sequence's float64 KV cache; forward() runs new tokens and returns the last logits."""

    def __init__(self, model: ReferenceModel) -> None:
        self.m = model
        self.k: list[np.ndarray] = [np.zeros((0, model.n_kv_head, model.head_dim)) for _ in model.layers]
        self.v: list[np.ndarray] = [np.zeros((0, model.n_kv_head, model.head_dim)) for _ in model.layers]
        self.tokens: list[int] = []

    def forward(self, ids: list[int]) -> np.ndarray:
        return forward_many(self.m, [self], [ids])[0]

    def greedy(self, prompt: list[int], max_tokens: int, stop: set[int] | frozenset[int] = frozenset()) -> list[int]:
        return greedy_many(self.m, [self], [prompt], max_tokens, stop)[0][0]


def _attend(m: ReferenceModel, s: ReferenceSession, li: int, q: np.ndarray, k: np.ndarray, v: np.ndarray,
            pos: np.ndarray) -> np.ndarray:
    """Append k/v to s's cache of layer li (rounded to f16, as the guest's KV cache and
    llama.cpp's hold them); causal GQA attention of q over the cache."""
    s.k[li] = np.concatenate([s.k[li], f16_cache(k)])
    s.v[li] = np.concatenate([s.v[li], f16_cache(v)])
    rep = m.n_head // m.n_kv_head
    kk = np.repeat(s.k[li], rep, axis=1)  # [total, heads, hd]: query head h uses kv head h // rep
    vv = np.repeat(s.v[li], rep, axis=1)
    scores = np.einsum("qhd,khd->hqk", q, kk) / np.sqrt(m.head_dim)
    mask = np.arange(kk.shape[0])[None, :] > pos[:, None]  # key j is visible to query at pos p if j <= p
    scores = np.where(mask[None], -np.inf, scores)
    scores -= scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", p, vv).reshape(q.shape[0], -1)


def forward_many(m: ReferenceModel, sessions: list[ReferenceSession], new: list[list[int]]) -> list[np.ndarray]:
    """Run new tokens of several independent sequences at once (their rows share each
    weight pass, which is what costs); returns each sequence's last logits."""
    hd, nh, nkv = m.head_dim, m.n_head, m.n_kv_head
    bounds = np.cumsum([0] + [len(ids) for ids in new])
    pos = [np.arange(len(s.tokens), len(s.tokens) + len(ids)) for s, ids in zip(sessions, new)]
    x = m.tok_embd[np.concatenate([np.asarray(ids, dtype=np.int64) for ids in new])]
    for li, L in enumerate(m.layers):
        h = _rmsnorm(x, L.attn_norm, m.eps)
        q, k, v = h @ L.wq.T, h @ L.wk.T, h @ L.wv.T
        att = np.empty_like(q)
        for i, s in enumerate(sessions):
            a, b = bounds[i], bounds[i + 1]
            qi = _rope_adjacent(q[a:b].reshape(b - a, nh, hd), pos[i], m.rope_base)
            ki = _rope_adjacent(k[a:b].reshape(b - a, nkv, hd), pos[i], m.rope_base)
            att[a:b] = _attend(m, s, li, qi, ki, v[a:b].reshape(b - a, nkv, hd), pos[i])
        x = x + att @ L.wo.T
        h = _rmsnorm(x, L.ffn_norm, m.eps)
        g = h @ L.w_gate.T
        x = x + ((g / (1.0 + np.exp(-g))) * (h @ L.w_up.T)) @ L.w_down.T
    for s, ids in zip(sessions, new):
        s.tokens += list(ids)
    last = _rmsnorm(x[bounds[1:] - 1], m.out_norm, m.eps)
    return list(last @ m.output.T)


def greedy_many(m: ReferenceModel, sessions: list[ReferenceSession], prompts: list[list[int]], max_tokens: int,
                stop: set[int] | frozenset[int] = frozenset()) -> tuple[list[list[int]], list[np.ndarray]]:
    """Greedy decoding of several prompts in lockstep: (tokens of each, logits after each
    prompt). A sequence that emits a stop token stops there."""
    outs: list[list[int]] = [[] for _ in prompts]
    logits = forward_many(m, sessions, prompts)
    first = list(logits)
    active = list(range(len(prompts)))
    while active:
        nxt = []
        for j, i in enumerate(active):
            t = int(np.argmax(logits[j]))
            outs[i].append(t)
            if t not in stop and len(outs[i]) < max_tokens:
                nxt.append(i)
        active = nxt
        if active:
            logits = forward_many(m, [sessions[i] for i in active], [[outs[i][-1]] for i in active])
    return outs, first


def hf_tokenizer(path: str | Path) -> Any:
    """HF ``tokenizers`` BPE built from the GGUF vocabulary and merges with SmolLM's
    pre-tokenizer (Digits(individual_digits) + ByteLevel), special tokens added."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    reader = GGUFReader(str(path))
    tokens = _field_strs(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in _field_strs(reader, "tokenizer.ggml.merges")]
    types = reader.fields["tokenizer.ggml.token_type"]
    ttype = [int(types.parts[i][0]) for i in types.data]
    vocab = {t: i for i, t in reversed(list(enumerate(tokens)))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i in range(len(tokens)) if ttype[i] in (3, 4)])
    return tok


# ------------------------------------------------------------------ a tiny synthetic model

SMOLLM_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TINY_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"),
               ("Ġ", "c"), ("a", "t"), ("Ġc", "at"), ("Ġ", "s"), ("i", "s"), ("Ġ", "is"), ("u", "s"),
               ("e", "r"), ("Ċ", "Ċ"), ("Ġ", "Ġ"), ("ĠĠ", "ĠĠ"), ("'", "s"), ("Ã", "©")]


def byte_chars() -> list[str]:
    """GPT-2's byte -> printable character map, in byte order."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def tiny_vocab(merges_of: list[tuple[str, str]] | None = None, extra_tokens: list[str] | None = None
               ) -> tuple[list[str], list[str]]:
    """Tokens and merges of a tiny byte-level vocabulary: TINY_SPECIALS, the 256 byte symbols, one
    token per merge (merges_of, TINY_MERGES by default), then extra_tokens (reached by no merge)."""
    tokens = list(TINY_SPECIALS) + byte_chars()
    merges = []
    for a, b in merges_of or TINY_MERGES:
        if a + b not in tokens:
            tokens.append(a + b)
        merges.append(f"{a} {b}")
    tokens += [t for t in extra_tokens or [] if t not in tokens]
    return tokens, merges


def add_tiny_tokenizer(w: Any, tokens: list[str], merges: list[str], pre: str = "smollm") -> None:
    """The byte-level BPE tokenizer metadata of a tiny vocabulary (tiny_vocab) to GGUFWriter w."""
    from gguf import TokenType

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    n_special = len(TINY_SPECIALS)
    w.add_token_types([TokenType.CONTROL] * n_special + [TokenType.NORMAL] * (len(tokens) - n_special))
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template(SMOLLM_CHAT_TEMPLATE)


def write_tiny_gguf(path: str | Path, *, seed: int = 0, d_model: int = 64, n_layer: int = 2, n_head: int = 4,
                    n_kv_head: int = 2, d_ff: int = 128, n_ctx: int = 512, tied: bool = True) -> Path:
    """A llama GGUF shaped like SmolLM (Q4_1 blocks, Q8_0 tied embedding, f32 norms,
    smollm byte-level tokenizer) with random weights: seconds to test, nothing to download.
    tied=False adds a separate output.weight (random logits instead of an echo of the input)."""
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFWriter
    from gguf.quants import quantize

    rng = np.random.default_rng(seed)
    tokens, merges = tiny_vocab()
    vocab = len(tokens)
    w = GGUFWriter(str(path), "llama")
    w.add_block_count(n_layer)
    w.add_context_length(n_ctx)
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(d_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(d_model // n_head)
    w.add_vocab_size(vocab)
    add_tiny_tokenizer(w, tokens, merges)

    def add(name: str, rows: int, cols: int, qtype: Any, scale: float) -> None:
        data = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        w.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)

    q_dim, kv_dim = d_model, d_model // n_head * n_kv_head
    add("token_embd.weight", vocab, d_model, Q.Q8_0, 1.0)
    w.add_tensor("output_norm.weight", (1.0 + 0.1 * rng.standard_normal(d_model)).astype(np.float32))
    if not tied:
        add("output.weight", vocab, d_model, Q.Q8_0, 0.5)
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", (1.0 + 0.1 * rng.standard_normal(d_model)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", (1.0 + 0.1 * rng.standard_normal(d_model)).astype(np.float32))
        s = 1.0 / np.sqrt(d_model)
        add(p + "attn_q.weight", q_dim, d_model, Q.Q4_1, s * 2)
        add(p + "attn_k.weight", kv_dim, d_model, Q.Q4_1, s * 2)
        add(p + "attn_v.weight", kv_dim, d_model, Q.Q4_1, s)
        add(p + "attn_output.weight", d_model, q_dim, Q.Q4_1, s)
        add(p + "ffn_gate.weight", d_ff, d_model, Q.Q4_1, s)
        add(p + "ffn_up.weight", d_ff, d_model, Q.Q4_1, s)
        add(p + "ffn_down.weight", d_model, d_ff, Q.Q4_1, 1.0 / np.sqrt(d_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)
