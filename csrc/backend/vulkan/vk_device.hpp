// The process-wide Vulkan device: instance, the chosen physical device, one
// compute queue (shared by every instance's executor, submissions serialized
// by a mutex), the compute pipelines (built on first use from the embedded
// SPIR-V), validation-message accounting and a live-object count.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/vulkan/vk_api.hpp"
#include "backend/vulkan/vk_kernels.h"

namespace zw::vk {

enum class Kernel : int {
#define ZW_VK_ENUM(name, source, defines) name,
  ZW_VK_KERNELS(ZW_VK_ENUM)
#undef ZW_VK_ENUM
      count
};

// Every shader takes its arguments as push constants (addresses included).
constexpr uint32_t kPushConstantBytes = 128;  // the minimum every device guarantees

// Messages the validation layer reported, process-wide (they may arrive
// during instance creation or teardown, outside any executor).
struct ValidationLog {
  std::atomic<uint64_t> count{0};
  std::mutex mutex;
  std::vector<std::string> first;  // the first few, for error messages
};
ValidationLog& validation_log();

class Device {
 public:
  // The best usable device, or nullptr with `why` filled. Honours
  // $ZEROWASM_VULKAN_DEVICE (index among usable devices) and
  // $ZEROWASM_VULKAN_VALIDATION=1 (Khronos validation, core + synchronization).
  static std::shared_ptr<Device> open(std::string& why);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const Api& api() const { return *api_; }
  VkDevice handle() const { return device_; }
  VkPipelineLayout layout() const { return layout_; }
  VkPipeline pipeline(Kernel k);  // builds it on first use (thread-safe)
  static const char* kernel_name(Kernel k);

  // Queue submission is externally synchronized: every caller holds this.
  VkResult submit(const VkSubmitInfo& info);
  uint32_t queue_family() const { return queue_family_; }

  std::string describe() const;
  bool is_cpu() const { return type_ == VK_PHYSICAL_DEVICE_TYPE_CPU; }
  bool validation() const { return validation_; }

  // Limits the executor plans with.
  uint64_t import_alignment() const { return import_alignment_; }
  uint64_t max_allocation() const { return max_allocation_; }
  uint32_t max_groups_x() const { return max_groups_x_; }
  bool has_f64() const { return has_f64_; }  // shaderFloat64 enabled (RoPE angles in double)
  // Memory type index for `type_bits` with all of `flags` (or UINT32_MAX).
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags flags) const;

  // Vulkan objects created through this device and not yet destroyed
  // (executors count theirs here too): the leak tests compare it.
  void count_object(int delta) { live_objects_ += delta; }
  int64_t live_objects() const { return live_objects_.load(); }

 private:
  Device() = default;
  void destroy();

  Api* api_ = nullptr;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkPipeline pipelines_[static_cast<int>(Kernel::count)] = {};
  std::mutex pipeline_mutex_;
  std::mutex queue_mutex_;
  VkPhysicalDeviceType type_ = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  VkPhysicalDeviceMemoryProperties memory_{};
  std::string name_, driver_;
  uint32_t api_version_ = 0;
  uint64_t import_alignment_ = 4096;
  uint64_t max_allocation_ = 1ull << 30;
  uint32_t max_groups_x_ = 65535;
  bool validation_ = false;
  bool has_f64_ = false;
  std::atomic<int64_t> live_objects_{0};
};

}  // namespace zw::vk
