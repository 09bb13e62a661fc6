// Queuing zw.* ops as CUDA kernels (see cuda_executor.hpp).
#include "backend/cuda/cuda_executor.hpp"

#include <algorithm>
#include <climits>

#include "zerowasm/error.hpp"

namespace zw::cuda {
namespace {

using namespace zw_cuda;

constexpr size_t kHintAlign = 64 * 1024;  // Wasm page; also covers 64 KiB host pages
constexpr unsigned kMaxSharedDefault = 48 * 1024;  // usable without opting in, on every GPU

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Threads for a one-block-per-row kernel: about 4 elements each, 32..1024.
unsigned row_threads(int64_t cols) {
  uint64_t t = ceil_div(ceil_div(static_cast<uint64_t>(cols), 4), 32) * 32;
  return static_cast<unsigned>(std::clamp<uint64_t>(t, 32, 1024));
}

// Errors after which the context is unusable (cuda.h: "leaves the process in an
// inconsistent state ... must be terminated and relaunched"; 710 is a device assert).
bool is_sticky(CUresult r) {
  switch (r) {
    case 226: case 700: case 702: case 710: case 714: case 715: case 716:
    case 717: case 718: case 719: case 721: case 810: case 911:
      return true;
    default:
      return false;
  }
}

// One kernel per weight dtype, in ZW_DTYPE_* order.
#define ZW_DTYPE_FAMILY(fam)                                                                  \
  {Kernel::fam##_f32, Kernel::fam##_f16, Kernel::fam##_q8_0, Kernel::fam##_q4_1,              \
   Kernel::fam##_q4_0, Kernel::fam##_q5_0, Kernel::fam##_q4_k, Kernel::fam##_q5_k, Kernel::fam##_q6_k}
static_assert(kDTypeCount == 9, "every dtype needs its kernel in each family below");
using Family = Kernel[kDTypeCount];
constexpr Family kGather = ZW_DTYPE_FAMILY(zw_gather);
constexpr Family kGemv = ZW_DTYPE_FAMILY(zw_gemv);
constexpr Family kGemm64 = ZW_DTYPE_FAMILY(zw_gemm64);
constexpr Family kGemm128 = ZW_DTYPE_FAMILY(zw_gemm128);
#undef ZW_DTYPE_FAMILY

Kernel pick(DType t, const Family& family) { return family[static_cast<int>(t)]; }  // t validated

}  // namespace

CudaExecutor::CudaExecutor(std::shared_ptr<Device> device, LinearMemory& memory)
    : device_(std::move(device)), drv_(device_->driver()), memory_(&memory) {
  managed_ = memory.region().kind() == MemoryKind::managed;
  if (managed_) {
    // Managed memory has one address on host and device (ManagedRegion's base
    // is its CUdeviceptr).
    dev_base_ = reinterpret_cast<uintptr_t>(memory.base());
    dev_base_known_ = true;
  } else {
    if (!device_->can_register_host_memory())
      throw Error("CUDA: " + device_->describe() +
                  " cannot map registered host memory; instantiate with managed memory instead");
    if (device_->host_pointer_is_device_pointer()) {
      dev_base_ = reinterpret_cast<uintptr_t>(memory.base());
      dev_base_known_ = true;
    }
  }
  device_->make_current();
  device_->check(drv_.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  try {
    memory.add_listener(this);  // calls on_commit for what is already committed
  } catch (...) {
    // add_listener keeps us listed even when on_commit throws: leave no
    // dangling listener (on_release also unregisters any partial success).
    memory.remove_listener(this);
    drv_.cuStreamDestroy(stream_);
    throw;
  }
}

CudaExecutor::~CudaExecutor() {
  // Nothing may be freed or unregistered while kernels could still touch it.
  if (device_->try_make_current()) drv_.cuStreamSynchronize(stream_);
  if (memory_) memory_->remove_listener(this);  // -> on_release
  if (device_->try_make_current()) drv_.cuStreamDestroy(stream_);
}

void CudaExecutor::on_commit(uint8_t* base, size_t old_committed, size_t new_committed) {
  if (managed_) return;  // the region zero-filled the pages; they are already mapped
  size_t from = std::max(old_committed, registered_end_);
  if (new_committed <= from) return;
  uint8_t* host = base + from;
  size_t bytes = new_committed - from;
  // On failure nothing stays registered and the throw makes the grow fail, so
  // LinearMemory keeps the old size: ops stay confined to registered pages and
  // a later grow (say, after the guest freed host memory) may still succeed.
  device_->make_current();
  CUresult r = drv_.cuMemHostRegister(host, bytes, CU_MEMHOSTREGISTER_DEVICEMAP | CU_MEMHOSTREGISTER_PORTABLE);
  if (r != CUDA_SUCCESS)
    throw Error("CUDA: registering linear memory [" + std::to_string(from) + ", " + std::to_string(new_committed) +
                ") (" + std::to_string(bytes >> 20) + " MiB) with cuMemHostRegister failed: " + drv_.error_text(r));
  if (!device_->host_pointer_is_device_pointer()) {
    // Without a shared address space each registration gets its own device
    // address; one tensor may span two registrations, so they must line up.
    CUdeviceptr d = 0;
    CUresult got = drv_.cuMemHostGetDevicePointer(&d, host, 0);
    bool first = !dev_base_known_;
    if (got != CUDA_SUCCESS || (!first && d != dev_base_ + from)) {
      drv_.cuMemHostUnregister(host);
      if (got != CUDA_SUCCESS)
        throw Error("CUDA: cuMemHostGetDevicePointer failed for linear memory growth: " + drv_.error_text(got));
      throw Error("CUDA: the device maps registered linear memory growth at a non-contiguous address (" +
                  std::to_string(d) + " != " + std::to_string(dev_base_ + from) +
                  "); use managed memory on this system");
    }
    if (first) {
      dev_base_ = d - from;
      dev_base_known_ = true;
    }
  }
  registrations_.push_back(host);
  registered_end_ = new_committed;
}

void CudaExecutor::on_release(uint8_t* /*base*/, size_t /*committed*/) {
  if (device_->try_make_current()) {
    drv_.cuStreamSynchronize(stream_);
    for (uint8_t* host : registrations_) drv_.cuMemHostUnregister(host);
  }
  registrations_.clear();
  registered_end_ = 0;
  memory_ = nullptr;
}

template <class Params>
void CudaExecutor::launch(Kernel kernel, const char* op, uint64_t blocks, unsigned threads, unsigned shared_bytes,
                          const Params& params) {
  if (blocks == 0) return;
  if (blocks > static_cast<uint64_t>(INT_MAX))
    throw Error(std::string(op) + ": " + std::to_string(blocks) + " CUDA blocks exceed the grid limit");
  device_->make_current();
  void* args[] = {const_cast<Params*>(&params)};
  CUresult r = drv_.cuLaunchKernel(device_->function(kernel), static_cast<unsigned>(blocks), 1, 1, threads, 1, 1,
                                   shared_bytes, stream_, args, nullptr);
  if (r != CUDA_SUCCESS)
    throw Error(std::string(op) + ": launching CUDA kernel " + Device::kernel_name(kernel) + " (" +
                std::to_string(blocks) + " x " + std::to_string(threads) + " threads) failed: " +
                drv_.error_text(r));
  last_op_ = op;
  ++ops_queued_;
}

void CudaExecutor::run(const MatmulArgs& a) {
  MatmulParams p{};
  p.a = dev(a.a);
  p.b = dev(a.b);
  p.c = dev(a.c);
  p.b_row_bytes = static_cast<int64_t>(a.b_row_bytes);
  p.m = a.m;
  p.n = a.n;
  p.k = a.k;
  p.accumulate = a.accumulate ? 1 : 0;
  if (a.m <= kGemvMaxM) {
    Kernel k = pick(a.b_type, kGemv);
    launch(k, "zw.matmul", ceil_div(a.n, kGemvWarps), 32 * kGemvWarps, 0, p);
    return;
  }
  // Big tiles reuse each loaded element more, but only pay off when there are
  // enough of them to fill the GPU.
  const uint64_t big_tiles = ceil_div(a.m, 128) * ceil_div(a.n, 128);
  const bool big = big_tiles >= static_cast<uint64_t>(device_->sm_count());
  const int tile = big ? 128 : 64;
  const uint64_t tiles_n = ceil_div(a.n, tile);
  p.tiles_n = static_cast<int32_t>(tiles_n);
  Kernel k = pick(a.b_type, big ? kGemm128 : kGemm64);
  launch(k, "zw.matmul", ceil_div(a.m, tile) * tiles_n, kGemmThreads, 0, p);
}

void CudaExecutor::run(const ElementwiseArgs& a) {
  ElementwiseParams p{};
  p.a = dev(a.a);
  p.b = dev(a.b);
  p.out = dev(a.out);
  p.n = a.n;
  p.s = a.s;
  Kernel k = Kernel::zw_ew_add;
  const char* op = "zw.add";
  bool binary = false;
  switch (a.op) {
    case Elementwise::add: k = Kernel::zw_ew_add, op = "zw.add", binary = true; break;
    case Elementwise::mul: k = Kernel::zw_ew_mul, op = "zw.mul", binary = true; break;
    case Elementwise::scale: k = Kernel::zw_ew_scale, op = "zw.scale"; break;
    case Elementwise::gelu: k = Kernel::zw_ew_gelu, op = "zw.gelu"; break;
    case Elementwise::silu: k = Kernel::zw_ew_silu, op = "zw.silu"; break;
    case Elementwise::gelu_tanh: k = Kernel::zw_ew_gelu_tanh, op = "zw.gelu_tanh"; break;
    case Elementwise::to_f16:
      launch(Kernel::zw_to_f16, "zw.to_f16", grid_stride_blocks(*device_, static_cast<uint64_t>(a.n), kElementwiseThreads),
             kElementwiseThreads, 0, p);
      return;
  }
  const uint64_t misaligned = (p.a | p.out | (binary ? p.b : 0)) & 15;
  p.vec4 = misaligned == 0 ? 1 : 0;
  const uint64_t items = p.vec4 ? ceil_div(static_cast<uint64_t>(a.n), 4) : static_cast<uint64_t>(a.n);
  launch(k, op, grid_stride_blocks(*device_, items, kElementwiseThreads), kElementwiseThreads, 0, p);
}

void CudaExecutor::run(const NormArgs& a) {
  NormParams p{};
  p.x = dev(a.x);
  p.gamma = dev(a.gamma);
  p.beta = a.rms ? 0 : dev(a.beta);
  p.out = dev(a.out);
  p.rows = a.rows;
  p.cols = a.cols;
  p.eps = a.eps;
  p.rms = a.rms ? 1 : 0;
  launch(Kernel::zw_norm, a.rms ? "zw.rmsnorm" : "zw.layernorm", static_cast<uint64_t>(a.rows), row_threads(a.cols),
         0, p);
}

void CudaExecutor::run(const SoftmaxArgs& a) {
  SoftmaxParams p{};
  p.x = dev(a.x);
  p.out = dev(a.out);
  p.rows = a.rows;
  p.cols = a.cols;
  p.scale = a.scale;
  p.causal = a.causal ? 1 : 0;
  launch(Kernel::zw_softmax, "zw.softmax", static_cast<uint64_t>(a.rows), row_threads(a.cols), 0, p);
}

void CudaExecutor::run(const RopeArgs& a) {
  RopeParams p{};
  p.x = dev(a.x);
  p.out = dev(a.out);
  p.factors = a.has_factors ? dev(a.factors) : 0;
  p.rows = a.rows;
  p.heads = a.heads;
  p.head_dim = a.head_dim;
  p.pos0 = a.pos0;
  p.theta = a.theta;
  p.adjacent = a.adjacent ? 1 : 0;
  const uint64_t pairs = static_cast<uint64_t>(a.rows) * static_cast<uint64_t>(a.heads) *
                         static_cast<uint64_t>(a.head_dim / 2);
  launch(Kernel::zw_rope, "zw.rope", grid_stride_blocks(*device_, pairs, kElementwiseThreads), kElementwiseThreads, 0, p);
}

void CudaExecutor::run(const AttentionArgs& a) {
  AttentionParams p{};
  p.q = dev(a.q);
  p.k = dev(a.k);
  p.v = dev(a.v);
  p.out = dev(a.out);
  p.seq_q = a.seq_q;
  p.seq_kv = a.seq_kv;
  p.heads = a.heads;
  p.kv_heads = a.kv_heads;
  p.head_dim = a.head_dim;
  p.scale = a.scale;
  p.causal = a.causal ? 1 : 0;
  p.kv_f16 = a.kv_type == DType::f16 ? 1 : 0;
  // Shared memory: q and the output accumulator (head_dim floats each) plus
  // one score per key of a chunk; chunks shrink for very large head_dim.
  const uint64_t budget = kMaxSharedDefault - kStaticSharedReserve;
  const uint64_t fixed = 2 * static_cast<uint64_t>(a.head_dim) * sizeof(float);
  const uint64_t chunk_room = fixed < budget ? (budget - fixed) / sizeof(float) : 0;
  const uint64_t chunk = std::min<uint64_t>({chunk_room, static_cast<uint64_t>(kAttentionMaxChunk),
                                             static_cast<uint64_t>(a.seq_kv)});
  constexpr uint64_t kMinChunk = 32;
  if (chunk < std::min<uint64_t>(kMinChunk, static_cast<uint64_t>(a.seq_kv))) {
    const uint64_t max_head_dim = (budget - kMinChunk * sizeof(float)) / (2 * sizeof(float));
    throw Error("zw.attention: head_dim " + std::to_string(a.head_dim) +
                " is too large for the CUDA attention kernel's shared memory (at most " +
                std::to_string(max_head_dim) + ")");
  }
  p.chunk = static_cast<int32_t>(chunk);
  const unsigned shared = static_cast<unsigned>(fixed + chunk * sizeof(float));
  launch(Kernel::zw_attention, "zw.attention",
         static_cast<uint64_t>(a.seq_q) * static_cast<uint64_t>(a.heads), kAttentionThreads, shared, p);
}

void CudaExecutor::run(const GatherArgs& a) {
  GatherParams p{};
  p.table = dev(a.table);
  p.ids = dev(a.ids);
  p.out = dev(a.out);
  p.row_bytes = static_cast<int64_t>(a.table_row_bytes);
  p.rows = a.rows;
  p.n = a.n;
  p.dim = a.dim;
  Kernel k = pick(a.type, kGather);
  unsigned threads = static_cast<unsigned>(std::clamp<uint64_t>(ceil_div(a.dim, 32) * 32, 32, 256));
  launch(k, "zw.gather", static_cast<uint64_t>(a.n), threads, 0, p);
}

void CudaExecutor::run(const HintArgs& a) {
  // Hints only steer managed-memory placement; registered host memory stays put.
  if (!managed_ || a.range.bytes == 0 || !memory_) return;
  const uint64_t committed = memory_->committed();
  const uint64_t begin = a.range.offset / kHintAlign * kHintAlign;
  const uint64_t end = std::min<uint64_t>(ceil_div(a.range.end(), kHintAlign) * kHintAlign, committed);
  if (end <= begin) return;
  const CUdeviceptr ptr = dev(begin);
  const size_t bytes = static_cast<size_t>(end - begin);
  device_->make_current();
  // Hints never change results, so a driver that refuses one (old driver,
  // unsupported location) is not an error worth trapping the guest for.
  CUmemLocation gpu{CU_MEM_LOCATION_TYPE_DEVICE, device_->ordinal()};
  CUmemLocation host{CU_MEM_LOCATION_TYPE_HOST, 0};
  switch (a.hint) {
    case Hint::prefetch_device:
    case Hint::prefetch_host: {
      const bool to_gpu = a.hint == Hint::prefetch_device;
      if (drv_.cuMemPrefetchAsync_v2)
        drv_.cuMemPrefetchAsync_v2(ptr, bytes, to_gpu ? gpu : host, 0, stream_);
      else if (drv_.cuMemPrefetchAsync_v1)
        drv_.cuMemPrefetchAsync_v1(ptr, bytes, to_gpu ? device_->ordinal() : CU_DEVICE_CPU, stream_);
      break;
    }
    case Hint::read_mostly:
      if (drv_.cuMemAdvise_v2)
        drv_.cuMemAdvise_v2(ptr, bytes, CU_MEM_ADVISE_SET_READ_MOSTLY, gpu);
      else if (drv_.cuMemAdvise_v1)
        drv_.cuMemAdvise_v1(ptr, bytes, CU_MEM_ADVISE_SET_READ_MOSTLY, device_->ordinal());
      break;
  }
}

void CudaExecutor::sync() {
  device_->make_current();
  CUresult r = drv_.cuStreamSynchronize(stream_);
  if (r == CUDA_SUCCESS) return;
  std::string message = "CUDA error while running this instance's queued ops (the last queued was " +
                        std::string(last_op_) + ", op #" + std::to_string(ops_queued_) +
                        "): " + drv_.error_text(r);
  if (is_sticky(r)) message += "; the CUDA context is now unusable, restart the process";
  throw Error(message);
}

}  // namespace zw::cuda
