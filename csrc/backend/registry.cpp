// Which backends this build has, which of them can run here, and "auto".
#include <mutex>

#include "backend/backend.hpp"

namespace zw {

std::unique_ptr<Region> Backend::make_managed_region(size_t) {
  throw Error(std::string("backend '") + name() + "' has no managed memory");
}

namespace {

struct Candidate {
  const char* name;
  std::shared_ptr<Backend> (*make)(std::string& why);
};

std::shared_ptr<Backend> make_cpu(std::string&) { return make_cpu_backend(); }

#if !defined(ZEROWASM_HAVE_CUDA)
std::shared_ptr<Backend> cuda_absent(std::string& why) {
  why = "not built (no CUDA toolkit when zerowasm was compiled)";
  return nullptr;
}
#endif
#if !defined(ZEROWASM_HAVE_METAL)
std::shared_ptr<Backend> metal_absent(std::string& why) {
  why = "not built (Metal is only built on Apple platforms)";
  return nullptr;
}
#endif
#if !defined(ZEROWASM_HAVE_VULKAN)
std::shared_ptr<Backend> vulkan_absent(std::string& why) {
  why = "not built (no Vulkan headers or glslc when zerowasm was compiled)";
  return nullptr;
}
#endif

// "auto" preference order: GPUs first.
const Candidate kCandidates[] = {
#if defined(ZEROWASM_HAVE_CUDA)
    {"cuda", make_cuda_backend},
#else
    {"cuda", cuda_absent},
#endif
#if defined(ZEROWASM_HAVE_METAL)
    {"metal", make_metal_backend},
#else
    {"metal", metal_absent},
#endif
#if defined(ZEROWASM_HAVE_VULKAN)
    {"vulkan", make_vulkan_backend},
#else
    {"vulkan", vulkan_absent},
#endif
    {"cpu", make_cpu},
};

struct Probed {
  std::shared_ptr<Backend> backend;
  std::string why;
};

// Each backend is probed once per process (driver loading is not free).
Probed& probe(const Candidate& c) {
  static std::mutex mutex;
  static Probed results[std::size(kCandidates)];
  static bool done[std::size(kCandidates)] = {};
  std::lock_guard<std::mutex> lock(mutex);
  size_t i = &c - kCandidates;
  if (!done[i]) {
    try {
      results[i].backend = c.make(results[i].why);
    } catch (const std::exception& e) {
      results[i].why = e.what();
    }
    done[i] = true;
  }
  return results[i];
}

}  // namespace

std::vector<BackendInfo> list_backends() {
  std::vector<BackendInfo> out;
  for (const Candidate& c : kCandidates) {
    Probed& p = probe(c);
    out.push_back({c.name, p.backend != nullptr, p.backend ? p.backend->device() : p.why});
  }
  return out;
}

std::shared_ptr<Backend> get_backend(const std::string& name) {
  for (const Candidate& c : kCandidates) {
    if (name != "auto" && name != c.name) continue;
    Probed& p = probe(c);
    if (p.backend && (name != "auto" || p.backend->auto_selectable())) return p.backend;
    if (name != "auto") throw Error("backend '" + name + "' is unavailable: " + p.why);
  }
  throw Error("unknown backend '" + name + "' (choose auto, cpu, cuda, metal or vulkan)");
}

}  // namespace zw
