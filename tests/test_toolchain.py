"""The guest toolchain: building, checking and caching wasm32 reactor modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import wasmtime
from conftest import EXAMPLES_DIR, GuestBuilder, toolchain

HELLO = EXAMPLES_DIR / "hello.c"
VEC_ADD = EXAMPLES_DIR / "vec_add.c"


def _instantiate(wasm: Path, stubs: dict[str, Any] | None = None) -> tuple[wasmtime.Store, wasmtime.Instance]:
    """Plain wasmtime-py instance; `stubs` maps zw import names to Python callables."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasm.read_bytes())
    linker = wasmtime.Linker(engine)
    for imp in module.imports:
        assert imp.module == "zw", f"unexpected import {imp.module}.{imp.name}"
        assert isinstance(imp.type, wasmtime.FuncType)
        linker.define_func("zw", imp.name, imp.type, stubs[imp.name], access_caller=True)
    instance = linker.instantiate(store, module)
    instance.exports(store)["_initialize"](store)  # reactor: constructors first
    return store, instance


def _write_f32(store: wasmtime.Store, mem: wasmtime.Memory, ptr: int, x: np.ndarray) -> None:
    mem.write(store, x.astype("<f4").tobytes(), ptr)


def _read_f32(store: Any, mem: wasmtime.Memory, ptr: int, n: int) -> np.ndarray:
    return np.frombuffer(mem.read(store, ptr, ptr + 4 * n), dtype="<f4").copy()


def _wrap(x: int, bits: int) -> int:
    """Two's-complement wrap-around, as wasm's i32/i64 arithmetic does."""
    return (x + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))


# --------------------------------------------------------------------------- building


def test_sdk_header_is_found() -> None:
    assert (toolchain.sdk_include_dir() / "zerowasm.h").is_file()


def test_hello_exports_and_imports(build_guest: GuestBuilder) -> None:
    data = build_guest(HELLO).read_bytes()
    assert data.startswith(b"\0asm")
    assert toolchain.module_imports(data) == []
    exports = dict(toolchain.module_exports(data))
    for name in ("_initialize", "add", "mul64", "axpb", "dot", "alloc", "release"):
        assert exports[name] == "func", name
    assert exports["memory"] == "memory"
    assert b"hello.c" not in data, "output should be stripped of debug info"


def test_hello_runs_in_plain_wasmtime(build_guest: GuestBuilder) -> None:
    store, inst = _instantiate(build_guest(HELLO))
    ex = inst.exports(store)
    rng = np.random.default_rng(1)
    for a, b in rng.integers(-(2**31), 2**31, size=(20, 2)).tolist():
        assert ex["add"](store, a, b) == _wrap(a + b, 32)
    for a, b in rng.integers(-(2**40), 2**40, size=(20, 2)).tolist():
        assert ex["mul64"](store, a, b) == _wrap(a * b, 64)
    for a, x, b in rng.standard_normal((20, 3)).tolist():
        assert ex["axpb"](store, a, x, b) == pytest.approx(a * x + b, rel=1e-15, abs=1e-15)

    mem = ex["memory"]
    for n in (1, 7, 1000):
        x = rng.standard_normal(n).astype(np.float32)
        y = rng.standard_normal(n).astype(np.float32)
        px, py = ex["alloc"](store, 4 * n), ex["alloc"](store, 4 * n)
        assert px and py and px % 4 == 0 and py % 4 == 0
        _write_f32(store, mem, px, x)
        _write_f32(store, mem, py, y)
        want = float(np.dot(x.astype(np.float64), y.astype(np.float64)))
        got = ex["dot"](store, px, py, n)
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)
        ex["release"](store, px)
        ex["release"](store, py)


def test_vec_add_with_python_kernel_stubs(build_guest: GuestBuilder) -> None:
    wasm = build_guest(VEC_ADD)
    assert sorted(toolchain.module_imports(wasm.read_bytes())) == [
        ("zw", "add", "func"),
        ("zw", "sync", "func"),
    ]
    calls: list[str] = []

    def zw_add(caller: wasmtime.Caller, a: int, b: int, out: int, n: int) -> None:
        mem = caller["memory"]
        assert isinstance(mem, wasmtime.Memory)
        s = _read_f32(caller, mem, a, n) + _read_f32(caller, mem, b, n)
        mem.write(caller, s.astype("<f4").tobytes(), out)
        calls.append("add")

    def zw_sync(caller: wasmtime.Caller) -> None:
        calls.append("sync")

    store, inst = _instantiate(wasm, {"add": zw_add, "sync": zw_sync})
    ex = inst.exports(store)
    mem = ex["memory"]

    rng = np.random.default_rng(2)
    n = 513
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    pa, pb, pout = (ex["alloc"](store, 4 * n) for _ in range(3))
    _write_f32(store, mem, pa, a)
    _write_f32(store, mem, pb, b)
    checksum = ex["add_sum"](store, pa, pb, pout, n)
    want = a.astype(np.float64) + b.astype(np.float64)
    np.testing.assert_allclose(_read_f32(store, mem, pout, n), want, rtol=1e-6, atol=1e-6)
    assert checksum == pytest.approx(want.sum(), rel=1e-5, abs=1e-4)
    assert calls == ["add", "sync"]

    for n in (1, 100, 4096):
        assert ex["run"](store, n) == n * n / 2


# --------------------------------------------------------------------------- options


def test_exports_stack_size_and_defines(build_guest: GuestBuilder) -> None:
    src = (
        "int helper(int x) { return x * VALUE; }\n"
        "static char big[1];\n"
        '__attribute__((export_name("get"))) int get(void) { return big[0] + VALUE; }\n'
    )
    small = build_guest(src, name="opts", defines=["VALUE=3"], exports=["helper"])
    large = build_guest(src, name="opts", defines=["VALUE=3"], exports=["helper"], stack_size=4 << 20)
    for wasm in (small, large):
        store, inst = _instantiate(wasm)
        assert inst.exports(store)["helper"](store, 5) == 15
        assert inst.exports(store)["get"](store) == 3

    def initial_pages(wasm: Path) -> int:
        module = wasmtime.Module(wasmtime.Engine(), wasm.read_bytes())
        (mem,) = [e.type for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
        return mem.limits.min

    # The stack is part of the initial memory: 1 MiB by default, whichever compiler.
    assert toolchain.DEFAULT_STACK_SIZE // 65536 <= initial_pages(small) < (4 << 20) // 65536
    assert initial_pages(large) >= (4 << 20) // 65536


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"stack_size": 1000}, "multiple of 16"),
        ({"opt": "-O9"}, "bad optimisation flag"),
    ],
)
def test_bad_options_are_rejected(tmp_path: Path, kwargs: dict[str, Any], fragment: str) -> None:
    src = tmp_path / "x.c"
    src.write_text("int x;\n")
    with pytest.raises(toolchain.ToolchainError, match=fragment):
        toolchain.compile_c([src], tmp_path / "x.wasm", **kwargs)


# --------------------------------------------------------------------------- errors


def test_compile_error_carries_compiler_message(build_guest: GuestBuilder) -> None:
    with pytest.raises(toolchain.ToolchainError) as info:
        build_guest("int broken( {\n", name="broken")
    message = str(info.value)
    assert "guest build failed" in message
    assert "broken-" in message and "error" in message  # the compiler's own diagnostic
    assert isinstance(info.value, RuntimeError)
    assert not list(build_guest.cache_dir.glob("broken-*.wasm")), "failures are not cached"
    assert not list(build_guest.cache_dir.glob(".*.tmp")), "no temporary files left over"


def test_undefined_symbol_is_a_link_error(build_guest: GuestBuilder) -> None:
    with pytest.raises(toolchain.ToolchainError, match="undefined symbol: missing_fn"):
        build_guest(
            'int missing_fn(int);\n__attribute__((export_name("f"))) int f(int x)'
            " { return missing_fn(x); }\n",
            name="undef",
        )


def test_foreign_import_module_is_rejected(build_guest: GuestBuilder) -> None:
    src = (
        '__attribute__((import_module("env"), import_name("evil"))) int evil(void);\n'
        '__attribute__((export_name("f"))) int f(void) { return evil(); }\n'
    )
    with pytest.raises(toolchain.ToolchainError, match=r"imports env\.evil \(func\)"):
        build_guest(src, name="foreign")


def test_missing_compiler_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROWASM_CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(toolchain.NoCompilerError, match="ZEROWASM_CC=.*not an executable"):
        toolchain.find_compiler()


# --------------------------------------------------------------------------- cache


def test_second_build_is_a_cache_hit(build_guest: GuestBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_guest(HELLO, opt="-O1")
    hits = build_guest.hits

    def no_compiling(*args: Any, **kwargs: Any) -> Path:
        raise AssertionError("cache miss: compiler called again")

    monkeypatch.setattr(toolchain, "compile_c", no_compiling)
    assert build_guest(HELLO, opt="-O1") == first
    assert build_guest(str(HELLO), opt="-O1") == first
    assert build_guest.hits == hits + 2
    # Different options are a different key (and would compile).
    with pytest.raises(AssertionError, match="cache miss"):
        build_guest(HELLO, opt="-Os", defines=["UNCACHED_KEY_PROBE"])


# --------------------------------------------------------------------------- CLI


def test_cli_builds_and_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "scale.h").write_text("#define SCALE 7\n")
    src = tmp_path / "cli.c"
    src.write_text(
        '#include "scale.h"\n#include "zerowasm.h"\n'
        '__attribute__((export_name("f"))) int f(int x) { return x * SCALE + OFFSET; }\n'
    )
    out = tmp_path / "out" / "cli.wasm"
    argv = [str(src), "-o", str(out), "-O1", "-I", str(inc), "-DOFFSET=2"]
    assert toolchain.main_cc([*argv, "--stack-size", "131072", "-Wall"]) == 0
    store, inst = _instantiate(out)
    assert inst.exports(store)["f"](store, 3) == 23

    bad = tmp_path / "bad.c"
    bad.write_text("int f(void) { return undeclared_name; }\n")
    assert toolchain.main_cc([str(bad), "-o", str(tmp_path / "bad.wasm")]) == 1
    err = capsys.readouterr().err
    assert "undeclared_name" in err and "zerowasm cc:" in err
    assert not (tmp_path / "bad.wasm").exists()


# --------------------------------------------------------------------------- module listing


@pytest.mark.parametrize(
    ("wat", "imports", "exports"),
    [
        ("(module)", [], []),
        (
            '(module (import "zw" "sync" (func)) (import "zw" "add" (func (param i32 i32 i32 i32))))',
            [("zw", "sync", "func"), ("zw", "add", "func")],
            [],
        ),
        (
            """(module
                 (import "a" "t" (table 1 10 funcref))
                 (import "b" "m" (memory 1 2))
                 (import "c" "g" (global (mut i32)))
                 (import "d" "g2" (global f64))
                 (import "e" "t2" (table 0 externref))
                 (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                 (func (export "f")) (memory (export "mem") 1) (global (export "gl") i32 (i32.const 0)))""",
            [("a", "t", "table"), ("b", "m", "memory"), ("c", "g", "global"), ("d", "g2", "global"),
             ("e", "t2", "table"), ("wasi_snapshot_preview1", "fd_write", "func")],
            [("f", "func"), ("mem", "memory"), ("gl", "global")],
        ),
        ('(module (import "unicodé" "näme" (memory 0)) (@custom "x" "data"))', [("unicodé", "näme", "memory")], []),
    ],
)
def test_module_listing(wat: str, imports: list[tuple[str, str, str]], exports: list[tuple[str, str]]) -> None:
    data = wasmtime.wat2wasm(wat)
    assert toolchain.module_imports(data) == imports
    assert toolchain.module_exports(data) == exports


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0asm",
        b"\x7fELF\x01\x00\x00\x00",
        b"\0asm\x0d\x00\x01\x00",  # a component, not a core module
        b"\0asm\x01\x00\x00\x00\x02\x05\x01\x02zw",  # import section cut short
        b"\0asm\x01\x00\x00\x00\x02\x80\x80\x80\x80\x80\x80\x01",  # overlong LEB size
    ],
)
def test_module_imports_rejects_malformed(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any precise message is fine
        toolchain.module_imports(data)


# --------------------------------------------------------------------------- system clang


def test_system_clang_builds_the_examples(tmp_path: Path) -> None:
    reasons: list[str] = []
    clang = toolchain._from_system_clang(reasons)  # noqa: SLF001 - pick this compiler only
    if clang is None:
        pytest.skip(f"no system clang for wasm32-wasi: {'; '.join(reasons)}")
    for example in (HELLO, VEC_ADD):
        out = toolchain.compile_c([example], tmp_path / f"{example.stem}.wasm", compiler=clang)
        names = [n for n, _ in toolchain.module_exports(out.read_bytes())]
        assert "_initialize" in names
    store, inst = _instantiate(tmp_path / "hello.wasm")
    assert inst.exports(store)["add"](store, 2, 40) == 42
