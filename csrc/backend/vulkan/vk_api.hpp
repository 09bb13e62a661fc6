// The Vulkan entry points zerowasm uses, resolved at run time from the loader
// (libvulkan.so.1, vulkan-1.dll, or MoltenVK's libvulkan.1.dylib), so the
// package imports and runs on machines without Vulkan. The headers are used
// for types only (VK_NO_PROTOTYPES): nothing links against the loader.
#pragma once

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include <string>

namespace zw::vk {

// Loader-level functions (no instance needed).
#define ZW_VK_GLOBAL_FNS(X)               \
  X(vkCreateInstance)                     \
  X(vkEnumerateInstanceVersion)           \
  X(vkEnumerateInstanceLayerProperties)   \
  X(vkEnumerateInstanceExtensionProperties)

#define ZW_VK_INSTANCE_FNS(X)                   \
  X(vkDestroyInstance)                          \
  X(vkEnumeratePhysicalDevices)                 \
  X(vkGetPhysicalDeviceProperties)              \
  X(vkGetPhysicalDeviceProperties2)             \
  X(vkGetPhysicalDeviceFeatures2)               \
  X(vkGetPhysicalDeviceQueueFamilyProperties)   \
  X(vkGetPhysicalDeviceMemoryProperties)        \
  X(vkEnumerateDeviceExtensionProperties)       \
  X(vkCreateDevice)                             \
  X(vkGetDeviceProcAddr)

// Present only with VK_EXT_debug_utils (validation runs).
#define ZW_VK_DEBUG_FNS(X)            \
  X(vkCreateDebugUtilsMessengerEXT)   \
  X(vkDestroyDebugUtilsMessengerEXT)

#define ZW_VK_DEVICE_FNS(X)              \
  X(vkDestroyDevice)                     \
  X(vkGetDeviceQueue)                    \
  X(vkDeviceWaitIdle)                    \
  X(vkQueueSubmit)                       \
  X(vkCreateShaderModule)                \
  X(vkDestroyShaderModule)               \
  X(vkCreatePipelineLayout)              \
  X(vkDestroyPipelineLayout)             \
  X(vkCreateComputePipelines)            \
  X(vkDestroyPipeline)                   \
  X(vkCreateCommandPool)                 \
  X(vkDestroyCommandPool)                \
  X(vkAllocateCommandBuffers)            \
  X(vkFreeCommandBuffers)                \
  X(vkResetCommandBuffer)                \
  X(vkBeginCommandBuffer)                \
  X(vkEndCommandBuffer)                  \
  X(vkCmdBindPipeline)                   \
  X(vkCmdPushConstants)                  \
  X(vkCmdDispatch)                       \
  X(vkCmdPipelineBarrier)                \
  X(vkCreateSemaphore)                   \
  X(vkDestroySemaphore)                  \
  X(vkWaitSemaphores)                    \
  X(vkGetSemaphoreCounterValue)          \
  X(vkCreateBuffer)                      \
  X(vkDestroyBuffer)                     \
  X(vkGetBufferMemoryRequirements)       \
  X(vkAllocateMemory)                    \
  X(vkFreeMemory)                        \
  X(vkBindBufferMemory)                  \
  X(vkMapMemory)                         \
  X(vkUnmapMemory)                       \
  X(vkGetBufferDeviceAddress)            \
  X(vkGetMemoryHostPointerPropertiesEXT)

#define ZW_VK_DECLARE(name) PFN_##name name = nullptr;

// One process-wide table. Instance- and device-level pointers are filled in
// once the (single) instance and device exist.
struct Api {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
  ZW_VK_GLOBAL_FNS(ZW_VK_DECLARE)
  ZW_VK_INSTANCE_FNS(ZW_VK_DECLARE)
  ZW_VK_DEBUG_FNS(ZW_VK_DECLARE)
  ZW_VK_DEVICE_FNS(ZW_VK_DECLARE)

  // Resolve instance-level (and debug-utils, when present) functions.
  void load_instance(VkInstance instance);
  // Resolve device-level functions; throws naming a missing one.
  void load_device(VkDevice device);
};

// Opens the loader once per process ($ZEROWASM_LIBVULKAN overrides the name).
// nullptr with `why` filled when there is no usable loader.
Api* load_api(std::string& why);

// A zeroed Vulkan struct with its sType set (every other field explicitly 0).
template <class T>
T make(VkStructureType type) {
  T value{};
  value.sType = type;
  return value;
}

// "VK_ERROR_DEVICE_LOST" etc. (the number for codes this build doesn't name).
std::string result_name(VkResult r);

// Throws zw::Error("Vulkan: <what> failed: <VkResult name>") unless r == VK_SUCCESS.
void check(VkResult r, const std::string& what);

}  // namespace zw::vk
