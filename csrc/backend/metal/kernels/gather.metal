// zw.gather: out[i, :] = f32(table[ids[i], :]), one thread per output value.
//
// The host validated the ids when the op was issued, but the kernel runs
// later and the guest may have rewritten them since: an id outside
// [0, rows) would read outside the table (and possibly the guest's memory),
// so it is checked again here and yields a zero row, as on CUDA.
//
// table [[buffer(0)]] (bytes), ids [[buffer(1)]], out [[buffer(2)]],
// params [[buffer(3)]]. Grid: (ceil(dim / width), n) threadgroups of width
// threads.
#include "zw_metal_weights.h"

template <typename Type>
inline void zw_gather(Type type, device const uchar* table, device const int* ids,
                      device float* out, constant ZwGatherParams& p, uint2 gid) {
  const uint c = gid.x;
  const uint i = gid.y;
  if (c >= p.dim || i >= p.n) return;
  const int id = ids[i];
  if (id < 0 || uint(id) >= p.rows) {
    out[i * p.dim + c] = 0.0f;
    return;
  }
  device const uchar* row = table + uint(id) * p.row_bytes;  // inside the table: < 4 GiB
  out[i * p.dim + c] = zw_weight_at(type, row, c);
}

kernel void zwk_gather_f32(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                           device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                           uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwF32(), table, ids, out, p, gid);
}
kernel void zwk_gather_f16(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                           device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                           uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwF16(), table, ids, out, p, gid);
}
kernel void zwk_gather_q8_0(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ8_0(), table, ids, out, p, gid);
}
kernel void zwk_gather_q4_1(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ4_1(), table, ids, out, p, gid);
}
kernel void zwk_gather_q4_0(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ4_0(), table, ids, out, p, gid);
}
kernel void zwk_gather_q5_0(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ5_0(), table, ids, out, p, gid);
}
kernel void zwk_gather_q4_k(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ4_K(), table, ids, out, p, gid);
}
kernel void zwk_gather_q5_k(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ5_K(), table, ids, out, p, gid);
}
kernel void zwk_gather_q6_k(device const uchar* table [[buffer(0)]], device const int* ids [[buffer(1)]],
                            device float* out [[buffer(2)]], constant ZwGatherParams& p [[buffer(3)]],
                            uint2 gid [[thread_position_in_grid]]) {
  zw_gather(ZwQ6_K(), table, ids, out, p, gid);
}
