// Metal executor: no-copy views of linear memory, op encoding, batching, sync.
#include "backend/metal/metal_executor.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "zerowasm/error.hpp"

namespace zw {
namespace mtl {

// ---- lifetime and memory -------------------------------------------------------------

MetalExecutor::MetalExecutor(std::shared_ptr<MetalContext> context, LinearMemory& memory)
    : context_(std::move(context)),
      memory_(&memory),
      base_(memory.base()),
      committed_(memory.committed()),
      page_(static_cast<uint64_t>(getpagesize())) {
  if (reinterpret_cast<uintptr_t>(base_) % page_ != 0) {
    throw Error("Metal: linear memory base is not page aligned; newBufferWithBytesNoCopy needs it");
  }
  with_autorelease_pool([&] {
    queue_ = [context_->device() newCommandQueue];
    if (queue_ == nil) throw Error("Metal: newCommandQueue failed");
    queue_.label = @"zerowasm instance";
  });
  memory.add_listener(this);
}

MetalExecutor::~MetalExecutor() {
  // Teardown waits for the GPU: queued kernels must not outlive the pages
  // they read (on_release normally did this already).
  try {
    with_autorelease_pool([&] { drain(); });
  } catch (...) {
    // Destructors must not throw; the failure can no longer be reported.
  }
  // Backend contract: the memory's on_release came first, so memory_ is
  // null here. Only an executor dropped while its memory lives unregisters.
  if (memory_ != nullptr) memory_->remove_listener(this);
  grid_.clear();
  fitted_.clear();
}

void MetalExecutor::on_commit(uint8_t* base, size_t /*old_committed*/, size_t new_committed) {
  // Only record: views are rebuilt at the next op, where errors can be reported.
  base_ = base;
  committed_ = new_committed;
}

void MetalExecutor::on_release(uint8_t* /*base*/, size_t /*committed*/) {
  try {
    with_autorelease_pool([&] { drain(); });
  } catch (...) {
    // Nothing can be reported from here; the memory goes away regardless.
  }
  grid_.clear();  // releases every MTLBuffer wrapping the memory
  fitted_.clear();
  grid_committed_ = 0;
  memory_ = nullptr;
}

id<MTLBuffer> MetalExecutor::wrap(const ViewSpan& span) {
  id<MTLBuffer> buffer = [context_->device() newBufferWithBytesNoCopy:base_ + span.offset
                                                                length:static_cast<NSUInteger>(span.length)
                                                               options:MTLResourceStorageModeShared
                                                           deallocator:nil];
  if (buffer == nil) {
    throw Error("Metal: newBufferWithBytesNoCopy failed for linear memory bytes [" +
                std::to_string(span.offset) + ", " + std::to_string(span.end()) +
                ") (device maxBufferLength " + std::to_string(context_->max_buffer_length()) + ")");
  }
  return buffer;
}

void MetalExecutor::refresh_grid() {
  if (grid_committed_ == committed_) return;
  // The memory grew: finish everything that used the old views before any
  // new, aliasing view is used.
  drain();
  std::vector<ViewSpan> spans = plan_views(committed_, context_->max_buffer_length(), page_);
  if (spans.empty() && committed_ != 0) {
    throw Error("Metal: device maxBufferLength is smaller than one page");
  }
  std::vector<View> views;
  views.reserve(spans.size());
  for (const ViewSpan& span : spans) {
    id<MTLBuffer> reused = nil;
    for (const View& old : grid_) {
      if (old.span.offset == span.offset && old.span.length == span.length) reused = old.buffer;
    }
    views.push_back(View{span, reused != nil ? reused : wrap(span)});
  }
  grid_ = std::move(views);
  grid_committed_ = committed_;
}

const MetalExecutor::View* MetalExecutor::view_for(Offset off, uint64_t bytes) const {
  for (const View& view : grid_) {
    if (view.span.contains(off, bytes)) return &view;
  }
  for (const View& view : fitted_) {
    if (view.span.contains(off, bytes)) return &view;
  }
  return nullptr;
}

void MetalExecutor::prepare(const EncodePlan& plan) {
  const BufferBinding* ranges = plan.buffers.data();
  const BufferBinding* ranges_end = ranges + plan.buffer_count;
  if (memory_ == nullptr) throw Error("Metal: op after the instance's memory was released");
  throw_failure();
  refresh_grid();
  for (const BufferBinding* it = ranges; it != ranges_end; ++it) {
    const Operand& range = it->operand;
    if (view_for(range.offset, range.bytes) != nullptr) continue;
    // Longer than any grid view guarantees: wrap a view fitted around it.
    // Finish queued work first (the new view aliases the ones it used).
    ViewSpan span{};
    if (!fitted_span(range.offset, range.bytes, committed_, context_->max_buffer_length(), page_,
                     &span)) {
      throw Error("Metal: a " + std::to_string(range.bytes) +
                  "-byte tensor exceeds the device's maxBufferLength (" +
                  std::to_string(context_->max_buffer_length()) + " bytes)");
    }
    drain();
    if (fitted_.size() >= kMaxFittedViews) {
      // Nothing queued uses any view now, but this op may: evict the oldest
      // view that holds none of its ranges (an op has fewer ranges than views).
      auto holds_a_range = [&](const View& view) {
        for (const BufferBinding* r = ranges; r != ranges_end; ++r)
          if (view.span.contains(r->operand.offset, r->operand.bytes)) return true;
        return false;
      };
      auto victim = std::find_if(fitted_.begin(), fitted_.end(), [&](const View& v) { return !holds_a_range(v); });
      fitted_.erase(victim != fitted_.end() ? victim : fitted_.begin());
    }
    fitted_.push_back(View{span, wrap(span)});
  }
}

// ---- encoding ------------------------------------------------------------------------

id<MTLComputePipelineState> MetalExecutor::pipeline(Kernel kernel) {
  const int index = static_cast<int>(kernel);
  if (!pipeline_tried_[index]) {
    pipelines_[index] = kernel_is_optional(kernel) ? context_->optional_pipeline(kernel_name(kernel))
                                               : context_->pipeline(kernel_name(kernel));
    pipeline_tried_[index] = true;
  }
  return pipelines_[index];
}

id<MTLComputeCommandEncoder> MetalExecutor::encoder() {
  if (encoder_ != nil) return encoder_;
  id<MTLCommandBuffer> commands = nil;
  if (@available(macOS 11.0, iOS 14.0, *)) {
    // Per-encoder execution status makes GPU faults name the failing encoder.
    MTLCommandBufferDescriptor* descriptor = [[MTLCommandBufferDescriptor alloc] init];
    descriptor.errorOptions = MTLCommandBufferErrorOptionEncoderExecutionStatus;
    commands = [queue_ commandBufferWithDescriptor:descriptor];
  } else {
    commands = [queue_ commandBuffer];
  }
  if (commands == nil) throw Error("Metal: the command queue returned no command buffer");
  commands.label = @"zerowasm ops";
  // Serial dispatch (the default): each dispatch completes before the next
  // starts, so ops see their predecessors' writes even through aliased views.
  id<MTLComputeCommandEncoder> encoder = [commands computeCommandEncoder];
  if (encoder == nil) throw Error("Metal: the command buffer returned no compute encoder");
  open_ = commands;
  encoder_ = encoder;
  open_ops_ = 0;
  open_op_counts_.clear();
  return encoder_;
}

void MetalExecutor::bind(id<MTLComputeCommandEncoder> encoder, NSUInteger index, const Operand& operand) {
  const View* view = view_for(operand.offset, operand.bytes);
  if (view == nullptr) throw Error("Metal: internal error: no view holds a prepared range");
  [encoder setBuffer:view->buffer
              offset:static_cast<NSUInteger>(operand.offset - view->span.offset)
             atIndex:index];
}

void MetalExecutor::finish_op(const char* op) {
  ++open_ops_;
  bool counted = false;
  for (auto& entry : open_op_counts_) {
    if (std::strcmp(entry.first, op) == 0) {
      ++entry.second;
      counted = true;
    }
  }
  if (!counted) open_op_counts_.emplace_back(op, 1);
  if (open_ops_ < kOpsPerCommandBuffer) return;
  const bool single_view = grid_.size() == 1 && fitted_.empty();
  if (!single_view) {
    // Several views may alias the same bytes, and only one command buffer
    // at a time keeps their ops ordered: wait for it. (Never letting the
    // buffer grow without bound: a guest that never syncs must not be able
    // to make the host encode without limit.)
    drain();
    return;
  }
  commit_open();
  reap_completed();
  while (in_flight_.size() > kMaxInFlight) {  // the GPU is behind: let it catch up
    [in_flight_.front().commands waitUntilCompleted];
    reap_completed();
  }
}

// ---- submission and errors -----------------------------------------------------------

void MetalExecutor::commit_open() {
  if (open_ == nil) return;
  [encoder_ endEncoding];
  encoder_ = nil;
  [open_ commit];
  std::string ops = std::to_string(open_ops_) + " op(s):";
  for (const auto& entry : open_op_counts_) {
    ops += std::string(" ") + entry.first + " x" + std::to_string(entry.second);
  }
  in_flight_.push_back(InFlight{open_, std::move(ops)});
  open_ = nil;
  open_ops_ = 0;
  open_op_counts_.clear();
}

void MetalExecutor::check(const InFlight& done) {
  if (done.commands.status != MTLCommandBufferStatusError || !failure_.empty()) return;
  failure_ = "Metal: a command buffer failed (" + done.ops + "): " + describe(done.commands.error);
}

void MetalExecutor::reap_completed() {
  while (!in_flight_.empty()) {
    const MTLCommandBufferStatus status = in_flight_.front().commands.status;
    if (status != MTLCommandBufferStatusCompleted && status != MTLCommandBufferStatusError) break;
    check(in_flight_.front());
    in_flight_.pop_front();
  }
}

void MetalExecutor::wait_in_flight() {
  while (!in_flight_.empty()) {
    [in_flight_.front().commands waitUntilCompleted];
    check(in_flight_.front());
    in_flight_.pop_front();
  }
}

void MetalExecutor::drain() {
  commit_open();
  wait_in_flight();
}

void MetalExecutor::throw_failure() {
  if (failure_.empty()) return;
  std::string message;
  message.swap(failure_);
  throw Error(message);
}

void MetalExecutor::sync() {
  with_autorelease_pool([&] {
    drain();
    throw_failure();
  });
}

uint64_t MetalExecutor::device_address(Offset off) const {
  const View* view = view_for(off, 0);
  if (view == nullptr) return reinterpret_cast<uint64_t>(base_ + off);  // not wrapped yet
  return reinterpret_cast<uint64_t>(static_cast<uint8_t*>([view->buffer contents])) +
         (off - view->span.offset);
}

// ---- ops -----------------------------------------------------------------------------

DeviceLimits MetalExecutor::limits() {
  DeviceLimits device;
  device.max_threadgroup_memory = context_->max_threadgroup_memory();
  device.simdgroup_matrix = context_->has_simdgroup_matrix();
  device.pipeline = [this](Kernel kernel) {
    id<MTLComputePipelineState> state = pipeline(kernel);
    if (state == nil) return PipelineLimits{false, 0, 0};
    return PipelineLimits{true, static_cast<uint32_t>(state.threadExecutionWidth),
                          static_cast<uint32_t>(state.maxTotalThreadsPerThreadgroup)};
  };
  return device;
}

template <typename Args>
void MetalExecutor::run_planned(const Args& args) {
  with_autorelease_pool([&] { encode(plan_encode(args, limits())); });
}

void MetalExecutor::encode(const EncodePlan& plan) {
  prepare(plan);
  id<MTLComputeCommandEncoder> enc = encoder();
  [enc setComputePipelineState:pipeline(plan.kernel)];
  for (uint32_t i = 0; i < plan.buffer_count; ++i) {
    const BufferBinding& b = plan.buffers[i];
    bind(enc, b.index, b.operand);
  }
  [enc setBytes:plan.params.data() length:plan.params_size atIndex:plan.params_index];
  if (!plan.constants.empty()) {
    [enc setBytes:plan.constants.data() length:plan.constants.size() * sizeof(float) atIndex:plan.params_index + 1];
  }
  if (plan.threadgroup_memory != 0) [enc setThreadgroupMemoryLength:plan.threadgroup_memory atIndex:0];
  [enc dispatchThreadgroups:MTLSizeMake(plan.groups[0], plan.groups[1], plan.groups[2])
      threadsPerThreadgroup:MTLSizeMake(plan.threads, 1, 1)];
  finish_op(plan.op);
}

void MetalExecutor::run(const MatmulArgs& args) { run_planned(args); }
void MetalExecutor::run(const ElementwiseArgs& args) { run_planned(args); }
void MetalExecutor::run(const NormArgs& args) { run_planned(args); }
void MetalExecutor::run(const SoftmaxArgs& args) { run_planned(args); }
void MetalExecutor::run(const RopeArgs& args) { run_planned(args); }
void MetalExecutor::run(const AttentionArgs& args) { run_planned(args); }
void MetalExecutor::run(const GatherArgs& args) { run_planned(args); }

}  // namespace mtl
}  // namespace zw
