// Embedding lookup: out[i, :] = f32(table[ids[i], :]), one block per id.
#ifndef ZEROWASM_CUDA_GATHER_CUH
#define ZEROWASM_CUDA_GATHER_CUH

#include "backend/cuda/kernels/common.cuh"

namespace zw_cuda {

// The host validated the ids when the op was issued, but ops run later and the
// guest may have rewritten them since; an id outside [0, rows) would read
// outside the guest's memory, so it is re-checked here and gives a zero row.
template <int T>
ZW_DEVICE_FN void gather(const GatherParams& p) {
  const int64_t i = blockIdx.x;
  const int32_t id = ptr<const int32_t>(p.ids)[i];
  float* out = ptr<float>(p.out) + i * p.dim;
  const bool valid = id >= 0 && id < p.rows;
  const uint8_t* row = ptr<const uint8_t>(p.table) + (valid ? static_cast<int64_t>(id) * p.row_bytes : 0);
  for (int e = threadIdx.x; e < p.dim; e += blockDim.x) out[e] = valid ? load_weight<T>(row, e) : 0.0f;
}

}  // namespace zw_cuda

ZW_GLOBAL void zw_gather_f32(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_F32>(p); }
ZW_GLOBAL void zw_gather_f16(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_F16>(p); }
ZW_GLOBAL void zw_gather_q8_0(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q8_0>(p); }
ZW_GLOBAL void zw_gather_q4_1(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q4_1>(p); }
ZW_GLOBAL void zw_gather_q4_0(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q4_0>(p); }
ZW_GLOBAL void zw_gather_q5_0(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q5_0>(p); }
ZW_GLOBAL void zw_gather_q4_k(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q4_K>(p); }
ZW_GLOBAL void zw_gather_q5_k(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q5_K>(p); }
ZW_GLOBAL void zw_gather_q6_k(zw_cuda::GatherParams p) { zw_cuda::gather<ZW_DTYPE_Q6_K>(p); }

#endif  // ZEROWASM_CUDA_GATHER_CUH
