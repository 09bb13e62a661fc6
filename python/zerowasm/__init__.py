"""zerowasm: WebAssembly guests whose linear memory is the memory GPU kernels compute on."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import CompileError, Error, GuestError, Interrupted, LinkError, OutOfFuel, Timeout, Trap
from .interop import Tensor
from .runtime import (
    PAGE_SIZE,
    Export,
    Import,
    Instance,
    Memory,
    Module,
    Runtime,
    backend_details,
    backends,
    wasmtime_library,
)

__version__ = "0.1.0"

__all__ = [
    "PAGE_SIZE",
    "CompileError",
    "Error",
    "Export",
    "GuestError",
    "Import",
    "Instance",
    "Interrupted",
    "LinkError",
    "Memory",
    "Module",
    "OutOfFuel",
    "Runtime",
    "Tensor",
    "Timeout",
    "Trap",
    "backend_details",
    "backends",
    "wasmtime_library",
]

# Submodules reachable as attributes after `import zerowasm`, imported on first use
# (zerowasm.models must not pull in model code, zerowasm.interop_arrow needs pyarrow).
_LAZY_SUBMODULES = frozenset({"models", "interop_arrow", "guests", "toolchain"})


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
