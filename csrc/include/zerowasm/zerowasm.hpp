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
// Threads: Runtime and Module may be shared freely. An Instance may be called
// from any thread and its calls serialize (calls, sync, stats and memory
// growth/mapping take the instance's lock in turn). Memory views are the
// guest's own bytes and take no lock: read or write them only while no call
// into that instance runs (a caller with a multi-step request, like the
// Python models, holds its own lock across the whole request).
// Every failure throws zw::Error or a subclass (error.hpp).
//
// Limits and threads:
//  - Deadlines: RuntimeOptions::timeout (default for every call) or
//    CallOptions::timeout. A call past its deadline throws zw::Timeout; the
//    guest is stopped at its next loop header / function entry (epoch
//    interruption, ~1 ms ticks) or zw.* op boundary, after queued ops finish.
//  - Instance::interrupt() from any thread (async-signal-safe) stops the
//    running call with zw::Interrupted (or the next call, if none is running).
//  - InstanceOptions::fuel: wasm instructions the instance may execute;
//    exhaustion throws zw::OutOfFuel; add_fuel() and call again.
//  - RuntimeOptions::memory_limit caps the committed linear memory of all the
//    runtime's instances together: memory.grow past it returns -1 to the
//    guest, instantiation past it throws zw::LinkError naming the budget.
//  - After Timeout, Interrupted or OutOfFuel the instance stays usable (the
//    guest's own data is as the stop left it).
//  - Different Instances run in parallel on different threads (zw.* CPU ops
//    share one pool; a busy pool runs a contender's op inline).
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

// Environment variables are read by the core, here and nowhere else (the Python
// package passes explicit values only): a field left at its default takes the
// variable, an explicit value wins.
struct RuntimeOptions {
  // "cpu", "cuda", "metal", or "auto": $ZEROWASM_BACKEND if set, else the
  // first available of cuda, metal, cpu.
  std::string backend = "auto";
  // Empty: $ZEROWASM_WASMTIME_LIB if set, else default_wasmtime_library.
  std::string wasmtime_library;
  // Empty: libwasmtime.so / .dylib / wasmtime.dll on the loader's search path.
  // (The Python package puts the wasmtime wheel's library here.)
  std::string default_wasmtime_library;
  MemoryMode memory = MemoryMode::guard;  // default for instances
  std::optional<double> timeout;      // seconds: default deadline of every call (none: unlimited)
  std::optional<uint64_t> memory_limit;  // bytes of linear memory all instances may commit together
};

struct InstanceOptions {
  std::optional<uint64_t> max_memory;  // bytes the guest may grow to (default: module max / 4 GiB)
  std::optional<MemoryMode> memory;    // default: the runtime's
  bool wasi = true;                    // satisfy wasi_snapshot_preview1 imports (stdout/stderr inherited)
  std::optional<uint64_t> fuel;        // metered instance: wasm instructions it may run (incl. _initialize)
};

struct CallOptions {
  std::optional<double> timeout;  // seconds; overrides the runtime's default (<= 0: none)
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
  std::vector<Value> call(std::span<const Value> args, const CallOptions& options = {}) const;
  // The instance this function belongs to (to interrupt() it).
  Instance instance() const;

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
  std::vector<Value> call(std::string_view name, std::initializer_list<Value> args,
                          const CallOptions& options = {}) const {
    return function(name).call(std::span<const Value>(args.begin(), args.size()), options);
  }
  // Stop the call running on another thread (zw::Interrupted), or the next
  // call if none runs. Thread-safe and async-signal-safe.
  void interrupt() const;
  // Metered instances (InstanceOptions::fuel) only; others throw zw::Error.
  uint64_t fuel_remaining() const;
  void add_fuel(uint64_t fuel) const;
  Memory memory() const;
  bool has_memory() const;
  // Wait for every queued op (export returns and memory reads already do).
  void sync() const;
  Stats stats() const;
  void reset_stats() const;
  const std::string& backend() const;
  // Address the backend's kernels use for guest offset `offset` (zero-copy proof).
  uint64_t device_address(uint64_t offset) const;
  // Ordinal of the device the backend's kernels run on (0 on the CPU), for DLPack.
  int device_ordinal() const;
  const std::vector<ExportInfo>& exports() const;

 private:
  friend class Module;
  friend class Function;
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
