#!/usr/bin/env bash
# Build and run the standalone CPU backend harness (no Python, no CMake).
#   tests/cpp/build_and_run.sh            # tests: AVX2 kernels, then the generic fallback
#   tests/cpp/build_and_run.sh --bench [f32|matmul]   # micro-benchmarks
# Env: CXX (default g++), BUILD_DIR (default build/cpp-tests), CXXFLAGS_EXTRA.
set -euo pipefail
cd "$(dirname "$0")/../.."
CXX=${CXX:-g++}
BUILD_DIR=${BUILD_DIR:-build/cpp-tests}
mkdir -p "$BUILD_DIR"

sources=(csrc/backend/cpu/*.cpp csrc/memory/linear_memory.cpp csrc/memory/host_region.cpp
         tests/cpp/test_cpu_backend.cpp tests/cpp/test_kernel_math.cpp tests/cpp/cpu_bench.cpp
         tests/cpp/test_stubs.cpp)

flags=(-O2 -std=c++20 -Wall -Wextra -Werror -pthread -I csrc -I csrc/include -I tests/cpp)
# Same vectorization flags csrc/backend/cpu/sources.cmake gives the CPU kernels (GCC only).
if ! "$CXX" --version | grep -qi clang; then
  flags+=(-ftree-vectorize -fvect-cost-model=dynamic -fno-trapping-math)
fi
# shellcheck disable=SC2206
flags+=(${CXXFLAGS_EXTRA:-})
"$CXX" "${flags[@]}" "${sources[@]}" -o "$BUILD_DIR/test_cpu_backend"

if [[ "${1:-}" == "--bench" ]]; then
  exec "$BUILD_DIR/test_cpu_backend" "$@"
fi
echo "== default kernels, default threads"
"$BUILD_DIR/test_cpu_backend"
echo "== generic kernels, 3 threads (more threads than cores exercises the pool)"
ZEROWASM_CPU_ISA=generic ZEROWASM_NUM_THREADS=3 "$BUILD_DIR/test_cpu_backend"
