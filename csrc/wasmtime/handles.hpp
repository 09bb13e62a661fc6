// RAII owners for wasmtime C API objects, and conversion of wasmtime errors
// and traps into zerowasm exceptions.
#pragma once

#include <memory>
#include <string>

#include "wasmtime/api.hpp"
#include "zerowasm/error.hpp"

namespace zw {

template <typename T, void (*WasmtimeApi::*Deleter)(T*)>
struct ApiDeleter {
  void operator()(T* p) const {
    if (p) (wasmtime().*Deleter)(p);
  }
};

using EngineHandle = std::unique_ptr<wasm_engine_t, ApiDeleter<wasm_engine_t, &WasmtimeApi::wasm_engine_delete>>;
using ModuleHandle = std::unique_ptr<wasmtime_module_t, ApiDeleter<wasmtime_module_t, &WasmtimeApi::wasmtime_module_delete>>;
using StoreHandle = std::unique_ptr<wasmtime_store_t, ApiDeleter<wasmtime_store_t, &WasmtimeApi::wasmtime_store_delete>>;
using LinkerHandle = std::unique_ptr<wasmtime_linker_t, ApiDeleter<wasmtime_linker_t, &WasmtimeApi::wasmtime_linker_delete>>;
using ErrorHandle = std::unique_ptr<wasmtime_error_t, ApiDeleter<wasmtime_error_t, &WasmtimeApi::wasmtime_error_delete>>;
using TrapHandle = std::unique_ptr<wasm_trap_t, ApiDeleter<wasm_trap_t, &WasmtimeApi::wasm_trap_delete>>;
using FuncTypeHandle = std::unique_ptr<wasm_functype_t, ApiDeleter<wasm_functype_t, &WasmtimeApi::wasm_functype_delete>>;

// A wasm_byte_vec_t we own (wat2wasm output, messages).
class ByteVec {
 public:
  ByteVec() = default;
  ~ByteVec() {
    if (vec_.data) wasmtime().wasm_byte_vec_delete(&vec_);
  }
  ByteVec(const ByteVec&) = delete;
  ByteVec& operator=(const ByteVec&) = delete;
  wasm_byte_vec_t* out() { return &vec_; }
  std::string str() const { return vec_.data ? std::string(vec_.data, vec_.size) : std::string(); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(vec_.data); }
  size_t size() const { return vec_.size; }

 private:
  wasm_byte_vec_t vec_{0, nullptr};
};

// Takes ownership of `err` and returns its message.
inline std::string take_error_message(wasmtime_error_t* err) {
  ErrorHandle owned(err);
  ByteVec msg;
  wasmtime().wasmtime_error_message(err, msg.out());
  return msg.str();
}

// Takes ownership of `trap` and throws it as zw::Trap.
[[noreturn]] inline void throw_trap(wasm_trap_t* trap, const std::string& context) {
  TrapHandle owned(trap);
  ByteVec msg;
  wasmtime().wasm_trap_message(trap, msg.out());
  wasmtime_trap_code_t code = 0;
  int code_value = wasmtime().wasmtime_trap_code(trap, &code) ? code : -1;
  std::string text = msg.str();
  if (code_value == kTrapOutOfFuel)
    throw OutOfFuel((context.empty() ? text : context + ": " + text) + " (add_fuel() and call again)", code_value);
  throw Trap(context.empty() ? text : context + ": " + text, code_value);
}

}  // namespace zw
