// The one interface every compute backend implements (CPU, CUDA, Metal).
//
// A Backend is process-wide (a device, its compiled kernels). An Executor is
// per instance: it owns the instance's queue/stream and its view of the
// instance's LinearMemory (as a MemoryListener it registers committed pages).
// Ops arrive already validated (ops/validate.hpp), in issue order; an executor
// may run them asynchronously but must finish them all in sync().
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "memory/linear_memory.hpp"
#include "ops/op_args.hpp"
#include "zerowasm/zerowasm.hpp"

namespace zw {

class Executor {
 public:
  virtual ~Executor() = default;

  virtual void run(const MatmulArgs&) = 0;
  virtual void run(const ElementwiseArgs&) = 0;
  virtual void run(const NormArgs&) = 0;
  virtual void run(const SoftmaxArgs&) = 0;
  virtual void run(const RopeArgs&) = 0;
  virtual void run(const AttentionArgs&) = 0;
  // Ids were validated on the host, but an asynchronous backend must still
  // bounds-check them in the kernel: the guest may rewrite them before it runs.
  virtual void run(const GatherArgs&) = 0;
  virtual void run(const HintArgs&) {}

  // Wait until every queued op has finished and its writes are visible to
  // the host. Throws zw::Error if an asynchronous op failed.
  virtual void sync() = 0;

  // Staging copies this executor made of guest data (zero is the point).
  virtual uint64_t copies() const { return 0; }

  // Device address a kernel uses for guest offset `off` (for zero-copy proofs).
  virtual uint64_t device_address(Offset off) const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Human-readable device description for `zerowasm info`.
  virtual std::string device() const = 0;
  virtual bool supports(MemoryKind kind) const { return kind == MemoryKind::host; }
  // Whether "auto" may pick it (a software Vulkan device is only used by name).
  virtual bool auto_selectable() const { return true; }
  // Ordinal of the device its kernels run on (DLPack's device_id; 0 where there is one).
  virtual int device_ordinal() const { return 0; }
  // Whether Memory::map_file may replace committed host pages with a file
  // mapping under this backend's executors: true only where nothing (a device
  // registration, a wrapped buffer) keeps pointing at the pages it replaces.
  virtual bool can_map_files() const { return false; }
  // A region for MemoryKind::managed (backends that support it override).
  virtual std::unique_ptr<Region> make_managed_region(size_t reserve_bytes);
  // Executor for one instance over `memory`. It may add itself as a listener
  // of `memory`. Teardown order is fixed: sync(), then the memory is released
  // (listeners get on_release), then the executor is destroyed, so an
  // executor never touches its memory in its destructor.
  virtual std::unique_ptr<Executor> make_executor(LinearMemory& memory) = 0;
};

// Registry: backends compiled into this build, in "auto" preference order.
// A backend that is compiled in but unusable (no driver, no GPU) reports why.
std::vector<BackendInfo> list_backends();
// Throws zw::Error naming why `name` cannot be used; "auto" picks the first available.
std::shared_ptr<Backend> get_backend(const std::string& name);

// Factories each backend provides (defined only when compiled in).
std::shared_ptr<Backend> make_cpu_backend();
// CUDA/Metal: return nullptr and fill `why` when unusable on this machine.
std::shared_ptr<Backend> make_cuda_backend(std::string& why);
std::shared_ptr<Backend> make_metal_backend(std::string& why);
std::shared_ptr<Backend> make_vulkan_backend(std::string& why);

}  // namespace zw
