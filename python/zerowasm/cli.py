"""The ``zerowasm`` command line: info, run, cc, and the model demos."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .errors import Error
from .guests import GUESTS, guest_path
from .runtime import PAGE_SIZE, Runtime, backend_details


def cmd_info(args: argparse.Namespace) -> int:
    from importlib import metadata

    print(f"zerowasm {__version__} (Python {platform.python_version()}, {platform.machine()})")
    try:
        library = Runtime("cpu").wasmtime_library  # the one the core resolves (ZEROWASM_WASMTIME_LIB...)
    except Error as e:
        library = f"not loadable: {e}"
    print(f"wasmtime {metadata.version('wasmtime')}: {library}")
    print(f"wasm page size: {PAGE_SIZE} bytes")
    print("backends:")
    for name, available, detail in backend_details():
        print(f"  {name:6s} {'available' if available else 'unavailable'}: {detail}")
    return 0


def _parse_arg(text: str) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        return float(text)


def cmd_run(args: argparse.Namespace) -> int:
    rt = Runtime(args.backend, memory=args.memory, timeout=args.timeout, memory_limit=args.memory_limit)
    module = args.module
    if not Path(module).exists() and module in GUESTS:
        module = str(guest_path(module))  # a bundled guest, by name
    inst = rt.load(module).instantiate()
    t0 = time.perf_counter()
    result = inst.call(args.function, *[_parse_arg(a) for a in args.args])
    elapsed = time.perf_counter() - t0
    if result is not None:
        print(result)
    if args.stats:
        stats = inst.stats()
        print(f"backend: {rt.backend}  time: {elapsed * 1e3:.3f} ms  copies: {stats['copies']}", file=sys.stderr)
        for name, op in stats["ops"].items():
            print(f"  zw.{name}: {op['calls']} calls, {op['bytes']} bytes, {op['seconds'] * 1e3:.3f} ms",
                  file=sys.stderr)
    return 0


# Subcommands implemented next to their feature; they parse their own arguments.
DELEGATED: dict[str, tuple[str, str, str]] = {
    "cc": ("toolchain", "main_cc", "build a C guest into a reactor .wasm"),
    "embed": ("models.minilm", "main_embed", "sentence embeddings (MiniLM-L6) and their similarities"),
    "demo": ("models.minilm", "main_demo", "semantic search demo on bundled sentences"),
    "chat": ("models.llm", "main_chat_any", "chat with SmolLM2-135M (or --model FILE.gguf / a name) in a guest"),
    "complete": ("models.llm", "main_complete", "continue a prompt with a GGUF model (--model FILE.gguf / a name)"),
    "serve": ("serve", "main", "OpenAI-compatible HTTP server (needs zerowasm[serve])"),
}


def _run_delegated(name: str, rest: list[str]) -> int:
    import importlib

    module, func, _ = DELEGATED[name]
    target: Callable[[list[str]], int] = getattr(importlib.import_module(f"zerowasm.{module}"), func)
    return int(target(rest))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zerowasm", description="Run Wasm guests on GPU-visible linear memory.")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("info", help="versions, wasmtime library, backends").set_defaults(handler=cmd_info)

    run = sub.add_parser("run", help="call an exported function of a module")
    run.add_argument("module", help="a .wasm/.wat file, or a bundled guest: " + ", ".join(GUESTS))
    run.add_argument("function")
    run.add_argument("args", nargs="*")
    run.add_argument("--backend", default=None)
    run.add_argument("--memory", default="guard", choices=["guard", "mapped", "bounded", "managed"])
    run.add_argument("--stats", action="store_true", help="print op statistics to stderr")
    run.add_argument("--timeout", type=float, default=None, help="deadline of each call in seconds")
    run.add_argument("--memory-limit", type=int, default=None, help="bytes of linear memory the module may commit")
    run.set_defaults(handler=cmd_run)

    for name, (_, _, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] in DELEGATED:
            return _run_delegated(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except Error as e:
        print(f"zerowasm: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
