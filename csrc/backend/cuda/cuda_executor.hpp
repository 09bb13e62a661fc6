// Per-instance CUDA executor: one stream, ops queued in issue order.
//
// Two memory modes, picked from the instance's Region:
//  - host ("mapped"): zerowasm's own host pages. As a MemoryListener the
//    executor registers every committed range with cuMemHostRegister
//    (DEVICEMAP|PORTABLE) the moment it is committed (inside grow, before the
//    guest can issue an op touching it), and unregisters after a stream sync
//    on release. Kernels read and write the guest's bytes over the bus.
//  - managed: the Region is a cuMemAllocManaged block (ManagedRegion); pages
//    migrate on demand, and zw_prefetch / zw_advise become cuMemPrefetchAsync
//    / cuMemAdvise.
// Either way a guest offset maps to one device address (dev_base + offset),
// and nothing is ever copied.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cuda/cuda_device.hpp"

namespace zw::cuda {

class CudaExecutor final : public zw::Executor, public MemoryListener {
 public:
  // Registers itself as a listener of `memory` (registering what is committed).
  CudaExecutor(std::shared_ptr<Device> device, LinearMemory& memory);
  // Syncs the stream, then unregisters (if the memory is still alive).
  ~CudaExecutor() override;

  void run(const MatmulArgs&) override;
  void run(const ElementwiseArgs&) override;
  void run(const NormArgs&) override;
  void run(const SoftmaxArgs&) override;
  void run(const RopeArgs&) override;
  void run(const AttentionArgs&) override;
  void run(const GatherArgs&) override;
  void run(const HintArgs&) override;
  void sync() override;
  uint64_t copies() const override { return 0; }
  uint64_t device_address(Offset off) const override { return dev_base_ + off; }

  void on_commit(uint8_t* base, size_t old_committed, size_t new_committed) override;
  void on_release(uint8_t* base, size_t committed) override;

  bool managed() const { return managed_; }
  // Bytes currently registered with the driver (host mode; for tests).
  size_t registered_bytes() const { return registered_end_; }

 private:
  template <class Params>
  void launch(Kernel kernel, const char* op, uint64_t blocks, unsigned threads, unsigned shared_bytes,
              const Params& params);
  zw_cuda::DevPtr dev(Offset off) const { return dev_base_ + off; }
  zw_cuda::DevPtr dev(const Operand& o) const { return dev_base_ + o.offset; }

  std::shared_ptr<Device> device_;
  const Driver& drv_;
  LinearMemory* memory_;  // null once on_release has run
  bool managed_;
  CUstream stream_ = nullptr;
  uint64_t dev_base_ = 0;  // device address of guest offset 0
  bool dev_base_known_ = false;
  std::vector<uint8_t*> registrations_;  // base address of each registered range
  size_t registered_end_ = 0;
  const char* last_op_ = "(none)";
  uint64_t ops_queued_ = 0;
};

}  // namespace zw::cuda
