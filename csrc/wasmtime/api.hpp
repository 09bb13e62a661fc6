// Our own declarations of the subset of the wasmtime C API (v50.0.0) that
// zerowasm uses, resolved at run time with dlopen/dlsym.
//
// The wasmtime PyPI wheel ships the C API library but no headers, so the
// layouts below are transcribed from the v50 headers (as recorded in the
// wheel's generated _bindings.py) and pinned with static_asserts. Nothing
// here links against wasmtime: one WasmtimeApi table is filled from whichever
// library file the embedder names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" {

// Opaque handles.
struct wasm_config_t;
struct wasm_engine_t;
struct wasmtime_module_t;
struct wasmtime_store_t;
struct wasmtime_context_t;
struct wasmtime_linker_t;
struct wasmtime_error_t;
struct wasm_trap_t;
struct wasmtime_caller_t;
struct wasm_importtype_t;
struct wasm_exporttype_t;
struct wasm_externtype_t;
struct wasm_functype_t;
struct wasm_valtype_t;
struct wasm_memorytype_t;
struct wasi_config_t;

typedef uint8_t wasm_valkind_t;  // WASM_I32 0, I64 1, F32 2, F64 3, V128 4, EXTERNREF 128, FUNCREF 129
typedef uint8_t wasm_externkind_t;
typedef uint8_t wasmtime_extern_kind_t;  // FUNC 0, GLOBAL 1, TABLE 2, MEMORY 3, SHAREDMEMORY 4, TAG 5
typedef uint8_t wasmtime_trap_code_t;
typedef uint8_t wasmtime_update_deadline_kind_t;  // CONTINUE 0, YIELD 1 (async only)

struct wasm_byte_vec_t {
  size_t size;
  char* data;
};
using wasm_name_t = wasm_byte_vec_t;
using wasm_message_t = wasm_byte_vec_t;

struct wasm_valtype_vec_t {
  size_t size;
  wasm_valtype_t** data;
};
struct wasm_importtype_vec_t {
  size_t size;
  wasm_importtype_t** data;
};
struct wasm_exporttype_vec_t {
  size_t size;
  wasm_exporttype_t** data;
};

struct wasmtime_func_t {
  uint64_t store_id;
  void* private_;
};
struct wasmtime_memory_t {
  struct {
    uint64_t store_id;
    uint32_t private1;
  } anon;
  uint32_t private2;
};
struct wasmtime_instance_t {
  uint64_t store_id;
  size_t private_;
};

// The extern payload union is 24 bytes (its largest members are GC refs);
// we only ever read func and memory.
union wasmtime_extern_union_t {
  wasmtime_func_t func;
  wasmtime_memory_t memory;
  unsigned char storage_[24];
};
struct wasmtime_extern_t {
  wasmtime_extern_kind_t kind;
  wasmtime_extern_union_t of;
};

union wasmtime_val_raw_t {
  int32_t i32;
  int64_t i64;
  float f32;
  double f64;
  uint8_t v128[16];
  uint32_t anyref;
  uint32_t externref;
  uint32_t exnref;
  void* funcref;
};

struct wasmtime_linear_memory_t {
  void* env;
  uint8_t* (*get_memory)(void* env, size_t* byte_size, size_t* byte_capacity);
  wasmtime_error_t* (*grow_memory)(void* env, size_t new_size);
  void (*finalizer)(void*);
};
struct wasmtime_memory_creator_t {
  void* env;
  wasmtime_error_t* (*new_memory)(void* env, const wasm_memorytype_t* ty, size_t minimum,
                                  size_t maximum, size_t reserved_size_in_bytes,
                                  size_t guard_size_in_bytes, wasmtime_linear_memory_t* memory_ret);
  void (*finalizer)(void*);
};

// Called on the calling thread when a store's epoch deadline is reached.
// Returning an error stops the guest with it; returning null sets the next
// deadline `*epoch_deadline_delta` ticks ahead.
typedef wasmtime_error_t* (*wasmtime_epoch_deadline_callback_t)(wasmtime_context_t* context, void* data,
                                                              uint64_t* epoch_deadline_delta,
                                                              wasmtime_update_deadline_kind_t* update_kind);

typedef wasm_trap_t* (*wasmtime_func_unchecked_callback_t)(void* env, wasmtime_caller_t* caller,
                                                           wasmtime_val_raw_t* args_and_results,
                                                           size_t num_args_and_results);
}  // extern "C"

static_assert(sizeof(wasmtime_func_t) == 16, "wasmtime_func_t layout (v50)");
static_assert(sizeof(wasmtime_memory_t) == 24, "wasmtime_memory_t layout (v50)");
static_assert(sizeof(wasmtime_instance_t) == 16, "wasmtime_instance_t layout (v50)");
static_assert(sizeof(wasmtime_extern_t) == 32 && offsetof(wasmtime_extern_t, of) == 8,
              "wasmtime_extern_t layout (v50)");
static_assert(sizeof(wasmtime_val_raw_t) == 16, "wasmtime_val_raw_t layout (v50)");

namespace zw {

constexpr wasmtime_trap_code_t kTrapInterrupt = 10, kTrapOutOfFuel = 11;
constexpr wasmtime_update_deadline_kind_t kUpdateDeadlineContinue = 0;
constexpr wasm_valkind_t kValI32 = 0, kValI64 = 1, kValF32 = 2, kValF64 = 3;
constexpr wasm_externkind_t kExternFunc = 0, kExternGlobal = 1, kExternTable = 2,
                            kExternMemory = 3;

// X-macro of every symbol we resolve: (return type, name, parameter list).
#define ZW_WASMTIME_SYMBOLS(X)                                                                    \
  X(wasm_config_t*, wasm_config_new, ())                                                          \
  X(void, wasmtime_config_host_memory_creator_set, (wasm_config_t*, const wasmtime_memory_creator_t*)) \
  X(void, wasmtime_config_memory_init_cow_set, (wasm_config_t*, bool))                           \
  X(void, wasmtime_config_memory_reservation_set, (wasm_config_t*, uint64_t))                    \
  X(void, wasmtime_config_memory_guard_size_set, (wasm_config_t*, uint64_t))                     \
  X(void, wasmtime_config_memory_reservation_for_growth_set, (wasm_config_t*, uint64_t))         \
  X(void, wasmtime_config_memory_may_move_set, (wasm_config_t*, bool))                           \
  X(void, wasmtime_config_signals_based_traps_set, (wasm_config_t*, bool))                       \
  X(void, wasmtime_config_epoch_interruption_set, (wasm_config_t*, bool))                        \
  X(void, wasmtime_config_consume_fuel_set, (wasm_config_t*, bool))                              \
  X(wasm_engine_t*, wasm_engine_new_with_config, (wasm_config_t*))                                \
  X(void, wasmtime_engine_increment_epoch, (wasm_engine_t*))                                      \
  X(void, wasm_engine_delete, (wasm_engine_t*))                                                   \
  X(wasmtime_error_t*, wasmtime_wat2wasm, (const char*, size_t, wasm_byte_vec_t*))                \
  X(void, wasm_byte_vec_delete, (wasm_byte_vec_t*))                                               \
  X(wasmtime_error_t*, wasmtime_module_new, (wasm_engine_t*, const uint8_t*, size_t, wasmtime_module_t**)) \
  X(void, wasmtime_module_delete, (wasmtime_module_t*))                                           \
  X(void, wasmtime_module_imports, (const wasmtime_module_t*, wasm_importtype_vec_t*))            \
  X(void, wasmtime_module_exports, (const wasmtime_module_t*, wasm_exporttype_vec_t*))            \
  X(void, wasm_importtype_vec_delete, (wasm_importtype_vec_t*))                                   \
  X(void, wasm_exporttype_vec_delete, (wasm_exporttype_vec_t*))                                   \
  X(const wasm_name_t*, wasm_importtype_module, (const wasm_importtype_t*))                       \
  X(const wasm_name_t*, wasm_importtype_name, (const wasm_importtype_t*))                         \
  X(const wasm_externtype_t*, wasm_importtype_type, (const wasm_importtype_t*))                   \
  X(const wasm_name_t*, wasm_exporttype_name, (const wasm_exporttype_t*))                         \
  X(const wasm_externtype_t*, wasm_exporttype_type, (const wasm_exporttype_t*))                   \
  X(wasm_externkind_t, wasm_externtype_kind, (const wasm_externtype_t*))                          \
  X(const wasm_functype_t*, wasm_externtype_as_functype_const, (const wasm_externtype_t*))        \
  X(const wasm_memorytype_t*, wasm_externtype_as_memorytype_const, (const wasm_externtype_t*))    \
  X(bool, wasmtime_memorytype_is64, (const wasm_memorytype_t*))                                   \
  X(uint64_t, wasmtime_memorytype_minimum, (const wasm_memorytype_t*))                            \
  X(bool, wasmtime_memorytype_maximum, (const wasm_memorytype_t*, uint64_t*))                     \
  X(const wasm_valtype_vec_t*, wasm_functype_params, (const wasm_functype_t*))                    \
  X(const wasm_valtype_vec_t*, wasm_functype_results, (const wasm_functype_t*))                   \
  X(wasm_valkind_t, wasm_valtype_kind, (const wasm_valtype_t*))                                   \
  X(wasm_valtype_t*, wasm_valtype_new, (wasm_valkind_t))                                          \
  X(void, wasm_valtype_vec_new, (wasm_valtype_vec_t*, size_t, wasm_valtype_t* const*))            \
  X(void, wasm_valtype_vec_new_empty, (wasm_valtype_vec_t*))                                      \
  X(wasm_functype_t*, wasm_functype_new, (wasm_valtype_vec_t*, wasm_valtype_vec_t*))              \
  X(void, wasm_functype_delete, (wasm_functype_t*))                                               \
  X(wasmtime_store_t*, wasmtime_store_new, (wasm_engine_t*, void*, void (*)(void*)))              \
  X(wasmtime_context_t*, wasmtime_store_context, (wasmtime_store_t*))                             \
  X(void, wasmtime_store_delete, (wasmtime_store_t*))                                             \
  X(void, wasmtime_store_limiter, (wasmtime_store_t*, int64_t, int64_t, int64_t, int64_t, int64_t)) \
  X(void*, wasmtime_context_get_data, (const wasmtime_context_t*))                                \
  X(void, wasmtime_context_set_epoch_deadline, (wasmtime_context_t*, uint64_t))                   \
  X(void, wasmtime_store_epoch_deadline_callback,                                                 \
    (wasmtime_store_t*, wasmtime_epoch_deadline_callback_t, void*, void (*)(void*)))              \
  X(wasmtime_error_t*, wasmtime_context_set_fuel, (wasmtime_context_t*, uint64_t))                \
  X(wasmtime_error_t*, wasmtime_context_get_fuel, (const wasmtime_context_t*, uint64_t*))         \
  X(wasmtime_context_t*, wasmtime_caller_context, (wasmtime_caller_t*))                           \
  X(wasmtime_error_t*, wasmtime_context_set_wasi, (wasmtime_context_t*, wasi_config_t*))          \
  X(wasi_config_t*, wasi_config_new, ())                                                          \
  X(void, wasi_config_inherit_stdout, (wasi_config_t*))                                           \
  X(void, wasi_config_inherit_stderr, (wasi_config_t*))                                           \
  X(wasmtime_linker_t*, wasmtime_linker_new, (wasm_engine_t*))                                    \
  X(void, wasmtime_linker_delete, (wasmtime_linker_t*))                                           \
  X(wasmtime_error_t*, wasmtime_linker_define_wasi, (wasmtime_linker_t*))                         \
  X(wasmtime_error_t*, wasmtime_linker_define_func_unchecked,                                     \
    (wasmtime_linker_t*, const char*, size_t, const char*, size_t, const wasm_functype_t*,        \
     wasmtime_func_unchecked_callback_t, void*, void (*)(void*)))                                 \
  X(wasmtime_error_t*, wasmtime_linker_instantiate,                                               \
    (const wasmtime_linker_t*, wasmtime_context_t*, const wasmtime_module_t*,                     \
     wasmtime_instance_t*, wasm_trap_t**))                                                        \
  X(bool, wasmtime_instance_export_get,                                                           \
    (wasmtime_context_t*, const wasmtime_instance_t*, const char*, size_t, wasmtime_extern_t*))   \
  X(bool, wasmtime_instance_export_nth,                                                           \
    (wasmtime_context_t*, const wasmtime_instance_t*, size_t, char**, size_t*, wasmtime_extern_t*)) \
  X(wasm_functype_t*, wasmtime_func_type, (const wasmtime_context_t*, const wasmtime_func_t*))    \
  X(wasmtime_error_t*, wasmtime_func_call_unchecked,                                              \
    (wasmtime_context_t*, const wasmtime_func_t*, wasmtime_val_raw_t*, size_t, wasm_trap_t**))    \
  X(uint8_t*, wasmtime_memory_data, (const wasmtime_context_t*, const wasmtime_memory_t*))        \
  X(size_t, wasmtime_memory_data_size, (const wasmtime_context_t*, const wasmtime_memory_t*))     \
  X(wasmtime_error_t*, wasmtime_memory_grow,                                                      \
    (wasmtime_context_t*, const wasmtime_memory_t*, uint64_t, uint64_t*))                         \
  X(wasmtime_error_t*, wasmtime_error_new, (const char*))                                         \
  X(void, wasmtime_error_message, (const wasmtime_error_t*, wasm_name_t*))                        \
  X(void, wasmtime_error_delete, (wasmtime_error_t*))                                             \
  X(bool, wasmtime_error_exit_status, (const wasmtime_error_t*, int*))                            \
  X(wasm_trap_t*, wasmtime_trap_new, (const char*, size_t))                                       \
  X(void, wasm_trap_message, (const wasm_trap_t*, wasm_message_t*))                               \
  X(bool, wasmtime_trap_code, (const wasm_trap_t*, wasmtime_trap_code_t*))                        \
  X(void, wasm_trap_delete, (wasm_trap_t*))

struct WasmtimeApi {
#define ZW_DECLARE_FN(ret, name, params) ret(*name) params = nullptr;
  ZW_WASMTIME_SYMBOLS(ZW_DECLARE_FN)
#undef ZW_DECLARE_FN
  std::string library_path;
};

// Load (once per process) the wasmtime C API library and resolve every symbol.
// The library is, in order: `path` if given, else $ZEROWASM_WASMTIME_LIB if
// set, else `fallback` if given (the Python package passes the wasmtime
// wheel's library), else libwasmtime.so / .dylib / wasmtime.dll on the
// loader's search path. This is the only place that reads the variable.
// Throws zw::Error naming the library, where it came from, and every missing
// symbol. A later explicit `path` that differs throws (one wasmtime per process).
const WasmtimeApi& load_wasmtime(const std::string& path = {}, const std::string& fallback = {});
// The loaded table; load_wasmtime must have succeeded before.
const WasmtimeApi& wasmtime();

}  // namespace zw
