"""Guest memory for other libraries without a copy: DLPack tensors (PyTorch, NumPy, CuPy, JAX).

``inst.memory.tensor(offset, shape, dtype)`` returns a :class:`Tensor`: an object that
speaks the DLPack protocol (``__dlpack__`` with the ``stream``, ``max_version``,
``dl_device`` and ``copy`` keywords of the Python array API 2023.12, versioned capsules
for consumers that ask for them) over the guest's own bytes, with the device the bytes
live on. Arrow lives in :mod:`zerowasm.interop_arrow`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from copy import copy as shallow_copy
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _zerowasm

if TYPE_CHECKING:
    from .runtime import Memory

__all__ = ["DLDeviceType", "Tensor", "dlpack_device"]


class DLDeviceType(enum.IntEnum):
    """DLPack's ``DLDeviceType`` values zerowasm exports (dlpack.h)."""

    CPU = 1
    CUDA = 2
    CUDA_HOST = 3  # pinned/registered host memory the GPU maps
    VULKAN = 7
    METAL = 8
    CUDA_MANAGED = 13


# numpy dtype kind -> DLDataTypeCode (kDLInt 0, kDLUInt 1, kDLFloat 2, kDLComplex 5, kDLBool 6)
_DTYPE_CODES = {"i": 0, "u": 1, "f": 2, "c": 5, "b": 6}


def dlpack_device(backend: str, memory_mode: str, ordinal: int) -> tuple[DLDeviceType, int]:
    """Where an instance's linear memory lives, as DLPack names it.

    CUDA: guard/bounded memory is host memory registered with the device (mapped), i.e.
    ``kDLCUDAHost``; managed memory is ``kDLCUDAManaged``. Vulkan imports the guest's host
    pages and Metal wraps them (unified memory): for both the bytes are ordinary host memory,
    and no DLPack consumer takes a Vulkan/Metal buffer by address, so they are ``kDLCPU``.
    """
    if backend == "cuda":
        return (DLDeviceType.CUDA_MANAGED if memory_mode == "managed" else DLDeviceType.CUDA_HOST, ordinal)
    return (DLDeviceType.CPU, 0)


class Tensor:
    """``shape`` elements of ``dtype`` at guest byte ``offset`` (C order), exported by DLPack.

    Holds the instance (and its memory) alive for as long as it, or any consumer's tensor made
    from it, exists. Like any view of guest memory, touch it only while no call into the
    instance runs (README "Threading").
    """

    def __init__(self, memory: Memory, native_instance: Any, offset: int, shape: int | Sequence[int],
                 dtype: Any = np.float32) -> None:
        self._array = memory.view(offset, shape, dtype)  # checks range and alignment
        if self._array.dtype.kind not in _DTYPE_CODES or self._array.dtype.byteorder == ">":
            raise TypeError(f"no DLPack type for {self._array.dtype}")
        self._memory = memory
        self._instance = native_instance
        self.offset = offset
        self.device = dlpack_device(native_instance.backend, memory.mode, native_instance.device_ordinal)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._array.shape)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self._array.dtype

    @property
    def address(self) -> int:
        """Host address of the first element (``memory.address + offset``)."""
        return int(self._array.ctypes.data)

    @property
    def nbytes(self) -> int:
        return int(self._array.nbytes)

    def numpy(self) -> np.ndarray[Any, np.dtype[Any]]:
        """The same bytes as a NumPy array (no copy)."""
        return self._array

    def __dlpack_device__(self) -> tuple[int, int]:
        return (int(self.device[0]), self.device[1])

    def as_device(self, device: tuple[int, int]) -> Tensor:
        """The same bytes exported as ``device``, one that addresses them at the same pointer
        (see ``__dlpack__``'s dl_device), for consumers that take no ``kDLCUDAHost`` or
        ``kDLCUDAManaged`` tensor, e.g. ``torch.from_dlpack(t.as_device((DLDeviceType.CPU, 0)))``."""
        wanted = (int(device[0]), int(device[1]))
        if wanted not in self._aliases():
            raise BufferError(f"device {wanted} cannot address these bytes (on {self.__dlpack_device__()}) "
                              "without a copy")
        other = shallow_copy(self)
        other.device = (DLDeviceType(wanted[0]), wanted[1])
        return other

    def _aliases(self) -> list[tuple[int, int]]:
        """Devices that can address these same bytes at the same pointer, own device first."""
        own = self.__dlpack_device__()
        if own[0] == DLDeviceType.CPU:
            return [own]
        found = [own, (int(DLDeviceType.CPU), 0)]  # mapped or managed memory is host-addressable
        if self._instance.device_address(self.offset) == self.address:  # kernels use the host pointer
            found.append((int(DLDeviceType.CUDA), self.device[1]))
        return found

    def __dlpack__(self, *, stream: int | None = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[int, int] | None = None, copy: bool | None = None) -> Any:
        """A DLPack capsule of these bytes (the protocol of the Python array API, 2023.12).

        stream: a CUDA consumer's stream; queued guest ops are finished first (``sync``), so the
        data is ready on any stream (-1: the consumer asks for no synchronization). None on
        CPU devices. max_version: the highest DLPack version the consumer reads; (1, x) or
        later gets a versioned capsule, None a legacy one. dl_device: a device to export to;
        granted without a copy where the same pointer is valid there (mapped/managed CUDA
        memory is also CPU- and, when the kernels use the host pointer, CUDA-addressable).
        copy: False never copies (BufferError where it would have to); True always returns a
        copy, in host memory (so only for a CPU target); None copies only where it must
        (it never must: there is no copying path to a device).
        """
        versioned = max_version is not None and max_version[0] >= 1
        target = tuple(int(v) for v in dl_device) if dl_device is not None else self.__dlpack_device__()
        if copy is True:
            if target[0] != DLDeviceType.CPU:
                raise BufferError(f"copy=True: zerowasm copies only into host memory "
                                  f"(dl_device=({DLDeviceType.CPU:d}, 0)), not to device {target}")
            if stream is not None:
                raise BufferError("stream must be None for a CPU (host) copy")
            self._instance.sync()
            return _capsule(self._array.copy(), (int(DLDeviceType.CPU), 0), versioned, copied=True)
        if target not in self._aliases():
            hint = "refused: copy=False" if copy is False else "pass copy=True for a host copy"
            raise BufferError(f"these bytes live on DLPack device {self.__dlpack_device__()}; device {target} "
                              f"cannot address them without a copy ({hint})")
        if target[0] == DLDeviceType.CPU and stream is not None:
            raise BufferError(f"stream must be None for a CPU device, got {stream!r}")
        if stream == 0:
            raise BufferError("stream=0 is ambiguous in the DLPack protocol: pass 1 (legacy default) or 2 (per-thread)")
        if stream != -1:
            self._instance.sync()  # ops the guest queued are done: the bytes are ready on any stream
        return _capsule(self, target, versioned, copied=False)

    def __repr__(self) -> str:
        return (f"Tensor(offset={self.offset}, shape={self.shape}, dtype={self.dtype}, "
                f"device={self.device[0].name}:{self.device[1]})")


def _capsule(owner: Tensor | np.ndarray[Any, np.dtype[Any]], device: tuple[int, int], versioned: bool,
             copied: bool) -> Any:
    array = owner.numpy() if isinstance(owner, Tensor) else owner
    itemsize = array.dtype.itemsize
    strides = [s // itemsize for s in array.strides]  # DLPack counts strides in elements
    return _zerowasm.dlpack_capsule(owner, int(array.ctypes.data), list(array.shape), strides,
                                    _DTYPE_CODES[array.dtype.kind], itemsize * 8, device[0], device[1], versioned,
                                    copied=copied)
