// A stand-in libcuda.so.1 for testing the CUDA backend without a GPU: the
// driver entry points zerowasm resolves, over host memory, with every kernel
// run synchronously by the CPU emulation of the very same kernel sources.
// Load it with ZEROWASM_LIBCUDA=/path/to/libzw_fake_cuda.so.
//
// Besides running kernels it checks what a real driver would reject (no
// current context, bad launch geometry, too much shared memory, unregistering
// what was never registered, double registration) and flags every kernel
// pointer argument outside registered/allocated memory as an illegal address,
// reported at the next stream sync like the real thing.
//
// Knobs: environment at cuInit (ZW_FAKE_CUDA_INIT_ERROR, ZW_FAKE_CUDA_CC,
// ZW_FAKE_CUDA_HOST_PTR, ZW_FAKE_CUDA_FREE_MIB) and at run time
// zw_fake_cuda_set(name, value) / zw_fake_cuda_get(name) (see below).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/cuda_driver.hpp"
#include "backend/cuda/kernels/zw_kernels.cu"  // emulation build of the kernels

using namespace zw::cuda;

namespace {

constexpr CUresult kInvalidValue = 1, kNotInitialized = 3, kInvalidContext = 201, kInvalidHandle = 400,
                   kNotFound = 500, kIllegalAddress = 700, kLaunchOutOfResources = 701,
                   kAlreadyRegistered = 712, kNotRegistered = 713, kInvalidImage = 200;

struct Range {
  size_t bytes;
  const char* kind;
};

struct State {
  std::mutex mutex;
  bool initialized = false;
  std::map<uintptr_t, Range> memory;  // registered host ranges and allocations, by start
  std::map<std::string, int64_t> counters;
  CUresult pending_error = 0;  // reported by the next stream sync (sticky like the real one)
  int streams = 0;
};
State& state() {
  static State s;
  return s;
}
thread_local CUcontext current_context = nullptr;
CUcontext const kContext = reinterpret_cast<CUcontext>(0x1000);
CUmodule const kModule = reinterpret_cast<CUmodule>(0x2000);

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}
int64_t& counter(const std::string& name) { return state().counters[name]; }

bool inside_known_memory(uint64_t p) {
  if (p == 0) return true;  // unused pointer fields
  auto& m = state().memory;
  auto it = m.upper_bound(static_cast<uintptr_t>(p));
  if (it == m.begin()) return false;
  --it;
  return p < it->first + it->second.bytes;
}

// The device pointers in each kernel's parameter block.
std::vector<uint64_t> pointers(const zw_cuda::ElementwiseParams& p) { return {p.a, p.b, p.out}; }
std::vector<uint64_t> pointers(const zw_cuda::NormParams& p) { return {p.x, p.gamma, p.beta, p.out}; }
std::vector<uint64_t> pointers(const zw_cuda::SoftmaxParams& p) { return {p.x, p.out}; }
std::vector<uint64_t> pointers(const zw_cuda::RopeParams& p) { return {p.x, p.out, p.factors}; }
std::vector<uint64_t> pointers(const zw_cuda::AttentionParams& p) { return {p.q, p.k, p.v, p.out}; }
std::vector<uint64_t> pointers(const zw_cuda::GatherParams& p) { return {p.table, p.ids, p.out}; }
std::vector<uint64_t> pointers(const zw_cuda::MatmulParams& p) { return {p.a, p.b, p.c}; }

struct KernelEntry {
  const char* name;
  bool (*run)(const void* params, zw_emu::dim3 grid, zw_emu::dim3 block, size_t shared);
};

template <class P, void (*K)(P)>
bool run_kernel(const void* raw, zw_emu::dim3 grid, zw_emu::dim3 block, size_t shared) {
  P p;
  std::memcpy(&p, raw, sizeof p);
  for (uint64_t ptr : pointers(p))
    if (!inside_known_memory(ptr)) {
      std::fprintf(stderr, "fake libcuda: kernel pointer 0x%llx is outside registered/allocated memory\n",
                   static_cast<unsigned long long>(ptr));
      return false;
    }
  zw_emu::launch(grid, block, shared, [&] { K(p); });
  return true;
}

const KernelEntry kKernels[] = {
#define ZW_FAKE_ENTRY(name, params) {#name, &run_kernel<zw_cuda::params, &name>},
    ZW_CUDA_KERNELS(ZW_FAKE_ENTRY)
#undef ZW_FAKE_ENTRY
};

CUresult need_context() {
  if (!state().initialized) return kNotInitialized;
  return current_context == kContext ? CUDA_SUCCESS : kInvalidContext;
}

}  // namespace

extern "C" {

// ---- test control ------------------------------------------------------------
// Counters: launches, registrations (live), registered_bytes (live),
// prefetch_device, prefetch_host, advise, managed_allocs, ctx_sets.
// Settable: fail_next_sync, fail_next_launch, fail_next_register (a CUresult
// the next such call returns), free_bytes, sm_count.
__attribute__((visibility("default"))) int64_t zw_fake_cuda_get(const char* name) {
  std::lock_guard<std::mutex> lock(state().mutex);
  return counter(name);
}
__attribute__((visibility("default"))) void zw_fake_cuda_set(const char* name, int64_t value) {
  std::lock_guard<std::mutex> lock(state().mutex);
  counter(name) = value;
}

// ---- errors, init, device ----------------------------------------------------
CUresult cuGetErrorName(CUresult r, const char** s) {
  switch (r) {
    case 0: *s = "CUDA_SUCCESS"; return 0;
    case kInvalidValue: *s = "CUDA_ERROR_INVALID_VALUE"; return 0;
    case kNotInitialized: *s = "CUDA_ERROR_NOT_INITIALIZED"; return 0;
    case CUDA_ERROR_NO_DEVICE: *s = "CUDA_ERROR_NO_DEVICE"; return 0;
    case kInvalidImage: *s = "CUDA_ERROR_INVALID_IMAGE"; return 0;
    case kInvalidContext: *s = "CUDA_ERROR_INVALID_CONTEXT"; return 0;
    case kInvalidHandle: *s = "CUDA_ERROR_INVALID_HANDLE"; return 0;
    case kNotFound: *s = "CUDA_ERROR_NOT_FOUND"; return 0;
    case kIllegalAddress: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return 0;
    case kLaunchOutOfResources: *s = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; return 0;
    case kAlreadyRegistered: *s = "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED"; return 0;
    case kNotRegistered: *s = "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED"; return 0;
    case 2: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
  }
  *s = nullptr;
  return kInvalidValue;
}
CUresult cuGetErrorString(CUresult r, const char** s) {
  switch (r) {
    case CUDA_ERROR_NO_DEVICE: *s = "no CUDA-capable device is detected"; return 0;
    case kIllegalAddress: *s = "an illegal memory access was encountered"; return 0;
    default: {
      const char* name = nullptr;
      if (cuGetErrorName(r, &name) != 0) return kInvalidValue;
      *s = "fake libcuda error";
      return 0;
    }
  }
}
CUresult cuInit(unsigned flags) {
  if (flags != 0) return kInvalidValue;
  CUresult r = static_cast<CUresult>(env_int("ZW_FAKE_CUDA_INIT_ERROR", 0));
  if (r != 0) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  state().initialized = true;
  return 0;
}
CUresult cuDriverGetVersion(int* v) {
  *v = 13000;
  return 0;
}
CUresult cuDeviceGetCount(int* n) {
  if (!state().initialized) return kNotInitialized;
  *n = 1;
  return 0;
}
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (ordinal != 0) return kInvalidValue;
  *d = 0;
  return 0;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  std::snprintf(name, static_cast<size_t>(len), "zerowasm fake CUDA device (CPU emulation)");
  return 0;
}
CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice) {
  const int cc = static_cast<int>(env_int("ZW_FAKE_CUDA_CC", 90));
  switch (attr) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = cc / 10; return 0;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = cc % 10; return 0;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: {
      int64_t sm = zw_fake_cuda_get("sm_count");
      *v = sm > 0 ? static_cast<int>(sm) : 4;
      return 0;
    }
    case CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM:
      *v = static_cast<int>(env_int("ZW_FAKE_CUDA_HOST_PTR", 1));
      return 0;
    case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
    case CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY:
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS:
    case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED: *v = 1; return 0;
  }
  return kInvalidValue;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) {
  *bytes = size_t{1} << 30;
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice) {
  if (!state().initialized) return kNotInitialized;
  *ctx = kContext;
  return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return 0; }
CUresult cuCtxSetCurrent(CUcontext ctx) {
  if (ctx != nullptr && ctx != kContext) return kInvalidContext;
  current_context = ctx;
  std::lock_guard<std::mutex> lock(state().mutex);
  ++counter("ctx_sets");
  return 0;
}

// ---- module ----------------------------------------------------------------------
CUresult cuModuleLoadData(CUmodule* m, const void* image) {
  if (CUresult r = need_context()) return r;
  uint32_t magic = 0;
  std::memcpy(&magic, image, 4);
  if (magic != 0xBA55ED50u) return kInvalidImage;  // a fatbin starts with this
  *m = kModule;
  return 0;
}
CUresult cuModuleUnload(CUmodule m) { return m == kModule ? 0 : kInvalidHandle; }
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
  if (CUresult r = need_context()) return r;
  if (m != kModule) return kInvalidHandle;
  for (const KernelEntry& k : kKernels)
    if (std::strcmp(k.name, name) == 0) {
      *f = reinterpret_cast<CUfunction>(const_cast<KernelEntry*>(&k));
      return 0;
    }
  return kNotFound;
}

// ---- streams and launches ------------------------------------------------------
CUresult cuStreamCreate(CUstream* s, unsigned flags) {
  if (CUresult r = need_context()) return r;
  if (flags != CU_STREAM_NON_BLOCKING) return kInvalidValue;
  std::lock_guard<std::mutex> lock(state().mutex);
  ++state().streams;
  *s = reinterpret_cast<CUstream>(new int(0));
  return 0;
}
CUresult cuStreamDestroy_v2(CUstream s) {
  if (CUresult r = need_context()) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  --state().streams;
  delete reinterpret_cast<int*>(s);
  return 0;
}
CUresult cuStreamSynchronize(CUstream) {
  if (CUresult r = need_context()) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  if (int64_t f = counter("fail_next_sync")) {
    counter("fail_next_sync") = 0;
    return static_cast<CUresult>(f);
  }
  return state().pending_error;
}
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, CUstream stream, void** params, void** extra) {
  if (CUresult r = need_context()) return r;
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (int64_t e = counter("fail_next_launch")) {
      counter("fail_next_launch") = 0;
      return static_cast<CUresult>(e);
    }
    if (state().pending_error) return state().pending_error;
  }
  if (!f || !stream || !params || extra) return kInvalidValue;
  if (gx == 0 || gx > 0x7fffffffu || gy != 1 || gz != 1 || bx == 0 || bx > 1024 || by != 1 || bz != 1)
    return kInvalidValue;
  if (shared > 48 * 1024) return kLaunchOutOfResources;
  const auto* k = reinterpret_cast<const KernelEntry*>(f);
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    ++counter("launches");
  }
  if (!k->run(params[0], {gx, gy, gz}, {bx, by, bz}, shared)) {
    std::lock_guard<std::mutex> lock(state().mutex);
    state().pending_error = kIllegalAddress;
  }
  return 0;
}

// ---- memory ------------------------------------------------------------------------
CUresult cuMemGetInfo_v2(size_t* free_bytes, size_t* total) {
  if (CUresult r = need_context()) return r;
  int64_t f = zw_fake_cuda_get("free_bytes");
  *free_bytes = f > 0 ? static_cast<size_t>(f) : static_cast<size_t>(env_int("ZW_FAKE_CUDA_FREE_MIB", 512)) << 20;
  *total = size_t{1} << 30;
  return 0;
}
static CUresult allocate(CUdeviceptr* p, size_t bytes, const char* kind, int fill) {
  if (CUresult r = need_context()) return r;
  if (bytes == 0) return kInvalidValue;
  void* mem = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
  if (!mem) return 2;  // CUDA_ERROR_OUT_OF_MEMORY
  std::memset(mem, fill, bytes);  // garbage: callers must not assume zeros
  std::lock_guard<std::mutex> lock(state().mutex);
  state().memory[reinterpret_cast<uintptr_t>(mem)] = {bytes, kind};
  ++counter(std::string(kind) + "_allocs");
  *p = reinterpret_cast<uintptr_t>(mem);
  return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) { return allocate(p, bytes, "device", 0xCD); }
CUresult cuMemAllocManaged(CUdeviceptr* p, size_t bytes, unsigned flags) {
  if (flags != CU_MEM_ATTACH_GLOBAL) return kInvalidValue;
  return allocate(p, bytes, "managed", 0xCD);
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  if (CUresult r = need_context()) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  auto it = state().memory.find(static_cast<uintptr_t>(p));
  if (it == state().memory.end() || std::strcmp(it->second.kind, "host") == 0) return kInvalidValue;
  ++counter(std::string(it->second.kind) + "_frees");
  state().memory.erase(it);
  std::free(reinterpret_cast<void*>(static_cast<uintptr_t>(p)));
  return 0;
}
CUresult cuMemHostRegister_v2(void* p, size_t bytes, unsigned flags) {
  if (CUresult r = need_context()) return r;
  if (bytes == 0 || flags != (CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_PORTABLE)) return kInvalidValue;
  std::lock_guard<std::mutex> lock(state().mutex);
  if (int64_t e = counter("fail_next_register")) {
    counter("fail_next_register") = 0;
    return static_cast<CUresult>(e);
  }
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (auto& [start, range] : state().memory)
    if (a < start + range.bytes && start < a + bytes) return kAlreadyRegistered;
  // Touch every page, as pinning does: committed memory must be accessible.
  volatile unsigned char* c = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < bytes; i += 4096) (void)c[i];
  state().memory[a] = {bytes, "host"};
  ++counter("registrations");
  counter("registered_bytes") += static_cast<int64_t>(bytes);
  return 0;
}
CUresult cuMemHostUnregister(void* p) {
  if (CUresult r = need_context()) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  auto it = state().memory.find(reinterpret_cast<uintptr_t>(p));
  if (it == state().memory.end() || std::strcmp(it->second.kind, "host") != 0) return kNotRegistered;
  --counter("registrations");
  counter("registered_bytes") -= static_cast<int64_t>(it->second.bytes);
  state().memory.erase(it);
  return 0;
}
CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr* d, void* p, unsigned flags) {
  if (CUresult r = need_context()) return r;
  if (flags != 0 || !inside_known_memory(reinterpret_cast<uintptr_t>(p))) return kInvalidValue;
  *d = reinterpret_cast<uintptr_t>(p);
  return 0;
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, CUstream) {
  if (CUresult r = need_context()) return r;
  std::memcpy(reinterpret_cast<void*>(static_cast<uintptr_t>(dst)), src, bytes);
  return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, CUstream) {
  if (CUresult r = need_context()) return r;
  std::memcpy(dst, reinterpret_cast<const void*>(static_cast<uintptr_t>(src)), bytes);
  return 0;
}
static CUresult check_managed_range(CUdeviceptr p, size_t bytes) {
  auto& m = state().memory;
  auto it = m.upper_bound(static_cast<uintptr_t>(p));
  if (it == m.begin()) return kInvalidValue;
  --it;
  if (std::strcmp(it->second.kind, "managed") != 0 || p + bytes > it->first + it->second.bytes) return kInvalidValue;
  return 0;
}
CUresult cuMemPrefetchAsync_v2(CUdeviceptr p, size_t bytes, CUmemLocation loc, unsigned flags, CUstream) {
  if (CUresult r = need_context()) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  if (flags != 0) return kInvalidValue;
  if (CUresult r = check_managed_range(p, bytes)) return r;
  if (loc.type == CU_MEM_LOCATION_TYPE_DEVICE && loc.id == 0) ++counter("prefetch_device");
  else if (loc.type == CU_MEM_LOCATION_TYPE_HOST) ++counter("prefetch_host");
  else return kInvalidValue;
  counter("prefetch_bytes") += static_cast<int64_t>(bytes);
  return 0;
}
CUresult cuMemAdvise_v2(CUdeviceptr p, size_t bytes, int advice, CUmemLocation) {
  if (CUresult r = need_context()) return r;
  std::lock_guard<std::mutex> lock(state().mutex);
  if (advice != CU_MEM_ADVISE_SET_READ_MOSTLY) return kInvalidValue;
  if (CUresult r = check_managed_range(p, bytes)) return r;
  ++counter("advise");
  return 0;
}

}  // extern "C"
