// zerowasm._cuda_bench: measurement hooks for bench/bench_cuda_*.py, kept out
// of the shipped extension and library. Built only with
// -DZEROWASM_BENCH_HOOKS=ON (and the CUDA backend), e.g.
//   SKBUILD_CMAKE_ARGS=-DZEROWASM_BENCH_HOOKS=ON pip install .
// Not a stable API.
#include <nanobind/nanobind.h>

#include "backend/cuda/cuda_debug.hpp"

namespace nb = nanobind;

NB_MODULE(_cuda_bench, m) {
  m.doc() = "CUDA measurement hooks for zerowasm's benches (not a stable API)";
  m.def("cuda_raw_launch_loop", &zw::cuda_raw_launch_loop, nb::arg("iterations"), nb::arg("elements") = 256,
        nb::call_guard<nb::gil_scoped_release>());
  m.def("cuda_copy_path_add", &zw::cuda_copy_path_add, nb::arg("iterations"), nb::arg("elements"),
        nb::arg("pinned") = false, nb::call_guard<nb::gil_scoped_release>());
}
