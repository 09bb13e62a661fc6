// Runtime and Module: engines configured for host-owned linear memory, the
// memory creator, the zw.* linker, and module compilation.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "runtime_impl.hpp"

namespace zw {
namespace detail {
namespace {

constexpr size_t kWasmPage = 64 * 1024;
// Bounded engines compile explicit bounds checks; wasmtime is told this
// reservation, and our regions reserve exactly the instance's maximum.
constexpr uint64_t kBoundedReservation = 1ull << 30;

size_t round_up_pages(size_t bytes) { return (bytes + kWasmPage - 1) / kWasmPage * kWasmPage; }

// --- wasmtime_linear_memory_t callbacks over a LinearMemory ----------------

uint8_t* memory_get(void* env, size_t* byte_size, size_t* byte_capacity) {
  auto* mem = static_cast<LinearMemory*>(env);
  *byte_size = mem->committed();
  *byte_capacity = mem->max_bytes();
  return mem->base();
}

wasmtime_error_t* memory_grow(void* env, size_t new_size) {
  try {
    static_cast<LinearMemory*>(env)->grow_to(new_size);
    return nullptr;
  } catch (const std::exception& e) {
    return wasmtime().wasmtime_error_new(e.what());
  }
}

void memory_free(void* env) { delete static_cast<LinearMemory*>(env); }

wasmtime_error_t* new_memory(void*, const wasm_memorytype_t* type, size_t minimum, size_t maximum,
                             size_t reserved, size_t guard, wasmtime_linear_memory_t* out) {
  const WasmtimeApi& api = wasmtime();
  InstanceImpl* inst = instantiating_instance();
  try {
    if (!inst) throw Error("wasmtime asked for a linear memory outside zerowasm's instantiate");
    if (inst->memory) throw Error("zerowasm supports one linear memory per module (ops address memory 0)");
    if (api.wasmtime_memorytype_is64(type)) throw Error("64-bit memories are not supported");
    size_t max_bytes = maximum;
    if (inst->options.max_memory)
      max_bytes = std::min<size_t>(max_bytes, *inst->options.max_memory / kWasmPage * kWasmPage);
    if (minimum > max_bytes)
      throw Error("the module needs " + std::to_string(minimum) + " bytes of memory but max_memory is " +
                  std::to_string(max_bytes));
    std::unique_ptr<Region> region;
    switch (inst->mode) {
      case MemoryMode::guard:
        // Compiled code elides bounds checks: everything up to reservation +
        // guard must exist and stay inaccessible until committed.
        region = make_host_region(std::max(reserved + guard, round_up_pages(max_bytes)));
        break;
      case MemoryMode::bounded:
        region = make_host_region(std::max(round_up_pages(max_bytes), kWasmPage));
        break;
      case MemoryMode::managed:
        region = inst->backend.make_managed_region(std::max(round_up_pages(max_bytes), kWasmPage));
        max_bytes = std::min(max_bytes, region->reserved_bytes());
        break;
    }
    auto memory = std::make_unique<LinearMemory>(std::move(region), minimum, max_bytes,
                                                 inst->module->runtime->memory_budget);
    inst->executor = inst->backend.make_executor(*memory);
    out->env = memory.get();
    out->get_memory = memory_get;
    out->grow_memory = memory_grow;
    out->finalizer = memory_free;
    // Ownership passes to wasmtime, which calls memory_free when the store drops it.
    inst->memory = memory.release();
    return nullptr;
  } catch (const std::exception& e) {
    return api.wasmtime_error_new(e.what());
  }
}

// --- guest -> host op trampoline -------------------------------------------

wasm_trap_t* op_trampoline(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* args, size_t) {
  const WasmtimeApi& api = wasmtime();
  auto* inst = static_cast<InstanceImpl*>(api.wasmtime_context_get_data(api.wasmtime_caller_context(caller)));
  return inst->dispatch(*static_cast<const OpDef*>(env), args);
}

std::string extern_kind_name(wasm_externkind_t kind) {
  switch (kind) {
    case kExternFunc: return "func";
    case kExternGlobal: return "global";
    case kExternTable: return "table";
    case kExternMemory: return "memory";
    case 4: return "tag";
    default: return "other";
  }
}

std::string name_of(const wasm_name_t* n) { return n && n->data ? std::string(n->data, n->size) : std::string(); }

ValueKind value_kind(wasm_valkind_t k) {
  switch (k) {
    case kValI32: return ValueKind::i32;
    case kValI64: return ValueKind::i64;
    case kValF32: return ValueKind::f32;
    case kValF64: return ValueKind::f64;
  }
  throw LinkError("unsupported value type (only i32, i64, f32, f64 cross the boundary)");
}

wasm_valkind_t wasm_kind(ValueKind k) {
  switch (k) {
    case ValueKind::i32: return kValI32;
    case ValueKind::i64: return kValI64;
    case ValueKind::f32: return kValF32;
    case ValueKind::f64: return kValF64;
  }
  return kValI32;
}

FuncType op_functype(const OpDef& op) {
  FuncType t;
  for (const char* p = op.params; *p; ++p) t.params.push_back(*p == 'f' ? ValueKind::f32 : ValueKind::i32);
  return t;
}

EngineSlot make_engine_slot(const WasmtimeApi& api, EngineKind kind) {
  wasm_config_t* config = api.wasm_config_new();
  // With copy-on-write images wasmtime aborts on data segments in host memory.
  api.wasmtime_config_memory_init_cow_set(config, false);
  // GPU registrations and views depend on a base that never moves.
  api.wasmtime_config_memory_may_move_set(config, false);
  // Deadlines and interrupt(): compiled code checks the epoch at loop headers
  // and function entries (a load and compare); the store's callback decides.
  api.wasmtime_config_epoch_interruption_set(config, true);
  api.wasmtime_config_consume_fuel_set(config, is_metered(kind));
  if (is_bounded(kind)) {
    api.wasmtime_config_memory_reservation_set(config, kBoundedReservation);
    api.wasmtime_config_memory_guard_size_set(config, 0);
    api.wasmtime_config_memory_reservation_for_growth_set(config, 0);
  }
  const wasmtime_memory_creator_t creator{nullptr, new_memory, nullptr};
  api.wasmtime_config_host_memory_creator_set(config, &creator);
  EngineSlot slot;
  slot.engine.reset(api.wasm_engine_new_with_config(config));  // takes the config
  if (!slot.engine) throw Error("wasmtime could not create an engine");
  slot.linker.reset(api.wasmtime_linker_new(slot.engine.get()));
  if (wasmtime_error_t* err = api.wasmtime_linker_define_wasi(slot.linker.get()))
    throw Error("defining WASI imports failed: " + take_error_message(err));
  for (const OpDef& op : op_table()) {
    FuncTypeHandle type(make_functype(api, op_functype(op)));
    wasmtime_error_t* err = api.wasmtime_linker_define_func_unchecked(
        slot.linker.get(), "zw", 2, op.name, std::strlen(op.name), type.get(), op_trampoline,
        const_cast<OpDef*>(&op), nullptr);
    if (err) throw Error(std::string("defining zw.") + op.name + " failed: " + take_error_message(err));
  }
  return slot;
}

}  // namespace

// "auto" (or empty) takes $ZEROWASM_BACKEND when set: the one place it is read.
std::string resolve_backend_name(const std::string& requested) {
  if (!requested.empty() && requested != "auto") return requested;
  const char* env = std::getenv("ZEROWASM_BACKEND");
  return env && *env ? std::string(env) : std::string("auto");
}

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open " + path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

InstanceImpl*& instantiating_instance() {
  thread_local InstanceImpl* current = nullptr;
  return current;
}

wasm_functype_t* make_functype(const WasmtimeApi& api, const FuncType& type) {
  auto make_vec = [&](const std::vector<ValueKind>& kinds, wasm_valtype_vec_t* out) {
    std::vector<wasm_valtype_t*> v;
    for (ValueKind k : kinds) v.push_back(api.wasm_valtype_new(wasm_kind(k)));
    if (v.empty()) api.wasm_valtype_vec_new_empty(out);
    else api.wasm_valtype_vec_new(out, v.size(), v.data());  // takes the valtypes
  };
  wasm_valtype_vec_t params, results;
  make_vec(type.params, &params);
  make_vec(type.results, &results);
  return api.wasm_functype_new(&params, &results);  // takes both vectors
}

FuncType read_functype(const WasmtimeApi& api, const wasm_functype_t* ft) {
  FuncType t;
  const wasm_valtype_vec_t* p = api.wasm_functype_params(ft);
  for (size_t i = 0; i < p->size; ++i) t.params.push_back(value_kind(api.wasm_valtype_kind(p->data[i])));
  const wasm_valtype_vec_t* r = api.wasm_functype_results(ft);
  for (size_t i = 0; i < r->size; ++i) t.results.push_back(value_kind(api.wasm_valtype_kind(r->data[i])));
  return t;
}

EngineSlot& RuntimeImpl::engine(EngineKind kind) {
  std::lock_guard<std::mutex> lock(mutex);
  EngineSlot& slot = engines[kind];
  if (!slot.engine) slot = make_engine_slot(api, kind);
  return slot;
}

void RuntimeImpl::increment_epochs() {
  std::lock_guard<std::mutex> lock(mutex);
  for (EngineSlot& slot : engines)
    if (slot.engine) api.wasmtime_engine_increment_epoch(slot.engine.get());
}

EpochTicker::~EpochTicker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EpochTicker::call_started() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (++active_calls_ == 1) {
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    wake_.notify_all();
  }
}

void EpochTicker::call_ended() {
  std::lock_guard<std::mutex> lock(mutex_);
  --active_calls_;
}

void EpochTicker::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || active_calls_ > 0; });
    if (stopping_) return;
    // Sleeping on the condition variable lets the destructor end the wait early.
    wake_.wait_for(lock, kTick, [&] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    runtime_.increment_epochs();
    lock.lock();
  }
}

const wasmtime_module_t* ModuleImpl::compiled_for(EngineKind kind) {
  EngineSlot& slot = runtime->engine(kind);
  std::lock_guard<std::mutex> lock(mutex);
  if (!compiled[kind]) {
    wasmtime_module_t* m = nullptr;
    if (wasmtime_error_t* err = runtime->api.wasmtime_module_new(slot.engine.get(), bytes.data(), bytes.size(), &m))
      throw CompileError("invalid WebAssembly module: " + take_error_message(err));
    compiled[kind].reset(m);
  }
  return compiled[kind].get();
}

namespace {

// Describe imports and exports once, with unsupported value types reported by name.
void describe_module(const WasmtimeApi& api, ModuleImpl& m, const wasmtime_module_t* mod) {
  // A func with value types we don't support is listed with an empty type.
  auto func_type = [&](const wasm_externtype_t* et) -> FuncType {
    try {
      return read_functype(api, api.wasm_externtype_as_functype_const(et));
    } catch (const LinkError&) {
      return {};
    }
  };
  wasm_importtype_vec_t imports{0, nullptr};
  api.wasmtime_module_imports(mod, &imports);
  for (size_t i = 0; i < imports.size; ++i) {
    const wasm_importtype_t* it = imports.data[i];
    const wasm_externtype_t* et = api.wasm_importtype_type(it);
    ImportInfo info{name_of(api.wasm_importtype_module(it)), name_of(api.wasm_importtype_name(it)),
                    extern_kind_name(api.wasm_externtype_kind(et)), {}};
    if (info.kind == "func") info.type = func_type(et);
    m.imports.push_back(std::move(info));
  }
  api.wasm_importtype_vec_delete(&imports);
  wasm_exporttype_vec_t exports{0, nullptr};
  api.wasmtime_module_exports(mod, &exports);
  for (size_t i = 0; i < exports.size; ++i) {
    const wasm_exporttype_t* et_ = exports.data[i];
    const wasm_externtype_t* et = api.wasm_exporttype_type(et_);
    ExportInfo info{name_of(api.wasm_exporttype_name(et_)), extern_kind_name(api.wasm_externtype_kind(et)), {}};
    if (info.kind == "func") info.type = func_type(et);
    m.exports.push_back(std::move(info));
  }
  api.wasm_exporttype_vec_delete(&exports);
}

}  // namespace
}  // namespace detail

const char* to_string(ValueKind kind) {
  switch (kind) {
    case ValueKind::i32: return "i32";
    case ValueKind::i64: return "i64";
    case ValueKind::f32: return "f32";
    case ValueKind::f64: return "f64";
  }
  return "?";
}

const char* to_string(MemoryMode mode) {
  switch (mode) {
    case MemoryMode::guard: return "guard";
    case MemoryMode::bounded: return "bounded";
    case MemoryMode::managed: return "managed";
  }
  return "?";
}

MemoryMode memory_mode_from_string(std::string_view name) {
  if (name == "guard" || name == "mapped" || name == "host") return MemoryMode::guard;
  if (name == "bounded") return MemoryMode::bounded;
  if (name == "managed") return MemoryMode::managed;
  throw Error("unknown memory mode '" + std::string(name) + "' (guard, mapped, bounded, managed)");
}

std::vector<std::string> op_names() {
  std::vector<std::string> names;
  for (const OpDef& op : op_table()) names.emplace_back(op.name);
  return names;
}

Runtime::Runtime(const RuntimeOptions& options) {
  const WasmtimeApi& api = load_wasmtime(options.wasmtime_library, options.default_wasmtime_library);
  auto impl = std::make_shared<detail::RuntimeImpl>(api);
  impl->backend = get_backend(detail::resolve_backend_name(options.backend));
  impl->backend_name = impl->backend->name();
  impl->default_mode = options.memory;
  if (options.timeout && *options.timeout > 0) impl->default_timeout = options.timeout;
  if (options.memory_limit) impl->memory_budget = std::make_shared<MemoryBudget>(*options.memory_limit);
  if (!impl->backend->supports(MemoryKind::managed) && options.memory == MemoryMode::managed)
    throw Error(std::string("backend '") + impl->backend_name + "' has no managed memory");
  impl->engine(detail::engine_kind(options.memory));  // fail early on a broken library
  impl_ = std::move(impl);
}

Module Runtime::load(std::span<const uint8_t> wasm) const {
  auto m = std::make_shared<detail::ModuleImpl>();
  m->runtime = impl_;
  m->bytes.assign(wasm.begin(), wasm.end());
  const wasmtime_module_t* compiled = m->compiled_for(detail::engine_kind(impl_->default_mode));
  detail::describe_module(impl_->api, *m, compiled);
  return Module(std::move(m));
}

Module Runtime::load_wat(std::string_view wat) const {
  ByteVec wasm;
  if (wasmtime_error_t* err = impl_->api.wasmtime_wat2wasm(wat.data(), wat.size(), wasm.out()))
    throw CompileError("invalid WebAssembly text: " + take_error_message(err));
  return load({wasm.data(), wasm.size()});
}

Module Runtime::load_file(const std::string& path) const {
  std::vector<uint8_t> bytes = detail::read_file(path);
  static const uint8_t kMagic[4] = {0, 'a', 's', 'm'};
  if (bytes.size() >= 4 && std::equal(kMagic, kMagic + 4, bytes.begin())) return load(bytes);
  return load_wat(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

const std::string& Runtime::backend() const { return impl_->backend_name; }
MemoryMode Runtime::memory_mode() const { return impl_->default_mode; }
const std::string& Runtime::wasmtime_library() const { return impl_->api.library_path; }
std::vector<BackendInfo> Runtime::backends() { return list_backends(); }

const std::vector<ImportInfo>& Module::imports() const { return impl_->imports; }
const std::vector<ExportInfo>& Module::exports() const { return impl_->exports; }

}  // namespace zw
