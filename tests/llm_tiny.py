"""Tiny synthetic GGUF files for every architecture the llm guest runs (llama, qwen2,
gemma3), and an independent numpy float64 forward pass written from the architectures'
definitions (HF transformers / llama.cpp graphs), on weights dequantized by the ``gguf``
package. Seconds to run, nothing to download; gemma3 files get a small sliding window so
the local/global layer logic is exercised at short lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from smollm_reference import add_tiny_tokenizer, f16_cache, tiny_vocab

ARCHS = ("llama", "qwen2", "gemma3")


@dataclass
class TinyModel:
    arch: str
    n_head: int
    n_kv_head: int
    head_dim: int
    eps: float
    rope_base: float
    window: int
    t: dict[str, np.ndarray] = field(default_factory=dict)  # name -> float64, [rows, cols] as numpy sees GGUF
    n_layer: int = 0


def write_tiny(path: str | Path, arch: str, *, seed: int = 0, d_model: int = 64, n_layer: int = 2, n_head: int = 4,
               n_kv_head: int = 2, head_dim: int | None = None, d_ff: int = 128, window: int = 8,
               qtype: Any = None, extra_kv: dict[str, Any] | None = None, pre: str = "smollm",
               merges_of: list[tuple[str, str]] | None = None, extra_tokens: list[str] | None = None,
               rope_factors: bool = False) -> TinyModel:
    """Write a random-weight GGUF of arch; returns the float64 weights the reference uses.

    pre: tokenizer.ggml.pre; merges_of: the BPE merges (byte-level strings), TINY_MERGES by default;
    extra_tokens: more tokens (byte-level strings) that no merge makes; rope_factors: a
    rope_freqs.weight tensor (Llama 3.1+), here random divisors in [1, 8] of every frequency but
    the first, so they change the rotation within a short prompt."""
    from gguf import GGML_QUANT_SIZES, GGUFWriter
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import dequantize, quantize

    qtype = Q.Q8_0 if qtype is None else qtype
    rng = np.random.default_rng(seed)
    hd = head_dim or d_model // n_head
    tokens, merges = tiny_vocab(merges_of, extra_tokens)
    vocab = len(tokens)
    w = GGUFWriter(str(path), arch)
    w.add_block_count(n_layer)
    w.add_context_length(4096)
    w.add_embedding_length(d_model)
    w.add_feed_forward_length(d_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv_head)
    rope_base = 1e6 if arch == "gemma3" else 10000.0
    w.add_rope_freq_base(rope_base)
    w.add_layer_norm_rms_eps(1e-6 if arch == "gemma3" else 1e-5)
    if head_dim:
        w.add_key_length(hd)
        w.add_value_length(hd)
    if arch == "gemma3":
        w.add_sliding_window(window)
    add_tiny_tokenizer(w, tokens, merges, pre)
    for key, value in (extra_kv or {}).items():
        w.add_string(key, value)
    m = TinyModel(arch, n_head, n_kv_head, hd, 1e-6 if arch == "gemma3" else 1e-5, rope_base,
                  window if arch == "gemma3" else 0, n_layer=n_layer)

    def add(name: str, rows: int, cols: int, scale: float, qt: Any = qtype) -> None:
        data = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        try:
            raw = quantize(data, qt)
        except NotImplementedError:  # a type gguf cannot write (tests of refusals): random blocks
            block, nbytes = GGML_QUANT_SIZES[qt]
            raw = rng.integers(0, 256, (rows, cols // block * nbytes), dtype=np.uint8)
            w.add_tensor(name, raw, raw_dtype=qt)
            return
        w.add_tensor(name, raw, raw_dtype=qt)
        m.t[name] = dequantize(raw, qt).reshape(rows, cols).astype(np.float64)

    def vec(name: str, n: int, center: float, scale: float) -> None:
        data = (center + scale * rng.standard_normal(n)).astype(np.float32)
        w.add_tensor(name, data)
        m.t[name] = data.astype(np.float64)

    q_dim, kv_dim = n_head * hd, n_kv_head * hd
    if rope_factors:
        factors = np.concatenate([[1.0], rng.uniform(1.0, 8.0, hd // 2 - 1)]).astype(np.float32)
        w.add_tensor("rope_freqs.weight", factors)
        m.t["rope_freqs.weight"] = factors.astype(np.float64)
    add("token_embd.weight", vocab, d_model, 1.0, Q.Q8_0)
    vec("output_norm.weight", d_model, 1.0, 0.1)
    s = 1.0 / np.sqrt(d_model)
    for i in range(n_layer):
        p = f"blk.{i}."
        vec(p + "attn_norm.weight", d_model, 1.0, 0.1)
        vec(p + "ffn_norm.weight", d_model, 1.0, 0.1)
        add(p + "attn_q.weight", q_dim, d_model, s * 2)
        add(p + "attn_k.weight", kv_dim, d_model, s * 2)
        add(p + "attn_v.weight", kv_dim, d_model, s)
        add(p + "attn_output.weight", d_model, q_dim, s)
        add(p + "ffn_gate.weight", d_ff, d_model, s)
        add(p + "ffn_up.weight", d_ff, d_model, s)
        add(p + "ffn_down.weight", d_model, d_ff, 1.0 / np.sqrt(d_ff))
        if arch == "qwen2":
            vec(p + "attn_q.bias", q_dim, 0.0, 0.5)
            vec(p + "attn_k.bias", kv_dim, 0.0, 0.5)
            vec(p + "attn_v.bias", kv_dim, 0.0, 0.5)
        if arch == "gemma3":
            vec(p + "post_attention_norm.weight", d_model, 1.0, 0.1)
            vec(p + "post_ffw_norm.weight", d_model, 1.0, 0.1)
            vec(p + "attn_q_norm.weight", hd, 1.0, 0.1)
            vec(p + "attn_k_norm.weight", hd, 1.0, 0.1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return m


def _rms(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x: np.ndarray, pos: np.ndarray, base: float, adjacent: bool,
          factors: np.ndarray | None = None) -> np.ndarray:
    """x: [T, heads, hd]. adjacent: rotate pairs (2i, 2i+1) (GGUF llama); else (i, i + hd/2).
    factors: rope_freqs.weight, which divides frequency i (llama.cpp's freq_factors)."""
    hd = x.shape[-1]
    inv = base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    if factors is not None:
        inv = inv / factors
    ang = pos[:, None, None] * inv[None, None, :]
    cos, sin = np.cos(ang), np.sin(ang)
    if adjacent:
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out
    a, b = x[..., : hd // 2], x[..., hd // 2:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def load_gguf(path: str | Path) -> TinyModel:
    """A real file's weights, dequantized by the gguf package (float64; the embedding float32)."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    r = GGUFReader(str(path))
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()

    def scalar(key: str, default: Any = None) -> Any:
        f = r.fields.get(f"{arch}.{key}")
        return default if f is None else f.parts[f.data[0]].item()

    n_head = int(scalar("attention.head_count"))
    d_model = int(scalar("embedding_length"))
    m = TinyModel(arch, n_head, int(scalar("attention.head_count_kv", n_head)),
                  int(scalar("attention.key_length", d_model // n_head)),
                  float(scalar("attention.layer_norm_rms_epsilon")), float(scalar("rope.freq_base", 10000.0)),
                  int(scalar("attention.sliding_window", 0)) if arch == "gemma3" else 0,
                  n_layer=int(scalar("block_count")))
    for t in r.tensors:
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))  # numpy order: rows first
        w = dequantize(t.data, t.tensor_type).reshape(shape)
        m.t[t.name] = w.astype(np.float32 if t.name == "token_embd.weight" else np.float64)
    return m


def reference_logits(m: TinyModel, ids: list[int], last_only: bool = False, rows_from: int = 0) -> np.ndarray:
    """Logits [T, vocab] of the whole sequence (no cache), float64 (last_only: [1, vocab];
    rows_from: only the positions from there on, [T - rows_from, vocab])."""
    t = m.t
    T = len(ids)
    gemma = m.arch == "gemma3"
    x = t["token_embd.weight"][ids].astype(np.float64)
    if gemma:
        x = x * np.sqrt(x.shape[1])
    pos = np.arange(T, dtype=np.float64)
    H, KVH, hd = m.n_head, m.n_kv_head, m.head_dim
    for i in range(m.n_layer):
        p = f"blk.{i}."
        local = gemma and i % 6 != 5
        base = 10000.0 if local else m.rope_base
        h = _rms(x, t[p + "attn_norm.weight"], m.eps)
        q = h @ t[p + "attn_q.weight"].T
        k = h @ t[p + "attn_k.weight"].T
        v = h @ t[p + "attn_v.weight"].T
        if m.arch == "qwen2":
            q, k, v = q + t[p + "attn_q.bias"], k + t[p + "attn_k.bias"], v + t[p + "attn_v.bias"]
        q, k, v = q.reshape(T, H, hd), k.reshape(T, KVH, hd), v.reshape(T, KVH, hd)
        if gemma:
            q, k = _rms(q, t[p + "attn_q_norm.weight"], m.eps), _rms(k, t[p + "attn_k_norm.weight"], m.eps)
        adjacent, factors = m.arch == "llama", t.get("rope_freqs.weight")
        q, k = _rope(q, pos, base, adjacent, factors), _rope(k, pos, base, adjacent, factors)
        k, v = f16_cache(k), f16_cache(v)  # the KV cache holds binary16
        mask = np.tril(np.ones((T, T), bool))
        if local:
            mask &= (pos[:, None] - pos[None, :]) < m.window
        out = np.empty((T, H, hd))
        for hh in range(H):
            kv = hh // (H // KVH)
            s = q[:, hh] @ k[:, kv].T / np.sqrt(hd)
            s = np.where(mask, s, -np.inf)
            s = np.exp(s - s.max(axis=1, keepdims=True))
            out[:, hh] = (s / s.sum(axis=1, keepdims=True)) @ v[:, kv]
        o = out.reshape(T, H * hd) @ t[p + "attn_output.weight"].T
        x = x + (_rms(o, t[p + "post_attention_norm.weight"], m.eps) if gemma else o)
        h = _rms(x, t[p + "ffn_norm.weight"], m.eps)
        g, u = h @ t[p + "ffn_gate.weight"].T, h @ t[p + "ffn_up.weight"].T
        a = (_gelu_tanh(g) if gemma else g / (1.0 + np.exp(-g))) * u
        d = a @ t[p + "ffn_down.weight"].T
        x = x + (_rms(d, t[p + "post_ffw_norm.weight"], m.eps) if gemma else d)
    h = _rms(x[-1:] if last_only else x[rows_from:], t["output_norm.weight"], m.eps)
    out = t.get("output.weight", t["token_embd.weight"])
    step = 16384  # rows of the output matrix converted to float64 at a time
    return np.concatenate([h @ out[i:i + step].astype(np.float64).T for i in range(0, out.shape[0], step)], axis=1)


def reference_greedy(m: TinyModel, prompt: list[int], n: int) -> list[int]:
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(np.argmax(reference_logits(m, ids, last_only=True)[-1])))
    return ids[len(prompt):]


def hf_spm_tokenizer(path: str | Path) -> Any:
    """An HF ``tokenizers`` BPE equivalent of a GGUF SentencePiece vocabulary (as HF's own
    Llama/Gemma converters build it): merges extracted from the vocabulary and ordered by
    the merged piece's score, byte fallback, spaces as U+2581, control tokens as special
    added tokens and user-defined ones as plain added tokens (both split out first).
    ``encode_special_tokens = True`` on it stops control tokens from being parsed."""
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, models, normalizers

    r = GGUFReader(str(path))
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    f = r.fields["tokenizer.ggml.scores"]
    scores = [float(f.parts[i][0]) for i in f.data]
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    for piece, i in vocab.items():
        if types[i] != 1:
            continue
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
        merges.extend((lr, scores[i]) for lr in local)
    merges.sort(key=lambda m: -m[1])  # stable: ties keep vocabulary order
    unk = next((t for t, ty in zip(tokens, types) if ty == 2), None)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[m for m, _ in merges], byte_fallback=True, unk_token=unk,
                               fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types)
                            if ty in (2, 3) and t])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4])
    return tok
