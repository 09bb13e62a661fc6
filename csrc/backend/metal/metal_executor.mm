// Metal executor: no-copy views of linear memory, op encoding, batching, sync.
#include "backend/metal/metal_executor.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "zerowasm/error.hpp"
#include "zw_metal_params.h"

namespace zw {
namespace mtl {

namespace {

const char* const kKernelNames[] = {
    "zwk_add", "zwk_mul", "zwk_scale", "zwk_gelu", "zwk_silu",
    "zwk_layernorm", "zwk_rmsnorm", "zwk_softmax", "zwk_rope", "zwk_attention",
    "zwk_gather_f32", "zwk_gather_f16", "zwk_gather_q8_0", "zwk_gather_q4_1",
    "zwk_matvec_f32", "zwk_matvec_f16", "zwk_matvec_q8_0", "zwk_matvec_q4_1",
    "zwk_matmul_tiled_f32", "zwk_matmul_tiled_f16", "zwk_matmul_tiled_q8_0", "zwk_matmul_tiled_q4_1",
    "zwk_matmul_simd_f32", "zwk_matmul_simd_f16", "zwk_matmul_simd_q8_0", "zwk_matmul_simd_q4_1",
};
static_assert(sizeof(kKernelNames) / sizeof(kKernelNames[0]) == kKernelCount,
              "one name per Kernel");

// Kernel of a dtype-specialised family (families list f32, f16, q8_0, q4_1 in order).
Kernel with_dtype(Kernel f32_kernel, DType type) {
  return static_cast<Kernel>(static_cast<int>(f32_kernel) + static_cast<int>(type));
}

bool is_simd_kernel(Kernel kernel) {
  return kernel >= Kernel::simd_f32 && kernel <= Kernel::simd_q4_1;
}

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Grid-stride kernels need no more threadgroups than this; more would only
// add scheduling work.
constexpr uint64_t kMaxStrideGroups = 65535;

// Threadgroup memory of the row reductions (one float per simdgroup); a
// multiple of 16 bytes, as setThreadgroupMemoryLength requires.
constexpr NSUInteger kReductionScratchBytes = ZW_MAX_SIMDGROUPS * sizeof(float);
static_assert(kReductionScratchBytes % 16 == 0 && (ZW_MM_TILE_FLOATS * sizeof(float)) % 16 == 0,
              "threadgroup memory lengths must be multiples of 16 bytes");

// Threads for a grid-stride or row kernel: at most `want`, whole simdgroups,
// within the pipeline's limit.
NSUInteger threads_for(id<MTLComputePipelineState> state, uint64_t want) {
  const uint64_t width = std::max<uint64_t>(1, state.threadExecutionWidth);
  const uint64_t limit = std::max<uint64_t>(width, state.maxTotalThreadsPerThreadgroup / width * width);
  const uint64_t rounded = std::max<uint64_t>(width, round_up(want, width));
  return static_cast<NSUInteger>(std::min(rounded, limit));
}

}  // namespace

const char* kernel_name(Kernel kernel) { return kKernelNames[static_cast<int>(kernel)]; }

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

void MetalExecutor::prepare(std::initializer_list<Operand> ranges) {
  if (memory_ == nullptr) throw Error("Metal: op after the instance's memory was released");
  throw_failure();
  refresh_grid();
  for (const Operand& range : ranges) {
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
        for (const Operand& r : ranges)
          if (view.span.contains(r.offset, r.bytes)) return true;
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
    pipelines_[index] = is_simd_kernel(kernel) ? context_->optional_pipeline(kernel_name(kernel))
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

void MetalExecutor::run(const MatmulArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t m = static_cast<uint64_t>(args.m);
    const uint64_t n = static_cast<uint64_t>(args.n);
    const uint64_t k = static_cast<uint64_t>(args.k);
    const uint64_t b_row = args.b_row_bytes;
    prepare({args.a, args.b, args.c});

    const ZwMatmulParams params{static_cast<uint32_t>(m), static_cast<uint32_t>(n),
                                static_cast<uint32_t>(k), static_cast<uint32_t>(b_row),
                                args.accumulate ? 1u : 0u};
    id<MTLComputePipelineState> state = nil;
    MTLSize groups;
    MTLSize threads;
    if (m <= ZW_MV_MAX_ROWS) {
      state = pipeline(with_dtype(Kernel::matvec_f32, args.b_type));
      threads = MTLSizeMake(ZW_MV_SIMDGROUPS * state.threadExecutionWidth, 1, 1);
      groups = MTLSizeMake(ceil_div(n, ZW_MV_SIMDGROUPS), 1, 1);
    } else {
      if (context_->has_simdgroup_matrix()) {
        // The simd variant assumes four 32-wide simdgroups per threadgroup.
        id<MTLComputePipelineState> simd = pipeline(with_dtype(Kernel::simd_f32, args.b_type));
        if (simd != nil && simd.threadExecutionWidth == 32 &&
            simd.maxTotalThreadsPerThreadgroup >= ZW_MM_THREADS) {
          state = simd;
        }
      }
      if (state == nil) state = pipeline(with_dtype(Kernel::tiled_f32, args.b_type));
      if (state.maxTotalThreadsPerThreadgroup < ZW_MM_THREADS) {
        throw Error("Metal: the matmul pipeline allows only " +
                    std::to_string(state.maxTotalThreadsPerThreadgroup) + " threads per threadgroup");
      }
      threads = MTLSizeMake(ZW_MM_THREADS, 1, 1);
      groups = MTLSizeMake(ceil_div(n, ZW_MM_BN), ceil_div(m, ZW_MM_BM), 1);
    }
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.a);
    bind(enc, 1, args.b);
    bind(enc, 2, args.c);
    [enc setBytes:&params length:sizeof(params) atIndex:3];
    if (m > ZW_MV_MAX_ROWS) [enc setThreadgroupMemoryLength:ZW_MM_TILE_FLOATS * sizeof(float) atIndex:0];
    [enc dispatchThreadgroups:groups threadsPerThreadgroup:threads];
    finish_op("matmul");
  });
}

void MetalExecutor::run(const ElementwiseArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t n = static_cast<uint64_t>(args.n);
    const bool binary = args.op == Elementwise::add || args.op == Elementwise::mul;
    if (binary) {
      prepare({args.a, args.b, args.out});
    } else {
      prepare({args.a, args.out});
    }
    Kernel kernel = Kernel::add;
    const char* op = "add";
    switch (args.op) {
      case Elementwise::add: kernel = Kernel::add; op = "add"; break;
      case Elementwise::mul: kernel = Kernel::mul; op = "mul"; break;
      case Elementwise::scale: kernel = Kernel::scale; op = "scale"; break;
      case Elementwise::gelu: kernel = Kernel::gelu; op = "gelu"; break;
      case Elementwise::silu: kernel = Kernel::silu; op = "silu"; break;
    }
    id<MTLComputePipelineState> state = pipeline(kernel);
    const ZwElementwiseParams params{static_cast<uint32_t>(n), args.s};
    const NSUInteger width = threads_for(state, 256);
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.a);
    if (binary) {
      bind(enc, 1, args.b);
      bind(enc, 2, args.out);
      [enc setBytes:&params length:sizeof(params) atIndex:3];
    } else {
      bind(enc, 1, args.out);
      [enc setBytes:&params length:sizeof(params) atIndex:2];
    }
    [enc dispatchThreadgroups:MTLSizeMake(std::min(ceil_div(n, width), kMaxStrideGroups), 1, 1)
        threadsPerThreadgroup:MTLSizeMake(width, 1, 1)];
    finish_op(op);
  });
}

void MetalExecutor::run(const NormArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t rows = static_cast<uint64_t>(args.rows);
    const uint64_t cols = static_cast<uint64_t>(args.cols);
    if (args.rms) {
      prepare({args.x, args.gamma, args.out});
    } else {
      prepare({args.x, args.gamma, args.beta, args.out});
    }
    id<MTLComputePipelineState> state = pipeline(args.rms ? Kernel::rmsnorm : Kernel::layernorm);
    const ZwNormParams params{static_cast<uint32_t>(rows), static_cast<uint32_t>(cols), args.eps};
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.x);
    bind(enc, 1, args.gamma);
    if (!args.rms) bind(enc, 2, args.beta);
    bind(enc, 3, args.out);
    [enc setBytes:&params length:sizeof(params) atIndex:4];
    [enc setThreadgroupMemoryLength:kReductionScratchBytes atIndex:0];
    [enc dispatchThreadgroups:MTLSizeMake(rows, 1, 1)
        threadsPerThreadgroup:MTLSizeMake(threads_for(state, std::min<uint64_t>(cols, 256)), 1, 1)];
    finish_op(args.rms ? "rmsnorm" : "layernorm");
  });
}

void MetalExecutor::run(const SoftmaxArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t rows = static_cast<uint64_t>(args.rows);
    const uint64_t cols = static_cast<uint64_t>(args.cols);
    prepare({args.x, args.out});
    id<MTLComputePipelineState> state = pipeline(Kernel::softmax);
    const ZwSoftmaxParams params{static_cast<uint32_t>(rows), static_cast<uint32_t>(cols),
                                 args.scale, args.causal ? 1u : 0u};
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.x);
    bind(enc, 1, args.out);
    [enc setBytes:&params length:sizeof(params) atIndex:2];
    [enc setThreadgroupMemoryLength:kReductionScratchBytes atIndex:0];
    [enc dispatchThreadgroups:MTLSizeMake(rows, 1, 1)
        threadsPerThreadgroup:MTLSizeMake(threads_for(state, std::min<uint64_t>(cols, 256)), 1, 1)];
    finish_op("softmax");
  });
}

void MetalExecutor::run(const RopeArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t values = static_cast<uint64_t>(args.rows) * args.heads * args.head_dim;
    prepare({args.x, args.out});
    id<MTLComputePipelineState> state = pipeline(Kernel::rope);

    // Frequencies theta^(-2i/head_dim) in double, sent as float pairs hi + lo.
    const uint32_t pairs = static_cast<uint32_t>(args.head_dim / 2);
    const bool table = pairs <= ZW_ROPE_MAX_TABLE_PAIRS;
    std::vector<float> freqs(table ? 2 * pairs : 2, 0.0f);
    if (table) {
      for (uint32_t i = 0; i < pairs; ++i) {
        const double f = std::pow(static_cast<double>(args.theta),
                                  -static_cast<double>(2 * i) / static_cast<double>(args.head_dim));
        freqs[2 * i] = static_cast<float>(f);
        freqs[2 * i + 1] = static_cast<float>(f - static_cast<double>(freqs[2 * i]));
      }
    }
    const ZwRopeParams params{static_cast<uint32_t>(args.rows), static_cast<uint32_t>(args.heads),
                              static_cast<uint32_t>(args.head_dim), static_cast<uint32_t>(args.pos0),
                              args.theta, args.adjacent ? 1u : 0u, table ? 1u : 0u};
    const NSUInteger width = threads_for(state, 256);
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.x);
    bind(enc, 1, args.out);
    [enc setBytes:&params length:sizeof(params) atIndex:2];
    [enc setBytes:freqs.data() length:freqs.size() * sizeof(float) atIndex:3];
    [enc dispatchThreadgroups:MTLSizeMake(std::min(ceil_div(values / 2, width), kMaxStrideGroups), 1, 1)
        threadsPerThreadgroup:MTLSizeMake(width, 1, 1)];
    finish_op("rope");
  });
}

void MetalExecutor::run(const AttentionArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t hd = static_cast<uint64_t>(args.head_dim);
    prepare({args.q, args.k, args.v, args.out});
    id<MTLComputePipelineState> state = pipeline(Kernel::attention);

    // Simdgroups per (query, head): enough to share a long KV cache, each
    // with its own head_dim accumulator in threadgroup memory.
    const uint64_t width = std::max<uint64_t>(1, state.threadExecutionWidth);
    uint64_t simdgroups = std::min<uint64_t>({8, std::max<uint64_t>(1, args.seq_kv / 16),
                                              std::max<uint64_t>(1, state.maxTotalThreadsPerThreadgroup / width)});
    auto memory_bytes = [&](uint64_t s) { return round_up((hd * (1 + s) + 2 * s) * 4, 16); };
    while (simdgroups > 1 && memory_bytes(simdgroups) > context_->max_threadgroup_memory()) --simdgroups;
    if (memory_bytes(simdgroups) > context_->max_threadgroup_memory()) {
      throw Error("Metal: attention head_dim " + std::to_string(hd) +
                  " needs more threadgroup memory than the device has (" +
                  std::to_string(context_->max_threadgroup_memory()) + " bytes)");
    }
    const ZwAttentionParams params{static_cast<uint32_t>(args.seq_q), static_cast<uint32_t>(args.seq_kv),
                                   static_cast<uint32_t>(args.heads), static_cast<uint32_t>(args.kv_heads),
                                   static_cast<uint32_t>(hd), args.scale, args.causal ? 1u : 0u};
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.q);
    bind(enc, 1, args.k);
    bind(enc, 2, args.v);
    bind(enc, 3, args.out);
    [enc setBytes:&params length:sizeof(params) atIndex:4];
    [enc setThreadgroupMemoryLength:static_cast<NSUInteger>(memory_bytes(simdgroups)) atIndex:0];
    [enc dispatchThreadgroups:MTLSizeMake(static_cast<NSUInteger>(args.heads), static_cast<NSUInteger>(args.seq_q), 1)
        threadsPerThreadgroup:MTLSizeMake(static_cast<NSUInteger>(simdgroups * width), 1, 1)];
    finish_op("attention");
  });
}

void MetalExecutor::run(const GatherArgs& args) {
  with_autorelease_pool([&] {
    const uint64_t n = static_cast<uint64_t>(args.n);
    const uint64_t dim = static_cast<uint64_t>(args.dim);
    const uint64_t row = args.table_row_bytes;
    prepare({args.table, args.ids, args.out});
    id<MTLComputePipelineState> state = pipeline(with_dtype(Kernel::gather_f32, args.type));
    const ZwGatherParams params{static_cast<uint32_t>(n), static_cast<uint32_t>(dim),
                                static_cast<uint32_t>(row), static_cast<uint32_t>(args.rows)};
    const NSUInteger width = threads_for(state, std::min<uint64_t>(dim, 256));
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:state];
    bind(enc, 0, args.table);
    bind(enc, 1, args.ids);
    bind(enc, 2, args.out);
    [enc setBytes:&params length:sizeof(params) atIndex:3];
    [enc dispatchThreadgroups:MTLSizeMake(ceil_div(dim, width), n, 1)
        threadsPerThreadgroup:MTLSizeMake(width, 1, 1)];
    finish_op("gather");
  });
}

}  // namespace mtl
}  // namespace zw
