"""Minimal, strict reader for the safetensors format (no torch, no copies).

Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping
tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets
relative to the byte buffer that follows the header) plus an optional
``"__metadata__"`` string map, then the byte buffer. Everything is validated
before any tensor is read: sizes must match dtype x shape, offsets must stay in
the file, and the tensors must tile the buffer exactly (no overlaps, no holes),
as the format requires.

Tensors are read with one ``readinto`` straight into a caller's buffer (for
zerowasm: a view of guest linear memory), so loading never materializes an
intermediate array. Data is little-endian, like Wasm memory, so bytes are
copied as they are.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Error

#: bytes per element of each safetensors dtype
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
#: numpy equivalents (little-endian) where numpy has one
NUMPY_DTYPES: dict[str, str] = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "F16": "<f2",
    "I32": "<i4", "U32": "<u4", "F32": "<f4", "I64": "<i8", "U64": "<u8", "F64": "<f8",
}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # same bound as the reference implementation


class SafetensorsError(Error, ValueError):
    """The file is not a valid safetensors file (message names the file and the problem).
    A zerowasm.Error, and a ValueError as before."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int  # absolute byte offset in the file
    nbytes: int


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise SafetensorsError(f"duplicate key {key!r} in header")
        out[key] = value
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_header(raw: bytes, file_size: int) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Validate a header (the bytes after the 8-byte length) against the file size."""
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError as e:
        raise SafetensorsError(f"header is not UTF-8: {e}") from None
    except json.JSONDecodeError as e:
        raise SafetensorsError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    data_start = 8 + len(raw)
    data_len = file_size - data_start
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SafetensorsError("__metadata__ must map strings to strings")
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        where = f"tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{where}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise SafetensorsError(f"{where}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise SafetensorsError(f"{where}: shape must be a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_len):
            raise SafetensorsError(
                f"{where}: data_offsets {offsets!r} outside the {data_len}-byte data buffer")
        nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
        if offsets[1] - offsets[0] != nbytes:
            raise SafetensorsError(
                f"{where}: {dtype}{shape} needs {nbytes} bytes, data_offsets span {offsets[1] - offsets[0]}")
        tensors[name] = TensorInfo(name, dtype, tuple(shape), data_start + offsets[0], nbytes)
    end = data_start
    for info in sorted(tensors.values(), key=lambda t: (t.offset, t.nbytes)):
        if info.offset != end:
            problem = "overlaps the previous tensor" if info.offset < end else "leaves a hole before it"
            raise SafetensorsError(f"tensor {info.name!r} {problem} (offset {info.offset}, expected {end})")
        end = info.offset + info.nbytes
    if end != file_size:
        raise SafetensorsError(f"data buffer has {file_size - end} bytes no tensor covers")
    return tensors, metadata


class SafetensorsFile:
    """An open, validated safetensors file. Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        # Unbuffered: tensors go straight from the OS into the destination, never via a buffer.
        self._file: io.FileIO = open(self.path, "rb", buffering=0)
        try:
            size = os.fstat(self._file.fileno()).st_size
            prefix = self._read_exact(8)
            if len(prefix) != 8:
                raise SafetensorsError("file is shorter than the 8-byte header length")
            header_len = int.from_bytes(prefix, "little")
            if header_len == 0 or header_len > min(MAX_HEADER_BYTES, size - 8):
                raise SafetensorsError(f"header length {header_len} is impossible for a {size}-byte file")
            raw = self._read_exact(header_len)
            if len(raw) != header_len:
                raise SafetensorsError("file ends inside the header")
            self.tensors, self.metadata = parse_header(raw, size)
        except SafetensorsError as e:
            self._file.close()
            raise SafetensorsError(f"{self.path}: {e}") from None
        except BaseException:
            self._file.close()
            raise

    def _read_exact(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self._file.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def info(self, name: str) -> TensorInfo:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    def read_into(self, name: str, out: Any) -> None:
        """Read tensor ``name``'s bytes into ``out`` (a writable buffer of exactly its size)."""
        info = self.info(name)
        view = memoryview(out)
        if view.readonly or view.nbytes != info.nbytes:
            raise ValueError(f"{name}: destination must be a writable {info.nbytes}-byte buffer, "
                             f"got {view.nbytes} bytes{' (read-only)' if view.readonly else ''}")
        if info.nbytes == 0:
            return
        view = view.cast("B")  # raises for non-contiguous destinations
        self._file.seek(info.offset)
        done = 0
        while done < info.nbytes:  # a regular file fills it in one call; loop only on short reads
            n = self._file.readinto(view[done:])
            if not n:
                raise SafetensorsError(f"{self.path}: file ends inside tensor {name!r}")
            done += n

    def read(self, name: str) -> np.ndarray:
        """Read one tensor into a new numpy array (for tests and tools)."""
        info = self.info(name)
        if info.dtype not in NUMPY_DTYPES:
            raise ValueError(f"{name}: numpy has no dtype for {info.dtype}")
        arr = np.empty(info.shape, dtype=np.dtype(NUMPY_DTYPES[info.dtype]))
        self.read_into(name, arr)
        return arr
