"""Arrow over guest memory, both ways, without copies where the platform allows.

Out: :func:`array` / :func:`record_batch` wrap guest regions as ``pyarrow`` arrays whose
buffers *are* the guest's bytes (``pa.foreign_buffer`` with the memory as base, so the
instance lives as long as the arrays). In: :func:`read_ipc_file` puts an Arrow IPC file into
guest memory (mapped copy-on-write where the backend allows, else one read) and opens it
there, so every column buffer already lies in the guest; :func:`place_record_batch` copies a
batch's columns into one guest allocation in one pass (structure of arrays). Either way
:func:`guest_offset` gives the guest pointer of a column's values for a guest export.

Fixed-width primitive columns only (ints, floats, bools as bytes are not Arrow bools);
needs ``pyarrow`` (``pip install pyarrow``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.ipc

from .errors import Error

if TYPE_CHECKING:
    from .runtime import Memory

__all__ = ["GuestTable", "array", "buffer", "guest_offset", "place_record_batch", "read_ipc_file", "record_batch"]

# Arrow's own recommendation for buffer starts (and what its IPC writer pads to at most).
ALIGNMENT = 64

# A guest allocator: bytes -> guest offset (0 on failure), e.g. ``inst.exports.alloc``.
Alloc = Callable[[int], int]


def buffer(memory: Memory, offset: int, size: int) -> pa.Buffer:
    """The guest bytes ``[offset, offset + size)`` as an Arrow buffer (no copy)."""
    if offset < 0 or size < 0 or offset + size > memory.size:
        raise Error(f"Arrow buffer [{offset}, +{size}) lies outside the memory's {memory.size} bytes")
    return pa.foreign_buffer(memory.address + offset, size, base=memory)


def _fixed_width(type_: pa.DataType) -> int:
    if not pa.types.is_primitive(type_) or pa.types.is_boolean(type_):
        raise Error(f"only fixed-width primitive Arrow types map onto guest memory, not {type_}")
    return int(type_.bit_width) // 8


def array(memory: Memory, offset: int, length: int, type_: pa.DataType | None = None) -> pa.Array:
    """``length`` values of ``type_`` (default float32) at guest byte ``offset`` as a pyarrow array
    (no nulls, no copy)."""
    type_ = pa.float32() if type_ is None else type_
    width = _fixed_width(type_)
    if offset % width:
        raise Error(f"Arrow {type_} values at offset {offset} are not {width}-byte aligned")
    return pa.Array.from_buffers(type_, length, [None, buffer(memory, offset, length * width)])


def record_batch(memory: Memory, columns: Mapping[str, tuple[int, int, pa.DataType]]) -> pa.RecordBatch:
    """Columns ``name -> (offset, length, type)`` of guest memory as one record batch (no copy)."""
    arrays = [array(memory, off, n, t) for off, n, t in columns.values()]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def guest_offset(memory: Memory, column: pa.Array | pa.ChunkedArray) -> int:
    """Guest pointer of a column's first value (the column must live in guest memory, one chunk,
    no nulls), for passing to a guest export."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks != 1:
            raise Error(f"a column of {column.num_chunks} chunks is not one guest region")
        column = column.chunk(0)
    validity, values = column.buffers()[:2]
    if validity is not None and column.null_count:
        raise Error("column has nulls: a guest reduction would read their undefined values")
    width = _fixed_width(column.type)
    start = values.address + column.offset * width
    if not memory.address <= start <= start + len(column) * width <= memory.address + memory.size:
        raise Error("column does not lie in this guest's memory")
    return int(start - memory.address)


@dataclass
class GuestTable:
    """An Arrow table whose buffers lie in guest memory at ``[offset, offset + size)``.
    ``how`` says how it got there: "mapped" (file pages), "read" (one read) or "copied"."""

    table: pa.Table
    offset: int
    size: int
    how: str

    def column_offset(self, memory: Memory, name: str) -> int:
        return guest_offset(memory, self.table.column(name))


def _guest_region(memory: Memory, alloc: Alloc, size: int, align: int) -> int:
    """A guest allocation of ``size`` bytes starting at a multiple of ``align``."""
    raw = int(alloc(size + align))
    if raw <= 0:
        raise Error(f"the guest could not allocate {size + align} bytes")
    return -(-raw // align) * align


def read_ipc_file(memory: Memory, alloc: Alloc, path: str | os.PathLike[str]) -> GuestTable:
    """Put an Arrow IPC file into guest memory and open it there: the returned table's column
    buffers are guest bytes (IPC buffers are 8-byte aligned within the file)."""
    size = os.path.getsize(path)
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    mapped_length = -(-size // page) * page
    offset = _guest_region(memory, alloc, mapped_length, page)
    how = "read"
    try:
        if memory.map_file(offset, os.fspath(path), 0, mapped_length):
            how = "mapped"
    except Error:
        pass  # not mappable here (backend, memory mode): one read instead
    if how == "read":
        with open(path, "rb") as f:
            got = f.readinto(memory.view(offset, (size,), np.uint8).data)
        if got != size:
            raise Error(f"short read of {path}: {got} of {size} bytes")
    table = pa.ipc.open_file(buffer(memory, offset, size)).read_all()
    return GuestTable(table, offset, size, how)


def place_record_batch(memory: Memory, alloc: Alloc, batch: pa.RecordBatch | pa.Table) -> GuestTable:
    """Copy a batch's (fixed-width, null-free) columns into one guest allocation, column after
    column, each at a 64-byte boundary; returns the same table over the guest's copy."""
    if isinstance(batch, pa.RecordBatch):
        batch = pa.Table.from_batches([batch])
    batch = batch.combine_chunks()
    layout: dict[str, tuple[int, int, pa.DataType]] = {}
    cursor = 0
    for name, column in zip(batch.column_names, batch.columns):
        width = _fixed_width(column.type)
        if column.null_count:
            raise Error(f"column {name!r} has nulls: only null-free columns are placed")
        layout[name] = (cursor, len(column), column.type)
        cursor += -(-len(column) * width // ALIGNMENT) * ALIGNMENT
    base = _guest_region(memory, alloc, max(cursor, 1), ALIGNMENT)
    for name, column in zip(batch.column_names, batch.columns):
        rel, length, type_ = layout[name]
        chunk = column.chunk(0) if column.num_chunks else pa.array([], type=type_)
        width = _fixed_width(type_)
        values = chunk.buffers()[1]
        if values is not None and length:
            src = np.frombuffer(values, np.uint8, length * width, chunk.offset * width)
            memory.view(base + rel, (length * width,), np.uint8)[:] = src
        layout[name] = (base + rel, length, type_)
    table = pa.Table.from_batches([record_batch(memory, layout)])
    return GuestTable(table, base, cursor, "copied")
