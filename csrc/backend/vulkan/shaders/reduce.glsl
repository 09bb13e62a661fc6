// Workgroup reductions over 256 invocations (shared scratch, tree order).
// Callers must be in uniform control flow: every invocation calls, same count.
shared float zw_red[256];

float zw_group_sum(float v) {
  uint t = gl_LocalInvocationID.x;
  zw_red[t] = v;
  barrier();
  for (uint s = 128u; s > 0u; s >>= 1) {
    if (t < s) zw_red[t] += zw_red[t + s];
    barrier();
  }
  float r = zw_red[0];
  barrier();  // zw_red is reused by the next call
  return r;
}

float zw_group_max(float v) {
  uint t = gl_LocalInvocationID.x;
  zw_red[t] = v;
  barrier();
  for (uint s = 128u; s > 0u; s >>= 1) {
    if (t < s) zw_red[t] = max(zw_red[t], zw_red[t + s]);
    barrier();
  }
  float r = zw_red[0];
  barrier();
  return r;
}
