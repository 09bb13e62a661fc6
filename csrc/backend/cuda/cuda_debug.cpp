// Bench helpers (see cuda_debug.hpp). They share the device, kernels and
// launch geometry with the executor so the comparisons are like for like.
#include "backend/cuda/cuda_debug.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_device.hpp"
#include "zerowasm/error.hpp"

namespace zw {
namespace {

using cuda::CUDA_SUCCESS;
using cuda::CUdeviceptr;
using cuda::CUstream;
using cuda::Device;
using cuda::Kernel;

std::shared_ptr<Device> open_device() {
  std::string why;
  std::shared_ptr<Device> d = Device::open(why);
  if (!d) throw Error("CUDA is unavailable: " + why);
  d->make_current();
  return d;
}

struct Stream {
  explicit Stream(const Device& d) : device(d) {
    d.check(d.driver().cuStreamCreate(&handle, cuda::CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  }
  ~Stream() {
    if (device.try_make_current()) {
      device.driver().cuStreamSynchronize(handle);
      device.driver().cuStreamDestroy(handle);
    }
  }
  const Device& device;
  CUstream handle = nullptr;
};

struct DeviceBuffer {
  DeviceBuffer(const Device& d, size_t bytes) : device(d) {
    d.check(d.driver().cuMemAlloc(&ptr, bytes), "cuMemAlloc of " + std::to_string(bytes) + " bytes");
  }
  ~DeviceBuffer() {
    if (device.try_make_current()) device.driver().cuMemFree(ptr);
  }
  const Device& device;
  CUdeviceptr ptr = 0;
};

void* page_alloc(size_t bytes) {
#if defined(_WIN32)
  return _aligned_malloc(bytes, 4096);
#else
  return std::aligned_alloc(4096, bytes);
#endif
}
void page_free(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

// Page-aligned host memory, optionally registered (pinned + mapped).
struct HostBuffer {
  HostBuffer(const Device& d, size_t bytes, bool pin) : device(d), size((bytes + 4095) / 4096 * 4096) {
    data = static_cast<float*>(page_alloc(size));
    if (!data) throw Error("out of host memory allocating " + std::to_string(size) + " bytes");
    std::memset(data, 0, size);
    if (pin) {
      cuda::CUresult r = d.driver().cuMemHostRegister(
          data, size, cuda::CU_MEMHOSTREGISTER_DEVICEMAP | cuda::CU_MEMHOSTREGISTER_PORTABLE);
      if (r != CUDA_SUCCESS) {
        page_free(data);
        d.check(r, "cuMemHostRegister");
      }
      registered = true;
    }
  }
  ~HostBuffer() {
    if (registered && device.try_make_current()) device.driver().cuMemHostUnregister(data);
    page_free(data);
  }
  CUdeviceptr device_pointer() const {
    if (device.host_pointer_is_device_pointer()) return reinterpret_cast<uintptr_t>(data);
    CUdeviceptr d = 0;
    device.check(device.driver().cuMemHostGetDevicePointer(&d, data, 0), "cuMemHostGetDevicePointer");
    return d;
  }
  const Device& device;
  size_t size;
  float* data = nullptr;
  bool registered = false;
};

// The add launch exactly as CudaExecutor::run(ElementwiseArgs) issues it.
void launch_add(const Device& d, CUstream stream, CUdeviceptr a, CUdeviceptr b, CUdeviceptr out, int64_t n) {
  zw_cuda::ElementwiseParams p{};
  p.a = a;
  p.b = b;
  p.out = out;
  p.n = n;
  p.vec4 = ((a | b | out) & 15) == 0 ? 1 : 0;
  const uint64_t items = p.vec4 ? (static_cast<uint64_t>(n) + 3) / 4 : static_cast<uint64_t>(n);
  const unsigned blocks = cuda::grid_stride_blocks(d, items, zw_cuda::kElementwiseThreads);
  void* args[] = {&p};
  d.check(d.driver().cuLaunchKernel(d.function(Kernel::zw_ew_add), blocks, 1, 1, zw_cuda::kElementwiseThreads, 1,
                                    1, 0, stream, args, nullptr),
          "cuLaunchKernel(zw_ew_add)");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double cuda_raw_launch_loop(int iterations, int elements) {
  if (iterations < 1 || elements < 1) throw Error("cuda_raw_launch_loop: iterations and elements must be >= 1");
  std::shared_ptr<Device> d = open_device();
  const size_t bytes = static_cast<size_t>(elements) * sizeof(float);
  HostBuffer a(*d, bytes, true), b(*d, bytes, true), out(*d, bytes, true);
  Stream stream(*d);
  launch_add(*d, stream.handle, a.device_pointer(), b.device_pointer(), out.device_pointer(), elements);  // warm-up
  d->check(d->driver().cuStreamSynchronize(stream.handle), "cuStreamSynchronize");
  const CUdeviceptr pa = a.device_pointer(), pb = b.device_pointer(), po = out.device_pointer();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) launch_add(*d, stream.handle, pa, pb, po, elements);
  d->check(d->driver().cuStreamSynchronize(stream.handle), "cuStreamSynchronize");
  return seconds_since(t0);
}

double cuda_copy_path_add(int iterations, int64_t elements, bool pinned) {
  if (iterations < 1 || elements < 1) throw Error("cuda_copy_path_add: iterations and elements must be >= 1");
  std::shared_ptr<Device> d = open_device();
  const cuda::Driver& drv = d->driver();
  const size_t bytes = static_cast<size_t>(elements) * sizeof(float);
  // "Guest memory" (pageable host pages) and the staging buffers a copy-based
  // runtime moves data through.
  std::vector<float> ga(static_cast<size_t>(elements)), gb(ga.size()), gout(ga.size());
  for (size_t i = 0; i < ga.size(); ++i) {
    ga[i] = static_cast<float>(i % 1000) * 0.5f;
    gb[i] = static_cast<float>(i % 7);
  }
  HostBuffer sa(*d, bytes, pinned), sb(*d, bytes, pinned), sout(*d, bytes, pinned);
  DeviceBuffer da(*d, bytes), db(*d, bytes), dout(*d, bytes);
  Stream stream(*d);
  auto once = [&] {
    std::memcpy(sa.data, ga.data(), bytes);
    std::memcpy(sb.data, gb.data(), bytes);
    d->check(drv.cuMemcpyHtoDAsync(da.ptr, sa.data, bytes, stream.handle), "cuMemcpyHtoDAsync");
    d->check(drv.cuMemcpyHtoDAsync(db.ptr, sb.data, bytes, stream.handle), "cuMemcpyHtoDAsync");
    launch_add(*d, stream.handle, da.ptr, db.ptr, dout.ptr, elements);
    d->check(drv.cuMemcpyDtoHAsync(sout.data, dout.ptr, bytes, stream.handle), "cuMemcpyDtoHAsync");
    d->check(drv.cuStreamSynchronize(stream.handle), "cuStreamSynchronize");
    std::memcpy(gout.data(), sout.data, bytes);
  };
  once();  // warm-up, and the result check
  for (size_t i = 0; i < ga.size(); ++i)
    if (gout[i] != ga[i] + gb[i])
      throw Error("cuda_copy_path_add: wrong result at element " + std::to_string(i));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) once();
  return seconds_since(t0) / iterations;
}

}  // namespace zw
