// Embeds zerowasm in a C++ program: loads a guest, fills its inputs in place
// through zw::Memory, runs an export that calls zw.matmul, checks the result
// against a double-precision reference and prints timings.
//
//   embed_matmul GUEST.wasm [--wasmtime LIB] [--m M --n N --k K] [--out FILE]
#include <zerowasm/zerowasm.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

// Deterministic inputs in [-1, 1): the Python test generates the same ones.
void fill(std::span<float> out, uint32_t seed) {
  uint32_t state = seed;
  for (float& x : out) {
    state = state * 1664525u + 1013904223u;
    x = float(state >> 8) / float(1u << 23) - 1.0f;
  }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s GUEST.wasm [--wasmtime LIB] [--m M --n N --k K] [--out FILE]\n", argv[0]);
    return 2;
  }
  std::string guest = argv[1], out_path;
  zw::RuntimeOptions options;
  int32_t m = 64, n = 96, k = 128;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--wasmtime") options.wasmtime_library = value;
    else if (flag == "--m") m = std::stoi(value);
    else if (flag == "--n") n = std::stoi(value);
    else if (flag == "--k") k = std::stoi(value);
    else if (flag == "--out") out_path = value;
    else if (flag == "--backend") options.backend = value;
  }
  try {
    auto t0 = std::chrono::steady_clock::now();
    zw::Runtime runtime(options);
    zw::Instance inst = runtime.load_file(guest).instantiate();
    double load_ms = ms_since(t0);

    if (inst.call("setup", {zw::Value::from_i32(m), zw::Value::from_i32(n), zw::Value::from_i32(k)})[0].of.i32 != 0)
      throw zw::Error("guest could not allocate its buffers");
    auto ptr = [&](const char* fn) { return uint32_t(inst.call(fn, {})[0].of.i32); };
    zw::Memory mem = inst.memory();
    std::span<float> a = mem.view<float>(ptr("a_ptr"), size_t(m) * k);
    std::span<float> b = mem.view<float>(ptr("b_ptr"), size_t(n) * k);
    std::span<float> c = mem.view<float>(ptr("c_ptr"), size_t(m) * n);
    fill(a, 1);  // written straight into the guest's memory
    fill(b, 2);

    zw::Function run = inst.function("run");
    run.call({});  // warm-up
    const int reps = 20;
    t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) run.call({});
    double run_ms = ms_since(t0) / reps;

    double max_err = 0, max_ref = 0;
    for (int32_t i = 0; i < m; ++i)
      for (int32_t j = 0; j < n; ++j) {
        double ref = 0;
        for (int32_t p = 0; p < k; ++p) ref += double(a[size_t(i) * k + p]) * double(b[size_t(j) * k + p]);
        max_err = std::max(max_err, std::abs(ref - double(c[size_t(i) * n + j])));
        max_ref = std::max(max_ref, std::abs(ref));
      }
    double rel = max_err / std::max(max_ref, 1e-30);
    if (!out_path.empty()) {
      std::ofstream(out_path, std::ios::binary).write(reinterpret_cast<const char*>(c.data()), std::streamsize(c.size_bytes()));
    }
    zw::Stats stats = inst.stats();
    std::printf("backend %s, memory at %p (%zu bytes)\n", inst.backend().c_str(), static_cast<void*>(mem.data()), mem.size());
    std::printf("matmul %dx%dx%d: %.3f ms/call (%.2f GFLOP/s), load+instantiate %.1f ms\n", m, n, k, run_ms,
                2.0 * m * n * k / (run_ms * 1e6), load_ms);
    std::printf("max relative error vs double reference: %.3g\n", rel);
    std::printf("copies: %llu\n", static_cast<unsigned long long>(stats.copies));
    if (!(rel <= 1e-5)) {
      std::fprintf(stderr, "FAILED: result differs from the reference\n");
      return 1;
    }
    std::printf("OK\n");
    return 0;
  } catch (const zw::Error& e) {
    std::fprintf(stderr, "zerowasm error: %s\n", e.what());
    return 1;
  }
}
