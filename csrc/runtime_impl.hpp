// Internal state behind the public Runtime / Module / Instance handles.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.hpp"
#include "ops/op_table.hpp"
#include "wasmtime/handles.hpp"
#include "zerowasm/zerowasm.hpp"

namespace zw::detail {

// Engines differ in how bounds are checked (guard-mode vs bounded/managed
// instances) and in whether code is fuel-metered (which costs speed, so only
// instances that ask for fuel pay): each needs separately compiled code.
enum EngineKind : int {
  kGuardEngine = 0,
  kBoundedEngine = 1,
  kGuardFuelEngine = 2,
  kBoundedFuelEngine = 3,
  kEngineKinds = 4
};
inline EngineKind engine_kind(MemoryMode mode, bool fuel = false) {
  int kind = mode == MemoryMode::guard ? kGuardEngine : kBoundedEngine;
  return EngineKind(fuel ? kind + 2 : kind);
}
inline bool is_bounded(EngineKind kind) { return kind == kBoundedEngine || kind == kBoundedFuelEngine; }
inline bool is_metered(EngineKind kind) { return kind >= kGuardFuelEngine; }

struct RuntimeImpl;

// Advances every engine's epoch every kTick while at least one call runs, so
// stores' epoch callbacks can check deadlines and interrupts; idle otherwise.
class EpochTicker {
 public:
  static constexpr std::chrono::microseconds kTick{1000};
  explicit EpochTicker(RuntimeImpl& runtime) : runtime_(runtime) {}
  ~EpochTicker();
  void call_started();
  void call_ended();

 private:
  void loop();
  RuntimeImpl& runtime_;
  std::mutex mutex_;
  std::condition_variable wake_;
  int active_calls_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // started with the first call
};

struct EngineSlot {
  EngineHandle engine;
  LinkerHandle linker;  // zw.* ops and WASI, shared by every store of the engine
};

struct RuntimeImpl {
  const WasmtimeApi& api;
  std::shared_ptr<Backend> backend;
  std::string backend_name;
  MemoryMode default_mode = MemoryMode::guard;

  std::optional<double> default_timeout;
  std::shared_ptr<MemoryBudget> memory_budget;  // null: unlimited

  std::mutex mutex;  // guards lazy engine creation
  std::array<EngineSlot, kEngineKinds> engines;
  EpochTicker ticker{*this};  // declared after engines: stops before they go

  explicit RuntimeImpl(const WasmtimeApi& a) : api(a) {}
  EngineSlot& engine(EngineKind kind);
  void increment_epochs();  // every engine created so far
};

struct ModuleImpl {
  std::shared_ptr<RuntimeImpl> runtime;
  std::vector<uint8_t> bytes;  // kept to compile for the other engine on demand
  std::vector<ImportInfo> imports;
  std::vector<ExportInfo> exports;

  std::mutex mutex;
  std::array<ModuleHandle, kEngineKinds> compiled;
  const wasmtime_module_t* compiled_for(EngineKind kind);
};

struct OpCounters {
  uint64_t calls = 0, bytes = 0, rejected = 0;
  std::chrono::steady_clock::duration time{};
};

struct ExportFunc {
  std::string name;
  wasmtime_func_t func;
  FuncType type;
};

struct InstanceImpl {
  std::shared_ptr<ModuleImpl> module;
  const WasmtimeApi& api;
  Backend& backend;
  MemoryMode mode;
  InstanceOptions options;

  // Created by the memory creator during instantiation. The store owns the
  // memory; teardown order (see ~InstanceImpl) is sync, store, executor.
  std::unique_ptr<Executor> executor;
  LinearMemory* memory = nullptr;

  StoreHandle store;
  wasmtime_context_t* context = nullptr;
  wasmtime_instance_t instance{};
  wasmtime_memory_t memory_handle{};

  std::vector<ExportFunc> functions;
  std::unordered_map<std::string, size_t> function_index;

  // The threading rule (zerowasm.hpp): an instance may be used from any
  // thread and its calls serialize. A store is single-threaded, so every public
  // entry point that touches the store, the executor or the counters (calls,
  // sync, stats, Memory::data/grow/map_file) holds this lock.
  std::mutex store_mutex;

  std::vector<OpCounters> counters;  // one per op_table() row
  bool ops_pending = false;          // issued since the last sync
  uint64_t syncs = 0;

  // Why a running call must stop; read by the epoch callback (every tick, on
  // the calling thread) and by dispatch() at each op boundary.
  enum StopReason : int { kRun = 0, kDeadline = 1, kInterrupt = 2 };
  wasm_engine_t* engine = nullptr;          // to kick the epoch on interrupt()
  std::atomic<bool> interrupt_requested{false};
  std::atomic<int> stop_reason{kRun};
  std::chrono::steady_clock::time_point call_start{};
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // kRun, or the reason once the deadline passed / an interrupt arrived.
  // `now` lets the op dispatcher reuse the clock read it times the op with.
  StopReason check_stop(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  void interrupt();

  InstanceImpl(std::shared_ptr<ModuleImpl> m, MemoryMode mode, const InstanceOptions& opts);
  ~InstanceImpl();
  InstanceImpl(const InstanceImpl&) = delete;
  InstanceImpl& operator=(const InstanceImpl&) = delete;

  void instantiate();
  // Guest -> host: one zw.* op call. Returns a trap (owned by wasmtime) or null.
  wasm_trap_t* dispatch(const OpDef& op, const wasmtime_val_raw_t* args);
  void sync();
  void sync_if_pending() {
    if (ops_pending) sync();
  }
  std::vector<Value> call(size_t index, std::span<const Value> args, const CallOptions& options = {});
  [[noreturn]] void throw_stopped(const std::string& function, StopReason why, double timeout) const;
};

// The memory creator hands the memory it makes to this instance: wasmtime
// calls it synchronously inside wasmtime_linker_instantiate on this thread.
InstanceImpl*& instantiating_instance();

// The backend a RuntimeOptions::backend asks for ("auto" reads $ZEROWASM_BACKEND).
std::string resolve_backend_name(const std::string& requested);

wasm_functype_t* make_functype(const WasmtimeApi& api, const FuncType& type);
FuncType read_functype(const WasmtimeApi& api, const wasm_functype_t* ft);

}  // namespace zw::detail
