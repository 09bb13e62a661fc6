// Process-wide Metal state (Objective-C++ only): the device, the shader
// library compiled from the embedded source, and compute pipelines.
//
// Ownership: every .mm file of this backend is compiled with ARC
// (-fobjc-arc, enforced below). Metal objects live in __strong members and
// are released when their owner is destroyed; nothing is retained or
// released by hand. MetalContext is shared (std::shared_ptr) by the backend
// and by every executor, so the device and pipelines outlive all encoders.
#pragma once

#if !defined(__OBJC__)
#error "metal_context.h is Objective-C++: include it from .mm files only"
#endif
#if !__has_feature(objc_arc)
#error "zerowasm's Metal backend is written for ARC: compile with -fobjc-arc"
#endif

#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>

namespace zw {
namespace mtl {

// "description (reason)" of an NSError for zw::Error messages; nil-safe.
std::string describe(NSError* error);

// Runs f inside an autorelease pool (Metal hands back autoreleased command
// buffers and encoders; Python threads have no pool of their own) and
// rethrows its exception after the pool is popped, so no pool is skipped.
template <typename F>
void with_autorelease_pool(F&& f) {
  std::exception_ptr failure;
  @autoreleasepool {
    try {
      f();
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

class MetalContext {
 public:
  explicit MetalContext(id<MTLDevice> device);

  id<MTLDevice> device() const { return device_; }
  // "Apple M2 Pro, unified memory, max buffer 21.3 GiB, ...".
  std::string description() const;
  // Apple7+ GPUs: SIMD-group matrix multiply (simdgroup_float8x8).
  bool has_simdgroup_matrix() const { return simdgroup_matrix_; }
  uint64_t max_buffer_length() const { return max_buffer_length_; }
  uint64_t max_threadgroup_memory() const { return max_threadgroup_memory_; }

  // Compiles the embedded shader source once (newLibraryWithSource, at first
  // use). Throws zw::Error carrying the Metal compiler's messages.
  void ensure_library();
  // Pipeline of kernel `name`, created once and cached. Throws zw::Error if
  // the function is missing or pipeline creation fails.
  id<MTLComputePipelineState> pipeline(const char* name);
  // Same, but nil when the library has no such function (kernels compiled
  // only for newer Metal versions).
  id<MTLComputePipelineState> optional_pipeline(const char* name);

 private:
  id<MTLComputePipelineState> make_pipeline(const char* name, bool required);

  id<MTLDevice> device_;
  bool simdgroup_matrix_ = false;
  uint64_t max_buffer_length_ = 0;
  uint64_t max_threadgroup_memory_ = 0;

  std::mutex mutex_;  // guards library_ and pipelines_
  id<MTLLibrary> library_;
  std::unordered_map<std::string, id<MTLComputePipelineState>> pipelines_;
};

}  // namespace mtl
}  // namespace zw
