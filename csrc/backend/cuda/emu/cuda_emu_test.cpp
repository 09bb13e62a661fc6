// End-to-end test of the CUDA backend without a GPU: the real backend (driver
// loading, device setup, executor, managed region, registration lifetime,
// launch geometry, parameter blocks) against fake_libcuda, which runs the real
// kernel sources on the CPU. Every op is checked against a float64 reference.
//
//   ZEROWASM_LIBCUDA=.../libzw_fake_cuda.so zw_cuda_emu_test ops
//   ZEROWASM_LIBCUDA=/nonexistent zw_cuda_emu_test missing
//   ZEROWASM_LIBCUDA=.../libzw_fake_cuda.so ZW_FAKE_CUDA_INIT_ERROR=100 zw_cuda_emu_test init-error
//   ZEROWASM_LIBCUDA=.../libzw_fake_cuda.so ZW_FAKE_CUDA_CC=75 zw_cuda_emu_test old-gpu
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cuda/cuda_debug.hpp"
#include "backend/cuda/cuda_executor.hpp"
#include "backend/cuda/cuda_managed_region.hpp"
#include "kernels/kernel_math.h"
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

// |got - ref| <= rtol * scale + atol elementwise (scale defaults to |ref|).
void expect_close(const char* what, const std::vector<float>& got, const std::vector<double>& ref,
                  double rtol = 1e-5, double atol = 1e-6, const std::vector<double>* scale = nullptr) {
  double worst = 0;
  size_t worst_i = 0, bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double s = scale ? (*scale)[i] : std::fabs(ref[i]);
    double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    double allowed = rtol * s + atol;
    if (!(err <= allowed)) ++bad;
    double excess = allowed > 0 ? err / allowed : (err == 0 ? 0.0 : INFINITY);
    if (!(excess <= worst)) worst = excess, worst_i = i;
  }
  EXPECT(bad == 0, "%s: %zu of %zu elements off; worst [%zu] got %.9g want %.9g", what, bad, ref.size(), worst_i,
         static_cast<double>(got[worst_i]), ref[worst_i]);
}

// ---- weights in every dtype, and their exact values ---------------------------------
struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<double> values;  // [rows, cols] dequantized
};

Weights make_weights(DType t, int rows, int cols) {
  Weights w;
  w.values.resize(static_cast<size_t>(rows) * cols);
  w.bytes.resize(row_bytes(t, cols) * rows);
  uint8_t* p = w.bytes.data();
  for (int r = 0; r < rows; ++r) {
    double* v = &w.values[static_cast<size_t>(r) * cols];
    if (t == DType::f32) {
      for (int c = 0; c < cols; ++c) {
        float x = uniform();
        std::memcpy(p, &x, 4), p += 4, v[c] = x;
      }
    } else if (t == DType::f16) {
      for (int c = 0; c < cols; ++c) {
        uint16_t h = zw_f32_to_f16(uniform());
        std::memcpy(p, &h, 2), p += 2, v[c] = zw_f16_to_f32(h);
      }
    } else if (t == DType::q8_0) {
      for (int b = 0; b < cols / 32; ++b) {
        uint16_t d = zw_f32_to_f16(uniform(-0.02f, 0.02f));
        std::memcpy(p, &d, 2);
        for (int j = 0; j < 32; ++j) {
          int8_t q = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
          p[2 + j] = static_cast<uint8_t>(q);
          v[b * 32 + j] = static_cast<double>(zw_f16_to_f32(d)) * q;
        }
        p += 34;
      }
    } else {
      for (int b = 0; b < cols / 32; ++b) {
        uint16_t d = zw_f32_to_f16(uniform(0.0f, 0.1f)), m = zw_f32_to_f16(uniform(-0.8f, 0.0f));
        std::memcpy(p, &d, 2), std::memcpy(p + 2, &m, 2);
        for (int j = 0; j < 16; ++j) {
          int lo = std::uniform_int_distribution<int>(0, 15)(rng), hi = std::uniform_int_distribution<int>(0, 15)(rng);
          p[4 + j] = static_cast<uint8_t>(lo | (hi << 4));
          v[b * 32 + j] = static_cast<double>(zw_f16_to_f32(d)) * lo + zw_f16_to_f32(m);
          v[b * 32 + j + 16] = static_cast<double>(zw_f16_to_f32(d)) * hi + zw_f16_to_f32(m);
        }
        p += 20;
      }
    }
  }
  return w;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::q8_0: return "q8_0";
    case DType::q4_1: return "q4_1";
  }
  return "?";
}

// ---- op checks ------------------------------------------------------------------------
void test_matmul(Arena& a) {
  struct Shape { int m, n, k; };
  const Shape shapes[] = {{1, 1, 32}, {1, 33, 64}, {3, 17, 96}, {8, 40, 32}, {9, 5, 64}, {70, 65, 96}, {130, 129, 64}};
  for (DType t : {DType::f32, DType::f16, DType::q8_0, DType::q4_1})
    for (const Shape& s : shapes)
      for (bool acc : {false, true}) {
        const int k = (t == DType::f32 || t == DType::f16) && s.k == 96 ? 37 : s.k;  // odd k where allowed
        std::vector<float> av = random_vec(static_cast<size_t>(s.m) * k);
        Weights w = make_weights(t, s.n, k);
        std::vector<float> c0 = random_vec(static_cast<size_t>(s.m) * s.n);
        Offset ao = a.put(av), bo = a.put_bytes(w.bytes), co = a.put(c0);
        a.exec->run(MatmulArgs{{ao, av.size() * 4}, {bo, w.bytes.size()}, {co, c0.size() * 4}, s.m, s.n, k, t,
                               w.bytes.size() / s.n, acc});
        a.exec->sync();
        std::vector<double> ref(c0.size()), scale(c0.size());
        for (int i = 0; i < s.m; ++i)
          for (int j = 0; j < s.n; ++j) {
            double sum = acc ? c0[static_cast<size_t>(i) * s.n + j] : 0.0, mag = std::fabs(sum);
            for (int kk = 0; kk < k; ++kk) {
              double p = av[static_cast<size_t>(i) * k + kk] * w.values[static_cast<size_t>(j) * k + kk];
              sum += p, mag += std::fabs(p);
            }
            ref[static_cast<size_t>(i) * s.n + j] = sum, scale[static_cast<size_t>(i) * s.n + j] = mag;
          }
        char what[96];
        std::snprintf(what, sizeof what, "matmul %s m=%d n=%d k=%d acc=%d", dtype_name(t), s.m, s.n, k, acc);
        expect_close(what, a.get(co, c0.size()), ref, 1e-5, 1e-6, &scale);
      }
}

void test_elementwise(Arena& a) {
  for (Elementwise op : {Elementwise::add, Elementwise::mul, Elementwise::scale, Elementwise::gelu, Elementwise::silu})
    for (int n : {1, 7, 1000, 4099})
      for (size_t misalign : {size_t{0}, size_t{4}})  // 16-byte aligned (float4 path) or not
        for (int alias : {0, 1, 2}) {                  // out separate, out == a, out == b
          const bool binary = op == Elementwise::add || op == Elementwise::mul;
          if (alias == 2 && !binary) continue;
          std::vector<float> av = random_vec(n, -6.0f, 6.0f), bv = random_vec(n, -6.0f, 6.0f);
          Offset ao = a.put(av, misalign), bo = a.put(bv, misalign);
          Offset out = alias == 1 ? ao : alias == 2 ? bo : a.alloc(static_cast<size_t>(n) * 4, 64, misalign);
          const float s = 0.37f;
          const uint64_t bytes = uint64_t(n) * 4;
          a.exec->run(ElementwiseArgs{op, {ao, bytes}, {binary ? bo : ao, bytes}, {out, bytes}, n, s});
          a.exec->sync();
          std::vector<double> ref(n);
          for (int i = 0; i < n; ++i) {
            double x = av[i], y = bv[i];
            switch (op) {
              case Elementwise::add: ref[i] = static_cast<float>(x + y); break;
              case Elementwise::mul: ref[i] = static_cast<float>(x * y); break;
              case Elementwise::scale: ref[i] = static_cast<float>(s * x); break;
              case Elementwise::gelu: ref[i] = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); break;
              case Elementwise::silu: ref[i] = x / (1.0 + std::exp(-x)); break;
            }
          }
          char what[96];
          std::snprintf(what, sizeof what, "elementwise op=%d n=%d misalign=%zu alias=%d", static_cast<int>(op), n,
                        misalign, alias);
          expect_close(what, a.get(out, n), ref, 2e-6, 1e-6);
        }
}

void test_norms(Arena& a) {
  for (bool rms : {false, true})
    for (int cols : {1, 7, 384, 1000, 5000})
      for (bool alias : {false, true}) {
        const int rows = 3;
        std::vector<float> x = random_vec(static_cast<size_t>(rows) * cols, -2.0f, 3.0f);
        std::vector<float> g = random_vec(cols), b = random_vec(cols);
        Offset xo = a.put(x), go = a.put(g), bo = a.put(b);
        Offset out = alias ? xo : a.alloc(x.size() * 4);
        const float eps = 1e-5f;
        const uint64_t row = uint64_t(cols) * 4;
        a.exec->run(NormArgs{rms, {xo, x.size() * 4}, {go, row}, rms ? Operand{} : Operand{bo, row},
                             {out, x.size() * 4}, rows, cols, eps});
        a.exec->sync();
        std::vector<double> ref(x.size());
        for (int r = 0; r < rows; ++r) {
          const float* xr = &x[static_cast<size_t>(r) * cols];
          double mean = 0, var = 0;
          if (!rms) {
            for (int c = 0; c < cols; ++c) mean += xr[c];
            mean /= cols;
          }
          for (int c = 0; c < cols; ++c) var += (xr[c] - mean) * (xr[c] - mean);
          double inv = 1.0 / std::sqrt(var / cols + eps);
          for (int c = 0; c < cols; ++c)
            ref[static_cast<size_t>(r) * cols + c] = (xr[c] - mean) * inv * g[c] + (rms ? 0.0 : b[c]);
        }
        char what[64];
        std::snprintf(what, sizeof what, "%s cols=%d alias=%d", rms ? "rmsnorm" : "layernorm", cols, alias);
        expect_close(what, a.get(out, x.size()), ref, 1e-5, 1e-5);
      }
}

void test_softmax(Arena& a) {
  struct Case { int rows, cols; float scale; bool causal; };
  const Case cases[] = {{1, 1, 1.0f, false}, {5, 7, 0.5f, false}, {5, 7, 1.0f, true},   {7, 5, 2.0f, true},
                        {3, 1500, -1.5f, false}, {4, 3000, 0.125f, true}, {2, 49, 1.0f, false}};
  for (const Case& cs : cases)
    for (bool alias : {false, true}) {
      std::vector<float> x = random_vec(static_cast<size_t>(cs.rows) * cs.cols, -4.0f, 4.0f);
      Offset xo = a.put(x);
      Offset out = alias ? xo : a.alloc(x.size() * 4);
      a.exec->run(SoftmaxArgs{{xo, x.size() * 4}, {out, x.size() * 4}, cs.rows, cs.cols, cs.scale, cs.causal});
      a.exec->sync();
      std::vector<double> ref(x.size(), 0.0);
      for (int r = 0; r < cs.rows; ++r) {
        long kept = cs.causal ? std::clamp<long>(r + cs.cols - cs.rows + 1, 0, cs.cols) : cs.cols;
        double mx = -INFINITY, sum = 0;
        for (long c = 0; c < kept; ++c) mx = std::max(mx, double(cs.scale) * x[static_cast<size_t>(r) * cs.cols + c]);
        for (long c = 0; c < kept; ++c) sum += std::exp(double(cs.scale) * x[static_cast<size_t>(r) * cs.cols + c] - mx);
        for (long c = 0; c < kept; ++c)
          ref[static_cast<size_t>(r) * cs.cols + c] =
              std::exp(double(cs.scale) * x[static_cast<size_t>(r) * cs.cols + c] - mx) / sum;
      }
      char what[80];
      std::snprintf(what, sizeof what, "softmax %dx%d scale=%g causal=%d alias=%d", cs.rows, cs.cols, cs.scale,
                    cs.causal, alias);
      expect_close(what, a.get(out, x.size()), ref, 1e-5, 1e-7);
    }
}

void test_rope(Arena& a) {
  for (bool adjacent : {false, true})
    for (int head_dim : {2, 8, 64})
      for (int pos0 : {0, 1000, 100000})
        for (bool alias : {false, true}) {
          const int rows = 3, heads = 2;
          const float theta = 10000.0f;
          std::vector<float> x = random_vec(static_cast<size_t>(rows) * heads * head_dim);
          Offset xo = a.put(x);
          Offset out = alias ? xo : a.alloc(x.size() * 4);
          a.exec->run(RopeArgs{{xo, x.size() * 4}, {out, x.size() * 4}, rows, heads, head_dim, pos0, theta, adjacent});
          a.exec->sync();
          std::vector<double> ref(x.size()), scale(x.size());
          const int half = head_dim / 2;
          for (int r = 0; r < rows; ++r)
            for (int h = 0; h < heads; ++h)
              for (int i = 0; i < half; ++i) {
                size_t base = (static_cast<size_t>(r) * heads + h) * head_dim;
                size_t f = base + (adjacent ? 2 * i : i), s = base + (adjacent ? 2 * i + 1 : i + half);
                double ang = static_cast<double>(pos0 + r) * std::pow(double(theta), -2.0 * i / head_dim);
                double x0 = x[f], x1 = x[s];
                ref[f] = x0 * std::cos(ang) - x1 * std::sin(ang);
                ref[s] = x0 * std::sin(ang) + x1 * std::cos(ang);
                scale[f] = scale[s] = std::fabs(x0) + std::fabs(x1);
              }
          char what[80];
          std::snprintf(what, sizeof what, "rope hd=%d pos0=%d adjacent=%d alias=%d", head_dim, pos0, adjacent, alias);
          expect_close(what, a.get(out, x.size()), ref, 1e-6, 1e-7, &scale);
        }
}

void test_attention(Arena& a) {
  struct Case { int seq_q, seq_kv, heads, kv_heads, head_dim; bool causal; };
  const Case cases[] = {{1, 1, 1, 1, 8, false},   {5, 7, 4, 2, 16, true},  {5, 7, 4, 4, 16, false},
                        {7, 3, 2, 1, 8, true},    {1, 1500, 3, 1, 16, false}, {4, 2100, 2, 2, 64, true},
                        {3, 5, 2, 1, 100, true},  {2, 40, 1, 1, 3000, false}};
  for (const Case& cs : cases) {
    const int hd = cs.head_dim;
    std::vector<float> q = random_vec(static_cast<size_t>(cs.seq_q) * cs.heads * hd);
    std::vector<float> k = random_vec(static_cast<size_t>(cs.seq_kv) * cs.kv_heads * hd);
    std::vector<float> v = random_vec(k.size());
    Offset qo = a.put(q), ko = a.put(k), vo = a.put(v), out = a.alloc(q.size() * 4);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd)) * 2.0f;
    a.exec->run(AttentionArgs{{qo, q.size() * 4}, {ko, k.size() * 4}, {vo, v.size() * 4}, {out, q.size() * 4},
                              cs.seq_q, cs.seq_kv, cs.heads, cs.kv_heads, hd, scale, cs.causal});
    a.exec->sync();
    std::vector<double> ref(q.size(), 0.0);
    const int group = cs.heads / cs.kv_heads;
    for (int i = 0; i < cs.seq_q; ++i)
      for (int h = 0; h < cs.heads; ++h) {
        long visible = cs.causal ? std::clamp<long>(i + cs.seq_kv - cs.seq_q + 1, 0, cs.seq_kv) : cs.seq_kv;
        if (visible == 0) continue;
        const float* qi = &q[(static_cast<size_t>(i) * cs.heads + h) * hd];
        std::vector<double> s(visible);
        double mx = -INFINITY, sum = 0;
        for (long j = 0; j < visible; ++j) {
          const float* kj = &k[(static_cast<size_t>(j) * cs.kv_heads + h / group) * hd];
          double d = 0;
          for (int e = 0; e < hd; ++e) d += double(qi[e]) * kj[e];
          s[j] = scale * d, mx = std::max(mx, s[j]);
        }
        for (long j = 0; j < visible; ++j) s[j] = std::exp(s[j] - mx), sum += s[j];
        for (long j = 0; j < visible; ++j) {
          const float* vj = &v[(static_cast<size_t>(j) * cs.kv_heads + h / group) * hd];
          for (int e = 0; e < hd; ++e) ref[(static_cast<size_t>(i) * cs.heads + h) * hd + e] += s[j] / sum * vj[e];
        }
      }
    char what[96];
    std::snprintf(what, sizeof what, "attention q=%d kv=%d h=%d kvh=%d hd=%d causal=%d", cs.seq_q, cs.seq_kv, cs.heads,
                  cs.kv_heads, hd, cs.causal);
    expect_close(what, a.get(out, q.size()), ref, 1e-5, 2e-6);
  }
}

void test_gather(Arena& a) {
  for (DType t : {DType::f32, DType::f16, DType::q8_0, DType::q4_1}) {
    const int rows = 10, dim = 64, n = 6;
    Weights w = make_weights(t, rows, dim);
    std::vector<int32_t> ids = {3, 0, 9, 3, 5, 7};
    Offset to = a.put_bytes(w.bytes);
    Offset io = a.alloc(ids.size() * 4);
    std::memcpy(a.memory->base() + io, ids.data(), ids.size() * 4);
    Offset out = a.alloc(static_cast<size_t>(n) * dim * 4);
    const Operand table{to, w.bytes.size()}, ids_op{io, ids.size() * 4}, out_op{out, uint64_t(n) * dim * 4};
    a.exec->run(GatherArgs{table, rows, ids_op, out_op, n, dim, t, w.bytes.size() / rows});
    a.exec->sync();
    std::vector<double> ref(static_cast<size_t>(n) * dim);
    for (int i = 0; i < n; ++i)
      for (int e = 0; e < dim; ++e) ref[static_cast<size_t>(i) * dim + e] = w.values[static_cast<size_t>(ids[i]) * dim + e];
    std::string what = std::string("gather ") + dtype_name(t);
    expect_close(what.c_str(), a.get(out, ref.size()), ref, 0.0, 0.0);

    // An id the guest rewrote after validation (out of range) reads nothing: zeros.
    int32_t bad[2] = {rows + 1000000, -5};
    std::memcpy(a.memory->base() + io, bad, sizeof bad);
    a.exec->run(GatherArgs{table, rows, {io, 8}, {out, uint64_t(2) * dim * 4}, 2, dim, t, w.bytes.size() / rows});
    a.exec->sync();
    std::vector<double> zeros(2 * dim, 0.0);
    expect_close((what + " rewritten ids").c_str(), a.get(out, zeros.size()), zeros, 0.0, 0.0);
  }
}

void run_all_ops(Arena& a) {
  test_elementwise(a);
  test_norms(a);
  test_softmax(a);
  test_rope(a);
  test_attention(a);
  test_gather(a);
  test_matmul(a);
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
  run_all_ops(a);

  // Growth registers exactly the new range, before anything can use it.
  a.memory->grow_to(48 * mib);
  EXPECT(fake_get("registered_bytes") - registered_before == int64_t(48 * mib), "after grow %lld",
         (long long)(fake_get("registered_bytes") - registered_before));
  a.cursor = 40 * mib;
  std::vector<float> x = random_vec(1000), y = random_vec(1000);
  Offset xo = a.put(x), yo = a.put(y);
  a.exec->run(ElementwiseArgs{Elementwise::add, {xo, 4000}, {yo, 4000}, {xo, 4000}, 1000, 0.0f});
  a.exec->sync();
  std::vector<double> ref(1000);
  for (int i = 0; i < 1000; ++i) ref[i] = static_cast<float>(double(x[i]) + y[i]);
  expect_close("add in grown memory", a.get(xo, 1000), ref, 0, 0);

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
  run_all_ops(a);

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
  std::string mode = argc > 1 ? argv[1] : "ops";
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
  } else if (mode == "ops") {
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
