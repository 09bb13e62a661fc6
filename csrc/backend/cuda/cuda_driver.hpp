// The subset of the CUDA driver API zerowasm uses, declared here and resolved
// at run time from libcuda.so.1 (nvcuda.dll on Windows), so the core library
// builds without a CUDA toolkit and links against nothing CUDA.
//
// Types, constants and signatures mirror cuda.h (CUDA 12/13). Symbols are the
// ABI-versioned ones cuda.h's macros map to (cuMemHostRegister -> _v2, ...):
// the unversioned names are older, incompatible ABIs kept for old binaries.
// check_driver_decls.cpp verifies all of this against cuda.h at build time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace zw::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st*;
using CUmodule = struct CUmod_st*;
using CUfunction = struct CUfunc_st*;
using CUstream = struct CUstream_st*;

struct CUmemLocation {
  int type;  // CUmemLocationType
  int id;
};

constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_NOT_FOUND = 500;

constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY = 19;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY = 83;
constexpr int CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS = 89;
constexpr int CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM = 91;
constexpr int CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED = 99;

constexpr unsigned CU_MEMHOSTREGISTER_PORTABLE = 0x01;
constexpr unsigned CU_MEMHOSTREGISTER_DEVICEMAP = 0x02;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 0x1;
constexpr unsigned CU_STREAM_NON_BLOCKING = 0x1;
constexpr int CU_MEM_ADVISE_SET_READ_MOSTLY = 1;
constexpr int CU_MEM_LOCATION_TYPE_DEVICE = 0x1;
constexpr int CU_MEM_LOCATION_TYPE_HOST = 0x2;
constexpr CUdevice CU_DEVICE_CPU = -1;

// X(member, exported symbol, return type, parameter list). Required entries
// must all resolve or the driver is rejected as too old.
#define ZW_CUDA_REQUIRED_FUNCTIONS(X)                                                                  \
  X(cuGetErrorName, "cuGetErrorName", CUresult, (CUresult, const char**))                              \
  X(cuGetErrorString, "cuGetErrorString", CUresult, (CUresult, const char**))                          \
  X(cuInit, "cuInit", CUresult, (unsigned))                                                            \
  X(cuDriverGetVersion, "cuDriverGetVersion", CUresult, (int*))                                        \
  X(cuDeviceGetCount, "cuDeviceGetCount", CUresult, (int*))                                            \
  X(cuDeviceGet, "cuDeviceGet", CUresult, (CUdevice*, int))                                            \
  X(cuDeviceGetName, "cuDeviceGetName", CUresult, (char*, int, CUdevice))                              \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", CUresult, (int*, int, CUdevice))                     \
  X(cuDeviceTotalMem, "cuDeviceTotalMem_v2", CUresult, (size_t*, CUdevice))                            \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUresult, (CUcontext*, CUdevice))            \
  X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", CUresult, (CUdevice))                   \
  X(cuCtxSetCurrent, "cuCtxSetCurrent", CUresult, (CUcontext))                                         \
  X(cuModuleLoadData, "cuModuleLoadData", CUresult, (CUmodule*, const void*))                          \
  X(cuModuleUnload, "cuModuleUnload", CUresult, (CUmodule))                                            \
  X(cuModuleGetFunction, "cuModuleGetFunction", CUresult, (CUfunction*, CUmodule, const char*))        \
  X(cuStreamCreate, "cuStreamCreate", CUresult, (CUstream*, unsigned))                                 \
  X(cuStreamDestroy, "cuStreamDestroy_v2", CUresult, (CUstream))                                       \
  X(cuStreamSynchronize, "cuStreamSynchronize", CUresult, (CUstream))                                  \
  X(cuLaunchKernel, "cuLaunchKernel", CUresult,                                                        \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void**, \
     void**))                                                                                          \
  X(cuMemGetInfo, "cuMemGetInfo_v2", CUresult, (size_t*, size_t*))                                     \
  X(cuMemAlloc, "cuMemAlloc_v2", CUresult, (CUdeviceptr*, size_t))                                     \
  X(cuMemAllocManaged, "cuMemAllocManaged", CUresult, (CUdeviceptr*, size_t, unsigned))               \
  X(cuMemFree, "cuMemFree_v2", CUresult, (CUdeviceptr))                                                \
  X(cuMemHostRegister, "cuMemHostRegister_v2", CUresult, (void*, size_t, unsigned))                    \
  X(cuMemHostUnregister, "cuMemHostUnregister", CUresult, (void*))                                     \
  X(cuMemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2", CUresult, (CUdeviceptr*, void*, unsigned)) \
  X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", CUresult, (CUdeviceptr, const void*, size_t, CUstream)) \
  X(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", CUresult, (void*, CUdeviceptr, size_t, CUstream))

// Optional: managed-memory hints. The _v2 forms (CUDA 12.2+, the only ones in
// CUDA 13's cuda.h) take a CUmemLocation; older drivers have just the first.
#define ZW_CUDA_OPTIONAL_FUNCTIONS(X)                                                                  \
  X(cuMemPrefetchAsync_v2, "cuMemPrefetchAsync_v2", CUresult,                                          \
    (CUdeviceptr, size_t, CUmemLocation, unsigned, CUstream))                                          \
  X(cuMemPrefetchAsync_v1, "cuMemPrefetchAsync", CUresult, (CUdeviceptr, size_t, CUdevice, CUstream))  \
  X(cuMemAdvise_v2, "cuMemAdvise_v2", CUresult, (CUdeviceptr, size_t, int, CUmemLocation))             \
  X(cuMemAdvise_v1, "cuMemAdvise", CUresult, (CUdeviceptr, size_t, int, CUdevice))

struct Driver {
#define ZW_CUDA_MEMBER(member, symbol, ret, params) ret(*member) params = nullptr;
  ZW_CUDA_REQUIRED_FUNCTIONS(ZW_CUDA_MEMBER)
  ZW_CUDA_OPTIONAL_FUNCTIONS(ZW_CUDA_MEMBER)
#undef ZW_CUDA_MEMBER
  std::string library;  // the path or name it was loaded from

  // "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)".
  std::string error_text(CUresult r) const;
  // Throws zw::Error("<what>: <error_text>") unless r is CUDA_SUCCESS.
  void check(CUresult r, const std::string& what) const;
};

// Loads the driver library and resolves every symbol, once per process (the
// library stays loaded for the life of the process). Returns nullptr and sets
// `why` ("libcuda.so.1 not found: <dlerror>", "... lacks cuFoo_v2 ...").
// ZEROWASM_LIBCUDA=<path> overrides the library (tests use a CPU fake).
// Does not call cuInit.
const Driver* load_driver(std::string& why);

}  // namespace zw::cuda
