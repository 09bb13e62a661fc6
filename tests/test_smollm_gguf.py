"""Malformed GGUF files must fail to load with a clear message: no trap, no crash,
no read outside the file.

Each variant is placed so that its last byte is the last byte of the guest's
linear memory: a read past the end of the file is then a read past the end of
memory, which traps (and fails the test) instead of silently reading other
guest data. The instance must stay usable after every rejection. The guest is the
generic decoder (guest/models/llm/), which SmolLM is.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from smollm_reference import write_tiny_gguf

zerowasm = pytest.importorskip("zerowasm")
from zerowasm import guests  # noqa: E402
from zerowasm.models.smollm import SmolLM, SmolLMError  # noqa: E402

PAGE = 65536
MAX_FILE = 1 << 20  # room at the end of memory for the variants
MEMORY = 256 << 20  # the guest's fixed memory (committed lazily)


@dataclass
class Layout:
    """Byte offsets of the fields of a GGUF file, found by an independent walk."""

    n_tensors_at: int = 0
    n_kv_at: int = 0
    kv_key_len_at: list[int] = field(default_factory=list)
    kv_type_at: list[int] = field(default_factory=list)
    kv_keys: list[str] = field(default_factory=list)
    array_count_at: dict[str, int] = field(default_factory=dict)
    first_string_elem_len_at: dict[str, int] = field(default_factory=dict)
    tensor_name_len_at: list[int] = field(default_factory=list)
    tensor_ndims_at: list[int] = field(default_factory=list)
    tensor_dims_at: list[int] = field(default_factory=list)
    tensor_type_at: list[int] = field(default_factory=list)
    tensor_offset_at: list[int] = field(default_factory=list)
    tensor_names: list[str] = field(default_factory=list)
    data_start: int = 0


SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def walk(data: bytes) -> Layout:
    lay = Layout()
    pos = 8
    lay.n_tensors_at, lay.n_kv_at = pos, pos + 8
    n_tensors, n_kv = struct.unpack_from("<QQ", data, pos)
    pos += 16

    def string(p: int) -> tuple[str, int]:
        (n,) = struct.unpack_from("<Q", data, p)
        return data[p + 8 : p + 8 + n].decode("utf-8", "replace"), p + 8 + n

    for _ in range(n_kv):
        lay.kv_key_len_at.append(pos)
        key, pos = string(pos)
        lay.kv_keys.append(key)
        lay.kv_type_at.append(pos)
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if t == 8:
            _, pos = string(pos)
        elif t == 9:
            (et,) = struct.unpack_from("<I", data, pos)
            lay.array_count_at[key] = pos + 4
            (n,) = struct.unpack_from("<Q", data, pos + 4)
            pos += 12
            if et == 8:
                lay.first_string_elem_len_at[key] = pos
                for _ in range(n):
                    _, pos = string(pos)
            else:
                pos += n * SCALAR[et]
        else:
            pos += SCALAR[t]
    for _ in range(n_tensors):
        lay.tensor_name_len_at.append(pos)
        name, pos = string(pos)
        lay.tensor_names.append(name)
        lay.tensor_ndims_at.append(pos)
        (nd,) = struct.unpack_from("<I", data, pos)
        pos += 4
        lay.tensor_dims_at.append(pos)
        pos += 8 * nd
        lay.tensor_type_at.append(pos)
        lay.tensor_offset_at.append(pos + 4)
        pos += 12
    lay.data_start = (pos + 31) // 32 * 32
    return lay


def put(data: bytes, at: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, at, value)
    return bytes(buf)


class Loader:
    """One guest instance whose memory cannot grow, with the variants placed at its very end."""

    def __init__(self, valid: bytes) -> None:
        rt = zerowasm.Runtime("cpu")
        self.inst = rt.load(guests.guest_path("llm", quiet=True)).instantiate(max_memory=MEMORY)
        self.ex = self.inst.exports
        # Warm up: one valid load, then blocks of every size class allocated and freed, so
        # the guest's allocator (size classes, no splitting) holds spare blocks for what a
        # load may ask; then the host takes every remaining page, so no load can grow
        # memory past the file's end.
        off = self.ex.llm_big_alloc(len(valid))
        self.inst.memory.view(off, (len(valid),), np.uint8)[:] = np.frombuffer(valid, np.uint8)
        assert self.ex.llm_load(off, len(valid), 0) == 0, self.error()
        blocks = [self.ex.alloc(1 << k) for k in range(4, 24) for _ in range(4)]
        assert all(b > 0 for b in blocks)
        for b in blocks:
            self.ex.free(b)
        mem = self.inst.memory
        assert mem.grow(MEMORY // PAGE - mem.size // PAGE) >= 0
        self.end = mem.size
        assert self.end == MEMORY

    def text(self, ptr: int) -> str:
        return self.inst.memory.view(ptr, (512,), np.uint8).tobytes().split(b"\0", 1)[0].decode()

    def error(self) -> str:
        return self.text(self.ex.last_error())

    def info(self) -> dict[str, int]:
        return {k: int(v) for k, v in (line.split("=") for line in self.text(self.ex.info()).splitlines())}

    def load(self, data: bytes) -> tuple[int, str]:
        assert 0 < len(data) <= MAX_FILE
        off = self.end - len(data)
        self.inst.memory.view(off, (len(data),), np.uint8)[:] = np.frombuffer(data, np.uint8)
        rc = self.ex.llm_load(off, len(data), 0)
        assert self.inst.memory.size == self.end
        return rc, self.error() if rc < 0 else ""

    def load_aligned(self, data: bytes) -> tuple[int, str]:
        """As load, but 64-byte aligned (so a valid file's tensors are aligned)."""
        pad = (-len(data)) % 64
        off = self.end - len(data) - pad
        self.inst.memory.view(off, (len(data),), np.uint8)[:] = np.frombuffer(data, np.uint8)
        rc = self.ex.llm_load(off, len(data), 0)
        return rc, self.error() if rc < 0 else ""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, Layout]:
    path = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    data = path.read_bytes()
    return path, data, walk(data)


@pytest.fixture(scope="module")
def loader(tiny: tuple[Path, bytes, Layout]) -> Loader:
    try:
        return Loader(tiny[1])
    except guests.toolchain.NoCompilerError as e:  # type: ignore[attr-defined]
        pytest.skip(f"no wasm32 compiler: {e}")


def expect_error(loader: Loader, data: bytes, *words: str) -> str:
    rc, msg = loader.load(data)
    assert rc < 0, "a malformed file loaded"
    assert msg, "no error message"
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def test_valid_tiny_file_loads_at_the_end_of_memory(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    rc, msg = loader.load_aligned(tiny[1])
    assert rc == 0, msg
    assert loader.info()["n_vocab"] == 278


def test_bad_magic_and_version(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data = tiny[1]
    expect_error(loader, b"GGUX" + data[4:], "bad magic")
    expect_error(loader, put(data, 4, "<I", 1), "version 1")
    expect_error(loader, put(data, 4, "<I", 0xFFFFFFFF), "version")
    expect_error(loader, b"GG", "magic")


def test_every_truncation_fails_cleanly(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    cuts = set(range(1, lay.data_start + 64))  # every byte of the header and tensor infos
    cuts |= set(range(lay.data_start, len(data), 97)) | {len(data) - 1}
    for cut in sorted(cuts):
        rc, msg = loader.load(data[:cut])
        assert rc < 0 and msg, f"file cut to {cut} of {len(data)} bytes loaded"


def test_huge_counts(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    for value in (1 << 63, (1 << 64) - 1, 1 << 40, 1 << 32, 100_000):
        expect_error(loader, put(data, lay.n_tensors_at, "<Q", value), "tensor count")
        expect_error(loader, put(data, lay.n_kv_at, "<Q", value))
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
        for value in ((1 << 64) - 1, 1 << 61, 1 << 31, 10**7):
            expect_error(loader, put(data, lay.array_count_at[key], "<Q", value), "array")


def test_string_lengths_past_the_end(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    for at in (lay.kv_key_len_at[0], lay.kv_key_len_at[-1], lay.tensor_name_len_at[0],
               lay.tensor_name_len_at[-1], lay.first_string_elem_len_at["tokenizer.ggml.tokens"],
               lay.first_string_elem_len_at["tokenizer.ggml.merges"]):
        for value in (len(data), (1 << 64) - 1, 1 << 32, (1 << 32) + 3):
            expect_error(loader, put(data, at, "<Q", value), "past the end")


def test_tensor_offsets_and_dims(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    for i in (0, 1, len(lay.tensor_offset_at) - 1):
        for value in (len(data), (1 << 64) - 32, 1 << 40, len(data) - lay.data_start):
            expect_error(loader, put(data, lay.tensor_offset_at[i], "<Q", value), "lies outside")
        expect_error(loader, put(data, lay.tensor_offset_at[i], "<Q", 3), "misaligned")
        expect_error(loader, put(data, lay.tensor_ndims_at[i], "<I", 100), "dimensions")
        expect_error(loader, put(data, lay.tensor_ndims_at[i], "<I", 0), "dimensions")
        for value in (0, 1 << 62, (1 << 64) - 1):
            expect_error(loader, put(data, lay.tensor_dims_at[i], "<Q", value))
    # a shape that still fits the file but not the model
    q = lay.tensor_names.index("blk.0.attn_q.weight")
    expect_error(loader, put(data, lay.tensor_dims_at[q] + 8, "<Q", 32), "blk.0.attn_q.weight")
    expect_error(loader, put(data, lay.tensor_type_at[q], "<I", 77), "attn_q", "type 77")


def test_unsupported_types_and_architectures_are_named(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    q = lay.tensor_names.index("blk.0.attn_q.weight")
    # Types the kernels cannot read: sized ones that still fit the file (Q5_1 blocks are 24 bytes to
    # Q4_1's 20) and unsized ones (IQ2_XXS) are refused by name, with the tensor's name.
    for ggml_type, name in ((7, "Q5_1"), (16, "IQ2_XXS"), (30, "BF16")):
        expect_error(loader, put(data, lay.tensor_type_at[q], "<I", ggml_type), "blk.0.attn_q.weight", name)
    # Q4_0 (18-byte blocks) is a type the generic decoder reads: the retyped file loads.
    rc, msg = loader.load_aligned(put(data, lay.tensor_type_at[q], "<I", 2))
    assert rc == 0, msg
    # another architecture (same length as "llama", so the rest of the file is unchanged)
    arch_at = lay.kv_type_at[lay.kv_keys.index("general.architecture")] + 4
    assert data[arch_at + 8 : arch_at + 13] == b"llama"
    renamed = data[: arch_at + 8] + b"mamba" + data[arch_at + 13 :]
    expect_error(loader, renamed, "architecture", "mamba", "not supported")


def test_bad_value_types_and_alignment(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    expect_error(loader, put(data, lay.kv_type_at[0], "<I", 13), "type")
    expect_error(loader, put(data, lay.kv_type_at[0], "<I", 0xFFFFFFFF), "type")
    i = lay.kv_keys.index("tokenizer.ggml.tokens")
    expect_error(loader, put(data, lay.kv_type_at[i] + 4, "<I", 9), "not supported")  # array of arrays
    # general.alignment is not in the tiny file: rename a u32 key to it and give bad values
    j = lay.kv_keys.index("llama.block_count")
    key_at = lay.kv_key_len_at[j]
    renamed = bytearray(data)
    new_key = b"general.alignment"
    assert len(new_key) == len(b"llama.block_count")
    renamed[key_at + 8 : key_at + 8 + len(new_key)] = new_key
    val_at = lay.kv_type_at[j] + 4
    for bad in (0, 3, 1 << 20):
        expect_error(loader, put(bytes(renamed), val_at, "<I", bad), "alignment")


def test_missing_metadata_and_tensors(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]

    def rename_key(key: str) -> bytes:
        at = lay.kv_key_len_at[lay.kv_keys.index(key)]
        buf = bytearray(data)
        buf[at + 8] = ord("X")
        return bytes(buf)

    for key in ("general.architecture", "llama.block_count", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                "llama.attention.head_count", "tokenizer.ggml.pre"):
        expect_error(loader, rename_key(key))
    at = lay.tensor_name_len_at[lay.tensor_names.index("blk.1.ffn_down.weight")]
    buf = bytearray(data)
    buf[at + 8] = ord("X")
    expect_error(loader, bytes(buf), "blk.1.ffn_down.weight", "missing")


def test_random_corruption_never_traps(loader: Loader, tiny: tuple[Path, bytes, Layout]) -> None:
    data, lay = tiny[1], tiny[2]
    rng = random.Random(1234)
    header_end = lay.data_start
    for _ in range(300):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(header_end)
            buf[at] = rng.randrange(256)
        if rng.random() < 0.3:
            buf = buf[: rng.randrange(1, len(buf))]
        rc, msg = loader.load(bytes(buf))
        assert rc == 0 or msg  # loads (harmless change) or says why not
    rc, msg = loader.load_aligned(data)  # still usable
    assert rc == 0, msg


def test_public_api_reports_the_reason(tmp_path: Path, tiny: tuple[Path, bytes, Layout]) -> None:
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(tiny[1][: len(tiny[1]) // 2])
    with pytest.raises(SmolLMError, match="lies outside|past the end"):
        SmolLM(bad, backend="cpu", quiet=True)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(SmolLMError):
        SmolLM(empty, backend="cpu", quiet=True)
    notgguf = tmp_path / "text.gguf"
    notgguf.write_bytes(b"hello world, not a model" * 10)
    with pytest.raises(SmolLMError, match="bad magic"):
        SmolLM(notgguf, backend="cpu", quiet=True)
