// The Metal backend: device discovery and the make_metal_backend factory.
#include "backend/backend.hpp"

#include <memory>
#include <string>

#include "backend/metal/metal_context.h"
#include "backend/metal/metal_executor.h"
#include "zerowasm/error.hpp"

#include <TargetConditionals.h>

namespace zw {
namespace mtl {
namespace {

class MetalBackend final : public Backend {
 public:
  explicit MetalBackend(std::shared_ptr<MetalContext> context)
      : context_(std::move(context)), description_(context_->description()) {}

  const char* name() const override { return "metal"; }
  std::string device() const override { return description_; }

  std::unique_ptr<Executor> make_executor(LinearMemory& memory) override {
    // First use compiles the shader library; its errors surface here, at
    // instantiation, with the compiler's messages.
    with_autorelease_pool([&] { context_->ensure_library(); });
    return std::make_unique<MetalExecutor>(context_, memory);
  }

 private:
  std::shared_ptr<MetalContext> context_;
  std::string description_;
};

// The system default GPU; on macOS any GPU when there is no default (command
// line processes that don't link CoreGraphics may get none).
id<MTLDevice> find_device() {
  id<MTLDevice> device = MTLCreateSystemDefaultDevice();
#if TARGET_OS_OSX
  if (device == nil) {
    NSArray<id<MTLDevice>>* all = MTLCopyAllDevices();
    if (all.count > 0) device = all[0];
  }
#endif
  return device;
}

// SIMD-group reductions (simd_sum, simd_max) are used by every reduction
// kernel; Metal offers them on Apple7+ and Mac2 GPUs.
bool has_simd_reductions(id<MTLDevice> device) {
  if (@available(macOS 11.0, iOS 14.0, *)) {
    if ([device supportsFamily:MTLGPUFamilyApple7]) return true;
  }
  if (@available(macOS 10.15, iOS 13.0, *)) {
    if ([device supportsFamily:MTLGPUFamilyMac2]) return true;
  }
  return false;
}

}  // namespace
}  // namespace mtl

std::shared_ptr<Backend> make_metal_backend(std::string& why) {
  std::shared_ptr<Backend> backend;
  try {
    mtl::with_autorelease_pool([&] {
      id<MTLDevice> device = mtl::find_device();
      if (device == nil) {
        why = "no Metal device (MTLCreateSystemDefaultDevice returned nil)";
        return;
      }
      if (!mtl::has_simd_reductions(device)) {
        why = std::string("Metal device '") + (device.name.UTF8String ? device.name.UTF8String : "?") +
              "' lacks SIMD-group reductions (needs an Apple7+ or Mac2 family GPU)";
        return;
      }
      backend = std::make_shared<mtl::MetalBackend>(std::make_shared<mtl::MetalContext>(device));
    });
  } catch (const std::exception& error) {
    why = std::string("Metal backend unavailable: ") + error.what();
    return nullptr;
  }
  return backend;
}

}  // namespace zw
