// Backend's base-class definitions live in registry.cpp, which pulls in every
// backend; the harness links only the CPU backend, so it supplies the one
// out-of-line virtual it needs.
#include <memory>
#include <string>

#include "backend/backend.hpp"
#include "zerowasm/error.hpp"

namespace zw {

std::unique_ptr<Region> Backend::make_managed_region(size_t) {
  throw Error(std::string(name()) + " backend has no managed memory");
}

}  // namespace zw
