// zerowasm C++ API: run WebAssembly guests whose linear memory is the memory
// the CPU/GPU kernels compute on.
//
//   zw::Runtime rt;                                  // backend "auto"
//   zw::Module mod = rt.load_file("model.wasm");
//   zw::Instance inst = mod.instantiate();           // calls _initialize
//   auto x = inst.memory().view<float>(offset, n);   // the guest's own bytes
//   inst.call("run", {zw::Value::from_i32(n)});
//
// (tests/test_cpp_embedding.py compiles and runs this example as written.)
//
// Ownership: Module keeps its Runtime alive, Instance keeps its Module alive.
// An Instance (and its Memory) must be used by one thread at a time.
// Every failure throws zw::Error or a subclass (error.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "zerowasm/error.hpp"

namespace zw {

namespace detail {
struct RuntimeImpl;
struct ModuleImpl;
struct InstanceImpl;
}  // namespace detail

enum class ValueKind : uint8_t { i32, i64, f32, f64 };
const char* to_string(ValueKind kind);

struct Value {
  ValueKind kind = ValueKind::i32;
  union {
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
  } of{0};

  static Value from_i32(int32_t v) { Value x; x.kind = ValueKind::i32; x.of.i32 = v; return x; }
  static Value from_i64(int64_t v) { Value x; x.kind = ValueKind::i64; x.of.i64 = v; return x; }
  static Value from_f32(float v) { Value x; x.kind = ValueKind::f32; x.of.f32 = v; return x; }
  static Value from_f64(double v) { Value x; x.kind = ValueKind::f64; x.of.f64 = v; return x; }
};

struct FuncType {
  std::vector<ValueKind> params;
  std::vector<ValueKind> results;
};

// kind: "func", "global", "table", "memory", "tag" or "other".
struct ImportInfo {
  std::string module, name, kind;
  FuncType type;  // for funcs
};
struct ExportInfo {
  std::string name, kind;
  FuncType type;  // for funcs
};

// Where an instance's linear memory lives.
//  guard:   host pages, 4 GiB reservation + guard; wasmtime elides bounds checks.
//  bounded: host pages, fixed reservation, explicit bounds checks.
//  managed: the backend's migrating memory (CUDA managed), bounded checks.
// On GPU backends host memory is mapped (registered) for the device in place.
enum class MemoryMode : uint8_t { guard, bounded, managed };
const char* to_string(MemoryMode mode);
MemoryMode memory_mode_from_string(std::string_view name);  // also accepts "mapped" = guard

struct BackendInfo {
  std::string name;
  bool available;
  std::string detail;  // device, or why it is unavailable
};

struct RuntimeOptions {
  std::string backend = "auto";       // "auto", "cpu", "cuda", "metal"
  std::string wasmtime_library;       // empty: $ZEROWASM_WASMTIME_LIB, then libwasmtime on the search path
  MemoryMode memory = MemoryMode::guard;  // default for instances
};

struct InstanceOptions {
  std::optional<uint64_t> max_memory;  // bytes the guest may grow to (default: module max / 4 GiB)
  std::optional<MemoryMode> memory;    // default: the runtime's
  bool wasi = true;                    // satisfy wasi_snapshot_preview1 imports (stdout/stderr inherited)
};

struct OpStats {
  std::string name;
  uint64_t calls = 0;
  uint64_t bytes = 0;     // bytes of guest memory the op's arguments span
  double seconds = 0.0;   // host time in validation + issue (+ execution on sync backends)
  uint64_t rejected = 0;  // calls that trapped in validation
};
struct Stats {
  std::vector<OpStats> ops;  // ops called at least once, ABI order
  uint64_t copies = 0;       // staging copies of guest data any backend made
  uint64_t syncs = 0;
};

class Instance;

class Memory {
 public:
  uint8_t* data() const;   // the base; never moves for the instance's lifetime
  uint64_t address() const { return reinterpret_cast<uintptr_t>(data()); }
  size_t size() const;     // committed bytes
  size_t max_size() const; // bytes the memory may grow to
  std::span<std::byte> bytes() const;
  // Typed view of `count` T at byte `offset`; throws if out of range or misaligned.
  template <typename T>
  std::span<T> view(size_t offset, size_t count) const {
    return {reinterpret_cast<T*>(checked(offset, count, sizeof(T), alignof(T))), count};
  }
  // Grow by `pages` (64 KiB); returns the previous size in pages, or -1 if that
  // would pass max_size(). Throws zw::Error with the cause (wasmtime's message:
  // out of memory, a device refusing to map the new pages) if growing fails.
  int64_t grow(uint64_t pages) const;
  MemoryMode mode() const;
  // Map `length` bytes of a file at `file_offset` copy-on-write over
  // [offset, offset+length) of committed memory (offset and file_offset page
  // aligned); the guest then reads the file's pages in place. Returns false
  // where the platform or memory mode can't (caller falls back to reading).
  bool map_file(size_t offset, const std::string& path, uint64_t file_offset, size_t length) const;

 private:
  friend class Instance;
  explicit Memory(std::shared_ptr<detail::InstanceImpl> impl) : impl_(std::move(impl)) {}
  uint8_t* checked(size_t offset, size_t count, size_t elem, size_t align) const;
  std::shared_ptr<detail::InstanceImpl> impl_;
};

// A handle to one exported function, resolved once (cheap to call repeatedly).
class Function {
 public:
  const FuncType& type() const;
  const std::string& name() const;
  // Arguments are converted to the parameter types; a Trap leaves the instance usable.
  std::vector<Value> call(std::span<const Value> args) const;

 private:
  friend class Instance;
  Function(std::shared_ptr<detail::InstanceImpl> impl, size_t index) : impl_(std::move(impl)), index_(index) {}
  std::shared_ptr<detail::InstanceImpl> impl_;
  size_t index_;
};

class Instance {
 public:
  Function function(std::string_view name) const;  // throws LinkError if missing
  std::vector<Value> call(std::string_view name, std::span<const Value> args) const {
    return function(name).call(args);
  }
  std::vector<Value> call(std::string_view name, std::initializer_list<Value> args) const {
    return function(name).call(std::span<const Value>(args.begin(), args.size()));
  }
  Memory memory() const;
  bool has_memory() const;
  // Wait for every queued op (export returns and memory reads already do).
  void sync() const;
  Stats stats() const;
  void reset_stats() const;
  const std::string& backend() const;
  // Address the backend's kernels use for guest offset `offset` (zero-copy proof).
  uint64_t device_address(uint64_t offset) const;
  const std::vector<ExportInfo>& exports() const;

 private:
  friend class Module;
  explicit Instance(std::shared_ptr<detail::InstanceImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<detail::InstanceImpl> impl_;
};

class Module {
 public:
  const std::vector<ImportInfo>& imports() const;
  const std::vector<ExportInfo>& exports() const;
  Instance instantiate(const InstanceOptions& options = {}) const;

 private:
  friend class Runtime;
  explicit Module(std::shared_ptr<detail::ModuleImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<detail::ModuleImpl> impl_;
};

class Runtime {
 public:
  explicit Runtime(const RuntimeOptions& options = {});
  Module load(std::span<const uint8_t> wasm) const;   // binary module
  Module load_wat(std::string_view wat) const;        // text format
  Module load_file(const std::string& path) const;    // .wasm or .wat
  const std::string& backend() const;
  MemoryMode memory_mode() const;
  const std::string& wasmtime_library() const;

  static std::vector<BackendInfo> backends();  // compiled in, with availability

 private:
  std::shared_ptr<detail::RuntimeImpl> impl_;
};

// The op names of kernel ABI v1, in table order.
std::vector<std::string> op_names();

// The kernel ABI numbers (dtype codes, flag bits, block sizes) as this build's
// op table compiled them, keyed by their #define names in the guest SDK's
// zerowasm_abi.h ("ZW_DTYPE_F16", "ZW_ACCUMULATE", ...). For tools and tests.
std::vector<std::pair<std::string, int64_t>> abi_constants();

}  // namespace zw
