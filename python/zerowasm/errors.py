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


class Timeout(Trap):
    """A call ran past its deadline (``timeout=`` of the call or of the Runtime).

    ``elapsed``: seconds the call ran; ``timeout``: its deadline in seconds. The guest was
    stopped at its next loop header, function entry or ``zw.*`` op boundary after the
    deadline, once queued ops finished. The instance stays usable.
    """

    def __init__(self, message: str, elapsed: float = 0.0, timeout: float = 0.0) -> None:
        super().__init__(message, -1)
        self.elapsed = elapsed
        self.timeout = timeout


class Interrupted(Trap):
    """``Instance.interrupt()`` (from another thread) stopped the call; ``elapsed`` seconds.

    The instance stays usable. Ctrl-C raises ``KeyboardInterrupt`` instead.
    """

    def __init__(self, message: str, elapsed: float = 0.0) -> None:
        super().__init__(message, -1)
        self.elapsed = elapsed


class OutOfFuel(Trap):
    """The instance used up its fuel (``instantiate(fuel=N)``); ``add_fuel(n)`` and call again."""


class CompileError(Error):
    """The bytes are not a valid module, or the WAT text did not parse."""


class LinkError(Error):
    """Instantiation failed: unknown import, imported memory, missing export..."""
