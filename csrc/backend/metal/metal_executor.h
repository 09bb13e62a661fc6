// The Metal executor of one instance (Objective-C++ only; ARC).
//
// Memory: the instance's linear memory is wrapped, without copying, as
// MTLBuffers (newBufferWithBytesNoCopy, shared storage) over page-aligned
// views of the committed range (buffer_views.hpp). Each kernel argument binds
// as (view, offset). Views are rebuilt lazily, at the next op after the
// memory grew; before that every queued command buffer is finished, because
// old and new views alias the same pages and Metal tracks hazards per
// MTLBuffer object, not per page.
//
// Ordering: ops are encoded, in issue order, into one serial compute encoder
// per command buffer (each dispatch sees the previous ones' writes). A
// command buffer is committed at sync(), or after kOpsPerCommandBuffer ops
// while a single view covers the memory (then consecutive command buffers
// touch one tracked MTLBuffer, so Metal orders them); with several aliasing
// views it is committed and waited for every kOpsPerCommandBuffer ops, so one
// command buffer at a time keeps their order and none grows without bound.
//
// Errors: a failed command buffer is reported by the next run() or sync() as
// zw::Error with Metal's error text and the ops it contained.
#pragma once

#include "backend/metal/metal_context.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.hpp"
#include "backend/metal/buffer_views.hpp"

namespace zw {
namespace mtl {

// Every kernel of metal/*.metal the executor dispatches (names in metal_executor.mm).
enum class Kernel : int {
  add, mul, scale, gelu, silu,
  layernorm, rmsnorm, softmax, rope, attention,
  gather_f32, gather_f16, gather_q8_0, gather_q4_1,
  matvec_f32, matvec_f16, matvec_q8_0, matvec_q4_1,
  tiled_f32, tiled_f16, tiled_q8_0, tiled_q4_1,
  simd_f32, simd_f16, simd_q8_0, simd_q4_1,
  count
};
constexpr int kKernelCount = static_cast<int>(Kernel::count);
const char* kernel_name(Kernel kernel);

class MetalExecutor final : public Executor, public MemoryListener {
 public:
  // Registers itself as a listener of `memory` and views its committed pages.
  MetalExecutor(std::shared_ptr<MetalContext> context, LinearMemory& memory);
  ~MetalExecutor() override;
  MetalExecutor(const MetalExecutor&) = delete;
  MetalExecutor& operator=(const MetalExecutor&) = delete;

  void run(const MatmulArgs& args) override;
  void run(const ElementwiseArgs& args) override;
  void run(const NormArgs& args) override;
  void run(const SoftmaxArgs& args) override;
  void run(const RopeArgs& args) override;
  void run(const AttentionArgs& args) override;
  void run(const GatherArgs& args) override;
  void sync() override;
  // Address the kernels read for `off`: [buffer contents] + offset of the
  // view holding it, which is base + off exactly when nothing was copied.
  uint64_t device_address(Offset off) const override;

  void on_commit(uint8_t* base, size_t old_committed, size_t new_committed) override;
  void on_release(uint8_t* base, size_t committed) override;

  // Ops per command buffer before it is committed without waiting.
  static constexpr uint32_t kOpsPerCommandBuffer = 64;
  static constexpr size_t kMaxFittedViews = 8;  // views fitted around tensors no grid view holds
  // Committed command buffers allowed in flight before run() waits for the oldest.
  static constexpr size_t kMaxInFlight = 4;

 private:
  struct View {
    ViewSpan span;
    id<MTLBuffer> buffer;  // strong: wraps base + span.offset, no copy, no deallocator
  };
  struct InFlight {
    id<MTLCommandBuffer> commands;  // strong until its status has been checked
    std::string ops;                // what it ran, for error messages
  };

  // Before encoding an op: fail if memory is gone or an earlier command
  // buffer failed; make sure a view holds every range (may finish queued work).
  void prepare(std::initializer_list<Operand> operands);
  void refresh_grid();
  const View* view_for(Offset off, uint64_t bytes) const;
  id<MTLBuffer> wrap(const ViewSpan& span);

  id<MTLComputePipelineState> pipeline(Kernel kernel);
  id<MTLComputeCommandEncoder> encoder();
  void bind(id<MTLComputeCommandEncoder> encoder, NSUInteger index, const Operand& operand);
  void finish_op(const char* op);

  void commit_open();      // end encoding, commit, move to in_flight_
  void wait_in_flight();   // wait for all; errors go to failure_
  void reap_completed();   // check finished ones at the front
  void check(const InFlight& done);
  void drain();            // commit_open + wait_in_flight
  void throw_failure();

  std::shared_ptr<MetalContext> context_;
  LinearMemory* memory_;  // null once on_release ran
  uint8_t* base_;
  uint64_t committed_;
  uint64_t page_;

  id<MTLCommandQueue> queue_;  // one per executor (instance)
  id<MTLComputePipelineState> pipelines_[kKernelCount];
  bool pipeline_tried_[kKernelCount] = {};

  std::vector<View> grid_;      // views covering [0, grid_committed_)
  uint64_t grid_committed_ = 0;
  std::vector<View> fitted_;    // views fitted around ranges no grid view holds

  id<MTLCommandBuffer> open_;             // being encoded, not committed
  id<MTLComputeCommandEncoder> encoder_;  // open_'s encoder
  uint32_t open_ops_ = 0;
  std::vector<std::pair<const char*, uint32_t>> open_op_counts_;
  std::deque<InFlight> in_flight_;
  std::string failure_;  // first failure not yet reported
};

}  // namespace mtl
}  // namespace zw
