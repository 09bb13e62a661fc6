"""DLPack over guest memory (zerowasm.interop): PyTorch and NumPy get the guest's own bytes.

Every check goes through a real consumer (torch.from_dlpack, np.from_dlpack) and a real
guest (guest/examples/vec_add.c: its `add_sum` runs the host kernel `zw.add` on guest
pointers and sums the result in the guest itself), against NumPy float64 references.
The CUDA device types run in a child process on the CPU-emulated CUDA driver of the
native test build (tests/backends.py), like the op suite's emulated run.
"""

from __future__ import annotations

import ctypes
import gc
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zerowasm
from conftest import EXAMPLES_DIR
from native_build import REPO
from zerowasm.interop import DLDeviceType

torch = pytest.importorskip("torch")

N = 1000
_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_is_valid.restype = ctypes.c_int


@pytest.fixture(scope="module")
def vec_add_wasm(build_guest):
    return build_guest(EXAMPLES_DIR / "vec_add.c")


def instance(wasm, backend: str = "cpu") -> zerowasm.Instance:
    return zerowasm.Runtime(backend).load(wasm).instantiate()


def test_torch_and_numpy_share_the_guest_bytes(vec_add_wasm):
    rng = np.random.default_rng(1)
    inst = instance(vec_add_wasm)
    a, b, out = (inst.exports.alloc(4 * N) for _ in range(3))
    ta, tb, tout = (inst.memory.tensor(off, (N,), np.float32) for off in (a, b, out))
    assert ta.__dlpack_device__() == (DLDeviceType.CPU, 0)

    xa = torch.from_dlpack(ta)
    xb = np.from_dlpack(tb)
    assert xa.data_ptr() == inst.memory.address + a
    assert xb.ctypes.data == inst.memory.address + b
    # Consumers write, the guest reads: torch in place, numpy in place.
    va, vb = rng.standard_normal(N), rng.standard_normal(N)
    xa.copy_(torch.from_numpy(va.astype(np.float32)))
    xa.mul_(2.0)
    xb[:] = vb
    got = inst.exports.add_sum(a, b, out, N)
    want = (2.0 * va.astype(np.float32).astype(np.float64) + vb.astype(np.float32)).sum()
    assert got == pytest.approx(want, rel=1e-5, abs=1e-3)
    # The guest writes (zw.add into `out`), both consumers see it without a new export.
    xout_t, xout_n = torch.from_dlpack(tout), np.from_dlpack(tout)
    inst.exports.add_sum(a, a, out, N)
    np.testing.assert_allclose(xout_t.numpy(), 4.0 * va.astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(xout_n, xout_t.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64, np.int32, np.uint8, np.int64])
def test_dtypes_and_2d_shapes(vec_add_wasm, dtype):
    inst = instance(vec_add_wasm)
    shape = (7, 13)
    off = inst.exports.alloc(8 * 7 * 13)
    off -= off % 8
    t = inst.memory.tensor(off, shape, dtype)
    values = (np.random.default_rng(2).random(shape) * 100).astype(dtype)
    t.numpy()[:] = values
    x = torch.from_dlpack(t)
    assert tuple(x.shape) == shape and x.data_ptr() == inst.memory.address + off
    assert x.stride() == (13, 1)
    np.testing.assert_array_equal(x.numpy(), values)
    np.testing.assert_array_equal(np.from_dlpack(t), values)


def capsule_name(capsule) -> str:
    for name in ("dltensor_versioned", "dltensor", "used_dltensor_versioned", "used_dltensor"):
        if _capsule_is_valid(capsule, name.encode()):
            return name
    raise AssertionError("not a DLPack capsule")


def test_versioned_and_legacy_capsules(vec_add_wasm):
    inst = instance(vec_add_wasm)
    off = inst.exports.alloc(4 * N)
    t = inst.memory.tensor(off, (N,), np.float32)
    t.numpy()[:] = np.arange(N)
    assert capsule_name(t.__dlpack__()) == "dltensor"
    assert capsule_name(t.__dlpack__(max_version=(0, 8))) == "dltensor"
    versioned = t.__dlpack__(max_version=(1, 0))
    assert capsule_name(versioned) == "dltensor_versioned"
    x = torch.utils.dlpack.from_dlpack(versioned)  # consumes (renames) the capsule
    assert capsule_name(versioned) == "used_dltensor_versioned"
    assert x.data_ptr() == inst.memory.address + off
    legacy = torch.utils.dlpack.from_dlpack(t.__dlpack__())
    np.testing.assert_array_equal(legacy.numpy(), np.arange(N, dtype=np.float32))
    # A capsule nobody consumes frees itself (and its reference to the tensor).
    before = sys.getrefcount(t)
    unused = t.__dlpack__(max_version=(1, 0))
    assert sys.getrefcount(t) == before + 1
    del unused
    assert sys.getrefcount(t) == before


def test_copy_stream_and_device_keywords(vec_add_wasm):
    inst = instance(vec_add_wasm)
    off = inst.exports.alloc(4 * N)
    t = inst.memory.tensor(off, (N,), np.float32)
    t.numpy()[:] = np.arange(N)

    copied = np.from_dlpack(t, copy=True)
    assert copied.ctypes.data != inst.memory.address + off
    np.testing.assert_array_equal(copied, np.arange(N, dtype=np.float32))
    copied[:] = -1  # a copy: the guest's bytes are untouched
    assert t.numpy()[5] == 5

    same = np.from_dlpack(t, copy=False)
    assert same.ctypes.data == inst.memory.address + off
    assert np.from_dlpack(t, device="cpu").ctypes.data == inst.memory.address + off

    with pytest.raises(BufferError, match="without a copy"):
        t.__dlpack__(dl_device=(DLDeviceType.CUDA, 0), copy=False)
    with pytest.raises(BufferError, match="only into host memory"):
        t.__dlpack__(dl_device=(DLDeviceType.CUDA, 0), copy=True)
    with pytest.raises(BufferError, match="stream must be None"):
        t.__dlpack__(stream=1)
    assert capsule_name(t.__dlpack__(max_version=(1, 1), dl_device=(1, 0), copy=False)) == "dltensor_versioned"
    assert t.as_device((DLDeviceType.CPU, 0)).__dlpack_device__() == (DLDeviceType.CPU, 0)
    with pytest.raises(BufferError, match="without a copy"):
        t.as_device((DLDeviceType.CUDA, 0))


def test_tensor_outlives_the_instance(vec_add_wasm):
    inst = instance(vec_add_wasm)
    a, b, out = (inst.exports.alloc(4 * N) for _ in range(3))
    values = np.random.default_rng(3).standard_normal(N).astype(np.float32)
    inst.memory.view(a, (N,), np.float32)[:] = values
    inst.memory.view(b, (N,), np.float32)[:] = 1.0
    inst.exports.add_sum(a, b, out, N)
    t = inst.memory.tensor(out, (N,), np.float32)
    capsule = t.__dlpack__(max_version=(1, 0))
    x = torch.from_dlpack(t)
    del inst, t
    gc.collect()
    np.testing.assert_array_equal(x.numpy(), values + 1.0)
    y = torch.utils.dlpack.from_dlpack(capsule)  # the capsule alone kept everything alive
    del capsule
    gc.collect()
    x.add_(1.0)  # still the instance's (live) memory, writable
    np.testing.assert_array_equal(y.numpy(), (values + np.float32(1)) + np.float32(1))


def test_out_of_range_and_misaligned_tensors_are_refused(vec_add_wasm):
    inst = instance(vec_add_wasm)
    with pytest.raises(zerowasm.Error, match="outside"):
        inst.memory.tensor(inst.memory.size - 8, (4,), np.float32)
    with pytest.raises(zerowasm.Error, match="aligned"):
        inst.memory.tensor(1, (4,), np.float32)


@pytest.mark.parametrize("backend", ["vulkan", "metal"])
def test_unified_memory_backends_export_cpu(vec_add_wasm, backend):
    """Vulkan imports and Metal wraps the guest's host pages: ordinary host memory (kDLCPU)."""
    if backend not in zerowasm.backends():
        pytest.skip(f"{backend} backend not available here")
    inst = instance(vec_add_wasm, backend)
    a, b, out = (inst.exports.alloc(4 * N) for _ in range(3))
    x = torch.from_dlpack(inst.memory.tensor(a, (N,), np.float32))
    y = torch.from_dlpack(inst.memory.tensor(out, (N,), np.float32))
    assert inst.memory.tensor(a, (N,), np.float32).__dlpack_device__() == (DLDeviceType.CPU, 0)
    x.copy_(torch.arange(N, dtype=torch.float32))
    inst.memory.view(b, (N,), np.float32)[:] = 0.5
    assert inst.exports.add_sum(a, b, out, N) == pytest.approx(N * N / 2)
    np.testing.assert_array_equal(y.numpy(), np.arange(N, dtype=np.float32) + 0.5)


# Runs in a child process on the emulated CUDA driver (the backend reads ZEROWASM_LIBCUDA once).
CUDA_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    import zerowasm
    from zerowasm.interop import DLDeviceType
    wasm, n = sys.argv[1], 256
    for memory, device in (("guard", DLDeviceType.CUDA_HOST), ("managed", DLDeviceType.CUDA_MANAGED)):
        inst = zerowasm.Runtime("cuda", memory=memory).load(wasm).instantiate()
        a, b, out = (inst.exports.alloc(4 * n) for _ in range(3))
        t = inst.memory.tensor(out, (n,), np.float32)
        assert t.__dlpack_device__() == (device, 0), (memory, t.__dlpack_device__())
        # numpy takes host-accessible CUDA memory; the pointer is the guest's
        x = np.from_dlpack(t)
        assert x.ctypes.data == inst.memory.address + out
        inst.memory.view(a, (n,), np.float32)[:] = np.arange(n)
        inst.memory.view(b, (n,), np.float32)[:] = 2.0
        assert inst.exports.add_sum(a, b, out, n) == sum(i + 2.0 for i in range(n))
        np.testing.assert_array_equal(x, np.arange(n, dtype=np.float32) + 2.0)  # the kernel's write
        # torch (a CPU build here) takes no kDLCUDAHost/Managed tensor; asked for the CPU, it gets the same bytes
        xt = torch.from_dlpack(t.as_device((DLDeviceType.CPU, 0)))
        assert xt.data_ptr() == inst.memory.address + out
        xt.add_(1.0)
        assert inst.exports.add_sum(out, b, a, n) == sum(i + 5.0 for i in range(n))
        # the same bytes as a CUDA device tensor (mapped memory: the kernels use the host pointer)
        assert inst.device_address(out) == inst.memory.address + out
        t.__dlpack__(max_version=(1, 0), dl_device=(DLDeviceType.CUDA, 0), stream=1)
        t.__dlpack__(max_version=(1, 0), stream=-1)
        for bad in ({"stream": 0}, {"dl_device": (DLDeviceType.CUDA, 1)}, {"copy": True}):
            try:
                t.__dlpack__(max_version=(1, 0), **bad)
            except BufferError:
                pass
            else:
                raise AssertionError(f"{bad} was accepted")
        print(memory, "ok", t)
""")


def test_cuda_device_types_on_the_emulated_driver(vec_add_wasm, request):
    if not any(name == "cuda" and not detail.startswith("not built") for name, _, detail in zerowasm.backend_details()):
        pytest.skip("the CUDA backend is not built")
    lib = request.getfixturevalue("native_build").library("zw_fake_cuda")
    assert lib is not None, "the native test build has no zw_fake_cuda library"
    env = dict(os.environ, ZEROWASM_LIBCUDA=str(lib))
    done = subprocess.run([sys.executable, "-c", CUDA_CHILD, str(vec_add_wasm)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "guard ok" in done.stdout and "managed ok" in done.stdout, done.stdout


@pytest.mark.gpu
def test_cuda_device_types_on_a_gpu(vec_add_wasm):
    """On a real GPU: torch (when built with CUDA) reads mapped guest memory as a CUDA tensor."""
    if "cuda" not in zerowasm.backends():
        pytest.skip("no CUDA device")
    inst = instance(vec_add_wasm, "cuda")
    off = inst.exports.alloc(4 * N)
    t = inst.memory.tensor(off, (N,), np.float32)
    assert t.__dlpack_device__() == (DLDeviceType.CUDA_HOST, inst._inst.device_ordinal)
    t.numpy()[:] = np.arange(N)
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    x = torch.utils.dlpack.from_dlpack(t.__dlpack__(dl_device=(DLDeviceType.CUDA, t.device[1])))
    assert x.is_cuda and x.data_ptr() == inst.memory.address + off
    assert float(x.sum()) == pytest.approx(N * (N - 1) / 2)
