// CPU kernels on plain host pointers (the executor turns guest offsets into
// pointers). All are synchronous and parallelize through ThreadPool; all take
// already-validated arguments (ops/validate), so they check nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/op_args.hpp"

namespace zw::cpu {

// Name of the matmul kernel set in use, for `zerowasm info` ("avx2+fma",
// "generic"); chosen once by CPUID, ZEROWASM_CPU_ISA=generic forces the fallback.
const char* kernel_isa();

// ---- Matmul: C[m,n] (+)= A[m,k] . B^T, B [n,k] in `b_type` ----
void matmul(const float* a, const uint8_t* b, DType b_type, float* c, int m, int n, int k,
            bool accumulate);

// ---- Elementwise ----
void elementwise(Elementwise op, const float* a, const float* b, float* out, size_t n, float s);
// out: n binary16 (2-byte aligned at best), rounded to nearest even.
void to_f16(const float* x, uint8_t* out, size_t n);

// ---- Per-row ops ----
void layernorm(const float* x, const float* gamma, const float* beta, float* out, int rows,
               int cols, float eps);
void rmsnorm(const float* x, const float* gamma, float* out, int rows, int cols, float eps);
void softmax(const float* x, float* out, int rows, int cols, float scale, bool causal);
// factors: null, or head_dim/2 divisors of the frequencies (zw.rope_factors).
void rope(const float* x, float* out, int rows, int heads, int head_dim, int pos0, float theta,
          bool adjacent, const float* factors = nullptr);
void attention(const float* q, const uint8_t* k, const uint8_t* v, float* out, int seq_q, int seq_kv,
               int heads, int kv_heads, int head_dim, float scale, bool causal, bool kv_f16);
// Rows whose id is outside [0, rows) come out as zeros (validation already
// rejects them; this only keeps a racing guest from reading out of bounds).
void gather(const uint8_t* table, int rows, DType type, const int32_t* ids, float* out, int n,
            int dim);

// Dequantize/convert `count` elements of a row of `type` starting at element
// `first` (a multiple of 32 for block types) into out.
void load_row(const uint8_t* row, DType type, int first, int count, float* out);

}  // namespace zw::cpu
