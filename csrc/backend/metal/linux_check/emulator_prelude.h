// Force-included (g++ -include) to *run* the Metal shaders on the CPU, for
// tests/test_metal_kernels_emulated.py: like host_check_prelude.h, but
// <metal_stdlib> resolves to metal/host_exec/metal_stdlib, which defines the
// SIMD-group and threadgroup functions over real threads (one OS thread per
// GPU thread, a std::barrier per threadgroup and per simdgroup). Used only by
// metal/host_exec/kernel_driver.cpp; never part of the library.
#ifndef ZW_HOST_EXEC_PRELUDE_H
#define ZW_HOST_EXEC_PRELUDE_H
// Standard headers first: the stand-in then turns Metal's address-space
// keywords (thread, device, ...) into macros that would break them.
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#define __METAL_VERSION__ 240
#define ZW_HOST_CHECK 1
#define ZW_HOST_EXEC 1
#include <metal_stdlib>
#endif
