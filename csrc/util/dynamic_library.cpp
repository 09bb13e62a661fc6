#include "util/dynamic_library.hpp"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace zw {

#if defined(_WIN32)
void* open_library(const char* name, std::string& error) {
  HMODULE h = LoadLibraryA(name);
  if (!h) error = "LoadLibrary error " + std::to_string(GetLastError());
  return reinterpret_cast<void*>(h);
}
void* find_symbol(void* library, const char* name) {
  return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(library), name));
}
#else
void* open_library(const char* name, std::string& error) {
  void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    error = e ? e : "unknown dlopen error";
  }
  return h;
}
void* find_symbol(void* library, const char* name) { return dlsym(library, name); }
#endif

}  // namespace zw
