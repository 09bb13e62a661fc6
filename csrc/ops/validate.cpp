#include "ops/validate.hpp"

#include <cstdio>

namespace zw {
namespace {
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

void ArgChecker::fail(const std::string& message) const {
  throw OpError(std::string("zw.") + op_ + ": " + message);
}

int32_t ArgChecker::dim(const char* arg, int32_t value, int32_t min) {
  if (value < min)
    fail(std::string("argument ") + arg + " = " + std::to_string(value) + " must be >= " +
         std::to_string(min));
  return value;
}

uint64_t ArgChecker::product(const char* what, std::initializer_list<uint64_t> dims) {
  uint64_t p = 1;
  for (uint64_t d : dims)
    if (__builtin_mul_overflow(p, d, &p)) fail(std::string(what) + " overflows 64 bits");
  return p;
}

Operand ArgChecker::span(const char* arg, uint32_t off, uint64_t count, uint64_t elem_bytes,
                           uint64_t align) {
  uint64_t bytes = 0;
  uint64_t end = 0;
  if (__builtin_mul_overflow(count, elem_bytes, &bytes) ||
      __builtin_add_overflow(uint64_t{off}, bytes, &end))
    fail(std::string("argument ") + arg + ": size of " + std::to_string(count) + " x " +
         std::to_string(elem_bytes) + " bytes overflows");
  if (end > memory_size_)
    fail(std::string("argument ") + arg + ": range [" + hex(off) + ", " + hex(end) + ") (" +
         std::to_string(bytes) + " bytes) lies outside the committed memory of " +
         std::to_string(memory_size_) + " bytes");
  if (align > 1 && off % align != 0)
    fail(std::string("argument ") + arg + " = " + hex(off) + " is not " + std::to_string(align) +
         "-byte aligned");
  bytes_ += bytes;
  return {off, bytes};
}

void ArgChecker::no_overlap(const char* out_arg, Operand out, const char* in_arg, Operand in,
                            bool exact_alias_ok) {
  bool disjoint = out.end() <= in.offset || in.end() <= out.offset;
  if (disjoint) return;
  bool exact = out.offset == in.offset && out.bytes == in.bytes;
  if (exact && exact_alias_ok) return;
  fail(std::string("output ") + out_arg + " [" + hex(out.offset) + ", " + hex(out.end()) + ") " +
       (exact ? "may not alias" : "partially overlaps") + " input " + in_arg + " [" +
       hex(in.offset) + ", " + hex(in.end()) + ")");
}

void ArgChecker::flags(uint32_t value, uint32_t allowed) {
  if (value & ~allowed)
    fail("unknown flag bits " + hex(value & ~allowed) + " in flags " + hex(value));
}

DType ArgChecker::dtype(const char* arg, uint32_t code) {
  if (code >= static_cast<uint32_t>(kDTypeCount))
    fail(std::string("argument ") + arg + ": unknown dtype " + std::to_string(code));
  return static_cast<DType>(code);
}

}  // namespace zw
