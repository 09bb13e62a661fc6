"""Runtime, Module, Instance and Memory: the Python face of the C++ core."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Union

import numpy as np

from . import _zerowasm
from .errors import Error, LinkError
from .interop import Tensor

WASMTIME_VERSION = "50.0.1"
PAGE_SIZE = 65536

Source = Union[str, bytes, bytearray, memoryview, os.PathLike[str]]


def wasmtime_library() -> str:
    """Path of the wasmtime C API library inside the ``wasmtime`` wheel (the file wasmtime-py
    loads). Runtimes fall back to it when neither an explicit library nor
    ``ZEROWASM_WASMTIME_LIB`` names one; the C++ core makes that choice (README "Environment")."""
    return _wasmtime_wheel_library()


@functools.cache
def _wasmtime_wheel_library() -> str:
    # Cached per process (an installed wheel does not change under a running process, and
    # each importlib.metadata lookup grows its path caches: every Runtime() would pay it).
    try:
        version = metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        raise Error(f"the wasmtime package is not installed (pip install wasmtime=={WASMTIME_VERSION})") from None
    if version != WASMTIME_VERSION:
        raise Error(f"zerowasm needs wasmtime=={WASMTIME_VERSION} (its C API v50 layouts), found {version}")
    import wasmtime  # noqa: PLC0415  (only to locate the wheel's files)

    root = Path(wasmtime.__file__).parent
    for name in ("_libwasmtime.so", "_libwasmtime.dylib", "_wasmtime.dll"):
        found = sorted(root.glob(f"*/{name}"))
        if found:
            return str(found[0])
    raise Error(f"no wasmtime C API library found under {root}")


_default_wasmtime_library = wasmtime_library  # (a name Runtime's keyword argument does not shadow)


def backends() -> list[str]:
    """Names of the backends usable on this machine, in ``"auto"`` preference order."""
    return [name for name, available, _ in _zerowasm.backends() if available]


def backend_details() -> list[tuple[str, bool, str]]:
    """Every compiled-in backend as (name, available, device or reason unavailable)."""
    return [(name, available, detail) for name, available, detail in _zerowasm.backends()]


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: str
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()


@dataclass(frozen=True)
class Export:
    name: str
    kind: str
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()


class Runtime:
    """Loads modules for one backend.

    backend: ``"auto"`` (``ZEROWASM_BACKEND`` if set, else the first available of cuda,
    metal, cpu) or a name from :func:`backends`. memory: default memory mode of instances:
    ``"guard"`` (host pages, bounds checks elided), ``"bounded"`` (explicit bounds checks)
    or ``"managed"`` (GPU-managed memory, CUDA only). ``"mapped"`` is an alias of ``"guard"``.
    wasmtime_library: a libwasmtime (C API v50) to load instead of ``ZEROWASM_WASMTIME_LIB``
    or the wasmtime wheel's. Environment variables are read by the C++ core only: this class
    passes what it was given.
    timeout: default deadline in seconds of every call (``Instance.call(timeout=)`` overrides);
    a call past it raises :class:`~zerowasm.Timeout`. memory_limit: bytes of linear memory all
    instances of this runtime may commit together; a guest ``memory.grow`` past it returns -1,
    an ``instantiate`` past it raises :class:`~zerowasm.Error` naming the limit.
    """

    def __init__(self, backend: str | None = None, memory: str = "guard", timeout: float | None = None,
                 memory_limit: int | None = None, *,
                 wasmtime_library: str | os.PathLike[str] | None = None) -> None:
        if memory_limit is not None and memory_limit < 0:
            raise Error(f"memory_limit must be >= 0 bytes, got {memory_limit}")
        try:
            default_library, why_none = _default_wasmtime_library(), ""
        except Error as e:  # the core may still find one ($ZEROWASM_WASMTIME_LIB, the search path)
            default_library, why_none = "", str(e)
        explicit = os.fspath(wasmtime_library) if wasmtime_library is not None else ""
        try:
            self._rt = _zerowasm.Runtime(backend or "auto", memory, explicit, default_library, timeout,
                                         memory_limit)
        except Error as e:
            if why_none:
                raise Error(f"{e} ({why_none})") from e
            raise

    @property
    def wasmtime_library(self) -> str:
        """The libwasmtime this process loaded."""
        return str(self._rt.wasmtime_library)

    @property
    def backend(self) -> str:
        return self._rt.backend

    @property
    def memory_mode(self) -> str:
        return self._rt.memory_mode

    def load(self, src: Source) -> Module:
        """Compile a module from a path, Wasm bytes, or WAT text."""
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = bytes(src)
            if data[:4] == b"\0asm":
                return Module(self._rt.load_bytes(data))
            return Module(self._rt.load_wat(data.decode("utf-8")))
        if isinstance(src, str) and src.lstrip().startswith("("):
            return Module(self._rt.load_wat(src))
        path = Path(src)
        if not path.is_file():
            raise Error(f"no such module file: {path}")
        return self.load(path.read_bytes())

    def __repr__(self) -> str:
        return f"Runtime(backend={self.backend!r}, memory={self.memory_mode!r})"


class Module:
    def __init__(self, mod: _zerowasm.Module) -> None:
        self._mod = mod

    @property
    def imports(self) -> list[Import]:
        return [Import(m, n, k, tuple(p), tuple(r)) for m, n, k, p, r in self._mod.imports]

    @property
    def exports(self) -> list[Export]:
        return [Export(n, k, tuple(p), tuple(r)) for n, k, p, r in self._mod.exports]

    def instantiate(
        self, max_memory: int | None = None, memory: str | None = None, wasi: bool = True, fuel: int | None = None
    ) -> Instance:
        """Instantiate (and run ``_initialize`` for reactors).

        max_memory: bytes the guest may grow to. memory: override the runtime's memory mode.
        wasi: satisfy ``wasi_snapshot_preview1`` imports (stdout/stderr inherited).
        fuel: meter the instance: it may execute about this many Wasm instructions
        (``_initialize`` included) before calls raise :class:`~zerowasm.OutOfFuel`.
        """
        if fuel is not None and fuel < 0:
            raise Error(f"fuel must be >= 0, got {fuel}")
        return Instance(self._mod.instantiate(max_memory, memory, wasi, fuel), self.exports)


class Exports:
    """Attribute access to an instance's exported functions: ``inst.exports.run(1, 2)``."""

    def __init__(self, inst: Instance) -> None:
        self._inst = inst

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._inst.function(name)
        except LinkError as e:
            raise AttributeError(str(e)) from None

    def __getitem__(self, name: str) -> Any:
        return self._inst.function(name)

    def __dir__(self) -> list[str]:
        return [e.name for e in self._inst.export_list if e.kind == "func"]


class Memory(_zerowasm.Memory):
    """The instance's linear memory: its own bytes, not a copy.

    Supports the buffer protocol (``memoryview(mem)``, ``np.asarray(mem)``). Views keep the
    instance alive. The base address never moves; views made before a ``grow`` stay valid but
    only cover the memory as it was.
    """

    _native_instance: Any

    def view(self, offset: int, shape: int | Sequence[int], dtype: Any = np.uint8) -> np.ndarray:
        """A writable numpy array over ``shape`` elements of ``dtype`` at byte ``offset``."""
        dt = np.dtype(dtype)
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        count = math.prod(dims)
        if offset < 0 or count < 0 or offset + count * dt.itemsize > self.size:
            raise Error(f"view [{offset}, +{count}x{dt.itemsize} bytes) lies outside the memory's {self.size} bytes")
        if dt.alignment > 1 and offset % dt.alignment:
            raise Error(f"view offset {offset} is not {dt.alignment}-byte aligned for {dt}")
        exporter: Any = self  # the compiled class exports its bytes (Py_bf_getbuffer); its stub can't say so
        return np.frombuffer(exporter, dtype=dt, count=count, offset=offset).reshape(dims)

    def tensor(self, offset: int, shape: int | Sequence[int], dtype: Any = np.float32) -> Tensor:
        """A DLPack-exportable tensor over ``shape`` elements of ``dtype`` at byte ``offset``:
        ``torch.from_dlpack(t)``, ``np.from_dlpack(t)``, CuPy, JAX get the guest's own bytes,
        on the device they live on (README "Interop")."""
        return Tensor(self, self._native_instance, offset, shape, dtype)

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self.view(offset, size))

    def write(self, offset: int, data: bytes | bytearray | memoryview | np.ndarray) -> None:
        src = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).ravel()
        self.view(offset, src.size)[:] = src

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Memory(address=0x{self.address:x}, size={self.size}, mode={self.mode!r})"


class Instance:
    """A running guest. It may be called from any thread; calls serialize (README "Threading").
    Calls release the GIL: different instances run in parallel on different threads."""

    def __init__(self, inst: _zerowasm.Instance, export_list: list[Export]) -> None:
        self._inst = inst
        self._memory: Memory | None = None
        self.export_list = export_list
        self.exports = Exports(self)

    def function(self, name: str) -> _zerowasm.Function:
        return self._inst.function(name)

    def call(self, name: str, *args: int | float, timeout: float | None = None) -> Any:
        """Call an exported function; i32/i64/f32/f64 arguments and results.

        timeout: seconds (overrides the runtime's default; ``0`` means none); past it the call
        raises :class:`~zerowasm.Timeout`. Ctrl-C on the main thread raises ``KeyboardInterrupt``.
        """
        return self._inst.function(name)(*args, timeout=timeout)

    def interrupt(self) -> None:
        """Stop the call running in another thread (it raises :class:`~zerowasm.Interrupted`).

        With no call running, the next call stops at once. Safe from any thread.
        """
        self._inst.interrupt()

    @property
    def fuel_remaining(self) -> int:
        """Fuel left (instances created with ``fuel=`` only)."""
        return int(self._inst.fuel_remaining)

    def add_fuel(self, fuel: int) -> None:
        """Give a metered instance ``fuel`` more units."""
        if fuel < 0:
            raise Error(f"add_fuel takes a count >= 0, got {fuel}")
        self._inst.add_fuel(fuel)

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            if not self._inst.has_memory():
                raise Error("the module defines no linear memory")
            self._memory = Memory(self._inst)
            self._memory._native_instance = self._inst  # for tensor(): device, sync (no reference cycle)
        return self._memory

    @property
    def backend(self) -> str:
        return self._inst.backend

    def sync(self) -> None:
        self._inst.sync()

    def stats(self) -> dict[str, Any]:
        """Per-op calls, bytes and seconds, plus ``copies`` (staging copies any backend made)."""
        return self._inst.stats()

    def reset_stats(self) -> None:
        self._inst.reset_stats()

    def device_address(self, offset: int) -> int:
        """Address the backend's kernels use for guest offset ``offset``."""
        return self._inst.device_address(offset)
