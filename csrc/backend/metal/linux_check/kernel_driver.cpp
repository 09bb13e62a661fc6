// Runs zerowasm's Metal kernels on the CPU, as a test oracle where no Apple
// GPU exists (tests/test_metal_kernels_emulated.py builds and drives it).
//
// Build: g++ -std=c++20 -I metal/host_exec -I metal -I csrc/kernels
//          -DZW_SHADER_SOURCE='"<combined .metal>"' kernel_driver.cpp -lpthread
// where the combined source is what embed_shaders.cmake embeds in the
// library, so the very text Metal compiles is what runs here.
//
// Usage: kernel_driver <kernel> <memory file> <output file> <numbers...>
// The memory file plays the linear memory: arguments are byte offsets into
// it, as in the zw ABI. The driver dispatches the kernel with the same grid
// and threadgroup shapes as csrc/backend/metal/metal_executor.mm (32-wide
// simdgroups), one OS thread per GPU thread, and writes the memory back.
#include "../host_exec_prelude.h"

#include ZW_SHADER_SOURCE

// The shader keywords end here; ordinary C++ follows.
#undef kernel
#undef device
#undef constant
#undef threadgroup
#undef thread
#undef half

namespace {

constexpr unsigned kSimdWidth = 32;

struct Grid {
  unsigned x = 1, y = 1, z = 1;
};

// What a kernel invocation sees through its attributes.
struct ThreadInfo {
  uint3 group;      // threadgroup_position_in_grid
  unsigned tid;     // thread_index_in_threadgroup / thread_position_in_threadgroup.x
  unsigned threads; // threads_per_threadgroup.x
  unsigned lane;    // thread_index_in_simdgroup
  unsigned simdgroup;
  unsigned simdgroups;
  unsigned grid_x;  // thread_position_in_grid.x
  unsigned grid_threads_x;  // threads_per_grid.x
  float* tg_memory; // [[threadgroup(0)]]
};

// Runs body on every thread of every threadgroup of the grid, one
// threadgroup at a time, each GPU thread on its own OS thread.
void dispatch(Grid groups, unsigned threads, size_t tg_floats,
              const std::function<void(const ThreadInfo&)>& body) {
  const unsigned simdgroups = (threads + kSimdWidth - 1) / kSimdWidth;
  for (unsigned gz = 0; gz < groups.z; ++gz) {
    for (unsigned gy = 0; gy < groups.y; ++gy) {
      for (unsigned gx = 0; gx < groups.x; ++gx) {
        std::vector<float> tg_memory(tg_floats + 1, std::nanf(""));  // garbage until written
        std::barrier<> group_sync(threads);
        std::vector<std::unique_ptr<std::barrier<>>> simd_syncs;
        std::vector<zw_emu::SimdGroupState> simd(simdgroups);
        for (unsigned s = 0; s < simdgroups; ++s) {
          const unsigned lanes = std::min(kSimdWidth, threads - s * kSimdWidth);
          simd_syncs.push_back(std::make_unique<std::barrier<>>(lanes));
          simd[s].sync = simd_syncs.back().get();
          simd[s].lanes = lanes;
        }
        zw_emu::ThreadgroupState group{&group_sync, simd.data()};
        std::vector<std::thread> workers;
        workers.reserve(threads);
        for (unsigned t = 0; t < threads; ++t) {
          workers.emplace_back([&, t] {
            zw_emu::t_group = &group;
            zw_emu::t_simdgroup = t / kSimdWidth;
            zw_emu::t_lane = t % kSimdWidth;
            ThreadInfo info{uint3(gx, gy, gz), t, threads, t % kSimdWidth, t / kSimdWidth,
                            simdgroups, gx * threads + t, groups.x * threads, tg_memory.data()};
            body(info);
          });
        }
        for (std::thread& w : workers) w.join();
      }
    }
  }
}

unsigned ceil_div(unsigned a, unsigned b) { return (a + b - 1) / b; }
unsigned round_up32(unsigned v) { return ceil_div(v, kSimdWidth) * kSimdWidth; }
// threads_for() of the executor with a 1024-thread pipeline limit.
unsigned threads_for(unsigned want) { return std::min(1024u, std::max(kSimdWidth, round_up32(want))); }

[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "kernel_driver: %s\n", message.c_str());
  std::exit(2);
}

struct Args {
  std::vector<double> values;
  size_t next = 0;
  double number() {
    if (next >= values.size()) fail("too few numeric arguments");
    return values[next++];
  }
  unsigned u() { return static_cast<unsigned>(number()); }
  float f() { return static_cast<float>(number()); }
};

template <typename T>
T* at(std::vector<uint8_t>& memory, unsigned offset) {
  return reinterpret_cast<T*>(memory.data() + offset);
}

// Grid-stride kernels: the executor caps the grid at 65535 threadgroups;
// here it is capped at 2 so the stride loops really loop.
constexpr unsigned kStrideGroups = 2;

void run_elementwise(const std::string& op, std::vector<uint8_t>& m, Args& a) {
  const bool binary = op == "add" || op == "mul";
  const unsigned x = a.u(), b = binary ? a.u() : 0, out = a.u(), n = a.u();
  const float s = op == "scale" ? a.f() : 0.0f;
  const ZwElementwiseParams p{n, s};
  const unsigned width = threads_for(256);
  Grid grid{std::min(ceil_div(n, width), kStrideGroups)};
  dispatch(grid, width, 0, [&](const ThreadInfo& t) {
    const float* xp = at<float>(m, x);
    float* op_out = at<float>(m, out);
    if (op == "add") zwk_add(xp, at<float>(m, b), op_out, p, t.grid_x, t.grid_threads_x);
    if (op == "mul") zwk_mul(xp, at<float>(m, b), op_out, p, t.grid_x, t.grid_threads_x);
    if (op == "scale") zwk_scale(xp, op_out, p, t.grid_x, t.grid_threads_x);
    if (op == "gelu") zwk_gelu(xp, op_out, p, t.grid_x, t.grid_threads_x);
    if (op == "silu") zwk_silu(xp, op_out, p, t.grid_x, t.grid_threads_x);
  });
}

void run_norm(bool rms, std::vector<uint8_t>& m, Args& a) {
  const unsigned x = a.u(), gamma = a.u(), beta = rms ? 0 : a.u(), out = a.u();
  const unsigned rows = a.u(), cols = a.u();
  const ZwNormParams p{rows, cols, a.f()};
  dispatch(Grid{rows}, threads_for(std::min(cols, 256u)), ZW_MAX_SIMDGROUPS, [&](const ThreadInfo& t) {
    if (rms) {
      zwk_rmsnorm(at<float>(m, x), at<float>(m, gamma), at<float>(m, out), p, t.tg_memory, t.group.x,
                  t.tid, t.threads, t.lane, t.simdgroup, t.simdgroups);
    } else {
      zwk_layernorm(at<float>(m, x), at<float>(m, gamma), at<float>(m, beta), at<float>(m, out), p,
                    t.tg_memory, t.group.x, t.tid, t.threads, t.lane, t.simdgroup, t.simdgroups);
    }
  });
}

void run_softmax(std::vector<uint8_t>& m, Args& a) {
  const unsigned x = a.u(), out = a.u(), rows = a.u(), cols = a.u();
  const float scale = a.f();
  const ZwSoftmaxParams p{rows, cols, scale, a.u()};
  dispatch(Grid{rows}, threads_for(std::min(cols, 256u)), ZW_MAX_SIMDGROUPS, [&](const ThreadInfo& t) {
    zwk_softmax(at<float>(m, x), at<float>(m, out), p, t.tg_memory, t.group.x, t.tid, t.threads,
                t.lane, t.simdgroup, t.simdgroups);
  });
}

void run_rope(std::vector<uint8_t>& m, Args& a) {
  const unsigned x = a.u(), out = a.u(), rows = a.u(), heads = a.u(), head_dim = a.u();
  const unsigned pos0 = a.u();
  const float theta = a.f();
  const unsigned adjacent = a.u();
  const bool force_no_table = a.u() != 0;  // exercise the in-kernel frequency path
  const unsigned pairs = head_dim / 2;
  const bool table = pairs <= ZW_ROPE_MAX_TABLE_PAIRS && !force_no_table;
  std::vector<float> freqs(table ? 2 * pairs : 2, 0.0f);
  if (table) {  // as metal_executor.mm
    for (unsigned i = 0; i < pairs; ++i) {
      const double f = std::pow(static_cast<double>(theta), -static_cast<double>(2 * i) / head_dim);
      freqs[2 * i] = static_cast<float>(f);
      freqs[2 * i + 1] = static_cast<float>(f - static_cast<double>(freqs[2 * i]));
    }
  }
  const ZwRopeParams p{rows, heads, head_dim, pos0, theta, adjacent, table ? 1u : 0u};
  const unsigned width = threads_for(256);
  Grid grid{std::min(ceil_div(rows * heads * head_dim / 2, width), kStrideGroups)};
  dispatch(grid, width, 0, [&](const ThreadInfo& t) {
    zwk_rope(at<float>(m, x), at<float>(m, out), p, freqs.data(), t.grid_x, t.grid_threads_x);
  });
}

void run_attention(std::vector<uint8_t>& m, Args& a) {
  const unsigned q = a.u(), k = a.u(), v = a.u(), out = a.u();
  const unsigned seq_q = a.u(), seq_kv = a.u(), heads = a.u(), kv_heads = a.u(), head_dim = a.u();
  const float scale = a.f();
  const unsigned causal = a.u();
  const ZwAttentionParams p{seq_q, seq_kv, heads, kv_heads, head_dim, scale, causal};
  const unsigned simdgroups = std::min(8u, std::max(1u, seq_kv / 16));  // as the executor
  const size_t tg_floats = head_dim * (1 + simdgroups) + 2 * simdgroups;
  dispatch(Grid{heads, seq_q}, simdgroups * kSimdWidth, tg_floats, [&](const ThreadInfo& t) {
    zwk_attention(at<float>(m, q), at<float>(m, k), at<float>(m, v), at<float>(m, out), p,
                  t.tg_memory, uint2(t.group.x, t.group.y), t.tid, t.lane, t.simdgroup,
                  t.simdgroups, kSimdWidth);
  });
}

using GatherKernel = void (*)(const uchar*, const int*, float*, const ZwGatherParams&, uint2);
using MatvecKernel = void (*)(const float*, const uchar*, float*, const ZwMatmulParams&, uint, uint,
                              uint, uint, uint);
using TiledKernel = void (*)(const float*, const uchar*, float*, const ZwMatmulParams&, float*, uint2,
                             uint);
using SimdKernel = void (*)(const float*, const uchar*, float*, const ZwMatmulParams&, float*, uint2,
                            uint, uint);

uint64_t row_bytes(unsigned type, uint64_t cols) {
  switch (type) {
    case 0: return cols * 4;
    case 1: return cols * 2;
    case 2: return cols / 32 * 34;
    case 3: return cols / 32 * 20;
  }
  fail("unknown dtype");
}

void run_gather(unsigned type, std::vector<uint8_t>& m, Args& a) {
  const GatherKernel kernels[] = {zwk_gather_f32, zwk_gather_f16, zwk_gather_q8_0, zwk_gather_q4_1};
  const unsigned table = a.u(), rows = a.u(), ids = a.u(), out = a.u(), n = a.u(), dim = a.u();
  const ZwGatherParams p{n, dim, static_cast<uint32_t>(row_bytes(type, dim)), rows};
  const unsigned width = threads_for(std::min(dim, 256u));
  dispatch(Grid{ceil_div(dim, width), n}, width, 0, [&](const ThreadInfo& t) {
    kernels[type](at<uchar>(m, table), at<int>(m, ids), at<float>(m, out), p,
                  uint2(t.group.x * width + t.tid, t.group.y));
  });
}

void run_matmul(const std::string& family, unsigned type, std::vector<uint8_t>& m, Args& a) {
  const unsigned pa = a.u(), pb = a.u(), pc = a.u(), rows = a.u(), cols = a.u(), k = a.u();
  const unsigned accumulate = a.u();
  const ZwMatmulParams p{rows, cols, k, static_cast<uint32_t>(row_bytes(type, k)), accumulate};
  const float* A = at<float>(m, pa);
  const uchar* B = at<uchar>(m, pb);
  float* C = at<float>(m, pc);
  if (family == "matvec") {
    if (rows > ZW_MV_MAX_ROWS) fail("matvec serves m <= ZW_MV_MAX_ROWS");
    const MatvecKernel kernels[] = {zwk_matvec_f32, zwk_matvec_f16, zwk_matvec_q8_0, zwk_matvec_q4_1};
    dispatch(Grid{ceil_div(cols, ZW_MV_SIMDGROUPS)}, ZW_MV_SIMDGROUPS * kSimdWidth, 0,
             [&](const ThreadInfo& t) {
               kernels[type](A, B, C, p, t.group.x, t.lane, t.simdgroup, t.simdgroups, kSimdWidth);
             });
  } else if (family == "tiled") {
    const TiledKernel kernels[] = {zwk_matmul_tiled_f32, zwk_matmul_tiled_f16, zwk_matmul_tiled_q8_0,
                                   zwk_matmul_tiled_q4_1};
    dispatch(Grid{ceil_div(cols, ZW_MM_BN), ceil_div(rows, ZW_MM_BM)}, ZW_MM_THREADS, ZW_MM_TILE_FLOATS,
             [&](const ThreadInfo& t) {
               kernels[type](A, B, C, p, t.tg_memory, uint2(t.group.x, t.group.y), t.tid);
             });
  } else if (family == "simd") {
    const SimdKernel kernels[] = {zwk_matmul_simd_f32, zwk_matmul_simd_f16, zwk_matmul_simd_q8_0,
                                  zwk_matmul_simd_q4_1};
    dispatch(Grid{ceil_div(cols, ZW_MM_BN), ceil_div(rows, ZW_MM_BM)}, ZW_MM_THREADS, ZW_MM_TILE_FLOATS,
             [&](const ThreadInfo& t) {
               kernels[type](A, B, C, p, t.tg_memory, uint2(t.group.x, t.group.y), t.tid, t.simdgroup);
             });
  } else {
    fail("unknown matmul family " + family);
  }
}

unsigned dtype_of(const std::string& suffix) {
  if (suffix == "f32") return 0;
  if (suffix == "f16") return 1;
  if (suffix == "q8_0") return 2;
  if (suffix == "q4_1") return 3;
  fail("unknown dtype suffix " + suffix);
}

std::vector<uint8_t> read_file(const char* path) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) fail(std::string("cannot open ") + path);
  std::vector<uint8_t> bytes;
  uint8_t buffer[65536];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), f)) > 0) bytes.insert(bytes.end(), buffer, buffer + got);
  std::fclose(f);
  return bytes;
}

void write_file(const char* path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path, "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) fail(std::string("cannot write ") + path);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) fail("usage: kernel_driver <kernel> <memory file> <output file> <numbers...>");
  const std::string op = argv[1];
  std::vector<uint8_t> memory = read_file(argv[2]);
  Args args;
  for (int i = 4; i < argc; ++i) args.values.push_back(std::strtod(argv[i], nullptr));

  if (op == "add" || op == "mul" || op == "scale" || op == "gelu" || op == "silu") {
    run_elementwise(op, memory, args);
  } else if (op == "layernorm" || op == "rmsnorm") {
    run_norm(op == "rmsnorm", memory, args);
  } else if (op == "softmax") {
    run_softmax(memory, args);
  } else if (op == "rope") {
    run_rope(memory, args);
  } else if (op == "attention") {
    run_attention(memory, args);
  } else if (op.rfind("gather_", 0) == 0) {
    run_gather(dtype_of(op.substr(7)), memory, args);
  } else if (op.rfind("matvec_", 0) == 0 || op.rfind("tiled_", 0) == 0 || op.rfind("simd_", 0) == 0) {
    const size_t cut = op.find('_');
    run_matmul(op.substr(0, cut), dtype_of(op.substr(cut + 1)), memory, args);
  } else {
    fail("unknown kernel " + op);
  }
  write_file(argv[3], memory);
  return 0;
}
