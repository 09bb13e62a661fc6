// libFuzzer harness for the zw.* op table: arbitrary argument tuples, memory
// sizes and memory contents go through validation (ops/validate.cpp) into the
// CPU kernels, under ASan + UBSan. Built and run by scripts/fuzz.sh.
//
// Input layout (every field optional; missing bytes read as zero):
//   [0]      op index (mod table size)
//   [1]      committed pages - 1 (mod kMaxPages): 64 KiB .. 512 KiB
//   [2..]    per parameter: 1 mode byte + 4 value bytes
//              mode % 4 == 0: small integer (value byte 0 - 8)
//              mode % 4 == 1: a memory offset (value % size, aligned down to mode>>2 & 7)
//              mode % 4 == 2: the raw 32 bits (any i32 / f32 bit pattern)
//              mode % 4 == 3: a float from a table of edge values (f32 params) or size-relative ints
//   rest     memory contents, tiled over the committed memory (quantized
//            blocks, gather ids, NaNs: whatever the bytes say)
// Invariant checked: an op either runs or throws OpError whose message names
// the op ("zw.<name>: ..."); anything else (crash, sanitizer report, other
// exception) is a finding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "backend/backend.hpp"
#include "memory/linear_memory.hpp"
#include "ops/op_table.hpp"
#include "ops/validate.hpp"

namespace {

constexpr size_t kWasmPage = 64 * 1024;
constexpr size_t kMaxPages = 8;
constexpr int kMaxParams = 16;

struct Reader {
  const uint8_t* data;
  size_t size, pos = 0;
  uint8_t byte() { return pos < size ? data[pos++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(byte()) << (8 * i);
    return v;
  }
};

wasmtime_val_raw_t decode_param(Reader& in, char type, uint64_t memory_size) {
  static const float kFloats[] = {0.0f, 1.0f, -1.0f, 1e-5f, 1e-12f, 0.5f, 1e30f, -0.0f,
                                  std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                                  -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min()};
  wasmtime_val_raw_t raw{};
  uint8_t mode = in.byte();
  uint32_t value = in.u32();
  switch (mode % 4) {
    case 0: raw.i32 = int32_t(value & 0xff) - 8; break;
    case 1: {
      uint64_t align = uint64_t(1) << ((mode >> 2) & 7);
      raw.i32 = int32_t(uint32_t(value % memory_size / align * align));
      break;
    }
    case 2: raw.i32 = int32_t(value); break;
    case 3:
      if (type == 'f') raw.f32 = kFloats[value % (sizeof kFloats / sizeof kFloats[0])];
      else raw.i32 = int32_t(uint32_t(memory_size) - (value & 0xffff));  // near the end of memory
      break;
  }
  return raw;
}

// Forwards validated ops to the CPU executor, except those whose arithmetic
// exceeds kMaxWork multiply-adds (2^24, well under a second under ASan): inside 512 KiB a guest can legally ask for
// ~1e10 (attention is quadratic in its sequence), which takes minutes under
// ASan and would stall the campaign on inputs that prove nothing new about
// memory safety (their operands were validated like every other op's; a real
// guest asking for that much is what deadlines, tests/test_limits.py, are for).
class BoundedWorkExecutor final : public zw::Executor {
 public:
  explicit BoundedWorkExecutor(std::unique_ptr<zw::Executor> inner) : inner_(std::move(inner)) {}
  static constexpr uint64_t kMaxWork = uint64_t(1) << 24;

  void run(const zw::MatmulArgs& a) override {
    if (uint64_t(a.m) * uint64_t(a.n) * uint64_t(a.k) <= kMaxWork) inner_->run(a);
  }
  void run(const zw::ElementwiseArgs& a) override { inner_->run(a); }
  void run(const zw::NormArgs& a) override { inner_->run(a); }
  void run(const zw::SoftmaxArgs& a) override { inner_->run(a); }
  void run(const zw::RopeArgs& a) override { inner_->run(a); }
  void run(const zw::AttentionArgs& a) override {
    // Per (query, key) pair: head_dim multiply-adds twice plus the online softmax's exp.
    uint64_t pairs = uint64_t(a.seq_q) * uint64_t(a.seq_kv) * uint64_t(a.heads);
    if (pairs * (2 * uint64_t(a.head_dim) + 32) <= kMaxWork) inner_->run(a);
  }
  void run(const zw::GatherArgs& a) override { inner_->run(a); }
  void run(const zw::HintArgs& a) override { inner_->run(a); }
  void sync() override { inner_->sync(); }
  uint64_t copies() const override { return inner_->copies(); }
  uint64_t device_address(zw::Offset off) const override { return inner_->device_address(off); }

 private:
  std::unique_ptr<zw::Executor> inner_;
};

// A committed memory of one size with its CPU executor. Teardown order is the
// instance's: sync, release the memory (the executor lets go of it), drop the executor.
struct MemorySlot {
  std::unique_ptr<zw::Executor> executor;
  std::unique_ptr<zw::LinearMemory> memory;
  ~MemorySlot() {
    if (executor) executor->sync();
    memory.reset();
    executor.reset();
  }
};

MemorySlot& memory_slot(size_t pages) {
  static std::shared_ptr<zw::Backend> backend = zw::make_cpu_backend();
  static MemorySlot slots[kMaxPages + 1];
  MemorySlot& slot = slots[pages];
  if (!slot.memory) {
    size_t bytes = pages * kWasmPage;
    // A reservation larger than the committed size: past-the-end accesses fault.
    slot.memory = std::make_unique<zw::LinearMemory>(zw::make_host_region(2 * kMaxPages * kWasmPage), bytes, bytes);
    slot.executor = std::make_unique<BoundedWorkExecutor>(backend->make_executor(*slot.memory));
  }
  return slot;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto ops = zw::op_table();
  Reader in{data, size};
  const zw::OpDef& op = ops[in.byte() % ops.size()];
  size_t pages = 1 + in.byte() % kMaxPages;
  size_t memory_size = pages * kWasmPage;

  wasmtime_val_raw_t args[kMaxParams] = {};
  int n = 0;
  for (const char* p = op.params; *p && n < kMaxParams; ++p) args[n++] = decode_param(in, *p, memory_size);

  // One memory (and executor) per size, made once: mapping memory per input
  // would cost more than the op. Contents are rewritten for every input.
  MemorySlot& slot = memory_slot(pages);
  uint8_t* base = slot.memory->base();
  size_t rest = in.pos < size ? size - in.pos : 0;
  if (rest == 0) {
    std::memset(base, 0, memory_size);
  } else {
    size_t filled = std::min(rest, memory_size);
    std::memcpy(base, data + in.pos, filled);
    for (; filled < memory_size; filled *= 2)  // tile by doubling: few large copies
      std::memcpy(base + filled, base, std::min(filled, memory_size - filled));
  }
  zw::Executor* executor = slot.executor.get();

  zw::OpContext ctx{*executor, base, slot.memory->committed()};
  try {
    op.issue(ctx, args);
    executor->sync();
  } catch (const zw::OpError& e) {
    std::string want = std::string("zw.") + op.name + ": ";
    if (std::strncmp(e.what(), want.c_str(), want.size()) != 0) {
      std::fprintf(stderr, "rejection does not name its op: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "zw.%s threw something other than OpError: %s\n", op.name, e.what());
    std::abort();
  }
  return 0;
}
