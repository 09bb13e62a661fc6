// Force-included (g++ -include) when the Linux syntax checks (linux_check/checks.cmake) parse the
// Metal shaders with a host C++ compiler. It makes the shaders take their
// Metal code path (__METAL_VERSION__, so `#include <metal_stdlib>` resolves to
// linux_check/msl_declarations/metal_stdlib, a declaration-only stand-in) instead of the
// CPU branches of shared headers. Never part of the library or the shaders.
#ifndef ZW_HOST_CHECK_PRELUDE_H
#define ZW_HOST_CHECK_PRELUDE_H
#define __METAL_VERSION__ 240  // MSL 2.4 (macOS 12): what the shaders assume at most
#define ZW_HOST_CHECK 1
#include <metal_stdlib>
#endif
