// One CUDA device as zerowasm uses it: the driver, the device's primary
// context, the module of embedded kernels and the device facts the executors
// need. Opened once per process and shared (backends, executors, regions and
// the debug entry points all hold it).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/cuda/cuda_driver.hpp"
#include "backend/cuda/kernels/kernel_params.h"

namespace zw::cuda {

enum class Kernel : int {
#define ZW_CUDA_KERNEL_ID(name, params) name,
  ZW_CUDA_KERNELS(ZW_CUDA_KERNEL_ID)
#undef ZW_CUDA_KERNEL_ID
  count
};

class Device {
 public:
  // The process-wide device, or nullptr with `why` filled (driver missing,
  // cuInit failing, no device, kernels not loadable...). The outcome is
  // decided on the first call and then cached: a GPU doesn't come and go.
  static std::shared_ptr<Device> open(std::string& why);

  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device();

  const Driver& driver() const { return drv_; }
  CUdevice ordinal() const { return dev_; }
  CUfunction function(Kernel k) const { return functions_[static_cast<int>(k)]; }
  static const char* kernel_name(Kernel k);

  // The driver API acts on the calling thread's current context; every entry
  // point that calls it makes ours current first (a cheap TLS store).
  void make_current() const;
  // For destructors: false instead of throwing.
  bool try_make_current() const noexcept;
  // drv.check with the context made current beforehand is the common pattern.
  void check(CUresult r, const std::string& what) const { drv_.check(r, what); }

  int sm_count() const { return sm_count_; }
  // Registered host memory is addressed by the device at its host address.
  bool host_pointer_is_device_pointer() const { return host_ptr_is_dev_ptr_; }
  bool can_register_host_memory() const { return host_register_ok_; }
  // cuMemAllocManaged works and the CPU may touch it while kernels run.
  bool managed_memory_ok() const { return managed_ok_; }
  std::string managed_memory_problem() const { return managed_problem_; }
  // "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB, 132 SMs, driver CUDA 13.0)".
  std::string describe() const;

 private:
  Device(const Driver& drv, CUdevice dev) : drv_(drv), dev_(dev) {}
  void init();  // throws zw::Error with a user-facing reason

  const Driver& drv_;
  CUdevice dev_;
  CUcontext ctx_ = nullptr;
  CUmodule module_ = nullptr;
  CUfunction functions_[static_cast<int>(Kernel::count)] = {};
  std::string name_;
  int cc_major_ = 0, cc_minor_ = 0, sm_count_ = 0, driver_version_ = 0;
  size_t total_bytes_ = 0;
  bool host_ptr_is_dev_ptr_ = false, host_register_ok_ = false, managed_ok_ = false;
  std::string managed_problem_;
};

// Blocks for a grid-stride kernel over `work_items` with `threads` per block:
// enough to cover the work, at most 32 per SM (more only adds scheduling).
unsigned grid_stride_blocks(const Device& device, uint64_t work_items, unsigned threads);

// The embedded fatbin (generated at build time from zw_kernels.cu by
// embed_binary.cmake) and how it was built ("CUDA 13.0: sm_80 sm_90 + compute_90 PTX").
extern "C" const unsigned char zw_cuda_fatbin[];
extern "C" const size_t zw_cuda_fatbin_size;
extern "C" const char zw_cuda_fatbin_build_info[];

}  // namespace zw::cuda
