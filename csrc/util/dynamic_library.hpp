// Opening a shared library at run time (libwasmtime, libcuda, the Vulkan
// loader): one place for the dlopen / LoadLibrary difference and its error text.
#pragma once

#include <string>

namespace zw {

// The library's handle, or nullptr with the loader's reason in `error`.
// Handles are never closed: drivers and engines stay loaded for the process.
void* open_library(const char* name, std::string& error);
// The symbol's address, or nullptr when the library does not export it.
void* find_symbol(void* library, const char* name);

}  // namespace zw
