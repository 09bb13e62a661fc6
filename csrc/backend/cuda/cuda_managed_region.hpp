// Linear memory backed by CUDA managed memory: one cuMemAllocManaged of the
// whole reservation, so the base never moves and pages migrate between host
// and GPU on demand (or on zw_prefetch). Guest and kernels share the pointer.
#pragma once

#include <memory>
#include <string>

#include "backend/cuda/cuda_device.hpp"
#include "memory/linear_memory.hpp"

namespace zw::cuda {

class ManagedRegion final : public Region {
 public:
  // Reserves min(requested, free GPU memory) bytes, rounded down to 64 KiB
  // Wasm pages. Throws zw::Error when the device can't do managed memory or
  // the allocation fails.
  ManagedRegion(std::shared_ptr<Device> device, size_t requested_bytes);
  ~ManagedRegion() override;

  uint8_t* base() const override { return base_; }
  size_t reserved_bytes() const override { return reserved_; }
  // Zero-fills [old, new) from the host: these pages were never handed out,
  // so no kernel can be using them, and the guest usually writes them from
  // the CPU next (weights), so that is where they should start.
  void commit(size_t old_committed, size_t new_committed) override;
  MemoryKind kind() const override { return MemoryKind::managed; }

  // Why the reservation is smaller than asked, or "" (for error messages).
  const std::string& cap_note() const { return cap_note_; }
  CUdeviceptr device_pointer() const { return dptr_; }

 private:
  std::shared_ptr<Device> device_;
  CUdeviceptr dptr_ = 0;
  uint8_t* base_ = nullptr;
  size_t reserved_ = 0;
  std::string cap_note_;
};

}  // namespace zw::cuda
