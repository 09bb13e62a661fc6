// Run-time loading of the Vulkan loader (see vk_api.hpp).
#include "backend/vulkan/vk_api.hpp"

#include <cstdlib>
#include <mutex>

#include "util/dynamic_library.hpp"
#include "zerowasm/error.hpp"

namespace zw::vk {
namespace {

#if defined(_WIN32)
const char* const kLoaderNames[] = {"vulkan-1.dll"};
#else
#if defined(__APPLE__)
// The Vulkan SDK's loader, else MoltenVK used directly as the loader.
const char* const kLoaderNames[] = {"libvulkan.1.dylib", "libvulkan.dylib", "libMoltenVK.dylib"};
#else
const char* const kLoaderNames[] = {"libvulkan.so.1", "libvulkan.so"};
#endif
#endif

template <typename Fn>
void assign(Fn& member, PFN_vkVoidFunction f) {
  member = reinterpret_cast<Fn>(f);
}

}  // namespace

void Api::load_instance(VkInstance instance) {
#define ZW_VK_LOAD(name) assign(name, vkGetInstanceProcAddr(instance, #name));
  ZW_VK_INSTANCE_FNS(ZW_VK_LOAD)
  ZW_VK_DEBUG_FNS(ZW_VK_LOAD)
#undef ZW_VK_LOAD
#define ZW_VK_REQUIRE(name) \
  if (!name) throw Error("Vulkan: the loader has no " #name);
  ZW_VK_INSTANCE_FNS(ZW_VK_REQUIRE)
#undef ZW_VK_REQUIRE
}

void Api::load_device(VkDevice device) {
#define ZW_VK_LOAD(name)                                             \
  assign(name, vkGetDeviceProcAddr(device, #name));                  \
  if (!name) throw Error("Vulkan: the device driver has no " #name);
  ZW_VK_DEVICE_FNS(ZW_VK_LOAD)
#undef ZW_VK_LOAD
}

Api* load_api(std::string& why) {
  static std::once_flag once;
  static Api api;
  static Api* loaded = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    const char* override_path = std::getenv("ZEROWASM_LIBVULKAN");
    std::string errors;
    void* lib = nullptr;  // never closed: function pointers into it live in process-wide objects
    if (override_path && *override_path) {
      lib = open_library(override_path, errors);
    } else {
      for (const char* name : kLoaderNames) {
        std::string error;
        lib = open_library(name, error);
        if (lib) break;
        errors += (errors.empty() ? "" : "; ") + error;
      }
    }
    if (!lib) {
      failure = "no Vulkan loader (install the GPU driver's Vulkan support; Debian: libvulkan1 plus "
                "mesa-vulkan-drivers for a software device): " + errors;
      return;
    }
    assign(api.vkGetInstanceProcAddr,
           reinterpret_cast<PFN_vkVoidFunction>(find_symbol(lib, "vkGetInstanceProcAddr")));
    if (!api.vkGetInstanceProcAddr) {
      failure = "the Vulkan loader exports no vkGetInstanceProcAddr";
      return;
    }
#define ZW_VK_LOAD(name) assign(api.name, api.vkGetInstanceProcAddr(nullptr, #name));
    ZW_VK_GLOBAL_FNS(ZW_VK_LOAD)
#undef ZW_VK_LOAD
    if (!api.vkCreateInstance || !api.vkEnumerateInstanceLayerProperties ||
        !api.vkEnumerateInstanceExtensionProperties) {
      failure = "the Vulkan loader lacks vkCreateInstance";
      return;
    }
    loaded = &api;
  });
  if (!loaded) why = failure;
  return loaded;
}

std::string result_name(VkResult r) {
  switch (r) {
#define ZW_VK_CASE(name) \
  case name:             \
    return #name;
    ZW_VK_CASE(VK_SUCCESS)
    ZW_VK_CASE(VK_NOT_READY)
    ZW_VK_CASE(VK_TIMEOUT)
    ZW_VK_CASE(VK_INCOMPLETE)
    ZW_VK_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    ZW_VK_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    ZW_VK_CASE(VK_ERROR_INITIALIZATION_FAILED)
    ZW_VK_CASE(VK_ERROR_DEVICE_LOST)
    ZW_VK_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    ZW_VK_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    ZW_VK_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    ZW_VK_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    ZW_VK_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    ZW_VK_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    ZW_VK_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    ZW_VK_CASE(VK_ERROR_FRAGMENTED_POOL)
    ZW_VK_CASE(VK_ERROR_UNKNOWN)
    ZW_VK_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    ZW_VK_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    ZW_VK_CASE(VK_ERROR_FRAGMENTATION)
    ZW_VK_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    ZW_VK_CASE(VK_ERROR_VALIDATION_FAILED_EXT)
#undef ZW_VK_CASE
    default:
      return "VkResult " + std::to_string(static_cast<int>(r));
  }
}

void check(VkResult r, const std::string& what) {
  if (r != VK_SUCCESS) throw Error("Vulkan: " + what + " failed: " + result_name(r));
}

}  // namespace zw::vk
