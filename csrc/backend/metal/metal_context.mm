// Device, shader library and pipeline cache of the Metal backend.
#include "backend/metal/metal_context.h"

#include <cstdio>

#include "backend/metal/metal_shader_source.h"
#include "zerowasm/error.hpp"

namespace zw {
namespace mtl {

std::string describe(NSError* error) {
  if (error == nil) return "no error information";
  std::string text;
  if (NSString* what = error.localizedDescription) text = what.UTF8String ? what.UTF8String : "";
  if (NSString* why = error.localizedFailureReason) {
    if (why.UTF8String) text += std::string(" (") + why.UTF8String + ")";
  }
  if (text.empty()) text = "unknown Metal error";
  return text + " [" + (error.domain.UTF8String ? error.domain.UTF8String : "?") + " " +
         std::to_string(static_cast<long>(error.code)) + "]";
}

MetalContext::MetalContext(id<MTLDevice> device) : device_(device) {
  if (@available(macOS 11.0, iOS 14.0, *)) {
    simdgroup_matrix_ = [device_ supportsFamily:MTLGPUFamilyApple7];
  }
  max_buffer_length_ = static_cast<uint64_t>(device_.maxBufferLength);
  max_threadgroup_memory_ = static_cast<uint64_t>(device_.maxThreadgroupMemoryLength);
}

std::string MetalContext::description() const {
  std::string text = device_.name.UTF8String ? device_.name.UTF8String : "Metal device";
  if (@available(macOS 10.15, iOS 13.0, *)) {
    text += device_.hasUnifiedMemory ? ", unified memory" : ", discrete memory";
  }
  char numbers[160];
  std::snprintf(numbers, sizeof(numbers),
                ", max buffer %.1f GiB, recommended working set %.1f GiB%s",
                static_cast<double>(max_buffer_length_) / (1u << 30),
                static_cast<double>(device_.recommendedMaxWorkingSetSize) / (1u << 30),
                simdgroup_matrix_ ? ", simdgroup matrix" : "");
  return text + numbers;
}

namespace {

// Precise math: the kernels must match the CPU backend and float64
// references, and softmax/attention rely on -inf surviving. (Metal's default
// is fast math.)
void set_precise_math(MTLCompileOptions* options) {
#if defined(__MAC_15_0) || defined(__IPHONE_18_0)
  if (@available(macOS 15.0, iOS 18.0, *)) {
    options.mathMode = MTLMathModeSafe;
    options.mathFloatingPointFunctions = MTLMathFloatingPointFunctionsPrecise;
    return;
  }
#endif
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
  options.fastMathEnabled = NO;  // the pre-macOS 15 spelling of the same request
#pragma clang diagnostic pop
}

}  // namespace

void MetalContext::ensure_library() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (library_ != nil) return;
  NSString* source = [[NSString alloc] initWithBytes:metal_shaders::kSource
                                              length:metal_shaders::kSourceSize
                                            encoding:NSUTF8StringEncoding];
  if (source == nil) throw Error("Metal: the embedded shader source is not valid UTF-8");
  MTLCompileOptions* options = [[MTLCompileOptions alloc] init];
  set_precise_math(options);
  NSError* error = nil;
  id<MTLLibrary> library = [device_ newLibraryWithSource:source options:options error:&error];
  // A non-nil error next to a library only carries warnings.
  if (library == nil) {
    throw Error("Metal: compiling zerowasm's shaders (newLibraryWithSource) failed: " +
                describe(error));
  }
  library_ = library;
}

id<MTLComputePipelineState> MetalContext::make_pipeline(const char* name, bool required) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = pipelines_.find(name);
  if (found != pipelines_.end()) return found->second;
  if (library_ == nil) throw Error("Metal: pipeline requested before the shader library was built");
  id<MTLFunction> function = [library_ newFunctionWithName:@(name)];
  if (function == nil) {
    if (!required) return nil;
    throw Error(std::string("Metal: kernel function '") + name + "' is missing from the shader library");
  }
  NSError* error = nil;
  id<MTLComputePipelineState> state = [device_ newComputePipelineStateWithFunction:function
                                                                             error:&error];
  if (state == nil) {
    throw Error(std::string("Metal: creating the pipeline for '") + name + "' failed: " +
                describe(error));
  }
  pipelines_.emplace(name, state);
  return state;
}

id<MTLComputePipelineState> MetalContext::pipeline(const char* name) {
  return make_pipeline(name, true);
}

id<MTLComputePipelineState> MetalContext::optional_pipeline(const char* name) {
  return make_pipeline(name, false);
}

}  // namespace mtl
}  // namespace zw
