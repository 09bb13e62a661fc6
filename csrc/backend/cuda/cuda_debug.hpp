// Measurement entry points for the CUDA benches (bench/bench_cuda_*.py),
// bound only in the optional zerowasm._cuda_bench module (csrc/python/cuda_bench.cpp),
// never in the library or the shipped extension.
// Both throw zw::Error when CUDA is unavailable, naming why.
#pragma once

#include <cstdint>

namespace zw {

// Launches the very kernel zw.add uses (same parameters, same grid) on
// `elements` floats of registered host memory, `iterations` times back to back
// on one stream, then syncs once. Returns the elapsed seconds: the floor that a
// guest loop calling zw.add can be compared with.
double cuda_raw_launch_loop(int iterations, int elements);

// The path without zero-copy, for out = a + b over `elements` floats that live
// in host ("guest") memory, per iteration: copy a and b out into staging
// buffers, upload both, run the same add kernel, download, copy the result
// back in. pinned: staging buffers page-locked (fast DMA) rather than pageable
// (what numpy arrays are). Checks the result once; returns seconds per iteration.
double cuda_copy_path_add(int iterations, int64_t elements, bool pinned);

}  // namespace zw
