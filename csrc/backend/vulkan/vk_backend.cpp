// The Vulkan Backend: registry entry point and executors.
#include <memory>
#include <string>

#include "backend/backend.hpp"
#include "backend/vulkan/vk_device.hpp"
#include "backend/vulkan/vk_executor.hpp"

namespace zw {
namespace {

class VulkanBackend final : public Backend {
 public:
  explicit VulkanBackend(std::shared_ptr<vk::Device> device) : device_(std::move(device)) {}

  const char* name() const override { return "vulkan"; }
  // Live: includes the validation-message and live-object counts the tests read.
  std::string device() const override { return device_->describe(); }
  // A software device (lavapipe) is used only when asked for by name.
  bool auto_selectable() const override { return !device_->is_cpu(); }
  std::unique_ptr<Executor> make_executor(LinearMemory& memory) override {
    return std::make_unique<vk::VulkanExecutor>(device_, memory);
  }

 private:
  std::shared_ptr<vk::Device> device_;
};

}  // namespace

std::shared_ptr<Backend> make_vulkan_backend(std::string& why) {
  std::shared_ptr<vk::Device> device = vk::Device::open(why);
  if (!device) return nullptr;
  return std::make_shared<VulkanBackend>(std::move(device));
}

}  // namespace zw
