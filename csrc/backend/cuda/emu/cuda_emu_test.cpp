// The CUDA backend's driver side without a GPU (CTest `cuda_emu_*`): the real
// backend (driver loading, device setup, executor, managed region,
// registration lifetime) against fake_libcuda, for what only the driver's side
// shows: registration and growth and their failures, launch and sync errors,
// teardown in either order, managed memory, a missing or unusable driver.
//
// Op results are checked elsewhere: tests/test_op_suites.py runs the op suite
// (tests/test_ops.py, against numpy float64) on this same fake driver.
//
//   ZEROWASM_LIBCUDA=.../libzw_fake_cuda.so zw_cuda_emu_test driver
//   ZEROWASM_LIBCUDA=/nonexistent zw_cuda_emu_test missing
//   ZEROWASM_LIBCUDA=.../libzw_fake_cuda.so ZW_FAKE_CUDA_INIT_ERROR=100 zw_cuda_emu_test init-error
//   ZEROWASM_LIBCUDA=.../libzw_fake_cuda.so ZW_FAKE_CUDA_CC=75 zw_cuda_emu_test old-gpu
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cuda/cuda_debug.hpp"
#include "backend/cuda/cuda_executor.hpp"
#include "backend/cuda/cuda_managed_region.hpp"
#include "zerowasm/error.hpp"

namespace {

using namespace zw;

int failures = 0;
int checks = 0;

#define EXPECT(cond, ...)                                          \
  do {                                                             \
    ++checks;                                                      \
    if (!(cond)) {                                                 \
      ++failures;                                                  \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                    \
      std::printf("\n");                                           \
    }                                                              \
  } while (0)

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// fake_libcuda's test controls.
int64_t fake_get(const char* name) {
  static auto fn = reinterpret_cast<int64_t (*)(const char*)>(
      dlsym(dlopen(std::getenv("ZEROWASM_LIBCUDA"), RTLD_NOW | RTLD_NOLOAD), "zw_fake_cuda_get"));
  return fn ? fn(name) : -1;
}
void fake_set(const char* name, int64_t v) {
  static auto fn = reinterpret_cast<void (*)(const char*, int64_t)>(
      dlsym(dlopen(std::getenv("ZEROWASM_LIBCUDA"), RTLD_NOW | RTLD_NOLOAD), "zw_fake_cuda_set"));
  if (fn) fn(name, v);
}

std::mt19937 rng(1234);
float uniform(float lo = -1.0f, float hi = 1.0f) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

// An instance's memory and executor, with a bump allocator for test tensors.
struct Arena {
  std::unique_ptr<LinearMemory> memory;
  std::unique_ptr<Executor> exec;
  size_t cursor = 64;  // offset 0 stays unused, like a guest's null page

  Offset alloc(size_t bytes, size_t align = 64, size_t misalign = 0) {
    cursor = (cursor + align - 1) / align * align + misalign;
    Offset off = cursor;
    cursor += bytes;
    if (cursor > memory->committed()) throw Error("test arena exhausted");
    return off;
  }
  float* f(Offset off) const { return reinterpret_cast<float*>(memory->base() + off); }
  Offset put(const std::vector<float>& v, size_t misalign = 0) {
    Offset off = alloc(v.size() * 4, 64, misalign);
    std::memcpy(f(off), v.data(), v.size() * 4);
    return off;
  }
  Offset put_bytes(const std::vector<uint8_t>& v) {
    Offset off = alloc(v.size(), 64);
    std::memcpy(memory->base() + off, v.data(), v.size());
    return off;
  }
  std::vector<float> get(Offset off, size_t n) const { return std::vector<float>(f(off), f(off) + n); }
};

std::vector<float> random_vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = uniform(lo, hi);
  return v;
}

// An op that ran touched the right bytes: out[i] == a[i] + b[i], exactly (one f32 add).
void expect_sum(const char* what, const std::vector<float>& got, const std::vector<float>& a,
                const std::vector<float>& b) {
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) bad += got[i] != a[i] + b[i];
  EXPECT(bad == 0, "%s: %zu of %zu elements differ from a + b", what, bad, got.size());
}

// Ids the guest rewrote after validation (out of range) read nothing: zeros.
void test_gather_rewritten_ids(Arena& a) {
  const int rows = 10, dim = 64;
  std::vector<float> table = random_vec(static_cast<size_t>(rows) * dim);
  Offset to = a.put(table);
  int32_t bad[3] = {rows + 1000000, -5, rows};
  Offset io = a.alloc(sizeof bad);
  std::memcpy(a.memory->base() + io, bad, sizeof bad);
  Offset out = a.put(std::vector<float>(3 * dim, 7.0f));
  a.exec->run(GatherArgs{{to, table.size() * 4}, rows, {io, sizeof bad}, {out, 3 * dim * 4}, 3, dim, DType::f32, dim * 4});
  a.exec->sync();
  std::vector<float> got = a.get(out, 3 * dim);
  EXPECT(std::all_of(got.begin(), got.end(), [](float v) { return v == 0.0f; }), "rewritten gather ids read data");
}

std::shared_ptr<Backend> backend_or_die() {
  std::string why;
  std::shared_ptr<Backend> b = make_cuda_backend(why);
  if (!b) {
    std::printf("FAIL: make_cuda_backend: %s\n", why.c_str());
    std::exit(1);
  }
  return b;
}

void test_host_mode(const std::shared_ptr<Backend>& backend) {
  const size_t mib = 1 << 20;
  const int64_t registered_before = fake_get("registered_bytes");
  Arena a;
  a.memory = std::make_unique<LinearMemory>(make_host_region(256 * mib), 16 * mib, 256 * mib);
  a.exec = backend->make_executor(*a.memory);
  EXPECT(fake_get("registered_bytes") - registered_before == int64_t(16 * mib), "registered %lld",
         (long long)(fake_get("registered_bytes") - registered_before));
  EXPECT(a.exec->device_address(123) == reinterpret_cast<uintptr_t>(a.memory->base()) + 123, "device address");
  EXPECT(a.exec->copies() == 0, "copies");
  test_gather_rewritten_ids(a);

  // Growth registers exactly the new range, before anything can use it.
  a.memory->grow_to(48 * mib);
  EXPECT(fake_get("registered_bytes") - registered_before == int64_t(48 * mib), "after grow %lld",
         (long long)(fake_get("registered_bytes") - registered_before));
  a.cursor = 40 * mib;
  std::vector<float> x = random_vec(1000), y = random_vec(1000);
  Offset xo = a.put(x), yo = a.put(y);
  a.exec->run(ElementwiseArgs{Elementwise::add, {xo, 4000}, {yo, 4000}, {xo, 4000}, 1000, 0.0f});
  a.exec->sync();
  expect_sum("add in grown memory", a.get(xo, 1000), x, y);

  // Hints are no-ops on registered host memory.
  const int64_t prefetches = fake_get("prefetch_device");
  a.exec->run(HintArgs{Hint::prefetch_device, {0, 4096}});
  EXPECT(fake_get("prefetch_device") == prefetches, "host-mode prefetch reached the driver");

  // An asynchronous failure surfaces at sync with the CUDA error and the op.
  fake_set("fail_next_sync", 700);
  a.exec->run(ElementwiseArgs{Elementwise::scale, {xo, 40}, {xo, 40}, {xo, 40}, 10, 2.0f});
  try {
    a.exec->sync();
    EXPECT(false, "sync did not throw");
  } catch (const Error& e) {
    EXPECT(contains(e.what(), "CUDA_ERROR_ILLEGAL_ADDRESS") && contains(e.what(), "zw.scale") &&
               contains(e.what(), "restart the process"),
           "sync error: %s", e.what());
  }
  // A launch failure throws from run() naming the op and the kernel.
  fake_set("fail_next_launch", 701);
  try {
    a.exec->run(SoftmaxArgs{{xo, 40}, {xo, 40}, 1, 10, 1.0f, false});
    EXPECT(false, "run did not throw");
  } catch (const Error& e) {
    EXPECT(contains(e.what(), "zw.softmax") && contains(e.what(), "zw_softmax") &&
               contains(e.what(), "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
           "launch error: %s", e.what());
  }

  // Teardown in the runtime's order: the memory goes first (on_release syncs
  // and unregisters), then the executor.
  a.memory.reset();
  EXPECT(fake_get("registered_bytes") == registered_before, "left registered after release: %lld",
         (long long)(fake_get("registered_bytes") - registered_before));
  a.exec.reset();

  // And the other order: executor first (it unregisters via remove_listener).
  {
    auto mem = std::make_unique<LinearMemory>(make_host_region(8 * mib), 1 * mib, 8 * mib);
    auto exec = backend->make_executor(*mem);
    EXPECT(fake_get("registered_bytes") - registered_before == int64_t(mib), "second instance");
    exec.reset();
    EXPECT(fake_get("registered_bytes") == registered_before, "executor-first teardown left registrations");
  }
  // Zero-size memory at creation registers nothing until it grows.
  {
    auto mem = std::make_unique<LinearMemory>(make_host_region(8 * mib), 0, 8 * mib);
    auto exec = backend->make_executor(*mem);
    EXPECT(fake_get("registered_bytes") == registered_before, "empty memory registered something");
    mem->grow_to(2 * mib);
    EXPECT(fake_get("registered_bytes") - registered_before == int64_t(2 * mib), "empty memory grown");
  }
  EXPECT(fake_get("registered_bytes") == registered_before, "leak after scoped instance");

  // Registration failing at creation: a clear error, no listener left behind.
  {
    auto mem = std::make_unique<LinearMemory>(make_host_region(8 * mib), 1 * mib, 8 * mib);
    fake_set("fail_next_register", 2);
    try {
      backend->make_executor(*mem);
      EXPECT(false, "make_executor succeeded although registration failed");
    } catch (const Error& e) {
      EXPECT(contains(e.what(), "cuMemHostRegister failed") && contains(e.what(), "CUDA_ERROR_OUT_OF_MEMORY"),
             "%s", e.what());
    }
    mem->grow_to(2 * mib);  // would call into a dead listener if one were left
    mem.reset();
  }
  // Registration failing on growth: the grow fails and the memory keeps its
  // old size; ops on it still run, and a later grow can succeed.
  {
    auto mem = std::make_unique<LinearMemory>(make_host_region(8 * mib), 1 * mib, 8 * mib);
    auto exec = backend->make_executor(*mem);
    fake_set("fail_next_register", 2);
    try {
      mem->grow_to(4 * mib);
      EXPECT(false, "grow succeeded although registration failed");
    } catch (const Error& e) {
      EXPECT(contains(e.what(), "registering linear memory"), "%s", e.what());
    }
    EXPECT(mem->committed() == 1 * mib, "size after a failed grow: %zu", mem->committed());
    float* f = reinterpret_cast<float*>(mem->base());
    for (int i = 0; i < 8; ++i) f[i] = float(i);
    exec->run(ElementwiseArgs{Elementwise::add, {0, 32}, {0, 32}, {64, 32}, 8, 0.0f});
    exec->sync();
    EXPECT(f[16 + 7] == 14.0f, "op after a failed grow: %g", double(f[16 + 7]));
    mem->grow_to(4 * mib);  // registration works again
    EXPECT(mem->committed() == 4 * mib, "size after the retried grow: %zu", mem->committed());
    uint32_t hi = 3 * mib;
    float* g = reinterpret_cast<float*>(mem->base() + hi);
    for (int i = 0; i < 8; ++i) g[i] = float(2 * i);
    exec->run(ElementwiseArgs{Elementwise::add, {hi, 32}, {hi, 32}, {hi + 64, 32}, 8, 0.0f});
    exec->sync();
    EXPECT(g[16 + 7] == 28.0f, "op on the retried growth: %g", double(g[16 + 7]));
  }
  EXPECT(fake_get("registered_bytes") == registered_before, "leak after failed registrations");
}

void test_managed_mode(const std::shared_ptr<Backend>& backend) {
  const size_t mib = 1 << 20;
  EXPECT(backend->supports(MemoryKind::managed), "managed unsupported");
  fake_set("free_bytes", int64_t(300 * mib) + 12345);
  std::unique_ptr<Region> region = backend->make_managed_region(1024 * mib);
  auto* managed = dynamic_cast<cuda::ManagedRegion*>(region.get());
  EXPECT(managed && region->reserved_bytes() == 300 * mib, "reservation %zu", region->reserved_bytes());
  EXPECT(managed && contains(managed->cap_note(), "capped"), "cap note: %s", managed ? managed->cap_note().c_str() : "");
  EXPECT(region->kind() == MemoryKind::managed, "kind");
  fake_set("free_bytes", 0);

  const int64_t registered_before = fake_get("registered_bytes");
  Arena a;
  a.memory = std::make_unique<LinearMemory>(std::move(region), 32 * mib, 300 * mib);
  // The fake fills fresh managed memory with 0xCD; committing must zero it.
  bool zero = true;
  for (size_t i = 0; i < 32 * mib; i += 4093) zero = zero && a.memory->base()[i] == 0;
  EXPECT(zero, "committed managed memory is not zero-filled");
  a.exec = backend->make_executor(*a.memory);
  EXPECT(fake_get("registered_bytes") == registered_before, "managed memory was host-registered");
  EXPECT(a.exec->device_address(77) == reinterpret_cast<uintptr_t>(a.memory->base()) + 77, "device address");
  test_gather_rewritten_ids(a);

  a.exec->run(HintArgs{Hint::prefetch_device, {100, 5000}});
  a.exec->run(HintArgs{Hint::prefetch_host, {65536 * 3 + 1, 1}});
  a.exec->run(HintArgs{Hint::read_mostly, {0, 32 * mib}});
  a.exec->run(HintArgs{Hint::prefetch_device, {0, 0}});  // len 0: nothing
  EXPECT(fake_get("prefetch_device") == 1 && fake_get("prefetch_host") == 1 && fake_get("advise") == 1,
         "hints: device %lld host %lld advise %lld", (long long)fake_get("prefetch_device"),
         (long long)fake_get("prefetch_host"), (long long)fake_get("advise"));
  a.memory->grow_to(300 * mib);
  try {
    a.memory->grow_to(301 * mib);
    EXPECT(false, "grew past the capped reservation");
  } catch (const Error&) {
  }
  const int64_t frees = fake_get("managed_frees");
  a.memory.reset();
  a.exec.reset();
  EXPECT(fake_get("managed_frees") == frees + 1, "managed region not freed");
}

void test_debug_entry_points() {
  double s = cuda_raw_launch_loop(20, 256);
  EXPECT(s > 0, "raw launch loop");
  double t = cuda_copy_path_add(2, 10000, false);
  double u = cuda_copy_path_add(2, 10000, true);
  EXPECT(t > 0 && u > 0, "copy path");
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "driver";
  std::string why;
  if (mode == "missing" || mode == "init-error" || mode == "old-gpu") {
    std::shared_ptr<Backend> b = make_cuda_backend(why);
    std::printf("why: %s\n", why.c_str());
    EXPECT(!b, "backend unexpectedly available");
    if (mode == "missing") EXPECT(contains(why, "not found") && contains(why, "libcuda"), "%s", why.c_str());
    if (mode == "init-error")
      EXPECT(why == "cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)", "%s", why.c_str());
    if (mode == "old-gpu") EXPECT(contains(why, "sm_75") && contains(why, "sm_80"), "%s", why.c_str());
    // The outcome is cached: asking again gives the same answer.
    std::string again;
    EXPECT(!make_cuda_backend(again) && again == why, "second probe differs: %s", again.c_str());
    try {
      cuda_raw_launch_loop(1, 1);
      EXPECT(false, "debug entry point ran without CUDA");
    } catch (const Error& e) {
      EXPECT(contains(e.what(), "CUDA is unavailable"), "%s", e.what());
    }
  } else if (mode == "driver") {
    std::shared_ptr<Backend> backend = backend_or_die();
    std::printf("device: %s\n", backend->device().c_str());
    test_host_mode(backend);
    test_managed_mode(backend);
    test_debug_entry_points();
  } else {
    std::printf("unknown mode %s\n", mode.c_str());
    return 2;
  }
  std::printf("%s: %d checks, %d failures\n", mode.c_str(), checks, failures);
  return failures == 0 ? 0 : 1;
}
