"""zerowasm's exceptions. Every failure of zerowasm raises one of these: the runtime, the
guests, the bundled models, their files and downloads. (Misuse of a Python API, such as an
argument of the wrong type or out of its documented range, raises TypeError / ValueError.)"""

from __future__ import annotations


class Error(Exception):
    """Base class of every zerowasm error."""


class GuestError(Error):
    """A bundled model's guest refused a request or its files (the message is the guest's).

    ``code`` is the negative value the guest export returned (-1 when the host found
    the problem). The model stays usable.
    """

    def __init__(self, message: str, code: int = -1) -> None:
        super().__init__(message)
        self.code = code


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
