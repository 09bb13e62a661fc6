"""Guest toolchain: compile C (or C++) into a wasm32 reactor module for zerowasm.

The compiler is, in order of preference:
  1. the command in $ZEROWASM_CC (e.g. "clang-18" or "zig cc"; $ZEROWASM_CXX for C++),
  2. the `ziglang` PyPI package (`python -m ziglang cc`): bundles clang, wasm-ld and
     wasi-libc, so a plain `pip install` is enough,
  3. a system clang with wasi-libc (Debian: clang lld wasi-libc libclang-rt-<N>-dev-wasm32).

Every output is checked before it is published: it must be a Wasm binary whose imports
all come from "zw" (the kernel ABI) or "wasi_snapshot_preview1".
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ALLOWED_IMPORT_MODULES",
    "Compiler",
    "NoCompilerError",
    "ToolchainError",
    "compile_c",
    "find_compiler",
    "main_cc",
    "module_exports",
    "module_imports",
    "sdk_include_dir",
]

try:  # share the package's error root; errors.py is pure Python, safe even mid-import
    from zerowasm.errors import Error as _ErrorBase
except ImportError:  # loaded standalone from the source tree
    _ErrorBase = RuntimeError  # type: ignore[misc,assignment]

# Keep `except RuntimeError` working whichever base was found.
_ERROR_BASES: tuple[type[Exception], ...] = (
    (_ErrorBase,) if issubclass(_ErrorBase, RuntimeError) else (_ErrorBase, RuntimeError)
)


class ToolchainError(*_ERROR_BASES):  # type: ignore[misc]
    """A guest could not be built: no compiler, a compile/link error, or a rejected module."""


class NoCompilerError(ToolchainError):
    """No usable wasm32-wasi compiler was found (tests skip on this one)."""


ALLOWED_IMPORT_MODULES = frozenset({"zw", "wasi_snapshot_preview1"})
WASM_MAGIC = b"\0asm"
TARGET_FLAGS = ("--target=wasm32-wasi", "-mexec-model=reactor")
CXX_SUFFIXES = frozenset({".cc", ".cpp", ".cxx", ".c++", ".C"})
# Compilers disagree on the default stack (wasi-sdk/clang 64 KiB, zig 16 MiB), so a guest
# would overflow or not depending on who built it: always set it. 1 MiB suits model code,
# which keeps its big buffers on the heap.
DEFAULT_STACK_SIZE = 1 << 20
_OPT_RE = re.compile(r"-O([0-3sz]|g|fast)?")


# ----------------------------------------------------------------------------- SDK headers


def sdk_include_dir() -> Path:
    """Directory holding zerowasm.h: the installed package's copy, else the source tree's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "include", here.parents[1] / "guest" / "include"):
        if (candidate / "zerowasm.h").is_file():
            return candidate
    raise ToolchainError(
        f"zerowasm.h not found in {here / 'include'} (installed package) "
        f"or {here.parents[1] / 'guest' / 'include'} (source tree)"
    )


# ----------------------------------------------------------------------------- compilers


@dataclass(frozen=True)
class Compiler:
    """A wasm32-wasi compiler driver and what distinguishes its output (for caches)."""

    kind: str  # "zig", "clang" or "custom"
    cc: tuple[str, ...]  # argv prefix of the C driver
    cxx: tuple[str, ...]  # argv prefix of the C++ driver
    ident: str  # version text: part of build cache keys
    flags: tuple[str, ...] = ()  # driver-specific flags added to every build
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment


def zig_cache_dir() -> Path:
    """Zig's global cache: a stable place, so its one-off wasi-libc build (~30 s) is paid once."""
    if os.environ.get("ZIG_GLOBAL_CACHE_DIR"):
        return Path(os.environ["ZIG_GLOBAL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zerowasm" / "zig"


@functools.cache
def _version_line(argv: tuple[str, ...]) -> str:
    try:
        done = subprocess.run(
            [*argv, "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _is_zig(argv: Sequence[str]) -> bool:
    return any(Path(a).name in ("zig", "zig.exe", "ziglang") for a in argv)


def _cxx_of(argv: tuple[str, ...]) -> tuple[str, ...]:
    if os.environ.get("ZEROWASM_CXX"):
        return tuple(shlex.split(os.environ["ZEROWASM_CXX"]))
    if argv and argv[-1] == "cc" and _is_zig(argv):
        return (*argv[:-1], "c++")
    name = Path(argv[0]).name
    if name.startswith("clang") and not name.startswith("clang++"):
        return (
            str(Path(argv[0]).with_name("clang++" + name[len("clang") :])),
            *argv[1:],
        )
    return argv


def _from_env(command: str) -> Compiler:
    argv = tuple(shlex.split(command))
    if not argv:
        raise NoCompilerError("ZEROWASM_CC is set but empty")
    if shutil.which(argv[0]) is None:
        raise NoCompilerError(f"ZEROWASM_CC={command!r}: {argv[0]!r} is not an executable on PATH")
    if _is_zig(argv):
        return Compiler(
            "zig",
            argv,
            _cxx_of(argv),
            f"{shlex.join(argv)}: {_version_line(argv)}",
            env={"ZIG_GLOBAL_CACHE_DIR": str(zig_cache_dir())},
        )
    kind = "clang" if Path(argv[0]).name.startswith("clang") else "custom"
    flags = ("-Wl,--stack-first",) if kind == "clang" else ()
    return Compiler(kind, argv, _cxx_of(argv), _version_line(argv), flags)


@functools.cache
def _ziglang_version() -> str:
    # Cached: every importlib.metadata lookup leaves ~100 bytes in its path caches,
    # and guest_path() asks on every model construction (a soak test counts them).
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ziglang")
    except PackageNotFoundError:
        return "unknown"


def _from_ziglang() -> Compiler | None:
    if importlib.util.find_spec("ziglang") is None:
        return None
    zig_version = _ziglang_version()
    prefix = (sys.executable, "-m", "ziglang")
    # zig already puts the stack first in memory, and rejects -Wl,--stack-first.
    return Compiler(
        "zig",
        (*prefix, "cc"),
        (*prefix, "c++"),
        f"ziglang {zig_version}",
        env={"ZIG_GLOBAL_CACHE_DIR": str(zig_cache_dir())},
    )


def _prints_existing_file(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
    except OSError:
        return False
    path = Path(done.stdout.strip())
    return done.returncode == 0 and path.is_absolute() and path.is_file()


def _from_system_clang(reasons: list[str]) -> Compiler | None:
    names = ["clang"] + [f"clang-{v}" for v in range(22, 13, -1)]
    found = [p for p in (shutil.which(n) for n in names) if p]
    if not found:
        reasons.append("no clang on PATH")
        return None
    sysroot = os.environ.get("WASI_SYSROOT")
    for clang in found:
        argv: tuple[str, ...] = (clang,)
        if sysroot:
            argv += (f"--sysroot={sysroot}",)
        elif not Path("/usr/include/wasm32-wasi/stdlib.h").is_file():
            reasons.append(f"{clang}: no wasi-libc (install wasi-libc, or set WASI_SYSROOT)")
            continue
        # A missing linker or compiler-rt makes every link fail late: check both now.
        missing = [
            what
            for query, what in (
                ("-print-prog-name=wasm-ld", "wasm-ld (install lld)"),
                ("-print-libgcc-file-name", "wasm32 builtins (libclang-rt-<N>-dev-wasm32)"),
            )
            if not _prints_existing_file([*argv, TARGET_FLAGS[0], query])
        ]
        if missing:
            reasons.append(f"{clang}: no {' or '.join(missing)}")
            continue
        # The stack grows down from its top: placed first, an overflow runs off address 0
        # and traps instead of silently overwriting static data.
        return Compiler(
            "clang",
            argv,
            _cxx_of(argv),
            _version_line((clang,)),
            ("-Wl,--stack-first",),
        )
    return None


def find_compiler() -> Compiler:
    """The compiler to use now (reads the environment each call; version probes are cached)."""
    if os.environ.get("ZEROWASM_CC"):
        return _from_env(os.environ["ZEROWASM_CC"])
    compiler = _from_ziglang()
    if compiler is not None:
        return compiler
    reasons = ["the `ziglang` package is not installed"]
    compiler = _from_system_clang(reasons)
    if compiler is not None:
        return compiler
    raise NoCompilerError(
        "no wasm32-wasi C compiler found (" + "; ".join(reasons) + "). "
        "Fix: `pip install ziglang`, or install clang + wasi-libc, or set ZEROWASM_CC."
    )


# ----------------------------------------------------------------------------- building


def compile_c(
    sources: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    opt: str = "-O2",
    include_dirs: Iterable[str | os.PathLike[str]] = (),
    defines: Iterable[str] = (),
    stack_size: int = DEFAULT_STACK_SIZE,
    extra_flags: Iterable[str] = (),
    exports: Iterable[str] = (),
    strip: bool = True,
    compiler: Compiler | None = None,
) -> Path:
    """Build a stripped wasm32 reactor module from C/C++ sources and return its path.

    Functions marked `__attribute__((export_name("f")))` become exports; `exports` adds
    more by symbol name. `defines` are "NAME" or "NAME=VALUE". `stack_size` is in bytes
    (a multiple of 16); the stack sits below the static data, so an overflow traps.
    The module's `_initialize` export must be called once before any other (zerowasm's
    instantiate does it).
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    srcs = [Path(s) for s in sources]
    if not srcs:
        raise ToolchainError("compile_c: no source files given")
    for src in srcs:
        if not src.is_file():
            raise ToolchainError(f"compile_c: source file not found: {src}")
    if not _OPT_RE.fullmatch(opt):
        raise ToolchainError(f"compile_c: bad optimisation flag {opt!r} (expected e.g. -O2, -Os)")
    if stack_size <= 0 or stack_size % 16:
        raise ToolchainError(f"compile_c: stack_size must be a positive multiple of 16, got {stack_size}")

    cc = compiler or find_compiler()
    is_cxx = any(s.suffix in CXX_SUFFIXES for s in srcs)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and rename: readers (and parallel test workers) never see
    # a half-written or unchecked module.
    # (A fresh name, not mkstemp: the compiler creates the file with normal permissions.)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    cmd = [
        *(cc.cxx if is_cxx else cc.cc),
        *TARGET_FLAGS,
        opt,
        *(["-fno-exceptions"] if is_cxx else []),  # wasi has no C++ exception runtime
        *(f"-I{d}" for d in include_dirs),
        f"-I{sdk_include_dir()}",
        *(f"-D{d}" for d in defines),
        *cc.flags,
        f"-Wl,-z,stack-size={stack_size}",
        *(["-Wl,--strip-all"] if strip else []),
        *(f"-Wl,--export={name}" for name in exports),
        *extra_flags,
        "-o",
        str(tmp),
        *(str(s) for s in srcs),
    ]
    try:
        try:
            done = subprocess.run(
                cmd,
                check=False,
                capture_output=True,
                text=True,
                env={**os.environ, **cc.env},
            )
        except OSError as exc:
            raise ToolchainError(f"could not run the compiler ({shlex.join(cmd)}): {exc}") from exc
        if done.returncode != 0:
            message = (done.stderr + done.stdout).strip() or f"exit status {done.returncode}"
            raise ToolchainError(
                f"guest build failed ({', '.join(map(str, srcs))}):\n{message}\ncommand: {shlex.join(cmd)}"
            )
        _check_module(tmp.read_bytes(), srcs)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _check_module(data: bytes, srcs: Sequence[Path]) -> None:
    if not data.startswith(WASM_MAGIC):
        raise ToolchainError(f"compiler output for {srcs[0]} is not a Wasm module (starts with {data[:8]!r})")
    try:
        imports = module_imports(data)
    except ValueError as exc:
        raise ToolchainError(f"compiler output for {srcs[0]} is malformed: {exc}") from exc
    bad = [f"{m}.{n} ({k})" for m, n, k in imports if m not in ALLOWED_IMPORT_MODULES]
    if bad:
        raise ToolchainError(
            f"guest built from {srcs[0]} imports {', '.join(bad)}; zerowasm provides only "
            f"modules {sorted(ALLOWED_IMPORT_MODULES)} (declare kernels via zerowasm.h)"
        )


# ----------------------------------------------------------------------------- reading modules


def _listing_engine() -> Any:
    """A wasmtime engine that compiles fast: it only lists imports and exports. Made per call,
    not cached: a module-level engine would be freed at interpreter exit, after wasmtime's
    own ctypes bindings are gone, and print a TypeError traceback."""
    import wasmtime  # noqa: PLC0415  (a dependency; imported only when a module is read)

    config = wasmtime.Config()
    config.cranelift_opt_level = "none"
    return wasmtime.Engine(config)


def _module(wasm: bytes) -> Any:
    import wasmtime  # noqa: PLC0415

    if not wasm.startswith(WASM_MAGIC):
        raise ValueError("not a Wasm binary (missing \\0asm header)")
    try:
        return wasmtime.Module(_listing_engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        raise ValueError(str(exc).splitlines()[0]) from exc


def _kind(extern_type: Any) -> str:
    import wasmtime  # noqa: PLC0415

    kinds = {wasmtime.FuncType: "func", wasmtime.TableType: "table", wasmtime.MemoryType: "memory",
             wasmtime.GlobalType: "global", wasmtime.TagType: "tag"}
    return kinds.get(type(extern_type), "other")


def module_imports(wasm: bytes) -> list[tuple[str, str, str]]:
    """(module, name, kind) for each import, kind in func/table/memory/global/tag, as wasmtime
    reads them. A malformed or invalid module is a ValueError."""
    return [(i.module, i.name or "", _kind(i.type)) for i in _module(wasm).imports]


def module_exports(wasm: bytes) -> list[tuple[str, str]]:
    """(name, kind) for each export, kind in func/table/memory/global/tag, as wasmtime reads them."""
    return [(e.name, _kind(e.type)) for e in _module(wasm).exports]


# ----------------------------------------------------------------------------- CLI


def _cli_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="zerowasm cc",
        allow_abbrev=False,
        description="Compile C/C++ into a zerowasm guest (wasm32 reactor, stripped, "
        "zerowasm.h on the include path). Unrecognised -flags go to the compiler.",
    )
    p.add_argument("sources", nargs="+", type=Path, metavar="source")
    p.add_argument("-o", dest="output", required=True, type=Path, help="output .wasm")
    p.add_argument("-O", dest="opt", default="2", metavar="LEVEL", help="0-3, s, z (default 2)")
    p.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]")
    p.add_argument(
        "--stack-size",
        type=int,
        default=DEFAULT_STACK_SIZE,
        metavar="BYTES",
        help=f"stack size (default {DEFAULT_STACK_SIZE})",
    )
    p.add_argument(
        "--export",
        dest="exports",
        action="append",
        default=[],
        metavar="SYMBOL",
        help="also export this symbol (besides export_name-marked functions)",
    )
    p.add_argument("-g", dest="debug", action="store_true", help="keep debug info (no strip)")
    p.add_argument("-v", "--verbose", action="store_true", help="print compiler and result")
    return p


def main_cc(argv: list[str]) -> int:
    """`zerowasm cc in.c [more.c] -o out.wasm [-O2] [-I dir] [-D X] [--stack-size N]`."""
    args, extra = _cli_parser().parse_known_args(argv)
    unknown = [a for a in extra if not a.startswith("-")]
    if unknown:
        print(f"zerowasm cc: unexpected arguments {unknown}", file=sys.stderr)
        return 2
    try:
        compiler = find_compiler()
        if args.verbose or (compiler.kind == "zig" and not zig_cache_dir().exists()):
            print(
                f"zerowasm cc: using {compiler.ident} ({shlex.join(compiler.cc)})"
                + (
                    "; first use builds zig's libc cache (~30 s)"
                    if compiler.kind == "zig" and not zig_cache_dir().exists()
                    else ""
                ),
                file=sys.stderr,
            )
        out = compile_c(
            args.sources,
            args.output,
            opt=f"-O{args.opt}",
            include_dirs=args.include_dirs,
            defines=args.defines,
            stack_size=args.stack_size,
            extra_flags=[*extra, *(["-g"] if args.debug else [])],
            exports=args.exports,
            strip=not args.debug,
            compiler=compiler,
        )
    except ToolchainError as exc:
        print(f"zerowasm cc: {exc}", file=sys.stderr)
        return 1
    if args.verbose:
        data = out.read_bytes()
        print(
            f"zerowasm cc: wrote {out} ({len(data)} bytes); exports "
            f"{[n for n, _ in module_exports(data)]}; imports "
            f"{[f'{m}.{n}' for m, n, _ in module_imports(data)]}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main_cc(sys.argv[1:]))
