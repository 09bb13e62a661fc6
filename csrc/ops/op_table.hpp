// The op table: each zw.* import defined once — its name, Wasm signature, and
// one function that decodes and validates the raw guest arguments and hands a
// typed args struct (op_args.hpp) to the instance's Executor.
//
// Adding an op: a row in op_table.cpp, an args struct (or reuse one), an
// Executor::run overload per backend, and its declaration in zerowasm.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "backend/backend.hpp"
#include "wasmtime/api.hpp"

namespace zw {

// What an op needs from its instance while it runs.
struct OpContext {
  Executor& executor;
  const uint8_t* memory_base;  // host view, for reading validated gather ids
  uint64_t memory_size;        // committed bytes right now
};

struct OpDef {
  const char* name;
  // Wasm parameter types, one char each: 'i' = i32, 'f' = f32. No results.
  const char* params;
  // Decodes, validates (throws OpError; nothing has run then), issues the op
  // and returns the bytes of guest memory its arguments span.
  uint64_t (*issue)(OpContext& ctx, const wasmtime_val_raw_t* args);
  // Waits for every queued op (zw.sync): afterwards no ops are pending.
  bool sync_point = false;
};

std::span<const OpDef> op_table();

}  // namespace zw
