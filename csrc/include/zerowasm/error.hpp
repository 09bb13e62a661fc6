// zerowasm errors: every failure is one of these, with a message that names
// what failed (op, argument, range, file) so a user can act on it.
#pragma once

#include <stdexcept>
#include <string>

namespace zw {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The guest trapped (wasm trap, or a zw.* op rejected its arguments). The
// instance stays usable.
class Trap : public Error {
 public:
  Trap(const std::string& message, int code) : Error(message), code_(code) {}
  // wasmtime's trap code (WASMTIME_TRAP_CODE_*), or -1 for host-raised traps.
  int code() const { return code_; }

 private:
  int code_;
};

// The bytes are not a valid module (or WAT did not parse).
class CompileError : public Error {
 public:
  using Error::Error;
};

// Instantiation failed: unknown import, imported memory, missing export...
class LinkError : public Error {
 public:
  using Error::Error;
};

}  // namespace zw
