#include "wasmtime/api.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "util/dynamic_library.hpp"
#include "zerowasm/error.hpp"

namespace zw {
namespace {

#if defined(_WIN32)
const char* kDefaultLibrary = "wasmtime.dll";
#else
#if defined(__APPLE__)
const char* kDefaultLibrary = "libwasmtime.dylib";
#else
const char* kDefaultLibrary = "libwasmtime.so";
#endif
#endif

std::mutex g_mutex;
WasmtimeApi g_api;
std::atomic<bool> g_loaded{false};

}  // namespace

const WasmtimeApi& load_wasmtime(const std::string& requested, const std::string& fallback) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const char* env = std::getenv("ZEROWASM_WASMTIME_LIB");
  std::string path, origin;
  if (!requested.empty()) {
    path = requested, origin = "RuntimeOptions::wasmtime_library";
  } else if (env && *env) {
    path = env, origin = "$ZEROWASM_WASMTIME_LIB";
  } else if (!fallback.empty()) {
    path = fallback, origin = "the default library";
  } else {
    path = kDefaultLibrary, origin = "the loader's search path";
  }
  if (g_loaded) {
    if (!requested.empty() && requested != g_api.library_path)
      throw Error("wasmtime is already loaded from " + g_api.library_path +
                  "; cannot also load " + requested + " in the same process");
    return g_api;
  }
  std::string err;
  void* lib = open_library(path.c_str(), err);
  if (!lib)
    throw Error("cannot load the wasmtime C API library '" + path + "' (from " + origin + "): " + err +
                " (set ZEROWASM_WASMTIME_LIB to a libwasmtime of C API v50.0.0)");
  WasmtimeApi api;
  std::vector<std::string> missing;
#define ZW_RESOLVE_FN(ret, name, params)                                      \
  api.name = reinterpret_cast<ret(*) params>(find_symbol(lib, #name));        \
  if (!api.name) missing.push_back(#name);
  ZW_WASMTIME_SYMBOLS(ZW_RESOLVE_FN)
#undef ZW_RESOLVE_FN
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    // The library stays loaded: unloading a half-used runtime is not worth the risk.
    throw Error("'" + path + "' is not a wasmtime C API v50 library: missing symbols " + list);
  }
  api.library_path = path;
  g_api = api;
  g_loaded = true;
  return g_api;
}

const WasmtimeApi& wasmtime() {
  if (!g_loaded) throw Error("wasmtime is not loaded (call zw::load_wasmtime first)");
  return g_api;
}

}  // namespace zw
