// Host-owned linear memory: the bytes a guest computes on and a GPU maps.
//
// A LinearMemory reserves address space once and commits pages in place as
// the guest grows, so base() never moves for the memory's lifetime (wasmtime
// asserts this, and GPU registrations depend on it). Where the bytes come from
// is a Region: anonymous host pages (mmap / vm_allocate) or a backend's
// allocation (CUDA managed memory). Listeners (a backend's executor) hear about
// every committed range so they can register exactly those pages with a device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace zw {

enum class MemoryKind : uint8_t {
  host,     // host pages owned by zerowasm (mapped/registered for GPUs)
  managed,  // backend-allocated memory that migrates (CUDA managed)
};

// Where a memory's pages come from. Implementations must keep base() fixed.
class Region {
 public:
  virtual ~Region() = default;
  virtual uint8_t* base() const = 0;
  virtual size_t reserved_bytes() const = 0;
  // Make [old_committed, new_committed) readable, writable and zero-filled.
  // Throws zw::Error on failure; leaves the old range untouched then.
  virtual void commit(size_t old_committed, size_t new_committed) = 0;
  // What kind of pages these are; backends decide how to reach them by it.
  virtual MemoryKind kind() const = 0;
};

// Anonymous host pages: mmap(PROT_NONE) reservation on POSIX, vm_allocate on
// macOS. Everything past the committed size stays inaccessible, which is what
// lets wasmtime elide bounds checks in guard mode.
std::unique_ptr<Region> make_host_region(size_t reserve_bytes);

class MemoryListener {
 public:
  virtual ~MemoryListener() = default;
  // [old_committed, new_committed) became usable (also called once at creation
  // with old_committed == 0).
  virtual void on_commit(uint8_t* base, size_t old_committed, size_t new_committed) = 0;
  // The memory is about to be released: stop using it, unregister it.
  virtual void on_release(uint8_t* base, size_t committed) = 0;
};

class LinearMemory {
 public:
  // max_bytes: the most the guest may grow to (<= region reservation).
  LinearMemory(std::unique_ptr<Region> region, size_t initial_bytes, size_t max_bytes);
  ~LinearMemory();
  LinearMemory(const LinearMemory&) = delete;
  LinearMemory& operator=(const LinearMemory&) = delete;

  uint8_t* base() const { return base_; }
  size_t committed() const { return committed_; }
  size_t max_bytes() const { return max_bytes_; }
  const Region& region() const { return *region_; }

  // Commit up to new_bytes in place. Throws zw::Error past max_bytes.
  void grow_to(size_t new_bytes);
  // Why the last grow_to failed ("" after a success). wasmtime reports a
  // failed grow to the host only as "failed to grow memory", without the
  // error our callback returned, so Memory::grow adds the cause from here.
  const std::string& last_grow_failure() const { return last_grow_failure_; }

  void add_listener(MemoryListener* listener);
  void remove_listener(MemoryListener* listener);

 private:
  std::unique_ptr<Region> region_;
  uint8_t* base_;
  size_t committed_ = 0;
  size_t max_bytes_;
  std::vector<MemoryListener*> listeners_;
  std::string last_grow_failure_;

  void commit_to(size_t new_bytes);
};

}  // namespace zw
