"""The guest modules zerowasm ships as C sources, built on first use and cached.

Shipping sources (not binaries) keeps one toolchain of record (``zerowasm cc``,
the ziglang PyPI package by default) and lets users rebuild or modify the
guests; the build is cached by a hash of the sources, flags and compiler.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import toolchain
from .models.fetch import cache_dir


@dataclass(frozen=True)
class GuestSpec:
    directory: str  # relative to the guest source root
    shared: tuple[str, ...] = ()  # more source directories built in (and on the include path)
    borrowed: tuple[str, ...] = ()  # single sources of other guests built in (their directory on the include path)
    stack_size: int = 1 << 20
    defines: tuple[str, ...] = ()
    extra_flags: tuple[str, ...] = field(default=())


GUESTS: dict[str, GuestSpec] = {
    "vec_add": GuestSpec("examples/vec_add"),
    # the model guests share the host protocol of guest/models/common/guest_api.h
    "minilm": GuestSpec("models/minilm", shared=("models/common",)),
    "smollm": GuestSpec("models/smollm", shared=("models/common",)),
    # any GGUF decoder: SmolLM's GGUF parser, page allocator, sampler and BPE tokenizer, its own model code
    "llm": GuestSpec("models/llm", shared=("models/common",),
                     borrowed=tuple(f"models/smollm/{n}.c" for n in ("gguf", "bigmem", "sampler", "tokenizer"))),
}


def source_root() -> Path:
    """guest/ sources: installed as package data, or the repository's guest/ directory."""
    installed = Path(__file__).parent / "guest"
    if installed.is_dir():
        return installed
    repo = Path(__file__).resolve().parents[2] / "guest"
    if repo.is_dir():
        return repo
    raise FileNotFoundError("zerowasm's guest sources are missing from this installation")


def _sources(spec: GuestSpec) -> list[Path]:
    root = source_root()
    target = root / spec.directory
    own = sorted(target.glob("*.c")) if target.is_dir() else [target.with_suffix(".c")]
    return (own + [c for d in spec.shared for c in sorted((root / d).glob("*.c"))]
            + [root / b for b in spec.borrowed])


def _include_dirs(spec: GuestSpec, sources: list[Path]) -> list[Path]:
    borrowed_dirs = dict.fromkeys(source_root() / Path(b).parent for b in spec.borrowed)
    return [sources[0].parent, *(source_root() / d for d in spec.shared), *borrowed_dirs]


def guest_path(name: str, *, quiet: bool = False) -> Path:
    """Path to the built ``name`` guest (.wasm), compiling it once if needed."""
    spec = GUESTS[name]
    sources = _sources(spec)
    include_dirs = _include_dirs(spec, sources)
    headers = sorted({h for d in include_dirs for h in d.glob("*.h")})
    digest = hashlib.sha256()
    sdk = toolchain.sdk_include_dir()
    for path in [*sources, *headers, sdk / "zerowasm.h", sdk / "zerowasm_abi.h"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    compiler = toolchain.find_compiler()
    digest.update(repr((spec, compiler.kind, compiler.ident, compiler.flags)).encode())
    out = cache_dir() / "guests" / f"{name}-{digest.hexdigest()[:16]}.wasm"
    if not out.is_file():
        if not quiet:
            print(f"zerowasm: building the {name} guest (first use; cached in {out.parent})...", file=sys.stderr)
        toolchain.compile_c(sources, out, include_dirs=include_dirs, defines=spec.defines,
                            stack_size=spec.stack_size, extra_flags=spec.extra_flags, compiler=compiler)
    return out
