// Build-time proof that cuda_driver.hpp matches the toolkit's cuda.h: every
// function pointer type equals cuda.h's prototype (after mapping cuda.h's enum
// and handle types to ours), every symbol string is the name cuda.h's macros
// resolve the API name to, and every constant has cuda.h's value. Compiled
// (never linked into anything) only when a toolkit is present.
#include <cstddef>
#include <type_traits>

#include "backend/cuda/cuda_driver.hpp"

// Capture our declarations before cuda.h's macros (cuMemHostRegister ->
// cuMemHostRegister_v2, CU_MEMHOSTREGISTER_PORTABLE -> 0x01) can rename them.
namespace mine {
using namespace zw::cuda;
#define ZW_CAPTURE(member, symbol, ret, params) \
  using member##_t = ret(*) params;             \
  constexpr const char* member##_symbol = symbol;
ZW_CUDA_REQUIRED_FUNCTIONS(ZW_CAPTURE)
ZW_CUDA_OPTIONAL_FUNCTIONS(ZW_CAPTURE)
#undef ZW_CAPTURE
constexpr auto host_register_portable = zw::cuda::CU_MEMHOSTREGISTER_PORTABLE;
constexpr auto host_register_devicemap = zw::cuda::CU_MEMHOSTREGISTER_DEVICEMAP;
constexpr auto device_cpu = zw::cuda::CU_DEVICE_CPU;
}  // namespace mine

#include <cuda.h>

namespace {

template <class T> struct Ours { using type = T; };
template <class T> using ours_t = typename Ours<T>::type;
template <> struct Ours<::CUresult> { using type = zw::cuda::CUresult; };
template <> struct Ours<::CUcontext> { using type = zw::cuda::CUcontext; };
template <> struct Ours<::CUmodule> { using type = zw::cuda::CUmodule; };
template <> struct Ours<::CUfunction> { using type = zw::cuda::CUfunction; };
template <> struct Ours<::CUstream> { using type = zw::cuda::CUstream; };
template <> struct Ours<::CUmemLocation> { using type = zw::cuda::CUmemLocation; };
template <> struct Ours<::CUdevice_attribute> { using type = int; };
template <> struct Ours<::CUmem_advise> { using type = int; };
template <class T> struct Ours<T*> { using type = ours_t<T>*; };
template <class T> struct Ours<const T> { using type = const ours_t<T>; };
template <class R, class... A> struct Ours<R (*)(A...)> { using type = ours_t<R> (*)(ours_t<A>...); };

constexpr bool same_string(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

#define ZW_STR2(x) #x
#define ZW_STR(x) ZW_STR2(x)  // expands x first: the symbol cuda.h maps the name to

// `member` below expands through cuda.h's macros to the versioned prototype.
#define ZW_CHECK(member, symbol, ret, params)                                            \
  static_assert(std::is_same_v<ours_t<decltype(&member)>, mine::member##_t>,            \
                "cuda_driver.hpp: signature of " #member " differs from cuda.h");       \
  static_assert(same_string(mine::member##_symbol, ZW_STR(member)),                      \
                "cuda_driver.hpp: " #member " must be loaded as " ZW_STR(member));
ZW_CUDA_REQUIRED_FUNCTIONS(ZW_CHECK)
ZW_CHECK(cuMemPrefetchAsync_v2, , , )
ZW_CHECK(cuMemAdvise_v2, , , )
#undef ZW_CHECK

// The pre-12.2 fallbacks are no longer declared by cuda.h 13; they are the
// same as the _v2 forms with a CUdevice in place of the CUmemLocation.
static_assert(std::is_same_v<mine::cuMemPrefetchAsync_v1_t,
                             zw::cuda::CUresult (*)(zw::cuda::CUdeviceptr, size_t, zw::cuda::CUdevice, zw::cuda::CUstream)>);
static_assert(same_string(mine::cuMemPrefetchAsync_v1_symbol, "cuMemPrefetchAsync"));
static_assert(same_string(mine::cuMemAdvise_v1_symbol, "cuMemAdvise"));

static_assert(sizeof(zw::cuda::CUmemLocation) == sizeof(::CUmemLocation));
static_assert(offsetof(zw::cuda::CUmemLocation, id) == offsetof(::CUmemLocation, id));
static_assert(sizeof(zw::cuda::CUdeviceptr) == sizeof(::CUdeviceptr));
static_assert(std::is_same_v<zw::cuda::CUdevice, ::CUdevice>);

static_assert(zw::cuda::CUDA_SUCCESS == ::CUDA_SUCCESS);
static_assert(zw::cuda::CUDA_ERROR_NO_DEVICE == ::CUDA_ERROR_NO_DEVICE);
static_assert(zw::cuda::CUDA_ERROR_NOT_FOUND == ::CUDA_ERROR_NOT_FOUND);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT == ::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY == ::CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR == ::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR == ::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY == ::CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS == ::CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM ==
              ::CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM);
static_assert(zw::cuda::CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED == ::CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED);
static_assert(mine::host_register_portable == CU_MEMHOSTREGISTER_PORTABLE);
static_assert(mine::host_register_devicemap == CU_MEMHOSTREGISTER_DEVICEMAP);
static_assert(mine::device_cpu == CU_DEVICE_CPU);
static_assert(zw::cuda::CU_MEM_ATTACH_GLOBAL == ::CU_MEM_ATTACH_GLOBAL);
static_assert(zw::cuda::CU_STREAM_NON_BLOCKING == ::CU_STREAM_NON_BLOCKING);
static_assert(zw::cuda::CU_MEM_ADVISE_SET_READ_MOSTLY == ::CU_MEM_ADVISE_SET_READ_MOSTLY);
static_assert(zw::cuda::CU_MEM_LOCATION_TYPE_DEVICE == ::CU_MEM_LOCATION_TYPE_DEVICE);
static_assert(zw::cuda::CU_MEM_LOCATION_TYPE_HOST == ::CU_MEM_LOCATION_TYPE_HOST);

}  // namespace
