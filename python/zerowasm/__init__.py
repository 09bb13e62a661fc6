"""zerowasm: WebAssembly guests whose linear memory is the memory GPU kernels compute on."""

from __future__ import annotations

from .errors import CompileError, Error, GuestError, Interrupted, LinkError, OutOfFuel, Timeout, Trap
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
    "Timeout",
    "Trap",
    "backend_details",
    "backends",
    "wasmtime_library",
]
