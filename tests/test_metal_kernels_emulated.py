"""The Metal kernels, run on the CPU, against float64 numpy references.

No Apple GPU is needed: the CPU emulator (csrc/backend/metal/linux_check/
kernel_driver.cpp, built by the project's CMake: checks.cmake) compiles the
exact shader source the library embeds as C++ with a CPU implementation of
the Metal library subset the shaders use (one OS thread per GPU thread;
SIMD-group and threadgroup barriers are real barriers). It plans every op with
the executor's own encode plan (encode_plan.cpp) for the device limits given
here and runs that plan as is: the kernel it picks, its grid, threadgroup
shape, threadgroup memory and parameters. Each test runs under several device
limits (an Apple GPU; 16-wide simdgroups with the fewest threads and bytes the
tiles need; no SIMD-group matrices) and checks both the results and that the
plan kept within the limits. This checks the kernels' arithmetic, indexing,
masking, tiling, reductions and the dispatch geometry; it cannot check Metal
compilation or the Objective-C++ host code (see csrc/backend/metal/README.md).
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import metal_linux_checks as checks
import numpy as np
import pytest
from quant_blocks import BY_NAME, NEW_QTYPES, dequantize, random_rows

DTYPES = ["f32", "f16", "q8_0", "q4_1", *(q.name for q in NEW_QTYPES)]
# Dtype codes from the one ABI header, as a guest would pass them.
ABI = (checks.ROOT / "guest" / "include" / "zerowasm_abi.h").read_text()
DTYPE_CODE = {name.lower(): int(code) for name, code in re.findall(r"#define ZW_DTYPE_(\w+) (\d+)", ABI)}
assert set(DTYPES) <= set(DTYPE_CODE), DTYPE_CODE


@dataclass(frozen=True)
class Limits:
    """Device limits the plan is made for (the emulated pipelines all share them)."""

    name: str
    simd_width: int
    max_threads: int
    threadgroup_memory: int
    stride_groups: int  # the executor's cap on grid-stride threadgroups
    simdgroup_matrix: bool

    def args(self) -> list[str]:
        return [
            *("--simd-width", str(self.simd_width)),
            *("--max-threads", str(self.max_threads)),
            *("--threadgroup-memory", str(self.threadgroup_memory)),
            *("--stride-groups", str(self.stride_groups)),
            *("--simdgroup-matrix", str(int(self.simdgroup_matrix))),
        ]

    def simd_matmul(self) -> bool:
        return self.simdgroup_matrix and self.simd_width == 32 and self.max_threads >= 128


LIMITS = [
    Limits("apple", 32, 1024, 32768, 65535, True),  # what the executor sees on an Apple7+ GPU
    # 16-wide simdgroups, the fewest threads (128) and bytes (12 KiB) the matmul
    # tiles need; two stride groups, so grid-stride loops really loop.
    Limits("narrow", 16, 128, 12288, 2, True),
    Limits("no_simd_matrix", 32, 256, 16384, 2, False),
]
STRIDE_KERNELS = {"zwk_add", "zwk_mul", "zwk_scale", "zwk_gelu", "zwk_silu", "zwk_gelu_tanh", "zwk_to_f16", "zwk_rope"}


@dataclass(frozen=True)
class Plan:
    kernel: str
    groups: tuple[int, int, int]
    threads: int
    simd_width: int
    threadgroup_memory: int


@dataclass
class Driver:
    exe: Path
    limits: Limits
    plans: list[Plan] = field(default_factory=list)  # of the ops run so far


@pytest.fixture(scope="session")
def emulator() -> Path:
    return checks.program("zw_metal_kernel_driver")


@pytest.fixture(params=LIMITS, ids=lambda limits: limits.name)
def driver(request: pytest.FixtureRequest, emulator: Path) -> Driver:
    return Driver(emulator, request.param)


class Memory:
    """A stand-in linear memory: arrays laid out at aligned byte offsets."""

    def __init__(self) -> None:
        self.data = bytearray()

    def put(self, array: np.ndarray | bytes, align: int = 16) -> int:
        offset = -(-len(self.data) // align) * align
        self.data.extend(b"\0" * (offset - len(self.data)))
        self.data.extend(array.tobytes() if isinstance(array, np.ndarray) else array)
        return offset

    def reserve(self, count: int, dtype: type = np.float32) -> int:
        fill = np.full(count, np.nan, dtype=dtype)  # kernels must overwrite it
        return self.put(fill)


def parse_plan(stdout: str) -> Plan:
    m = re.search(
        r"kernel (\w+) groups (\d+) (\d+) (\d+) threads (\d+) simd_width (\d+) threadgroup_memory (\d+)", stdout
    )
    assert m is not None, stdout
    g = [int(x) for x in m.groups()[1:]]
    return Plan(m.group(1), (g[0], g[1], g[2]), g[3], g[4], g[5])


def launch(
    driver: Driver, tmp_path: Path, op: str, memory: Memory, numbers: tuple[float, ...]
) -> subprocess.CompletedProcess[str]:
    mem_file, out_file = tmp_path / "memory.bin", tmp_path / "out.bin"
    mem_file.write_bytes(bytes(memory.data))
    args = [repr(float(x)) if isinstance(x, float) else str(int(x)) for x in numbers]
    command = [str(driver.exe), *driver.limits.args(), op, str(mem_file), str(out_file), *args]
    return subprocess.run(command, capture_output=True, text=True)


def run(driver: Driver, tmp_path: Path, op: str, memory: Memory, *numbers: float) -> bytes:
    """Runs `op` as the executor would plan it for driver.limits; the memory after it."""
    done = launch(driver, tmp_path, op, memory, numbers)
    assert done.returncode == 0, done.stderr
    plan = parse_plan(done.stdout)
    limits = driver.limits
    # The plan stays within the device: whole simdgroups of the pipeline's
    # width, at most max_threads, threadgroup memory in 16-byte units under the cap.
    assert plan.simd_width == limits.simd_width
    assert 0 < plan.threads <= limits.max_threads and plan.threads % plan.simd_width == 0, plan
    assert plan.threadgroup_memory <= limits.threadgroup_memory and plan.threadgroup_memory % 16 == 0, plan
    if plan.kernel in STRIDE_KERNELS:
        assert plan.groups[0] <= limits.stride_groups, plan
    driver.plans.append(plan)
    return (tmp_path / "out.bin").read_bytes()


def run_refused(driver: Driver, tmp_path: Path, op: str, memory: Memory, *numbers: float) -> str:
    """Runs `op` whose plan the limits cannot run: the error message."""
    done = launch(driver, tmp_path, op, memory, numbers)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    return done.stderr


def view(out: bytes, offset: int, count: int, dtype: type = np.float32) -> np.ndarray:
    return np.frombuffer(out, dtype=dtype, count=count, offset=offset).astype(np.float64)


def close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ---- quantized weights (GGUF layouts) with independent float64 decoders -------------


def encode(dtype: str, values: np.ndarray, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """Weights [rows, cols] as raw bytes of `dtype`, and what they decode to (float64)."""
    rows, cols = values.shape
    if dtype == "f32":
        w = values.astype(np.float32)
        return w.tobytes(), w.astype(np.float64)
    if dtype == "f16":
        w = values.astype(np.float16)
        return w.tobytes(), w.astype(np.float64)
    if dtype in BY_NAME:  # random blocks, decoded by the gguf package
        raw = random_rows(BY_NAME[dtype], rows, cols, rng)
        return raw.tobytes(), dequantize(BY_NAME[dtype], raw, rows, cols).astype(np.float64)
    blocks = values.reshape(rows, cols // 32, 32)
    raw = bytearray()
    decoded = np.empty((rows, cols // 32, 32))
    for r in range(rows):
        for b in range(cols // 32):
            x = blocks[r, b]
            if dtype == "q8_0":
                d = np.float16(max(np.abs(x).max(), 1e-3) / 127)
                q = rng.integers(-127, 128, 32).astype(np.int8)
                raw += d.tobytes() + q.tobytes()
                decoded[r, b] = float(d) * q
            else:
                d = np.float16(rng.uniform(0.01, 0.1))
                m = np.float16(rng.uniform(-0.5, 0.5))
                q = rng.integers(0, 16, 32).astype(np.uint8)
                nibbles = (q[:16] | (q[16:] << 4)).astype(np.uint8)
                raw += d.tobytes() + m.tobytes() + nibbles.tobytes()
                decoded[r, b] = float(d) * q + float(m)
    return bytes(raw), decoded.reshape(rows, cols)


def row_length(dtype: str, cols: int) -> int:
    """`cols` rounded up to whole blocks of `dtype` (K-quants: 256-value super-blocks)."""
    block = BY_NAME[dtype].block_values if dtype in BY_NAME else 32
    return (cols + block - 1) // block * block


# ---- elementwise --------------------------------------------------------------------

erf = np.vectorize(math.erf)

UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu": lambda x: 0.5 * x * (1.0 + erf(x / math.sqrt(2.0))),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))),
    "scale": lambda x: -1.75 * x,
}


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("alias", [False, True])
def test_binary(driver: Driver, tmp_path: Path, op: str, alias: bool) -> None:
    rng = np.random.default_rng(1)
    n = 1000  # more than 2 threadgroups of 256: the grid-stride loop runs
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    mem = Memory()
    pa, pb = mem.put(a), mem.put(b)
    out = pa if alias else mem.reserve(n)
    got = view(run(driver, tmp_path, op, mem, pa, pb, out, n), out, n)
    expected = a.astype(np.float64) + b if op == "add" else a.astype(np.float64) * b
    close(got, expected, 1e-6, 1e-7)


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("alias", [False, True])
def test_unary(driver: Driver, tmp_path: Path, op: str, alias: bool) -> None:
    rng = np.random.default_rng(2)
    n = 777
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    x[:4] = [0.0, -30.0, 30.0, -100.0]  # tails: GELU/SiLU limits
    mem = Memory()
    px = mem.put(x)
    out = px if alias else mem.reserve(n)
    numbers: list[float] = [px, out, n] + ([-1.75] if op == "scale" else [])
    got = view(run(driver, tmp_path, op, mem, *numbers), out, n)
    close(got, UNARY[op](x.astype(np.float64)), 2e-6, 1e-6)


def test_to_f16(driver: Driver, tmp_path: Path) -> None:
    """zwk_to_f16: bit-exact binary16 (numpy's round to nearest even), ties and subnormals included."""
    rng = np.random.default_rng(3)
    n = 777
    x = (rng.standard_normal(n) * np.exp(rng.uniform(-20, 12, n))).astype(np.float32)
    x[:8] = [0.0, -0.0, 65520.0, 65519.99, 2.0**-25, 3 * 2.0**-26, 1.0 + 2.0**-11, -np.inf]
    mem = Memory()
    px = mem.put(x)
    out = mem.put(np.zeros(n, np.uint16), align=2) + 2  # 2 mod 4: binary16 needs 2-byte alignment only
    mem.data.extend(b"\0\0")
    got = run(driver, tmp_path, "to_f16", mem, px, out, n)
    assert np.array_equal(np.frombuffer(bytes(got[out:out + 2 * n]), np.uint16), x.astype(np.float16).view(np.uint16))


# ---- norms and softmax ----------------------------------------------------------------


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("cols", [7, 96, 384, 1000])
def test_norm(driver: Driver, tmp_path: Path, rms: bool, cols: int) -> None:
    rng = np.random.default_rng(cols)
    rows, eps = 5, 1e-5
    x = (rng.standard_normal((rows, cols)) * 3 + 2).astype(np.float32)
    gamma = rng.standard_normal(cols).astype(np.float32)
    beta = rng.standard_normal(cols).astype(np.float32)
    mem = Memory()
    px, pg, pb = mem.put(x), mem.put(gamma), mem.put(beta)
    out = mem.reserve(rows * cols)
    x64 = x.astype(np.float64)
    if rms:
        got = run(driver, tmp_path, "rmsnorm", mem, px, pg, out, rows, cols, eps)
        expected = x64 / np.sqrt((x64**2).mean(axis=1, keepdims=True) + eps) * gamma
    else:
        got = run(driver, tmp_path, "layernorm", mem, px, pg, pb, out, rows, cols, eps)
        mean = x64.mean(axis=1, keepdims=True)
        expected = (x64 - mean) / np.sqrt(x64.var(axis=1, keepdims=True) + eps) * gamma + beta
    close(view(got, out, rows * cols).reshape(rows, cols), expected, 1e-5, 1e-5)


def test_norm_in_place(driver: Driver, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows, cols = 3, 300
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    gamma = rng.standard_normal(cols).astype(np.float32)
    mem = Memory()
    px, pg = mem.put(x), mem.put(gamma)
    got = view(run(driver, tmp_path, "rmsnorm", mem, px, pg, px, rows, cols, 1e-6), px, rows * cols)
    x64 = x.astype(np.float64)
    expected = x64 / np.sqrt((x64**2).mean(axis=1, keepdims=True) + 1e-6) * gamma
    close(got.reshape(rows, cols), expected, 1e-5, 1e-6)


def softmax_reference(x: np.ndarray, scale: float, causal: bool) -> np.ndarray:
    rows, cols = x.shape
    out = np.zeros((rows, cols))
    for r in range(rows):
        keep = min(cols, r + cols - rows + 1) if causal else cols
        if keep <= 0:
            continue
        z = scale * x[r, :keep].astype(np.float64)
        e = np.exp(z - z.max())
        out[r, :keep] = e / e.sum()
    return out


@pytest.mark.parametrize(("rows", "cols"), [(4, 9), (6, 300), (9, 5), (1, 1000)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("alias", [False, True])
def test_softmax(driver: Driver, tmp_path: Path, rows: int, cols: int, causal: bool, alias: bool) -> None:
    rng = np.random.default_rng(rows * cols)
    x = (rng.standard_normal((rows, cols)) * 5).astype(np.float32)
    mem = Memory()
    px = mem.put(x)
    out = px if alias else mem.reserve(rows * cols)
    got = run(driver, tmp_path, "softmax", mem, px, out, rows, cols, 0.7, int(causal))
    close(view(got, out, rows * cols).reshape(rows, cols), softmax_reference(x, 0.7, causal), 1e-5, 1e-7)


# ---- rope ---------------------------------------------------------------------------------


def rope_reference(x: np.ndarray, pos0: int, theta: float, adjacent: bool,
                   factors: np.ndarray | None = None) -> np.ndarray:
    rows, heads, hd = x.shape
    out = x.astype(np.float64).copy()
    half = hd // 2
    for i in range(half):
        a, b = (2 * i, 2 * i + 1) if adjacent else (i, i + half)
        freq = theta ** (-2.0 * i / hd) / (1.0 if factors is None else float(factors[i]))
        angle = (pos0 + np.arange(rows, dtype=np.float64)) * freq
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        x0, x1 = x[:, :, a].astype(np.float64), x[:, :, b].astype(np.float64)
        out[:, :, a] = x0 * c - x1 * s
        out[:, :, b] = x0 * s + x1 * c
    return out


@pytest.mark.parametrize("adjacent", [False, True])
@pytest.mark.parametrize("pos0", [0, 4093, 200_000])
@pytest.mark.parametrize("alias", [False, True])
def test_rope(driver: Driver, tmp_path: Path, adjacent: bool, pos0: int, alias: bool) -> None:
    rng = np.random.default_rng(pos0 + adjacent)
    rows, heads, hd, theta = 6, 3, 64, 100000.0
    x = rng.standard_normal((rows, heads, hd)).astype(np.float32)
    mem = Memory()
    px = mem.put(x)
    out = px if alias else mem.reserve(x.size)
    got = run(driver, tmp_path, "rope", mem, px, out, rows, heads, hd, pos0, theta, int(adjacent))
    # The host's hi/lo frequency table keeps the angle accurate even far out.
    close(view(got, out, x.size).reshape(x.shape), rope_reference(x, pos0, theta, adjacent), 1e-5, 2e-6)


@pytest.mark.parametrize("pos0", [0, 4093, 200_000])
def test_rope_factors(driver: Driver, tmp_path: Path, pos0: int) -> None:
    """zw.rope_factors: the host's frequency pair divided by each factor in the kernel."""
    rng = np.random.default_rng(pos0 + 7)
    rows, heads, hd, theta = 5, 2, 64, 500000.0
    x = rng.standard_normal((rows, heads, hd)).astype(np.float32)
    factors = rng.uniform(1.0, 8.0, hd // 2).astype(np.float32)
    mem = Memory()
    px, pf = mem.put(x), mem.put(factors)
    out = mem.reserve(x.size)
    got = run(driver, tmp_path, "rope_factors", mem, px, out, rows, heads, hd, pos0, theta, 1, pf)
    ref = rope_reference(x, pos0, theta, True, factors)
    assert np.abs(ref - rope_reference(x, pos0, theta, True)).max() > 1e-2  # the factors matter
    close(view(got, out, x.size).reshape(x.shape), ref, 1e-5, 2e-6)


def test_rope_without_frequency_table(driver: Driver, tmp_path: Path) -> None:
    """Heads too large for the host's table (head_dim > 512) compute frequencies in float: fine near 0."""
    rng = np.random.default_rng(5)
    rows, heads, hd, theta = 4, 2, 520, 10000.0
    x = rng.standard_normal((rows, heads, hd)).astype(np.float32)
    mem = Memory()
    px, out = mem.put(x), mem.reserve(x.size)
    got = run(driver, tmp_path, "rope", mem, px, out, rows, heads, hd, 3, theta, 1)
    close(view(got, out, x.size).reshape(x.shape), rope_reference(x, 3, theta, True), 1e-5, 1e-5)


# ---- attention ----------------------------------------------------------------------------


def attention_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, causal: bool) -> np.ndarray:
    seq_q, heads, hd = q.shape
    seq_kv, kv_heads, _ = k.shape
    out = np.zeros((seq_q, heads, hd))
    for i in range(seq_q):
        visible = min(seq_kv, i + seq_kv - seq_q + 1) if causal else seq_kv
        if visible <= 0:
            continue
        for h in range(heads):
            kvh = h // (heads // kv_heads)
            s = scale * (k[:visible, kvh].astype(np.float64) @ q[i, h].astype(np.float64))
            w = np.exp(s - s.max())
            out[i, h] = (w / w.sum()) @ v[:visible, kvh].astype(np.float64)
    return out


@pytest.mark.parametrize(
    ("seq_q", "seq_kv", "heads", "kv_heads", "hd"),
    [
        (1, 70, 9, 3, 64),  # decode step with GQA, several simdgroups
        (5, 5, 4, 4, 32),  # prefill, one simdgroup
        (4, 40, 4, 2, 48),  # head_dim not a multiple of 32
        (7, 3, 2, 1, 16),  # more queries than keys: early rows see nothing when causal
    ],
)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kv_f16", [False, True])
def test_attention(
    driver: Driver, tmp_path: Path, seq_q: int, seq_kv: int, heads: int, kv_heads: int, hd: int, causal: bool,
    kv_f16: bool,
) -> None:
    rng = np.random.default_rng(seq_q * 100 + seq_kv)
    kv_type = np.float16 if kv_f16 else np.float32  # ZW_KV_F16 (flag 2): an f16 KV cache
    q = rng.standard_normal((seq_q, heads, hd)).astype(np.float32)
    k = rng.standard_normal((seq_kv, kv_heads, hd)).astype(kv_type)
    v = rng.standard_normal((seq_kv, kv_heads, hd)).astype(kv_type)
    scale = 1.0 / math.sqrt(hd)
    mem = Memory()
    pq, pk, pv, out = mem.put(q), mem.put(k), mem.put(v), mem.reserve(q.size)
    got = run(
        driver, tmp_path, "attention", mem, pq, pk, pv, out, seq_q, seq_kv, heads, kv_heads, hd, scale,
        int(causal) | (2 if kv_f16 else 0),
    )
    close(view(got, out, q.size).reshape(q.shape), attention_reference(q, k, v, scale, causal), 1e-5, 1e-6)


# ---- gather ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather(driver: Driver, tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(DTYPES.index(dtype))
    rows, dim = 11, row_length(dtype, 96)
    raw, table = encode(dtype, rng.standard_normal((rows, dim)), rng)
    # 7 and -1 stand for ids the guest rewrote after validation: zero rows.
    ids = np.array([3, 0, 10, 3, 7 + rows, -1], dtype=np.int32)
    mem = Memory()
    pt, pi, out = mem.put(raw), mem.put(ids), mem.reserve(ids.size * dim)
    got = run(driver, tmp_path, "gather", mem, DTYPE_CODE[dtype], pt, rows, pi, out, ids.size, dim)
    assert driver.plans[-1].kernel == f"zwk_gather_{dtype}"
    expected = np.array([table[i] if 0 <= i < rows else np.zeros(dim) for i in ids])
    close(view(got, out, ids.size * dim).reshape(ids.size, dim), expected, 1e-6, 1e-7)


# ---- matmul ---------------------------------------------------------------------------------


# The issue-16 block types share the kernels' code paths with Q8_0/Q4_1 and differ only
# in their decoders: one mat-vec and one tiled case each keeps the emulator's time down.
MATMUL_CASES = [(dtype, m, acc) for dtype in DTYPES for m in (1, 5, 9, 40) for acc in (False, True)
                if dtype not in BY_NAME or (m, acc) in ((1, True), (9, False))]


@pytest.mark.parametrize("dtype,m,accumulate", MATMUL_CASES)  # mat-vec up to 8 rows, tiles beyond
def test_matmul(driver: Driver, tmp_path: Path, dtype: str, m: int, accumulate: bool) -> None:
    rng = np.random.default_rng(m + DTYPES.index(dtype))
    n = 70  # not a multiple of the 64-column tile
    k = row_length(dtype, 96) if dtype.startswith("q") else 70  # f32/f16 rows need not fill the last 32-chunk
    a = rng.standard_normal((m, k)).astype(np.float32)
    raw, b = encode(dtype, rng.standard_normal((n, k)), rng)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    mem = Memory()
    pa, pb, pc = mem.put(a), mem.put(raw), mem.put(c0)
    got = run(driver, tmp_path, "matmul", mem, DTYPE_CODE[dtype], pa, pb, pc, m, n, k, int(accumulate))
    family = "matvec" if m <= 8 else "matmul_simd" if driver.limits.simd_matmul() else "matmul_tiled"
    assert driver.plans[-1].kernel == f"zwk_{family}_{dtype}"
    expected = a.astype(np.float64) @ b.T + (c0 if accumulate else 0.0)
    # Random-byte blocks give outputs of very different sizes: their error is measured
    # against the largest one (the op suite's max|got - ref| / max|ref|).
    atol = 1e-5 * float(np.abs(expected).max()) if dtype in BY_NAME else 1e-5
    close(view(got, pc, m * n).reshape(m, n), expected, 1e-5, atol)


# ---- the executor's caps, at the edges ------------------------------------------------------


def limited(emulator: Path, *, max_threads: int = 1024, threadgroup_memory: int = 32768) -> Driver:
    return Driver(emulator, Limits("edge", 32, max_threads, threadgroup_memory, 65535, True))


def attention_case(
    rng: np.random.Generator, seq_q: int, seq_kv: int, heads: int, kv_heads: int, hd: int
) -> tuple[Memory, list[float], Callable[[bytes], None]]:
    q = rng.standard_normal((seq_q, heads, hd)).astype(np.float32)
    k = rng.standard_normal((seq_kv, kv_heads, hd)).astype(np.float32)
    v = rng.standard_normal((seq_kv, kv_heads, hd)).astype(np.float32)
    scale = 1.0 / math.sqrt(hd)
    mem = Memory()
    pq, pk, pv, out = mem.put(q), mem.put(k), mem.put(v), mem.reserve(q.size)

    def check(got: bytes) -> None:
        close(view(got, out, q.size).reshape(q.shape), attention_reference(q, k, v, scale, True), 1e-5, 1e-6)

    return mem, [pq, pk, pv, out, seq_q, seq_kv, heads, kv_heads, hd, scale, 1], check


def test_attention_shares_less_when_threadgroup_memory_is_small(emulator: Path, tmp_path: Path) -> None:
    """seq_kv 70 wants 4 simdgroups; 1 KiB of threadgroup memory holds the accumulators of only 2."""
    driver = limited(emulator, threadgroup_memory=1024)
    mem, numbers, check = attention_case(np.random.default_rng(3), 1, 70, 9, 3, 64)
    check(run(driver, tmp_path, "attention", mem, *numbers))
    assert driver.plans[-1].threads == 2 * 32


def test_attention_refuses_a_head_the_threadgroup_memory_cannot_hold(emulator: Path, tmp_path: Path) -> None:
    mem, numbers, _ = attention_case(np.random.default_rng(4), 1, 8, 2, 2, 256)
    assert "threadgroup memory" in run_refused(
        limited(emulator, threadgroup_memory=1024), tmp_path, "attention", mem, *numbers
    )


def test_few_threads_per_threadgroup(emulator: Path, tmp_path: Path) -> None:
    """A 64-thread pipeline: mat-vec takes 2 simdgroups per threadgroup, norms 64 threads; tiles refuse."""
    driver = limited(emulator, max_threads=64)
    rng = np.random.default_rng(8)
    m, n, k = 5, 70, 64
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((n, k)).astype(np.float32)
    mem = Memory()
    pa, pb, pc = mem.put(a), mem.put(b), mem.reserve(m * n)
    got = run(driver, tmp_path, "matmul", mem, DTYPE_CODE["f32"], pa, pb, pc, m, n, k, 0)
    close(view(got, pc, m * n).reshape(m, n), a.astype(np.float64) @ b.T, 1e-5, 1e-5)
    assert driver.plans[-1].threads == 64 and driver.plans[-1].groups == (35, 1, 1)

    x, gamma = rng.standard_normal((3, 1000)).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
    mem = Memory()
    px, pg, out = mem.put(x), mem.put(gamma), mem.reserve(x.size)
    got = run(driver, tmp_path, "rmsnorm", mem, px, pg, out, 3, 1000, 1e-6)
    x64 = x.astype(np.float64)
    expected = x64 / np.sqrt((x64**2).mean(axis=1, keepdims=True) + 1e-6) * gamma
    close(view(got, out, x.size).reshape(x.shape), expected, 1e-5, 1e-6)
    assert driver.plans[-1].threads == 64

    mem = Memory()
    pa, pb, pc = mem.put(np.zeros((40, k), np.float32)), mem.put(b), mem.reserve(40 * n)
    message = run_refused(driver, tmp_path, "matmul", mem, DTYPE_CODE["f32"], pa, pb, pc, 40, n, k, 0)
    assert "threads per threadgroup" in message


def test_matmul_tiles_refuse_too_little_threadgroup_memory(emulator: Path, tmp_path: Path) -> None:
    mem = Memory()
    pa, pb, pc = mem.put(np.zeros((40, 64), np.float32)), mem.put(np.zeros((70, 64), np.float32)), mem.reserve(40 * 70)
    message = run_refused(
        limited(emulator, threadgroup_memory=8192),
        tmp_path,
        "matmul",
        mem,
        DTYPE_CODE["f32"],
        pa,
        pb,
        pc,
        40,
        70,
        64,
        0,
    )
    assert "threadgroup memory" in message
