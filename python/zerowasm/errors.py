"""zerowasm's exceptions. Every failure of the runtime raises one of these."""

from __future__ import annotations


class Error(Exception):
    """Base class of every zerowasm error."""


class Trap(Error):
    """The guest trapped: a Wasm trap, or a ``zw.*`` op that rejected its arguments.

    The instance stays usable. ``code`` is wasmtime's trap code
    (``WASMTIME_TRAP_CODE_*``), or -1 for traps the host raised.
    """

    def __init__(self, message: str, code: int = -1) -> None:
        super().__init__(message)
        self.code = code


class CompileError(Error):
    """The bytes are not a valid module, or the WAT text did not parse."""


class LinkError(Error):
    """Instantiation failed: unknown import, imported memory, missing export..."""
