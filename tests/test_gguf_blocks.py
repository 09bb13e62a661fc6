"""Quantized blocks are GGUF's own: tensors read from GGUF files, dequantized by zw.gather
and used by zw.matmul, give exactly what the `gguf` package's dequantizer gives.

Two files: one written here with GGUFWriter (random Q8_0/Q4_1/F16 tensors), and the real
SmolLM2-135M file (token_embd is Q8_0, the projections Q4_1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zerowasm
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter, quants
from ops_harness import Arena, harness_wat, rel_err

ZW_DTYPE = {GGMLQuantizationType.F16: 1, GGMLQuantizationType.Q8_0: 2, GGMLQuantizationType.Q4_1: 3}


@pytest.fixture(scope="module")
def inst() -> zerowasm.Instance:
    return zerowasm.Runtime("cpu").load(harness_wat()).instantiate(max_memory=512 * 2**20)


@pytest.fixture(scope="module")
def written_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "random.gguf"
    rng = np.random.default_rng(11)
    writer = GGUFWriter(str(path), "llama")
    for qtype, shape in [(GGMLQuantizationType.Q8_0, (37, 320)), (GGMLQuantizationType.Q4_1, (53, 256)),
                         (GGMLQuantizationType.F16, (19, 100))]:
        w = (rng.standard_normal(shape) * rng.uniform(0.01, 3.0, (shape[0], 1))).astype(np.float32)
        raw = w.astype(np.float16) if qtype == GGMLQuantizationType.F16 else quants.quantize(w, qtype)
        writer.add_tensor(f"t_{qtype.name}", raw, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def check_tensor(inst: zerowasm.Instance, tensor, rows_to_check: np.ndarray) -> None:  # noqa: ANN001
    qtype = GGMLQuantizationType(tensor.tensor_type)
    dim, rows = (int(x) for x in tensor.shape[:2])
    raw = np.ascontiguousarray(tensor.data).view(np.uint8)
    expected = quants.dequantize(raw, qtype).reshape(rows, dim).astype(np.float32)

    arena = Arena(inst)
    pt = arena.put(raw)  # the file's bytes as they are
    ids = rows_to_check.astype(np.int32)
    pi, po = arena.put(ids), arena.poisoned((len(ids), dim))
    inst.exports.gather(pt, rows, pi, po, len(ids), dim, ZW_DTYPE[qtype])
    got = arena.get(po, (len(ids), dim))
    assert np.array_equal(got, expected[ids]), f"{tensor.name}: dequantized values differ from gguf's"

    # zw.matmul on the same bytes against float64 on gguf's dequantized weights.
    rng = np.random.default_rng(len(ids))
    a = rng.standard_normal((3, dim)).astype(np.float32)
    pa, pc = arena.put(a), arena.poisoned((3, rows))
    inst.exports.matmul(pa, pt, pc, 3, rows, dim, ZW_DTYPE[qtype] << 8)
    ref = a.astype(np.float64) @ expected.astype(np.float64).T
    assert rel_err(arena.get(pc, (3, rows)), ref) <= 1e-5, tensor.name


def test_tensors_written_by_gguf(inst: zerowasm.Instance, written_gguf: Path) -> None:
    reader = GGUFReader(str(written_gguf))
    assert len(reader.tensors) == 3
    for tensor in reader.tensors:
        check_tensor(inst, tensor, np.arange(int(tensor.shape[1])))


def test_tensors_of_the_real_smollm_file(inst: zerowasm.Instance) -> None:
    from zerowasm.models.smollm import model_path

    reader = GGUFReader(str(model_path(quiet=True)))
    by_name = {t.name: t for t in reader.tensors}
    embd, proj = by_name["token_embd.weight"], by_name["blk.0.attn_q.weight"]
    assert GGMLQuantizationType(embd.tensor_type) == GGMLQuantizationType.Q8_0
    assert GGMLQuantizationType(proj.tensor_type) == GGMLQuantizationType.Q4_1
    rng = np.random.default_rng(5)
    check_tensor(inst, embd, rng.integers(0, int(embd.shape[1]), 64))
    check_tensor(inst, proj, np.arange(int(proj.shape[1])))
