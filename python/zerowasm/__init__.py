"""zerowasm: WebAssembly guests whose linear memory is the memory GPU kernels compute on."""

from __future__ import annotations

from . import _zerowasm
from .errors import CompileError, Error, Interrupted, LinkError, OutOfFuel, Timeout, Trap
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

_debug = _zerowasm._debug  # measurement hooks for bench/ (not a stable API)

__version__ = "0.1.0"

__all__ = [
    "PAGE_SIZE",
    "CompileError",
    "Error",
    "Export",
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
