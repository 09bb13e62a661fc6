// Run-time loading of the CUDA driver library (see cuda_driver.hpp).
#include "backend/cuda/cuda_driver.hpp"

#include <cstdlib>

#include "util/dynamic_library.hpp"
#include "zerowasm/error.hpp"

namespace zw::cuda {
namespace {

#if defined(_WIN32)
constexpr const char* kDefaultLibrary = "nvcuda.dll";
#else
constexpr const char* kDefaultLibrary = "libcuda.so.1";
#endif

template <typename Fn>
void assign(Fn& member, void* symbol) {
  member = reinterpret_cast<Fn>(symbol);
}

struct Loaded {
  Driver driver;
  std::string why;
  bool ok = false;
};

Loaded load_once() {
  Loaded r;
  const char* override_path = std::getenv("ZEROWASM_LIBCUDA");
  const char* name = override_path && *override_path ? override_path : kDefaultLibrary;
  std::string error;
  // Never closed: function pointers into it live in process-wide objects.
  void* lib = open_library(name, error);
  if (!lib) {
    r.why = std::string(name) + " not found (is the NVIDIA driver installed?): " + error;
    return r;
  }
  r.driver.library = name;
  std::string missing;
#define ZW_CUDA_RESOLVE_REQUIRED(member, symbol, ret, params)  \
  assign(r.driver.member, find_symbol(lib, symbol));           \
  if (!r.driver.member) missing += std::string(missing.empty() ? "" : ", ") + symbol;
  ZW_CUDA_REQUIRED_FUNCTIONS(ZW_CUDA_RESOLVE_REQUIRED)
#undef ZW_CUDA_RESOLVE_REQUIRED
#define ZW_CUDA_RESOLVE_OPTIONAL(member, symbol, ret, params) assign(r.driver.member, find_symbol(lib, symbol));
  ZW_CUDA_OPTIONAL_FUNCTIONS(ZW_CUDA_RESOLVE_OPTIONAL)
#undef ZW_CUDA_RESOLVE_OPTIONAL
  if (!missing.empty()) {
    r.why = std::string(name) + " lacks " + missing + " (driver too old? zerowasm needs CUDA 12 or newer)";
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace

std::string Driver::error_text(CUresult r) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (cuGetErrorName(r, &name) != CUDA_SUCCESS || !name) return "CUresult " + std::to_string(r);
  std::string s = name;
  if (cuGetErrorString(r, &text) == CUDA_SUCCESS && text) s += std::string(" (") + text + ")";
  return s;
}

void Driver::check(CUresult r, const std::string& what) const {
  if (r != CUDA_SUCCESS) throw Error(what + ": " + error_text(r));
}

const Driver* load_driver(std::string& why) {
  static const Loaded loaded = load_once();  // thread-safe one-time init
  if (!loaded.ok) {
    why = loaded.why;
    return nullptr;
  }
  return &loaded.driver;
}

}  // namespace zw::cuda
