// Included first by kernel_driver.cpp to *run* the Metal shaders on the CPU:
// like syntax_prelude.h, but <metal_stdlib> resolves to
// msl_emulator/metal_stdlib, which defines the SIMD-group and threadgroup
// functions over real threads (one OS thread per GPU thread, a std::barrier
// per threadgroup and per simdgroup). Never part of the library.
#ifndef ZW_HOST_EXEC_PRELUDE_H
#define ZW_HOST_EXEC_PRELUDE_H
// Standard headers first (the driver's and encode_plan.hpp's too): the
// stand-in then turns Metal's address-space keywords (thread, device, ...)
// into macros that would break them.
#include <array>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#define __METAL_VERSION__ 240
#define ZW_HOST_CHECK 1
#define ZW_HOST_EXEC 1
#include <metal_stdlib>
#endif
