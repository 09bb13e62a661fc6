// Internal state behind the public Runtime / Module / Instance handles.
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.hpp"
#include "ops/op_table.hpp"
#include "wasmtime/handles.hpp"
#include "zerowasm/zerowasm.hpp"

namespace zw::detail {

// Engines differ only in how bounds are checked, so guard-mode and
// bounded/managed instances need separately compiled code.
enum EngineKind : int { kGuardEngine = 0, kBoundedEngine = 1, kEngineKinds = 2 };
inline EngineKind engine_kind(MemoryMode mode) {
  return mode == MemoryMode::guard ? kGuardEngine : kBoundedEngine;
}

struct EngineSlot {
  EngineHandle engine;
  LinkerHandle linker;  // zw.* ops and WASI, shared by every store of the engine
};

struct RuntimeImpl {
  const WasmtimeApi& api;
  std::shared_ptr<Backend> backend;
  std::string backend_name;
  MemoryMode default_mode = MemoryMode::guard;

  std::mutex mutex;  // guards lazy engine creation
  std::array<EngineSlot, kEngineKinds> engines;

  explicit RuntimeImpl(const WasmtimeApi& a) : api(a) {}
  EngineSlot& engine(EngineKind kind);
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
  std::vector<Value> call(size_t index, std::span<const Value> args);
};

// The memory creator hands the memory it makes to this instance: wasmtime
// calls it synchronously inside wasmtime_linker_instantiate on this thread.
InstanceImpl*& instantiating_instance();

// The backend a RuntimeOptions::backend asks for ("auto" reads $ZEROWASM_BACKEND).
std::string resolve_backend_name(const std::string& requested);

wasm_functype_t* make_functype(const WasmtimeApi& api, const FuncType& type);
FuncType read_functype(const WasmtimeApi& api, const wasm_functype_t* ft);

}  // namespace zw::detail
