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

// A call ran past its deadline (CallOptions::timeout / RuntimeOptions::timeout).
// The guest was stopped at a loop header, function entry or zw.* op boundary;
// queued ops finished first. The instance stays usable.
class Timeout : public Trap {
 public:
  Timeout(const std::string& message, double elapsed, double timeout)
      : Trap(message, -1), elapsed_(elapsed), timeout_(timeout) {}
  double elapsed() const { return elapsed_; }  // seconds the call ran
  double timeout() const { return timeout_; }  // the deadline it had, seconds

 private:
  double elapsed_, timeout_;
};

// Instance::interrupt() (or SIGINT, in Python) stopped the call. The instance
// stays usable.
class Interrupted : public Trap {
 public:
  Interrupted(const std::string& message, double elapsed) : Trap(message, -1), elapsed_(elapsed) {}
  double elapsed() const { return elapsed_; }

 private:
  double elapsed_;
};

// The instance ran out of fuel (InstanceOptions::fuel); add_fuel() and call again.
class OutOfFuel : public Trap {
 public:
  using Trap::Trap;
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
