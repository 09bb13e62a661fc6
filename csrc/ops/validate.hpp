// Argument validation for zw.* ops: the sandbox boundary.
//
// A guest is untrusted. Every byte range an op's arguments imply is computed
// in 64-bit with overflow checks and must lie inside the committed memory;
// alignment, dims and aliasing rules are enforced before any kernel runs. A
// violation throws OpError, which the dispatcher turns into a Wasm trap whose
// message names the op, the argument and the offending range.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/op_args.hpp"

namespace zw {

class OpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ArgChecker {
 public:
  ArgChecker(const char* op, uint64_t memory_size) : op_(op), memory_size_(memory_size) {}

  // A dimension or count that must be >= min.
  int32_t dim(const char* arg, int32_t value, int32_t min = 1);
  // count * elem_bytes bytes at guest offset `off`, aligned to `align`: the
  // operand exactly as backends receive it.
  Operand span(const char* arg, uint32_t off, uint64_t count, uint64_t elem_bytes, uint64_t align);
  // Product of dims, overflow-checked (dims are already >= 0).
  uint64_t product(const char* what, std::initializer_list<uint64_t> dims);
  // `out` must be disjoint from `in`, or (if allowed) exactly the same range.
  void no_overlap(const char* out_arg, Operand out, const char* in_arg, Operand in,
                  bool exact_alias_ok);
  // Only `allowed` bits may be set in `flags`.
  void flags(uint32_t flags, uint32_t allowed);
  DType dtype(const char* arg, uint32_t code);
  [[noreturn]] void fail(const std::string& message) const;

  uint64_t bytes_touched() const { return bytes_; }

 private:
  const char* op_;
  uint64_t memory_size_;
  uint64_t bytes_ = 0;
};

}  // namespace zw
