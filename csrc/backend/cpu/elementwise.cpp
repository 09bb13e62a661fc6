// Elementwise ops, row loading (f16/quantized -> f32) and gather.
//
// out may alias an input exactly (the ABI allows it): every loop reads
// element i before writing element i and never looks at other indices, so
// both the scalar and the vectorized forms stay correct under that aliasing.
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_util.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "kernels/kernel_math.h"

namespace zw::cpu {
namespace {

ZW_MULTIVERSION void add_loop(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
ZW_MULTIVERSION void mul_loop(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}
ZW_MULTIVERSION void scale_loop(const float* a, float* out, size_t n, float s) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] * s;
}
ZW_MULTIVERSION void gelu_loop(const float* a, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = zw_gelu(a[i]);
}
ZW_MULTIVERSION void silu_loop(const float* a, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = zw_silu(a[i]);
}
ZW_MULTIVERSION void gelu_tanh_loop(const float* a, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = zw_gelu_tanh(a[i]);
}
ZW_MULTIVERSION void to_f16_loop(const float* x, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    zw_u16 h = zw_f32_to_f16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);  // little-endian hosts only (as everywhere here)
  }
}

ZW_MULTIVERSION void f16_row(const uint8_t* src, float* out, int count) {
  for (int i = 0; i < count; ++i) out[i] = zw_f16_to_f32(zw_load_u16le(src + 2 * i));
}
ZW_MULTIVERSION void q8_0_row(const uint8_t* blk, float* out, int blocks) {
  for (int b = 0; b < blocks; ++b) zw_dequant_q8_0(blk + b * ZW_Q8_0_BYTES, out + b * ZW_QBLOCK);
}
ZW_MULTIVERSION void q4_1_row(const uint8_t* blk, float* out, int blocks) {
  for (int b = 0; b < blocks; ++b) zw_dequant_q4_1(blk + b * ZW_Q4_1_BYTES, out + b * ZW_QBLOCK);
}

// Any block type in 32-value chunks (K-quant super-blocks chunk by chunk).
template <int T>
ZW_MULTIVERSION void quant_row(const uint8_t* row, int first_chunk, float* out, int chunks) {
  for (int c = 0; c < chunks; ++c) zw_dequant_chunk(T, row, static_cast<zw_u32>(first_chunk + c), out + c * ZW_QBLOCK);
}

}  // namespace

void elementwise(Elementwise op, const float* a, const float* b, float* out, size_t n, float s) {
  // Memory-bound ops only pay for a thread hand-off on large arrays; the
  // transcendental ones are ~10x costlier per element and split earlier.
  bool heavy = op == Elementwise::gelu || op == Elementwise::silu || op == Elementwise::gelu_tanh;
  ThreadPool& pool = ThreadPool::instance();
  size_t grain = pool.grain_for(n, heavy ? 8192 : 65536, 1);
  pool.parallel_for(n, grain, [&](size_t begin, size_t end) {
    size_t len = end - begin;
    switch (op) {
      case Elementwise::add: add_loop(a + begin, b + begin, out + begin, len); break;
      case Elementwise::mul: mul_loop(a + begin, b + begin, out + begin, len); break;
      case Elementwise::scale: scale_loop(a + begin, out + begin, len, s); break;
      case Elementwise::gelu: gelu_loop(a + begin, out + begin, len); break;
      case Elementwise::silu: silu_loop(a + begin, out + begin, len); break;
      case Elementwise::gelu_tanh: gelu_tanh_loop(a + begin, out + begin, len); break;
      case Elementwise::to_f16: break;  // to_f16(): its output is not f32
    }
  });
}

void to_f16(const float* x, uint8_t* out, size_t n) {
  ThreadPool& pool = ThreadPool::instance();
  pool.parallel_for(n, pool.grain_for(n, 65536, 1), [&](size_t begin, size_t end) {
    to_f16_loop(x + begin, out + 2 * begin, end - begin);
  });
}

void load_row(const uint8_t* row, DType type, int first, int count, float* out) {
  switch (type) {
    case DType::f32:
      std::memcpy(out, row + static_cast<size_t>(first) * 4, static_cast<size_t>(count) * 4);
      return;
    case DType::f16:
      f16_row(row + static_cast<size_t>(first) * 2, out, count);
      return;
    case DType::q8_0:
      q8_0_row(row + static_cast<size_t>(first) / ZW_QBLOCK * ZW_Q8_0_BYTES, out, count / ZW_QBLOCK);
      return;
    case DType::q4_1:
      q4_1_row(row + static_cast<size_t>(first) / ZW_QBLOCK * ZW_Q4_1_BYTES, out, count / ZW_QBLOCK);
      return;
    // first and count are multiples of 32 (kc slices, whole rows), even for K-quants.
    case DType::q4_0: return quant_row<ZW_DTYPE_Q4_0>(row, first / ZW_QBLOCK, out, count / ZW_QBLOCK);
    case DType::q5_0: return quant_row<ZW_DTYPE_Q5_0>(row, first / ZW_QBLOCK, out, count / ZW_QBLOCK);
    case DType::q4_k: return quant_row<ZW_DTYPE_Q4_K>(row, first / ZW_QBLOCK, out, count / ZW_QBLOCK);
    case DType::q5_k: return quant_row<ZW_DTYPE_Q5_K>(row, first / ZW_QBLOCK, out, count / ZW_QBLOCK);
    case DType::q6_k: return quant_row<ZW_DTYPE_Q6_K>(row, first / ZW_QBLOCK, out, count / ZW_QBLOCK);
  }
}

void gather(const uint8_t* table, int rows, DType type, const int32_t* ids, float* out, int n,
            int dim) {
  size_t rb = row_bytes(type, static_cast<uint64_t>(dim));
  ThreadPool& pool = ThreadPool::instance();
  size_t min_rows = std::max<size_t>(1, 65536 / static_cast<size_t>(dim));
  pool.parallel_for(static_cast<size_t>(n), pool.grain_for(n, min_rows, 1),
                    [&](size_t begin, size_t end) {
                      for (size_t i = begin; i < end; ++i) {
                        int32_t id = ids[i];
                        float* row = out + i * static_cast<size_t>(dim);
                        if (id < 0 || id >= rows)
                          std::fill(row, row + dim, 0.0f);
                        else
                          load_row(table + static_cast<size_t>(id) * rb, type, 0, dim, row);
                      }
                    });
}

}  // namespace zw::cpu
