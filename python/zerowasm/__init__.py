"""zerowasm: WebAssembly guests whose linear memory is the memory GPU kernels compute on."""

from __future__ import annotations

from .errors import CompileError, Error, LinkError, Trap
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
    "Import",
    "Instance",
    "LinkError",
    "Memory",
    "Module",
    "Runtime",
    "Trap",
    "backend_details",
    "backends",
    "wasmtime_library",
]
