// zw.gather: out[i, :] = f32(table[ids[i], :]), one workgroup per id (looping).
// The host validated the ids when the op was issued, but the guest may rewrite
// them before this runs: an id outside [0, rows) is re-checked here and gives
// a zero row, so the shader never reads outside the table (as on CUDA).
// Compiled once per weight type: -DW_DTYPE=ZW_DTYPE_*.
#version 460
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Push {  // vk_params.h GatherPush
  uint64_t table, ids, out_, row_bytes;
  uint rows, n, dim, pad;
} p;

void main() {
  I32 ids = I32(p.ids);
  for (uint i = gl_WorkGroupID.x; i < p.n; i += gl_NumWorkGroups.x) {
    int id = ids.v[i];
    bool valid = id >= 0 && uint(id) < p.rows;
    uint64_t row = p.table + (valid ? uint64_t(id) * p.row_bytes : 0ul);
    F32 o = F32(zw_f32_at(p.out_, uint64_t(i) * p.dim));
    for (uint e = gl_LocalInvocationID.x; e < p.dim; e += 64u) o.v[e] = valid ? zw_load_weight(row, e, W_DTYPE) : 0.0;
  }
}
