"""Foundation: host-owned linear memory under wasmtime, seen without copies from Python."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import numpy as np
import pytest
import zerowasm

PAGE = zerowasm.PAGE_SIZE
MODES = ["guard", "bounded"]

WAT = """
(module
  (memory (export "memory") 2 16)
  (data (i32.const 1000) "zerowasm data segment")
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "store") (param i32 i32) local.get 0 local.get 1 i32.store)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "pages") (result i32) memory.size)
  (func (export "sum") (param i32 i32) (result i64) (local i64)
    (block (loop
      (br_if 1 (i32.eqz (local.get 1)))
      (local.set 2 (i64.add (local.get 2) (i64.load8_u (local.get 0))))
      (local.set 0 (i32.add (local.get 0) (i32.const 1)))
      (local.set 1 (i32.sub (local.get 1) (i32.const 1)))
      (br 0)))
    local.get 2)
  (func (export "mix") (param i32 i64 f32 f64) (result f64)
    (f64.add (f64.add (f64.convert_i32_s (local.get 0)) (f64.convert_i64_s (local.get 1)))
             (f64.add (f64.promote_f32 (local.get 2)) (local.get 3)))))
"""


@pytest.fixture(scope="module")
def rt() -> zerowasm.Runtime:
    return zerowasm.Runtime("cpu")


@pytest.fixture(scope="module")
def module(rt: zerowasm.Runtime) -> zerowasm.Module:
    return rt.load(WAT)


def test_backends_lists_cpu() -> None:
    assert "cpu" in zerowasm.backends()
    names = [name for name, _, _ in zerowasm.backend_details()]
    assert names[-1] == "cpu" and {"cuda", "metal"} <= set(names)


def test_describes_imports_and_exports(module: zerowasm.Module) -> None:
    exports = {e.name: e for e in module.exports}
    assert exports["memory"].kind == "memory"
    assert exports["mix"].params == ("i32", "i64", "f32", "f64") and exports["mix"].results == ("f64",)
    assert module.imports == []


@pytest.mark.parametrize("mode", MODES)
def test_data_segment_is_seen_in_place(module: zerowasm.Module, mode: str) -> None:
    inst = module.instantiate(memory=mode)
    mem = inst.memory
    assert mem.mode == mode and mem.size == 2 * PAGE
    text = b"zerowasm data segment"
    view = mem.view(1000, len(text))
    assert bytes(view) == text
    # Same bytes, not a copy: the array's data pointer is the guest's own address.
    assert view.ctypes.data == mem.address + 1000
    assert np.asarray(mem).ctypes.data == mem.address
    assert memoryview(mem).nbytes == mem.size


@pytest.mark.parametrize("mode", MODES)
def test_guest_and_numpy_see_each_others_writes(module: zerowasm.Module, mode: str) -> None:
    inst = module.instantiate(memory=mode)
    rng = np.random.default_rng(1)
    words = inst.memory.view(4096, 64, np.int32)
    for i, value in enumerate(rng.integers(-(2**31), 2**31, size=16)):
        inst.exports.store(4096 + 4 * i, int(value))
        assert words[i] == value  # no sync call between guest store and host read
    data = rng.integers(0, 256, size=5000, dtype=np.uint8)
    inst.memory.view(20000, data.size)[:] = data
    assert inst.exports.sum(20000, data.size) == int(data.sum(dtype=np.int64))


def test_value_types_round_trip(module: zerowasm.Module) -> None:
    inst = module.instantiate()
    assert inst.call("mix", -3, 2**40, 0.5, 0.25) == pytest.approx(-3 + 2**40 + 0.75)
    with pytest.raises(TypeError):
        inst.call("mix", 1, 2)


@pytest.mark.parametrize("mode", MODES)
def test_growth_keeps_the_base(module: zerowasm.Module, mode: str) -> None:
    inst = module.instantiate(memory=mode, max_memory=6 * PAGE)
    mem = inst.memory
    base = mem.address
    marker = mem.view(PAGE + 8, 1, np.uint32)
    marker[0] = 0xDEADBEEF
    assert inst.exports.grow(1) == 2  # from the guest
    assert mem.address == base and mem.size == 3 * PAGE
    assert mem.grow(2) == 3  # from Python
    assert mem.address == base and mem.size == 5 * PAGE
    assert inst.exports.pages() == 5
    new_pages = mem.view(3 * PAGE, 2 * PAGE)
    assert not new_pages.any()  # committed zero-filled
    new_pages[-1] = 7
    assert inst.exports.load(5 * PAGE - 4) == 7 << 24
    assert marker[0] == 0xDEADBEEF  # old views stay valid
    # Past max_memory: refused cleanly, nothing moves.
    assert inst.exports.grow(2) == -1
    assert mem.grow(2) == -1
    assert mem.grow(1) == 5 and mem.size == 6 * PAGE
    assert inst.exports.grow(1) == -1
    assert mem.address == base


def test_module_maximum_also_caps_growth(module: zerowasm.Module) -> None:
    inst = module.instantiate()
    assert inst.exports.grow(14) == 2
    assert inst.exports.grow(1) == -1


GROW_UNDER_RLIMIT = """
import re, resource, zerowasm
inst = zerowasm.Runtime("cpu").load('(module (memory (export "memory") 1 4096))').instantiate()
data = int(re.search(r"VmData:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_DATA, (data + (16 << 20), resource.getrlimit(resource.RLIMIT_DATA)[1]))
try:
    print("grew from", inst.memory.grow(1024))
except zerowasm.Error as e:
    print("error:", e)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA limits mprotect only on Linux")
def test_failed_growth_reports_its_cause() -> None:
    # Within max_size but the pages can't be committed (RLIMIT_DATA makes
    # mprotect(PROT_WRITE) fail): an Error carrying wasmtime's message with the
    # cause, not a bare -1 that reads like "past the maximum".
    done = subprocess.run([sys.executable, "-c", GROW_UNDER_RLIMIT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout.strip()
    assert out.startswith("error: memory.grow by 1024 pages failed"), out
    assert "committing linear memory" in out and "Cannot allocate memory" in out, out


@pytest.mark.parametrize("mode", MODES)
def test_out_of_bounds_traps_and_instance_survives(module: zerowasm.Module, mode: str) -> None:
    inst = module.instantiate(memory=mode)
    inst.exports.store(64, 4242)
    snapshot = bytes(inst.memory.view(0, inst.memory.size))
    for addr in (inst.memory.size, inst.memory.size - 2, 2**32 - 4, 10 * PAGE):
        with pytest.raises(zerowasm.Trap) as err:
            inst.exports.load(addr)
        assert "out of bounds" in str(err.value)
        assert err.value.code == 1  # WASMTIME_TRAP_CODE_MEMORY_OUT_OF_BOUNDS
    assert inst.exports.load(64) == 4242
    assert bytes(inst.memory.view(0, inst.memory.size)) == snapshot


def test_imported_memory_is_a_link_error(rt: zerowasm.Runtime) -> None:
    mod = rt.load('(module (import "env" "mem" (memory 1)))')
    with pytest.raises(zerowasm.LinkError, match=r"imports its memory \(env\.mem\)"):
        mod.instantiate()


def test_unexported_memory_cannot_be_grown_by_the_host(rt: zerowasm.Runtime) -> None:
    inst = rt.load('(module (memory 1 4) (func (export "f")))').instantiate()
    with pytest.raises(zerowasm.Error, match="does not export its memory"):
        inst.memory.grow(1)
    inst.call("f")  # still usable


def test_invalid_binary_is_a_compile_error(rt: zerowasm.Runtime) -> None:
    with pytest.raises(zerowasm.CompileError, match="invalid WebAssembly module"):
        rt.load(b"\0asm\x01\0\0\0\x05garbage")
    with pytest.raises(zerowasm.CompileError, match="WebAssembly text"):
        rt.load("(module (func (export)))")


def test_missing_export_and_unknown_import(rt: zerowasm.Runtime, module: zerowasm.Module) -> None:
    inst = module.instantiate()
    with pytest.raises(zerowasm.LinkError, match="no function named 'nope'"):
        inst.call("nope")
    with pytest.raises(AttributeError, match="nope"):
        _ = inst.exports.nope
    with pytest.raises(zerowasm.LinkError, match="zw.frobnicate"):
        rt.load('(module (import "zw" "frobnicate" (func)))').instantiate()
    with pytest.raises(zerowasm.LinkError, match="zw.add with a signature"):
        rt.load('(module (import "zw" "add" (func (param i32))))').instantiate()
    with pytest.raises(zerowasm.LinkError, match="env"):
        rt.load('(module (import "env" "f" (func)))').instantiate()


def test_reactor_initialize_runs_first(rt: zerowasm.Runtime) -> None:
    mod = rt.load("""(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
        (func (export "_initialize") (global.set $g (i32.const 41)))
        (func (export "get") (result i32) (i32.add (global.get $g) (i32.const 1))))""")
    assert mod.instantiate().exports.get() == 42


def test_views_keep_the_instance_alive(module: zerowasm.Module) -> None:
    inst = module.instantiate()
    view = inst.memory.view(1000, 8)
    del inst
    gc.collect()
    assert bytes(view) == b"zerowasm"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mapping_count() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("mode", MODES)
def test_load_instantiate_drop_cycles_do_not_leak(rt: zerowasm.Runtime, mode: str) -> None:
    def cycle() -> None:
        inst = rt.load(WAT).instantiate(memory=mode)
        inst.exports.store(128, 1)
        inst.memory.grow(1)
        assert inst.exports.load(128) == 1

    for _ in range(50):  # warm caches, allocator pools
        cycle()
    gc.collect()
    rss, maps = _rss_bytes(), _mapping_count()
    for _ in range(1000):
        cycle()
    gc.collect()
    assert _rss_bytes() - rss < 5 * 2**20
    assert _mapping_count() - maps <= 4
