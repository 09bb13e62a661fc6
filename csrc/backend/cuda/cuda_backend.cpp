// The CUDA Backend: registry entry point, memory kinds, executors.
#include <memory>
#include <string>

#include "backend/backend.hpp"
#include "backend/cuda/cuda_device.hpp"
#include "backend/cuda/cuda_executor.hpp"
#include "backend/cuda/cuda_managed_region.hpp"

namespace zw {
namespace {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(std::shared_ptr<cuda::Device> device) : device_(std::move(device)) {}

  const char* name() const override { return "cuda"; }
  std::string device() const override { return device_->describe(); }
  int device_ordinal() const override { return device_->ordinal(); }
  bool supports(MemoryKind kind) const override {
    return kind == MemoryKind::host ? device_->can_register_host_memory() : device_->managed_memory_ok();
  }
  std::unique_ptr<Region> make_managed_region(size_t reserve_bytes) override {
    return std::make_unique<cuda::ManagedRegion>(device_, reserve_bytes);
  }
  std::unique_ptr<Executor> make_executor(LinearMemory& memory) override {
    return std::make_unique<cuda::CudaExecutor>(device_, memory);
  }

 private:
  std::shared_ptr<cuda::Device> device_;
};

}  // namespace

std::shared_ptr<Backend> make_cuda_backend(std::string& why) {
  std::shared_ptr<cuda::Device> device = cuda::Device::open(why);
  if (!device) return nullptr;
  return std::make_shared<CudaBackend>(std::move(device));
}

}  // namespace zw
