"""The strict safetensors reader used to load MiniLM weights into guest memory."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from zerowasm.models.safetensors import SafetensorsError, SafetensorsFile


def write_file(path: Path, header: dict[str, Any] | bytes, data: bytes, header_len: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data)
    return path


def pack(arrays: dict[str, np.ndarray], dtypes: dict[str, str]) -> tuple[dict[str, Any], bytes]:
    header: dict[str, Any] = {"__metadata__": {"format": "np"}}
    data = b""
    for name, arr in arrays.items():
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[name], "shape": list(arr.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return header, data


def test_roundtrip_random(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    arrays = {
        "w": rng.standard_normal((7, 5)).astype(np.float32),
        "ids": rng.integers(-9, 9, (3, 2, 4)).astype(np.int64),
        "h": rng.standard_normal(9).astype(np.float16),
        "scalar": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    dtypes = {"w": "F32", "ids": "I64", "h": "F16", "scalar": "F64", "empty": "F32"}
    header, data = pack(arrays, dtypes)
    with SafetensorsFile(write_file(tmp_path / "a.safetensors", header, data)) as st:
        assert st.metadata == {"format": "np"}
        assert set(st.tensors) == set(arrays)
        for name, arr in arrays.items():
            got = st.read(name)
            assert got.shape == arr.shape and got.dtype == arr.dtype
            np.testing.assert_array_equal(got, arr)
        # read_into a raw byte buffer (how guest memory is filled)
        buf = bytearray(st.info("w").nbytes)
        st.read_into("w", buf)
        np.testing.assert_array_equal(np.frombuffer(buf, np.float32).reshape(7, 5), arrays["w"])
        with pytest.raises(ValueError, match="writable"):
            st.read_into("w", bytearray(3))
        with pytest.raises(ValueError, match="read-only"):
            st.read_into("w", bytes(140))
        with pytest.raises(KeyError):
            st.info("missing")


def test_agrees_with_reference_library(tmp_path: Path) -> None:
    st_numpy = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(3)
    arrays = {f"t{i}": rng.standard_normal((i + 1, 3)).astype(np.float32) for i in range(5)}
    path = tmp_path / "ref.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"k": "v"})
    with SafetensorsFile(path) as st:
        assert st.metadata == {"k": "v"}
        for name, arr in arrays.items():
            np.testing.assert_array_equal(st.read(name), arr)


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}}


@pytest.mark.parametrize("header,data,header_len,message", [
    (b"", b"", 0, "header length"),
    (GOOD, bytes(12), 10**9, "header length"),
    (b"not json", b"", None, "not JSON"),
    (b"\xff\xfe{}", b"", None, "not UTF-8"),
    (b"[1, 2]", b"", None, "not a JSON object"),
    (b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
     b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', bytes(4), None, "duplicate"),
    ({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, bytes(4), None, "unknown dtype"),
    ({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4), None, "shape"),
    ({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, bytes(4), None, "shape"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 8]}}, bytes(4), None, "outside"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, bytes(4), None, "outside"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4), None, "needs 8 bytes"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "extra": 1}}, bytes(4), None, "exactly"),
    ({"a": {"dtype": "F32", "shape": [1]}}, bytes(4), None, "exactly"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, bytes(8), None, "overlaps"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8), None, "hole"),
    (GOOD, bytes(13), None, "no tensor covers"),
    ({"__metadata__": {"k": 1}, **GOOD}, bytes(12), None, "__metadata__"),
])
def test_rejects_invalid_files(tmp_path: Path, header: Any, data: bytes, header_len: int | None,
                               message: str) -> None:
    path = write_file(tmp_path / "bad.safetensors", header, data, header_len)
    with pytest.raises(SafetensorsError, match=message):
        SafetensorsFile(path)


def test_rejects_truncated_files(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(b"\x01\x00")
    with pytest.raises(SafetensorsError, match="shorter"):
        SafetensorsFile(tmp_path / "short")
    good = write_file(tmp_path / "good", GOOD, bytes(12))
    with SafetensorsFile(good) as st:
        good.write_bytes(good.read_bytes()[:-6])  # shrinks under an open reader
        with pytest.raises(SafetensorsError, match="file ends inside"):
            st.read("b")


def test_real_model_header() -> None:
    from zerowasm.models import minilm

    try:
        path = minilm.model_dir(quiet=True) / "model.safetensors"
    except (RuntimeError, OSError) as e:
        pytest.skip(f"model files unavailable: {e}")
    with SafetensorsFile(path) as st:
        assert len(st.tensors) == 104
        for name, shape in minilm.weight_shapes():
            info = st.info(name)
            assert info.dtype == "F32" and info.shape == shape
