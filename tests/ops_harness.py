"""A WAT guest that forwards raw arguments to every zw.* import, plus numpy
float64 references of ABI v1, so tests can drive each op with any argument
values (valid or hostile) straight from Python.

The signatures below restate the ABI independently of the C++ op table: a
change to either side makes the import check fail loudly.
"""

from __future__ import annotations

import numpy as np
import zerowasm

SIGNATURES: dict[str, str] = {
    "matmul": "iiiiiii",
    "add": "iiii",
    "mul": "iiii",
    "scale": "iiif",
    "gelu": "iii",
    "silu": "iii",
    "gelu_tanh": "iii",
    "to_f16": "iii",
    "layernorm": "iiiiiif",
    "rmsnorm": "iiiiif",
    "softmax": "iiiifi",
    "rope": "iiiiiifi",
    "rope_factors": "iiiiiifii",
    "attention": "iiiiiiiiifi",
    "gather": "iiiiiii",
    "sync": "",
    "prefetch": "iii",
    "advise": "iii",
}
WASM_TYPE = {"i": "i32", "f": "f32"}


def harness_wat(pages: int = 64, max_pages: int = 1024) -> str:
    imports, thunks = [], []
    for name, sig in SIGNATURES.items():
        params = " ".join(WASM_TYPE[c] for c in sig)
        imports.append(f'(import "zw" "{name}" (func $zw_{name} (param {params})))')
        locals_ = " ".join(f"(local.get {i})" for i in range(len(sig)))
        thunks.append(f'(func (export "{name}") (param {params}) (call $zw_{name} {locals_}))')
    return (
        "(module\n  "
        + "\n  ".join(imports)
        + f'\n  (memory (export "memory") {pages} {max_pages})\n  '
        + "\n  ".join(thunks)
        + ")"
    )


class Arena:
    """Bump allocator over an instance's memory for test tensors."""

    def __init__(self, inst: zerowasm.Instance, start: int = 1024) -> None:
        self.inst = inst
        self.top = start

    def alloc(self, nbytes: int, align: int = 64) -> int:
        off = (self.top + align - 1) // align * align
        self.top = off + nbytes
        if self.top > self.inst.memory.size:
            pages = (self.top - self.inst.memory.size + zerowasm.PAGE_SIZE - 1) // zerowasm.PAGE_SIZE
            if self.inst.memory.grow(pages) < 0:
                raise zerowasm.Error(f"cannot grow the guest's memory to {self.top} bytes")
        return off

    def put(self, array: np.ndarray) -> int:
        raw = np.ascontiguousarray(array)
        off = self.alloc(raw.nbytes)
        self.inst.memory.view(off, raw.nbytes)[:] = raw.view(np.uint8).ravel()
        return off

    def poisoned(self, shape: tuple[int, ...]) -> int:
        """f32 output buffer filled with NaN, so unwritten elements show."""
        return self.put(np.full(shape, np.nan, dtype=np.float32))

    def get(self, off: int, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        return self.inst.memory.view(off, shape, dtype).copy()


# ---- float64 references of ABI v1 ------------------------------------------


def erf(x: np.ndarray) -> np.ndarray:
    from math import erf as scalar_erf

    return np.vectorize(scalar_erf, otypes=[np.float64])(x)


def ref_gelu(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def ref_silu(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / (1.0 + np.exp(-x))


def ref_gelu_tanh(x: np.ndarray) -> np.ndarray:
    """The tanh approximation as written (GPT-2, Gemma): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = x.astype(np.float64)
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def ref_layernorm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    x = x.astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def ref_rmsnorm(x: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def causal_mask(rows: int, cols: int) -> np.ndarray:
    r = np.arange(rows)[:, None]
    c = np.arange(cols)[None, :]
    return c <= r + (cols - rows)


def ref_softmax(x: np.ndarray, scale: float, causal: bool) -> np.ndarray:
    z = x.astype(np.float64) * scale
    mask = causal_mask(*x.shape) if causal else np.ones(x.shape, bool)
    z = np.where(mask, z, -np.inf)
    out = np.zeros_like(z)
    for r in range(z.shape[0]):
        if mask[r].any():
            e = np.exp(z[r] - z[r][mask[r]].max())
            out[r] = np.where(mask[r], e, 0) / e[mask[r]].sum()
    return out


def ref_rope(x: np.ndarray, pos0: int, theta: float, adjacent: bool,
             factors: np.ndarray | None = None) -> np.ndarray:
    """float64 rotary embedding; factors (d/2) divide the frequencies (zw.rope_factors)."""
    rows, heads, d = x.shape
    x = x.astype(np.float64)
    pos = (pos0 + np.arange(rows, dtype=np.float64))[:, None, None]
    freq = theta ** (-2.0 * np.arange(d // 2, dtype=np.float64) / d)
    if factors is not None:
        freq = freq / factors.astype(np.float64)
    ang = pos * freq
    cos, sin = np.cos(ang), np.sin(ang)
    out = np.empty_like(x)
    if adjacent:
        a, b = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
    else:
        a, b = x[..., : d // 2], x[..., d // 2 :]
        out[..., : d // 2] = a * cos - b * sin
        out[..., d // 2 :] = a * sin + b * cos
    return out


def ref_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, causal: bool) -> np.ndarray:
    sq, h, d = q.shape
    skv, kvh, _ = k.shape
    group = h // kvh
    out = np.empty((sq, h, d))
    for head in range(h):
        kv = head // group
        s = q[:, head, :].astype(np.float64) @ k[:, kv, :].astype(np.float64).T
        p = ref_softmax(s, scale, causal)
        out[:, head, :] = p @ v[:, kv, :].astype(np.float64)
    return out


def rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(float(np.abs(ref).max()), 1e-30)
    return float(np.abs(got.astype(np.float64) - ref).max()) / scale
