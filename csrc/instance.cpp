// Instance, Function and Memory: instantiation, export calls, op dispatch.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "runtime_impl.hpp"
#include "ops/validate.hpp"

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace zw {
namespace detail {
namespace {

constexpr uint64_t kWasmPage = 64 * 1024;

// Converts a caller's value to the parameter type, refusing lossy conversions.
wasmtime_val_raw_t to_raw(const Value& v, ValueKind want, const std::string& fn, size_t i) {
  wasmtime_val_raw_t raw{};
  auto bad = [&](const char* why) {
    return Error("argument " + std::to_string(i) + " of " + fn + ": cannot pass " + to_string(v.kind) +
                 " as " + to_string(want) + " (" + why + ")");
  };
  auto as_int = [&]() -> int64_t {
    if (v.kind == ValueKind::i32) return v.of.i32;
    if (v.kind == ValueKind::i64) return v.of.i64;
    throw bad("a float is not an integer");
  };
  switch (want) {
    case ValueKind::i32: {
      int64_t x = as_int();
      // Accept the unsigned spelling of an i32 too (pointers, flags).
      if (x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<uint32_t>::max())
        throw bad("out of range");
      raw.i32 = static_cast<int32_t>(static_cast<uint32_t>(x));
      break;
    }
    case ValueKind::i64: raw.i64 = as_int(); break;
    case ValueKind::f32:
      raw.f32 = v.kind == ValueKind::f32 ? v.of.f32 : v.kind == ValueKind::f64 ? float(v.of.f64) : float(as_int());
      break;
    case ValueKind::f64:
      raw.f64 = v.kind == ValueKind::f64 ? v.of.f64 : v.kind == ValueKind::f32 ? v.of.f32 : double(as_int());
      break;
  }
  return raw;
}

Value from_raw(const wasmtime_val_raw_t& raw, ValueKind kind) {
  switch (kind) {
    case ValueKind::i32: return Value::from_i32(raw.i32);
    case ValueKind::i64: return Value::from_i64(raw.i64);
    case ValueKind::f32: return Value::from_f32(raw.f32);
    case ValueKind::f64: return Value::from_f64(raw.f64);
  }
  return {};
}

// Runs on the calling thread each time the store's epoch deadline is reached
// (every ticker tick during a call with a deadline, or on interrupt()).
wasmtime_error_t* on_epoch_deadline(wasmtime_context_t*, void* data, uint64_t* delta,
                                    wasmtime_update_deadline_kind_t* update) {
  auto* inst = static_cast<InstanceImpl*>(data);
  if (inst->check_stop() != InstanceImpl::kRun) return inst->api.wasmtime_error_new("zerowasm: call stopped");
  *delta = 1;
  *update = kUpdateDeadlineContinue;
  return nullptr;
}

// Keeps the runtime's epoch ticker running while a call with a deadline runs.
struct TickerScope {
  EpochTicker* ticker;
  explicit TickerScope(EpochTicker* t) : ticker(t) {
    if (ticker) ticker->call_started();
  }
  ~TickerScope() {
    if (ticker) ticker->call_ended();
  }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Clears the creator's hand-off slot however instantiation ends.
struct InstantiatingScope {
  explicit InstantiatingScope(InstanceImpl* inst) { instantiating_instance() = inst; }
  ~InstantiatingScope() { instantiating_instance() = nullptr; }
};

}  // namespace

InstanceImpl::InstanceImpl(std::shared_ptr<ModuleImpl> m, MemoryMode md, const InstanceOptions& opts)
    : module(std::move(m)), api(module->runtime->api), backend(*module->runtime->backend), mode(md),
      options(opts), counters(op_table().size()) {}

InstanceImpl::~InstanceImpl() {
  try {
    if (executor) executor->sync();
  } catch (const std::exception&) {
    // Teardown continues: the work is abandoned either way.
  }
  store.reset();     // frees the memory: listeners unregister it first
  executor.reset();  // only after nothing can reach the memory
}

void InstanceImpl::instantiate() {
  for (const ImportInfo& imp : module->imports) {
    if (imp.kind == "memory")
      throw LinkError("the module imports its memory (" + imp.module + "." + imp.name +
                      "); zerowasm serves only memories a module defines (build without --import-memory)");
    if (imp.module == "zw" && imp.kind == "func") {
      auto ops = op_table();
      auto op = std::find_if(ops.begin(), ops.end(), [&](const OpDef& d) { return imp.name == d.name; });
      if (op == ops.end())
        throw LinkError("the module imports zw." + imp.name + ", which kernel ABI v1 does not define");
      std::string want;
      for (const char* p = op->params; *p; ++p) want += *p;
      std::string got;
      for (ValueKind k : imp.type.params) got += k == ValueKind::f32 ? 'f' : k == ValueKind::i32 ? 'i' : '?';
      if (got != want || !imp.type.results.empty())
        throw LinkError("the module imports zw." + imp.name + " with a signature that differs from kernel ABI v1");
    }
  }
  EngineKind kind = engine_kind(mode, options.fuel.has_value());
  EngineSlot& slot = module->runtime->engine(kind);
  const wasmtime_module_t* compiled = module->compiled_for(kind);

  store.reset(api.wasmtime_store_new(slot.engine.get(), this, nullptr));
  context = api.wasmtime_store_context(store.get());
  engine = slot.engine.get();
  // Every engine compiles epoch checks; this store's callback decides at each.
  api.wasmtime_store_epoch_deadline_callback(store.get(), on_epoch_deadline, this, nullptr);
  api.wasmtime_context_set_epoch_deadline(context, 1);
  if (options.fuel) {
    if (wasmtime_error_t* err = api.wasmtime_context_set_fuel(context, *options.fuel))
      throw Error("setting fuel failed: " + take_error_message(err));
  }
  if (options.max_memory) {
    int64_t limit = int64_t(std::min<uint64_t>(*options.max_memory, uint64_t(INT64_MAX)));
    api.wasmtime_store_limiter(store.get(), limit, -1, -1, -1, -1);
  }
  bool wants_wasi = std::any_of(module->imports.begin(), module->imports.end(),
                                [](const ImportInfo& i) { return i.module.rfind("wasi_", 0) == 0; });
  if (wants_wasi && options.wasi) {
    wasi_config_t* wasi = api.wasi_config_new();
    api.wasi_config_inherit_stdout(wasi);
    api.wasi_config_inherit_stderr(wasi);
    if (wasmtime_error_t* err = api.wasmtime_context_set_wasi(context, wasi))  // takes the config
      throw LinkError("WASI setup failed: " + take_error_message(err));
  }

  wasm_trap_t* trap = nullptr;
  wasmtime_error_t* err = nullptr;
  {
    InstantiatingScope scope(this);
    err = api.wasmtime_linker_instantiate(slot.linker.get(), context, compiled, &instance, &trap);
  }
  ErrorHandle err_owned(err);  // owned before the sync, which may throw
  TrapHandle trap_owned(trap);
  sync_if_pending();
  if (err) throw LinkError("instantiation failed: " + take_error_message(err_owned.release()));
  if (trap) throw_trap(trap_owned.release(), "start function");

  for (size_t i = 0;; ++i) {
    char* name = nullptr;
    size_t len = 0;
    wasmtime_extern_t item;
    if (!api.wasmtime_instance_export_nth(context, &instance, i, &name, &len, &item)) break;
    if (item.kind == kExternMemory && !memory_handle.anon.store_id) {
      memory_handle = item.of.memory;
    } else if (item.kind == kExternFunc) {
      FuncTypeHandle ft(api.wasmtime_func_type(context, &item.of.func));
      FuncType type;
      try {
        type = read_functype(api, ft.get());
      } catch (const LinkError&) {
        continue;  // functions with reference types can't be called from here
      }
      function_index.emplace(std::string(name, len), functions.size());
      functions.push_back({std::string(name, len), item.of.func, std::move(type)});
    }
  }
  auto init = function_index.find("_initialize");
  if (init != function_index.end() && functions[init->second].type.params.empty()) call(init->second, {});
}

wasm_trap_t* InstanceImpl::dispatch(const OpDef& op, const wasmtime_val_raw_t* args) {
  OpCounters& c = counters[&op - op_table().data()];
  if (!memory || !executor) {
    std::string msg = std::string("zw.") + op.name + ": the module defines no linear memory";
    return api.wasmtime_trap_new(msg.data(), msg.size());
  }
  // Time inside ops counts against the deadline: stop at this op boundary,
  // after the ops already queued (a GPU write is never abandoned mid-way).
  auto start = std::chrono::steady_clock::now();  // one clock read: deadline check and op timing
  if (check_stop(start) != kRun) {
    try {
      sync_if_pending();
    } catch (const std::exception&) {
      // The call is stopping anyway; call() reports the stop.
    }
    std::string msg = std::string("zw.") + op.name + ": call stopped before this op";
    return api.wasmtime_trap_new(msg.data(), msg.size());
  }
  try {
    OpContext ctx{*executor, memory->base(), memory->committed()};
    c.bytes += op.issue(ctx, args);
    ++c.calls;
    ops_pending = !op.sync_point;
    if (!ops_pending) ++syncs;
    c.time += std::chrono::steady_clock::now() - start;
    return nullptr;
  } catch (const OpError& e) {
    ++c.rejected;
    std::string msg = e.what();
    return api.wasmtime_trap_new(msg.data(), msg.size());
  } catch (const std::exception& e) {
    // A backend failure (driver error...) also surfaces as a trap, never a crash.
    std::string msg = std::string("zw.") + op.name + ": backend " + backend.name() + " failed: " + e.what();
    return api.wasmtime_trap_new(msg.data(), msg.size());
  }
}

InstanceImpl::StopReason InstanceImpl::check_stop(std::chrono::steady_clock::time_point now) {
  int why = stop_reason.load(std::memory_order_relaxed);
  if (why != kRun) return StopReason(why);
  if (interrupt_requested.load(std::memory_order_relaxed)) why = kInterrupt;
  else if (now >= deadline) why = kDeadline;
  else return kRun;
  stop_reason.store(why, std::memory_order_relaxed);
  return StopReason(why);
}

void InstanceImpl::interrupt() {
  // Only atomics: callable from a signal handler. The epoch kick makes the
  // running guest reach its deadline (set one tick ahead) and ask check_stop().
  interrupt_requested.store(true, std::memory_order_relaxed);
  if (engine) api.wasmtime_engine_increment_epoch(engine);
}

void InstanceImpl::throw_stopped(const std::string& function, StopReason why, double timeout) const {
  double elapsed = seconds_since(call_start);
  char buf[160];
  if (why == kDeadline) {
    std::snprintf(buf, sizeof buf, ": timed out after %.3f s (timeout %.3f s)", elapsed, timeout);
    throw Timeout(function + buf, elapsed, timeout);
  }
  std::snprintf(buf, sizeof buf, ": interrupted after %.3f s", elapsed);
  throw Interrupted(function + buf, elapsed);
}

void InstanceImpl::sync() {
  ops_pending = false;
  if (!executor) return;
  ++syncs;
  executor->sync();
}

std::vector<Value> InstanceImpl::call(size_t index, std::span<const Value> args, const CallOptions& options) {
  const ExportFunc& f = functions[index];
  if (args.size() != f.type.params.size())
    throw Error(f.name + " takes " + std::to_string(f.type.params.size()) + " arguments, got " +
                std::to_string(args.size()));
  constexpr size_t kInline = 16;
  size_t slots = std::max(f.type.params.size(), f.type.results.size());
  wasmtime_val_raw_t inline_buf[kInline];
  std::vector<wasmtime_val_raw_t> heap_buf;
  wasmtime_val_raw_t* buf = inline_buf;
  if (slots > kInline) {
    heap_buf.resize(slots);
    buf = heap_buf.data();
  }
  for (size_t i = 0; i < args.size(); ++i) buf[i] = to_raw(args[i], f.type.params[i], f.name, i);
  std::optional<double> timeout = options.timeout ? options.timeout : module->runtime->default_timeout;
  if (timeout && !(*timeout > 0)) timeout.reset();  // <= 0 (or NaN): no deadline
  std::lock_guard<std::mutex> lock(store_mutex);
  call_start = std::chrono::steady_clock::now();
  deadline = timeout ? call_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(std::min(*timeout, 1e9)))
                     : std::chrono::steady_clock::time_point::max();
  stop_reason.store(kRun, std::memory_order_relaxed);
  api.wasmtime_context_set_epoch_deadline(context, 1);
  // An interrupt() that came before this call stops it at its first check (one
  // arriving after this line kicks the epoch past the deadline just set).
  if (interrupt_requested.load(std::memory_order_relaxed)) api.wasmtime_context_set_epoch_deadline(context, 0);
  wasm_trap_t* trap = nullptr;
  wasmtime_error_t* err = nullptr;
  {
    TickerScope ticking(timeout ? &module->runtime->ticker : nullptr);
    err = api.wasmtime_func_call_unchecked(context, &f.func, buf, slots, &trap);
  }
  ErrorHandle err_owned(err);  // owned before the sync, which may throw
  TrapHandle trap_owned(trap);
  // Ops issued before a return or a trap finish before the caller looks at memory.
  sync_if_pending();
  // An interrupt() is consumed by the call it stopped (or arrived too late for it).
  auto why = StopReason(stop_reason.exchange(kRun, std::memory_order_relaxed));
  interrupt_requested.store(false, std::memory_order_relaxed);
  if (why != kRun && (err || trap)) throw_stopped(f.name, why, timeout.value_or(0.0));
  if (err) {
    int status = 0;
    if (api.wasmtime_error_exit_status(err, &status)) {
      take_error_message(err_owned.release());
      throw Trap(f.name + ": guest called proc_exit(" + std::to_string(status) + ")", -1);
    }
    // Traps raised by host functions (a zw.* op rejecting its arguments)
    // come back as errors rather than wasm_trap_t.
    throw Trap(f.name + ": " + take_error_message(err_owned.release()), -1);
  }
  if (trap) throw_trap(trap_owned.release(), f.name);
  std::vector<Value> results;
  results.reserve(f.type.results.size());
  for (size_t i = 0; i < f.type.results.size(); ++i) results.push_back(from_raw(buf[i], f.type.results[i]));
  return results;
}

}  // namespace detail

Instance Module::instantiate(const InstanceOptions& options) const {
  MemoryMode mode = options.memory.value_or(impl_->runtime->default_mode);
  if (mode == MemoryMode::managed && !impl_->runtime->backend->supports(MemoryKind::managed))
    throw Error(std::string("backend '") + impl_->runtime->backend_name + "' has no managed memory");
  auto inst = std::make_shared<detail::InstanceImpl>(impl_, mode, options);
  inst->instantiate();
  return Instance(std::move(inst));
}

Function Instance::function(std::string_view name) const {
  auto it = impl_->function_index.find(std::string(name));
  if (it == impl_->function_index.end())
    throw LinkError("the module exports no function named '" + std::string(name) + "'");
  return Function(impl_, it->second);
}

Memory Instance::memory() const {
  if (!impl_->memory) throw Error("the module defines no linear memory");
  return Memory(impl_);
}
bool Instance::has_memory() const { return impl_->memory != nullptr; }
void Instance::sync() const {
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  impl_->sync();
}
void Instance::interrupt() const { impl_->interrupt(); }

uint64_t Instance::fuel_remaining() const {
  if (!impl_->options.fuel) throw Error("fuel_remaining: the instance was not created with fuel");
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  uint64_t fuel = 0;
  if (wasmtime_error_t* err = impl_->api.wasmtime_context_get_fuel(impl_->context, &fuel))
    throw Error("fuel_remaining: " + take_error_message(err));
  return fuel;
}

void Instance::add_fuel(uint64_t fuel) const {
  if (!impl_->options.fuel) throw Error("add_fuel: the instance was not created with fuel");
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  uint64_t now = 0;
  if (wasmtime_error_t* err = impl_->api.wasmtime_context_get_fuel(impl_->context, &now))
    throw Error("add_fuel: " + take_error_message(err));
  uint64_t total = now > UINT64_MAX - fuel ? UINT64_MAX : now + fuel;
  if (wasmtime_error_t* err = impl_->api.wasmtime_context_set_fuel(impl_->context, total))
    throw Error("add_fuel: " + take_error_message(err));
}
const std::string& Instance::backend() const { return impl_->module->runtime->backend_name; }
const std::vector<ExportInfo>& Instance::exports() const { return impl_->module->exports; }

uint64_t Instance::device_address(uint64_t offset) const {
  if (!impl_->executor) throw Error("the module defines no linear memory");
  return impl_->executor->device_address(offset);
}

int Instance::device_ordinal() const { return impl_->module->runtime->backend->device_ordinal(); }

Stats Instance::stats() const {
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  Stats s;
  auto ops = op_table();
  for (size_t i = 0; i < ops.size(); ++i) {
    const detail::OpCounters& c = impl_->counters[i];
    if (!c.calls && !c.rejected) continue;
    s.ops.push_back({ops[i].name, c.calls, c.bytes, std::chrono::duration<double>(c.time).count(), c.rejected});
  }
  s.copies = impl_->executor ? impl_->executor->copies() : 0;
  s.syncs = impl_->syncs;
  return s;
}

void Instance::reset_stats() const {
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  for (auto& c : impl_->counters) c = {};
  impl_->syncs = 0;
}

const FuncType& Function::type() const { return impl_->functions[index_].type; }
const std::string& Function::name() const { return impl_->functions[index_].name; }
std::vector<Value> Function::call(std::span<const Value> args, const CallOptions& options) const {
  return impl_->call(index_, args, options);
}
Instance Function::instance() const { return Instance(impl_); }

uint8_t* Memory::data() const {
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  impl_->sync_if_pending();
  return impl_->memory->base();
}
size_t Memory::size() const { return impl_->memory->committed(); }
size_t Memory::max_size() const { return impl_->memory->max_bytes(); }
std::span<std::byte> Memory::bytes() const { return {reinterpret_cast<std::byte*>(data()), size()}; }
MemoryMode Memory::mode() const { return impl_->mode; }

uint8_t* Memory::checked(size_t offset, size_t count, size_t elem, size_t align) const {
  size_t bytes = 0, end = 0;
  if (__builtin_mul_overflow(count, elem, &bytes) || __builtin_add_overflow(offset, bytes, &end) || end > size())
    throw Error("memory view [" + std::to_string(offset) + ", +" + std::to_string(count) + " x " +
                std::to_string(elem) + " bytes) lies outside the memory's " + std::to_string(size()) + " bytes");
  if (offset % align) throw Error("memory view offset " + std::to_string(offset) + " is not " + std::to_string(align) + "-byte aligned");
  return data() + offset;
}

int64_t Memory::grow(uint64_t pages) const {
  std::lock_guard<std::mutex> lock(impl_->store_mutex);
  // The handle comes from the module's exports; growing through an empty one
  // would make wasmtime abort ("object used with the wrong store").
  if (!impl_->memory_handle.anon.store_id)
    throw Error("memory.grow: the module does not export its memory, so the host cannot grow it");
  // Past the maximum is a refusal, as memory.grow answers a guest; wasmtime
  // would report it as an error too, which is kept for real failures below.
  const uint64_t size_pages = size() / detail::kWasmPage, max_pages = max_size() / detail::kWasmPage;
  if (pages > max_pages - size_pages) return -1;
  impl_->sync_if_pending();
  uint64_t prev = 0;
  if (wasmtime_error_t* err = impl_->api.wasmtime_memory_grow(impl_->context, &impl_->memory_handle, pages, &prev)) {
    std::string message = "memory.grow by " + std::to_string(pages) + " pages failed: " + take_error_message(err);
    if (const std::string& cause = impl_->memory->last_grow_failure(); !cause.empty()) message += ": " + cause;
    throw Error(message);
  }
  return int64_t(prev);
}

bool Memory::map_file(size_t offset, const std::string& path, uint64_t file_offset, size_t length) const {
#if defined(_WIN32)
  (void)offset, (void)path, (void)file_offset, (void)length;
  return false;
#else
  // Only plain host pages can be replaced by a file mapping: device
  // registrations and managed allocations would be left pointing elsewhere.
  if (impl_->mode == MemoryMode::managed || !impl_->backend.can_map_files()) return false;
  long page = sysconf(_SC_PAGESIZE);
  size_t end = 0;
  if (offset % page || file_offset % page || __builtin_add_overflow(offset, length, &end) || end > size())
    throw Error("map_file: [" + std::to_string(offset) + ", +" + std::to_string(length) +
                ") must be page aligned and inside the committed memory");
  std::lock_guard<std::mutex> lock(impl_->store_mutex);  // no call runs on these pages meanwhile
  impl_->sync_if_pending();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("map_file: cannot open " + path);
  struct stat st {};
  uint64_t file_pages_end = 0;
  if (fstat(fd, &st) == 0) file_pages_end = (uint64_t(st.st_size) + page - 1) / page * page;
  // Pages wholly past the end of the file would fault (SIGBUS) when touched.
  if (length > file_pages_end || file_offset > file_pages_end - length) {
    ::close(fd);
    throw Error("map_file: [" + std::to_string(file_offset) + ", +" + std::to_string(length) +
                ") extends past the end of " + path);
  }
  void* want = impl_->memory->base() + offset;
  void* got = mmap(want, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, off_t(file_offset));
  ::close(fd);
  if (got == MAP_FAILED) {
    // MAP_FIXED failure leaves the range unspecified: restore zeroed anonymous pages.
    mmap(want, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    return false;
  }
  return true;
#endif
}

}  // namespace zw
