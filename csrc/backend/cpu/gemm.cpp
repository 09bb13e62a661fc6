// Matmul driver: picks the kernel set once, splits C into parallel tasks, and
// runs either the packed microkernel path or the row-dot path (small m).
// Also holds the portable (generic) kernels used when no SIMD set applies.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_util.hpp"
#include "backend/cpu/gemm_internal.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "kernels/kernel_math.h"

namespace zw::cpu {
namespace gemm {
namespace {

// ---- Generic kernels: plain loops with fixed trip counts that compilers
// vectorize (SLP) at -O2, on any ISA. ----

void micro_generic(int kc, const float* ap, const float* bp, float* c, size_t ldc, int mr, int nr,
                   bool accumulate) {
  float acc[MR][NR] = {};
  for (int p = 0; p < kc; ++p) {
    const float* bv = bp + static_cast<size_t>(p) * NR;
    for (int i = 0; i < MR; ++i) {
      float av = ap[static_cast<size_t>(p) * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < nr; ++j) row[j] = accumulate ? row[j] + acc[i][j] : acc[i][j];
  }
}

float dot_f32_generic(const float* a, const float* b, int k) { return dot_lanes8(a, b, k); }

float dot_row_generic(const float* a, const uint8_t* row, DType type, int k) {
  switch (type) {
    case DType::f32: {
      // f32 weights are 4-byte aligned (validated), so floats are read directly.
      return dot_f32_generic(a, reinterpret_cast<const float*>(row), k);
    }
    case DType::f16: {
      float s = 0.0f;
      for (int p = 0; p < k; ++p) s += a[p] * zw_f16_to_f32(zw_load_u16le(row + 2 * p));
      return s;
    }
    case DType::q8_0: {
      float s = 0.0f;
      for (int blk = 0; blk < k / ZW_QBLOCK; ++blk)
        s += zw_dot_q8_0(row + blk * ZW_Q8_0_BYTES, a + blk * ZW_QBLOCK);
      return s;
    }
    case DType::q4_1: {
      float s = 0.0f;
      for (int blk = 0; blk < k / ZW_QBLOCK; ++blk)
        s += zw_dot_q4_1(row + blk * ZW_Q4_1_BYTES, a + blk * ZW_QBLOCK);
      return s;
    }
    case DType::q4_0:
    case DType::q5_0:
    case DType::q4_k:
    case DType::q5_k:
    case DType::q6_k: {
      float s = 0.0f, w[ZW_QBLOCK];
      for (int c = 0; c < k / ZW_QBLOCK; ++c) {
        zw_dequant_chunk(static_cast<int>(type), row, static_cast<zw_u32>(c), w);
        s += dot_lanes8(a + c * ZW_QBLOCK, w, ZW_QBLOCK);
      }
      return s;
    }
  }
  return 0.0f;
}

void row_dots_generic(const float* a, size_t lda, int rows_a, const uint8_t* b, size_t row_bytes,
                      DType type, int rows_b, int k, float* c, size_t ldc, bool accumulate) {
  for (int i = 0; i < rows_a; ++i)
    for (int j = 0; j < rows_b; ++j) {
      float d = dot_row_generic(a + i * lda, b + j * row_bytes, type, k);
      float* out = c + i * ldc + j;
      *out = accumulate ? *out + d : d;
    }
}

void pack_b_generic(const uint8_t* b, size_t row_bytes, DType type, int nb, int p0, int kc,
                    float* out) {
  float tmp[KC];
  for (int s = 0; s < nb; s += NR) {
    int nr = std::min(NR, nb - s);
    for (int j = 0; j < NR; ++j) {
      if (j < nr) {
        load_row(b + (s + j) * row_bytes, type, p0, kc, tmp);
        for (int p = 0; p < kc; ++p) out[p * NR + j] = tmp[p];
      } else {
        for (int p = 0; p < kc; ++p) out[p * NR + j] = 0.0f;
      }
    }
    out += static_cast<size_t>(kc) * NR;
  }
}

}  // namespace

const Kernels& generic_kernels() {
  static const Kernels k{micro_generic,    row_dots_generic,          pack_b_generic,
                         key_dots_generic, add_weighted_rows_generic, "generic"};
  return k;
}

const Kernels& active_kernels() {
  static const Kernels& k = [] () -> const Kernels& {
    const char* force = std::getenv("ZEROWASM_CPU_ISA");  // "generic" to test the fallback
    if (force && std::strcmp(force, "generic") == 0) return generic_kernels();
    const Kernels* avx2 = avx2_kernels();
    return avx2 ? *avx2 : generic_kernels();
  }();
  return k;
}

}  // namespace gemm

namespace {
using namespace gemm;

struct PackedA;  // scratch slots
struct PackedB;

void pack_a(const float* a, size_t lda, int mb, int p0, int kc, float* out) {
  for (int s = 0; s < mb; s += MR) {
    int mr = std::min(MR, mb - s);
    const float* rows = a + static_cast<size_t>(s) * lda + p0;
    for (int p = 0; p < kc; ++p) {
      for (int i = 0; i < mr; ++i) out[p * MR + i] = rows[i * lda + p];
      for (int i = mr; i < MR; ++i) out[p * MR + i] = 0.0f;
    }
    out += static_cast<size_t>(kc) * MR;
  }
}

struct Problem {
  const float* a;
  const uint8_t* b;
  size_t row_bytes;
  DType type;
  float* c;
  int m, n, k;
  bool accumulate;
};

// C[m0:m1, n0:n1] with packing, k in KC slices.
void packed_task(const Problem& pr, const Kernels& kern, int m0, int m1, int n0, int n1) {
  int nb = n1 - n0;
  int nstrips = (nb + NR - 1) / NR;
  float* bp = scratch_floats<PackedB>(static_cast<size_t>(KC) * nstrips * NR);
  float* ap = scratch_floats<PackedA>(static_cast<size_t>(KC) * MC);
  // Equal k slices (a 384-deep k runs as 2 x 192, not 256 + 128), multiples
  // of 32 so quantized blocks never straddle a slice.
  int slices = (pr.k + KC - 1) / KC;
  int kc_step = ((pr.k + slices - 1) / slices + 31) / 32 * 32;
  for (int p0 = 0; p0 < pr.k; p0 += kc_step) {
    int kc = std::min(kc_step, pr.k - p0);
    bool acc = pr.accumulate || p0 > 0;
    kern.pack_b(pr.b + n0 * pr.row_bytes, pr.row_bytes, pr.type, nb, p0, kc, bp);
    for (int i0 = m0; i0 < m1; i0 += MC) {
      int mb = std::min(MC, m1 - i0);
      pack_a(pr.a + static_cast<size_t>(i0) * pr.k, pr.k, mb, p0, kc, ap);
      for (int js = 0; js < nstrips; ++js) {
        int nr = std::min(NR, nb - js * NR);
        const float* bstrip = bp + static_cast<size_t>(js) * kc * NR;
        for (int is = 0; is * MR < mb; ++is) {
          int mr = std::min(MR, mb - is * MR);
          float* ctile = pr.c + static_cast<size_t>(i0 + is * MR) * pr.n + n0 + js * NR;
          kern.micro(kc, ap + static_cast<size_t>(is) * kc * MR, bstrip, ctile, pr.n, mr, nr, acc);
        }
      }
    }
  }
}

// Splits C into tiles_m x tiles_n equal tasks. Splitting n makes every part
// re-pack A (m x k); splitting m re-packs B (n x k): cut the longer side.
// The count is a multiple of the thread count (or large) so no thread idles
// on a leftover tile.
void matmul_packed(const Problem& pr, const Kernels& kern) {
  ThreadPool& pool = ThreadPool::instance();
  constexpr int kMaxTileN = 1024, kMinTileN = 4 * NR, kMinTileM = 4 * MR;
  int threads = pool.size();
  int parts_n = (pr.n + kMaxTileN - 1) / kMaxTileN, parts_m = 1;
  bool parallel = 2.0 * pr.m * pr.n * pr.k >= 2e6;  // below: ~20 us, not worth a hand-off
  auto can_n = [&] { return pr.n / (parts_n + 1) >= kMinTileN; };
  auto can_m = [&] { return pr.m / (parts_m + 1) >= kMinTileM; };
  while (parallel) {
    int total = parts_n * parts_m;
    if (total >= threads && (total % threads == 0 || total >= 4 * threads)) break;
    bool prefer_n = pr.n / parts_n >= pr.m / parts_m;
    if (prefer_n ? can_n() : !can_m() && can_n())
      ++parts_n;
    else if (can_m())
      ++parts_m;
    else
      break;
  }
  int tile_n = ((pr.n + parts_n - 1) / parts_n + NR - 1) / NR * NR;
  int tile_m = ((pr.m + parts_m - 1) / parts_m + MR - 1) / MR * MR;
  int tiles_m = (pr.m + tile_m - 1) / tile_m;
  int tiles_n = (pr.n + tile_n - 1) / tile_n;
  size_t tiles = static_cast<size_t>(tiles_m) * tiles_n;
  pool.parallel_for(tiles, parallel ? 1 : tiles, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      int m0 = static_cast<int>(t / tiles_n) * tile_m, n0 = static_cast<int>(t % tiles_n) * tile_n;
      packed_task(pr, kern, m0, std::min(pr.m, m0 + tile_m), n0, std::min(pr.n, n0 + tile_n));
    }
  });
}

// Few rows of A: B streams once per group of kRowDotsMaxA rows straight from
// guest memory (dequantized in registers), which beats packing when m is tiny.
void matmul_row_dots(const Problem& pr, const Kernels& kern) {
  ThreadPool& pool = ThreadPool::instance();
  size_t macs_per_row = static_cast<size_t>(pr.k) * pr.m;
  size_t min_rows = std::max<size_t>(16, (size_t{1} << 17) / std::max<size_t>(macs_per_row, 1));
  size_t grain = pool.grain_for(pr.n, min_rows, 2);
  pool.parallel_for(pr.n, grain, [&](size_t begin, size_t end) {
    for (int i = 0; i < pr.m; i += kRowDotsMaxA)
      kern.row_dots(pr.a + static_cast<size_t>(i) * pr.k, pr.k, std::min(kRowDotsMaxA, pr.m - i),
                    pr.b + begin * pr.row_bytes, pr.row_bytes, pr.type, static_cast<int>(end - begin),
                    pr.k, pr.c + static_cast<size_t>(i) * pr.n + begin, pr.n, pr.accumulate);
  });
}

}  // namespace

const char* kernel_isa() { return active_kernels().isa; }

void matmul(const float* a, const uint8_t* b, DType b_type, float* c, int m, int n, int k,
            bool accumulate) {
  const Kernels& kern = active_kernels();
  Problem pr{a, b, row_bytes(b_type, static_cast<uint64_t>(k)), b_type, c, m, n, k, accumulate};
  // Row dots re-read B per A row from cache while packing amortizes over MR
  // rows; the crossover (measured, bench/cpu_matmul_notes.md) is a few rows.
  int row_dot_max_m = kRowDotsMaxA;
  if (m <= row_dot_max_m)
    matmul_row_dots(pr, kern);
  else
    matmul_packed(pr, kern);
}

}  // namespace zw::cpu
