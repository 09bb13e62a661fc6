// How each op is dispatched on Metal, decided in plain C++ (no Objective-C):
// which kernel, the grid and threadgroup shape, threadgroup memory, which
// bytes of linear memory bind where, and the parameter block.
//
// The Objective-C++ executor encodes exactly this plan; the CPU emulator
// (linux_check/kernel_driver.cpp) runs exactly this plan, so the geometry the
// Linux tests exercise is the geometry a Mac would dispatch, for whatever
// device limits the test passes in.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "backend/metal/kernels/zw_metal_kernels.h"
#include "backend/metal/kernels/zw_metal_params.h"
#include "ops/op_args.hpp"

namespace zw {
namespace mtl {

// Every kernel the shaders define, in ZW_METAL_KERNELS order.
enum class Kernel : int {
#define ZW_METAL_KERNEL_ID(id, function) id,
  ZW_METAL_KERNELS(ZW_METAL_KERNEL_ID)
#undef ZW_METAL_KERNEL_ID
  count
};
constexpr int kKernelCount = static_cast<int>(Kernel::count);

// The shader function name of `kernel` ("zwk_add", ...).
const char* kernel_name(Kernel kernel);
// The simd matmul kernels exist only where the shader compiler has
// simdgroup matrices (MSL 2.3+): a missing one is not an error.
bool kernel_is_optional(Kernel kernel);

// What the plan needs to know about one kernel's compute pipeline.
struct PipelineLimits {
  bool available = true;     // false: the library lacks this (optional) kernel
  uint32_t simd_width = 32;  // threadExecutionWidth
  uint32_t max_threads = 1024;  // maxTotalThreadsPerThreadgroup
};

struct DeviceLimits {
  uint64_t max_threadgroup_memory = 32768;  // maxThreadgroupMemoryLength, bytes
  bool simdgroup_matrix = false;            // Apple7+: simdgroup_float8x8 multiply
  // Grid-stride kernels (elementwise, rope) need no more threadgroups than
  // this; more would only add scheduling work. Not a device limit but the
  // executor's choice; tests lower it so the stride loops really loop.
  uint64_t max_stride_groups = 65535;
  // Limits of a kernel's pipeline (the executor creates it on first ask).
  std::function<PipelineLimits(Kernel)> pipeline;
};

// One [[buffer(index)]] argument: an operand (validated byte range) of linear memory.
struct BufferBinding {
  uint32_t index = 0;
  Operand operand;
};

struct EncodePlan {
  const char* op = "";  // the zw op, for error messages ("matmul", "add", ...)
  Kernel kernel = Kernel::count;
  std::array<uint32_t, 3> groups{1, 1, 1};  // threadgroups per grid
  uint32_t threads = 0;                     // threads per threadgroup (x only)
  uint32_t simd_width = 0;                  // the pipeline's, as the geometry assumes
  uint32_t threadgroup_memory = 0;          // bytes at [[threadgroup(0)]]; 0: none
  std::array<BufferBinding, 4> buffers{};   // in the kernel's argument order
  uint32_t buffer_count = 0;
  uint32_t params_index = 0;                // [[buffer(i)]] of the Zw*Params block
  std::array<unsigned char, 32> params{};   // its bytes (setBytes)
  uint32_t params_size = 0;
  std::vector<float> constants;  // [[buffer(params_index + 1)]] when not empty (rope frequencies)

  template <typename P>
  P params_as() const {
    static_assert(sizeof(P) <= sizeof(params), "parameter block too large");
    P p;
    std::memcpy(&p, params.data(), sizeof(P));
    return p;
  }
};

// Each throws zw::Error when the device limits cannot run the op at all.
EncodePlan plan_encode(const MatmulArgs& args, const DeviceLimits& device);
EncodePlan plan_encode(const ElementwiseArgs& args, const DeviceLimits& device);
EncodePlan plan_encode(const NormArgs& args, const DeviceLimits& device);
EncodePlan plan_encode(const SoftmaxArgs& args, const DeviceLimits& device);
EncodePlan plan_encode(const RopeArgs& args, const DeviceLimits& device);
EncodePlan plan_encode(const AttentionArgs& args, const DeviceLimits& device);
EncodePlan plan_encode(const GatherArgs& args, const DeviceLimits& device);

}  // namespace mtl
}  // namespace zw
