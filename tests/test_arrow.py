"""Arrow over guest memory (zerowasm.interop_arrow): arrays whose buffers are guest bytes,
and Arrow data brought into a guest and reduced there by host kernels.

The reducing guest is guest/examples/column_reduce.c (zw.matmul as a dot product). Integer
values stored as float32 keep every partial sum below 2**24, so whatever order the kernel
sums in, its float32 result is exact and must equal NumPy's float64 sum exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import zerowasm
from conftest import EXAMPLES_DIR

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")
from zerowasm import interop_arrow  # noqa: E402

N = 50_000  # 15 * 15 * N < 2**24: sums and dot products of the columns below are exact in float32


@pytest.fixture(scope="module")
def reduce_wasm(build_guest):
    return build_guest(EXAMPLES_DIR / "column_reduce.c")


@pytest.fixture()
def inst(reduce_wasm):
    return zerowasm.Runtime("cpu").load(reduce_wasm).instantiate()


def small_ints(seed: int, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 16, n).astype(np.float32)


def test_array_over_guest_memory_is_the_guests_bytes(inst):
    mem = inst.memory
    off = inst.exports.alloc(4 * N)
    values = np.random.default_rng(1).standard_normal(N).astype(np.float32)
    mem.view(off, (N,), np.float32)[:] = values
    arr = interop_arrow.array(mem, off, N, pa.float32())
    assert arr.buffers()[1].address == mem.address + off
    assert interop_arrow.guest_offset(mem, arr) == off
    assert pc.sum(arr).as_py() == pytest.approx(values.astype(np.float64).sum(), rel=1e-5, abs=1e-2)
    minmax = pc.min_max(arr).as_py()
    assert (minmax["min"], minmax["max"]) == (values.min(), values.max())
    np.testing.assert_array_equal(pc.multiply(arr, 2).to_numpy(), values * 2)
    # A later guest-side write shows through the same array (no copy was taken).
    mem.view(off, (N,), np.float32)[7] = 1234.5
    assert arr[7].as_py() == 1234.5


def test_record_batch_of_guest_columns(inst):
    mem = inst.memory
    x_off, y_off = inst.exports.alloc(4 * N), inst.exports.alloc(4 * N)
    ints = np.random.default_rng(2).integers(-1000, 1000, N).astype(np.int32)
    mem.view(x_off, (N,), np.float32)[:] = small_ints(3)
    mem.view(y_off, (N,), np.int32)[:] = ints
    batch = interop_arrow.record_batch(mem, {"x": (x_off, N, pa.float32()), "y": (y_off, N, pa.int32())})
    assert batch.schema.names == ["x", "y"] and batch.num_rows == N
    assert batch.column("y").buffers()[1].address == mem.address + y_off
    assert pc.sum(batch.column("y")).as_py() == int(ints.astype(np.int64).sum())
    np.testing.assert_array_equal(pc.add(batch.column("y"), 1).to_numpy(), ints + 1)


def test_guest_reduces_a_column_it_holds(inst):
    mem = inst.memory
    x_off, y_off = inst.exports.alloc(4 * N), inst.exports.alloc(4 * N)
    x, y = small_ints(4), small_ints(5)
    mem.view(x_off, (N,), np.float32)[:] = x
    mem.view(y_off, (N,), np.float32)[:] = y
    col = interop_arrow.array(mem, x_off, N)
    assert inst.exports.column_sum(x_off, N) == x.astype(np.float64).sum() == pc.sum(col).as_py()
    assert inst.exports.column_dot(x_off, y_off, N) == np.dot(x.astype(np.float64), y)
    assert inst.exports.column_mean(x_off, N) == pytest.approx(x.astype(np.float64).mean(), rel=1e-12)
    assert inst.stats()["ops"]["matmul"]["calls"] == 3


def test_ipc_file_read_into_a_guest_and_reduced(inst, tmp_path):
    x, y = small_ints(6), small_ints(7)
    ids = np.arange(N, dtype=np.int64)
    table = pa.table({"id": ids, "x": x, "y": y})
    path = tmp_path / "table.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=N)
    mem = inst.memory
    placed = interop_arrow.read_ipc_file(mem, inst.exports.alloc, path)
    assert placed.how == "mapped"  # the CPU backend maps the file's pages into the guest
    assert placed.table.equals(table)
    for name in ("id", "x", "y"):
        off = placed.column_offset(mem, name)
        assert placed.offset <= off < placed.offset + placed.size  # inside the guest's copy of the file
    x_off, y_off = placed.column_offset(mem, "x"), placed.column_offset(mem, "y")
    np.testing.assert_array_equal(mem.view(x_off, (N,), np.float32), x)
    assert inst.exports.column_sum(x_off, N) == x.astype(np.float64).sum()
    assert inst.exports.column_dot(x_off, y_off, N) == np.dot(x.astype(np.float64), y)


def test_record_batch_placed_into_a_guest_in_one_pass(inst):
    x, y = small_ints(8), small_ints(9)
    batch = pa.record_batch({"x": x, "y": y, "k": np.arange(N, dtype=np.int16)})
    mem = inst.memory
    placed = interop_arrow.place_record_batch(mem, inst.exports.alloc, batch)
    assert placed.table.equals(pa.Table.from_batches([batch]))
    offsets = [placed.column_offset(mem, name) for name in ("x", "y", "k")]
    assert offsets == sorted(offsets) and all(o % interop_arrow.ALIGNMENT == 0 for o in offsets)
    assert offsets[0] == placed.offset and offsets[-1] + 2 * N <= placed.offset + placed.size
    assert inst.exports.column_sum(offsets[1], N) == y.astype(np.float64).sum()
    assert inst.exports.column_dot(offsets[0], offsets[1], N) == np.dot(x.astype(np.float64), y)


def test_unsupported_columns_are_refused(inst):
    mem = inst.memory
    with pytest.raises(zerowasm.Error, match="fixed-width"):
        interop_arrow.place_record_batch(mem, inst.exports.alloc, pa.record_batch({"s": ["a", "b"]}))
    with pytest.raises(zerowasm.Error, match="nulls"):
        interop_arrow.place_record_batch(mem, inst.exports.alloc, pa.record_batch({"x": pa.array([1.0, None])}))
    with pytest.raises(zerowasm.Error, match="outside"):
        interop_arrow.array(mem, mem.size - 4, 2)
    with pytest.raises(zerowasm.Error, match="guest's memory"):
        interop_arrow.guest_offset(mem, pa.array(np.ones(4, np.float32)))
