// Anonymous host pages reserved once, committed in place.
#include <cerrno>
#include <cstring>
#include <string>

#include "memory/linear_memory.hpp"
#include "zerowasm/error.hpp"

#if defined(__APPLE__)
#include <mach/mach.h>
#elif !defined(_WIN32)
#include <sys/mman.h>
#endif

namespace zw {
namespace {

std::string mb(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

#if defined(__APPLE__)
// vm_allocate gives page-aligned, zero-filled memory at a fixed address that
// Metal can wrap with newBufferWithBytesNoCopy; uncommitted pages are
// VM_PROT_NONE so out-of-bounds guest accesses fault.
class HostRegion final : public Region {
 public:
  explicit HostRegion(size_t reserve) : reserved_(round_page(reserve)) {
    vm_address_t addr = 0;
    kern_return_t kr = vm_allocate(mach_task_self(), &addr, reserved_, VM_FLAGS_ANYWHERE);
    if (kr != KERN_SUCCESS)
      throw Error("vm_allocate of " + mb(reserved_) + " failed: " + mach_error_string(kr));
    base_ = reinterpret_cast<uint8_t*>(addr);
    kr = vm_protect(mach_task_self(), addr, reserved_, false, VM_PROT_NONE);
    if (kr != KERN_SUCCESS) {
      vm_deallocate(mach_task_self(), addr, reserved_);
      throw Error(std::string("vm_protect(NONE) failed: ") + mach_error_string(kr));
    }
  }
  ~HostRegion() override {
    vm_deallocate(mach_task_self(), reinterpret_cast<vm_address_t>(base_), reserved_);
  }
  uint8_t* base() const override { return base_; }
  size_t reserved_bytes() const override { return reserved_; }
  MemoryKind kind() const override { return MemoryKind::host; }
  void commit(size_t from, size_t to) override {
    kern_return_t kr = vm_protect(mach_task_self(), reinterpret_cast<vm_address_t>(base_ + from),
                                  to - from, false, VM_PROT_READ | VM_PROT_WRITE);
    if (kr != KERN_SUCCESS)
      throw Error(std::string("vm_protect(READ|WRITE) failed: ") + mach_error_string(kr));
  }

 private:
  static size_t round_page(size_t n) { return (n + vm_page_size - 1) & ~(size_t(vm_page_size) - 1); }
  uint8_t* base_ = nullptr;
  size_t reserved_;
};
#elif !defined(_WIN32)
class HostRegion final : public Region {
 public:
  explicit HostRegion(size_t reserve) : reserved_(reserve) {
    // MAP_NORESERVE: a 4 GiB+guard reservation must not count against overcommit.
    void* p = mmap(nullptr, reserved_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      throw Error("mmap reservation of " + mb(reserved_) + " failed: " + std::strerror(errno));
    base_ = static_cast<uint8_t*>(p);
  }
  ~HostRegion() override { munmap(base_, reserved_); }
  uint8_t* base() const override { return base_; }
  size_t reserved_bytes() const override { return reserved_; }
  MemoryKind kind() const override { return MemoryKind::host; }
  void commit(size_t from, size_t to) override {
    if (mprotect(base_ + from, to - from, PROT_READ | PROT_WRITE) != 0)
      throw Error("committing linear memory [" + std::to_string(from) + ", " + std::to_string(to) +
                  ") failed: " + std::strerror(errno));
  }

 private:
  uint8_t* base_ = nullptr;
  size_t reserved_;
};
#endif

}  // namespace

std::unique_ptr<Region> make_host_region(size_t reserve_bytes) {
#if defined(_WIN32)
  (void)reserve_bytes;
  throw Error("host-owned linear memory is not implemented on Windows yet");
#else
  return std::make_unique<HostRegion>(reserve_bytes);
#endif
}

}  // namespace zw
