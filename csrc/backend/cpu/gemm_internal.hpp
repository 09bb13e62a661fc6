// Pieces of the matmul shared between the portable driver (gemm.cpp) and
// the ISA-specific kernels (gemm_x86.cpp). Not part of the CPU kernel API.
//
// The f32 path is GotoBLAS-shaped: C is cut into tasks, each task loops over
// k in KC-deep slices, packs its B slice (KC x n_task, NR-wide strips, k-major)
// and its A slices (MC x KC, MR-tall strips, k-major) into per-thread buffers,
// and runs an MR x NR register-tile microkernel over them. Quantized and f16
// B go through the same path: packing B *is* the on-the-fly dequantization
// (one KC x n_task slice at a time, never the whole weight). Small m (decode)
// uses row-dot kernels instead, which stream B once with no packing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/op_args.hpp"

namespace zw::cpu::gemm {

constexpr int MR = 6;    // microkernel rows (A strip height)
constexpr int NR = 16;   // microkernel cols (B strip width): two 8-float vectors
constexpr int KC = 256;  // k slice: a KC x NR B strip (16 KiB) stays in L1
constexpr int MC = 96;   // A block rows: MC x KC (96 KiB) stays in L2

// c[0..mr, 0..nr) (+)= ap (MR x kc, k-major) . bp (kc x NR, k-major); ldc in floats.
// Full tiles are mr == MR, nr == NR; edges are handled by the kernel itself.
using MicroKernel = void (*)(int kc, const float* ap, const float* bp, float* c, size_t ldc,
                             int mr, int nr, bool accumulate);

// C[i, j] (+)= dot(A row i, B row j) for i < rows_a (<= kRowDotsMaxA),
// j < rows_b. B rows are `row_bytes` apart in `type`, k elements long (k % 32
// == 0 for block types); each B row is read (and dequantized) once for all
// rows_a rows of A.
constexpr int kRowDotsMaxA = 4;
using RowDots = void (*)(const float* a, size_t lda, int rows_a, const uint8_t* b,
                         size_t row_bytes, DType type, int rows_b, int k, float* c, size_t ldc,
                         bool accumulate);

// Pack B rows [0, nb) x elements [p0, p0+kc) into NR-wide strips (zero padded).
using PackB = void (*)(const uint8_t* b, size_t row_bytes, DType type, int nb, int p0, int kc,
                       float* out);

// Decode attention's two products over one KV head's keys, for `heads` (<=
// kMaxAttendHeads) query heads sharing it; K/V rows are `stride` bytes apart,
// f32 or (f16) binary16:
//   KeyDots:         scores[g * lds + j] = scale * dot(q_g, k_j)   (q_g = q + g * d)
//   AddWeightedRows: acc[g * d + t] += sum_j p[g * lds + j] * v_j[t]
// Each key (value) row is read once for all heads.
constexpr int kMaxAttendHeads = 8;
using KeyDots = void (*)(const float* q, int heads, const uint8_t* k, size_t stride, bool f16, int keys, int d,
                         float scale, float* scores, int lds);
using AddWeightedRows = void (*)(const float* p, int lds, int heads, const uint8_t* v, size_t stride, bool f16,
                                 int keys, int d, float* acc);

struct Kernels {
  MicroKernel micro;
  RowDots row_dots;
  PackB pack_b;
  KeyDots key_dots;
  AddWeightedRows add_weighted_rows;
  const char* isa;
};

const Kernels& generic_kernels();
// The set matmul uses: AVX2 where the CPU has it, unless ZEROWASM_CPU_ISA=generic.
const Kernels& active_kernels();
// nullptr where the build or the CPU lacks the ISA.
const Kernels* avx2_kernels();
RowDots row_dots_avx2();  // gemv_x86.cpp
void key_dots_generic(const float* q, int heads, const uint8_t* k, size_t stride, bool f16, int keys, int d,
                      float scale, float* scores, int lds);  // attention.cpp
void add_weighted_rows_generic(const float* p, int lds, int heads, const uint8_t* v, size_t stride, bool f16,
                               int keys, int d, float* acc);  // attention.cpp
KeyDots key_dots_avx2();                  // attention_x86.cpp
AddWeightedRows add_weighted_rows_avx2();  // attention_x86.cpp

}  // namespace zw::cpu::gemm
