#include "backend/cuda/cuda_managed_region.hpp"

#include <cstring>

#include "zerowasm/error.hpp"

namespace zw::cuda {
namespace {
constexpr size_t kWasmPage = 64 * 1024;
std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }
}  // namespace

ManagedRegion::ManagedRegion(std::shared_ptr<Device> device, size_t requested_bytes)
    : device_(std::move(device)) {
  if (!device_->managed_memory_ok())
    throw Error("CUDA managed memory is unavailable: " + device_->managed_memory_problem());
  const Driver& drv = device_->driver();
  device_->make_current();
  size_t free_bytes = 0, total_bytes = 0;
  device_->check(drv.cuMemGetInfo(&free_bytes, &total_bytes), "cuMemGetInfo");
  reserved_ = requested_bytes;
  // Managed memory can oversubscribe the GPU, but a working set larger than
  // the GPU thrashes; the reservation is capped so growth fails loudly instead.
  if (reserved_ > free_bytes) {
    reserved_ = free_bytes / kWasmPage * kWasmPage;
    cap_note_ = "the managed reservation was capped from " + mib(requested_bytes) + " to " + mib(reserved_) +
                ", the GPU's free memory when the instance was created";
  }
  if (reserved_ == 0)
    throw Error("cannot reserve CUDA managed memory: " +
                (cap_note_.empty() ? std::string("0 bytes requested") : cap_note_));
  CUresult r = drv.cuMemAllocManaged(&dptr_, reserved_, CU_MEM_ATTACH_GLOBAL);
  if (r != CUDA_SUCCESS)
    throw Error("cuMemAllocManaged of " + mib(reserved_) + " failed: " + drv.error_text(r) +
                (cap_note_.empty() ? "" : " (" + cap_note_ + ")"));
  base_ = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(dptr_));
}

ManagedRegion::~ManagedRegion() {
  // Executors synced in on_release before the memory lets go of its region.
  if (device_->try_make_current()) device_->driver().cuMemFree(dptr_);
}

void ManagedRegion::commit(size_t old_committed, size_t new_committed) {
  if (new_committed > reserved_)
    throw Error("cannot commit " + std::to_string(new_committed) + " bytes of CUDA managed memory: the region " +
                "reserves " + std::to_string(reserved_) + (cap_note_.empty() ? "" : " (" + cap_note_ + ")"));
  if (new_committed > old_committed) std::memset(base_ + old_committed, 0, new_committed - old_committed);
}

}  // namespace zw::cuda
