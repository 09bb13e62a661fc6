"""What every bundled model shares: one guest instance, its host protocol, one threading rule.

The protocol is the guest's (guest/models/common/guest_api.h): an export that fails
returns a negative code (0 for a pointer) and leaves its reason in ``last_error()``;
``info()`` lists the model's facts as ``name=value`` lines; ``alloc``/``free`` hand out
buffers. Nothing here copies a number, an order or an offset from a guest's sources:
what Python needs to know it asks the guest for, by name.

Threading (the rule of the whole package, README "Threading"): a model object may be
called from any thread and its calls serialize. Every public method of a model holds
the model's lock for its whole request (staging inputs, the guest call, reading the
results), so requests never interleave in guest memory; a streaming generator takes
the lock for each step only, so other threads are not blocked while it is paused.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..errors import GuestError, Timeout

_F = TypeVar("_F", bound=Callable[..., Any])

MAX_STRING = 1 << 16  # longest NUL-terminated string read from a guest


def serialized(method: _F) -> _F:
    """Run method holding the model's lock (``self._lock``, or ``self.model._lock``)."""

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        owner = self if isinstance(self, GuestModel) else self.model
        with owner._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class GuestModel:
    """Base of MiniLM and SmolLM: a guest instance spoken to through guest_api.h."""

    error_type: type[GuestError] = GuestError

    def __init__(self, instance: Any) -> None:
        self._lock = threading.RLock()
        self._inst = instance
        self._memory = instance.memory
        self._functions: dict[str, Any] = {}
        # A time.monotonic() instant (a server's request deadline): _call/_call_ptr pass what is
        # left as the call's timeout (the runtime stops the guest there) and raise Timeout without
        # calling once it has passed. None: no deadline.
        self.deadline: float | None = None

    @property
    def instance(self) -> Any:
        """The zerowasm Instance (for stats, memory inspection)."""
        return self._inst

    @property
    def backend(self) -> str:
        return str(self._inst.backend)

    # -- calls and errors ------------------------------------------------------------

    def _fn(self, name: str) -> Any:
        fn = self._functions.get(name)
        if fn is None:
            if self._inst is None:
                raise self.error_type("the model is closed")
            fn = self._functions[name] = self._inst.function(name)
        return fn

    def _invoke(self, name: str, *args: int | float) -> Any:
        fn = self._fn(name)
        if self.deadline is None:
            return fn(*args)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"{name}: the deadline passed before the call", 0.0, 0.0)
        return fn(*args, timeout=left)

    def _call(self, name: str, *args: int | float) -> int:
        """Call an export; a negative result raises error_type with the guest's message."""
        rc = int(self._invoke(name, *args))
        if rc < 0:
            raise self.error_type(f"{name}: {self.last_error() or f'failed ({rc})'}", rc)
        return rc

    def _call_ptr(self, name: str, *args: int | float) -> int:
        """Call an export returning a pointer; 0 raises error_type with the guest's message."""
        ptr = int(self._invoke(name, *args)) & 0xFFFFFFFF  # an i32 result; pointers are unsigned
        if ptr == 0:
            raise self.error_type(f"{name}: {self.last_error() or 'failed'}")
        return ptr

    def last_error(self) -> str:
        """The guest's message about its last failure ("" if none)."""
        ptr = int(self._fn("last_error")()) & 0xFFFFFFFF
        return self._string(ptr) if ptr else ""

    def _string(self, ptr: int) -> str:
        """The NUL-terminated UTF-8 string at ptr (at most MAX_STRING bytes, within memory)."""
        size = self._memory.size
        if not 0 < ptr < size:
            raise self.error_type(f"guest string pointer {ptr} lies outside its {size}-byte memory")
        raw: bytes = self._memory.view(ptr, min(MAX_STRING, size - ptr), np.uint8).tobytes()
        end = raw.find(b"\0")
        if end < 0:
            raise self.error_type(f"guest string at {ptr} is not NUL-terminated within {len(raw)} bytes")
        return raw[:end].decode("utf-8", "replace")

    def _facts(self) -> dict[str, int]:
        """The guest's info(): facts by name."""
        facts: dict[str, int] = {}
        for line in self._string(self._call_ptr("info")).splitlines():
            name, sep, value = line.partition("=")
            if not sep:
                raise self.error_type(f"malformed info() line from the guest: {line!r}")
            facts[name] = int(value)
        return facts

    # -- guest buffers ---------------------------------------------------------------

    def _alloc(self, nbytes: int) -> int:
        return self._call_ptr("alloc", nbytes)

    def _free(self, ptr: int) -> None:
        if ptr:
            self._fn("free")(ptr)

    def _put(self, data: bytes) -> tuple[int, int]:
        """Copy data into a fresh guest buffer: (pointer, length); give it back with _free."""
        if not data:
            return 0, 0
        ptr = self._alloc(len(data))
        self._memory.write(ptr, data)
        return ptr, len(data)
