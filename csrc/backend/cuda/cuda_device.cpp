// Opening the CUDA device: driver, primary context, embedded kernels.
#include "backend/cuda/cuda_device.hpp"

#include <cstdio>
#include <cstdlib>

#include "zerowasm/error.hpp"

namespace zw::cuda {
namespace {

std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

int device_from_environment(int count) {
  const char* s = std::getenv("ZEROWASM_CUDA_DEVICE");
  if (!s || !*s) return 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (*end != '\0' || v < 0 || v >= count)
    throw Error("ZEROWASM_CUDA_DEVICE=" + std::string(s) + " is not a device ordinal in [0, " +
                std::to_string(count) + ")");
  return static_cast<int>(v);
}

}  // namespace

const char* Device::kernel_name(Kernel k) {
  static const char* const names[] = {
#define ZW_CUDA_KERNEL_NAME(name, params) #name,
      ZW_CUDA_KERNELS(ZW_CUDA_KERNEL_NAME)
#undef ZW_CUDA_KERNEL_NAME
  };
  return names[static_cast<int>(k)];
}

std::shared_ptr<Device> Device::open(std::string& why) {
  struct Outcome {
    std::shared_ptr<Device> device;
    std::string why;
  };
  // Leaked on purpose: the context and module must outlive every static
  // destructor that might still hold an executor at process exit, and the
  // driver tears the context down itself when the process ends.
  static Outcome* outcome = [] {
    auto* o = new Outcome;
    const Driver* drv = load_driver(o->why);
    if (!drv) return o;
    try {
      CUresult r = drv->cuInit(0);
      if (r != CUDA_SUCCESS) throw Error("cuInit failed: " + drv->error_text(r));
      int count = 0;
      drv->check(drv->cuDeviceGetCount(&count), "cuDeviceGetCount");
      if (count <= 0) throw Error("the CUDA driver reports no devices");
      CUdevice dev = 0;
      drv->check(drv->cuDeviceGet(&dev, device_from_environment(count)), "cuDeviceGet");
      std::shared_ptr<Device> d(new Device(*drv, dev));
      d->init();
      o->device = std::move(d);
    } catch (const std::exception& e) {
      o->why = e.what();
    }
    return o;
  }();
  if (!outcome->device) why = outcome->why;
  return outcome->device;
}

void Device::init() {
  char name[256] = {};
  check(drv_.cuDeviceGetName(name, sizeof name - 1, dev_), "cuDeviceGetName");
  name_ = name;
  check(drv_.cuDriverGetVersion(&driver_version_), "cuDriverGetVersion");
  auto attribute = [&](int attr, const char* what) {
    int v = 0;
    check(drv_.cuDeviceGetAttribute(&v, attr, dev_), std::string("cuDeviceGetAttribute(") + what + ")");
    return v;
  };
  cc_major_ = attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "COMPUTE_CAPABILITY_MAJOR");
  cc_minor_ = attribute(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "COMPUTE_CAPABILITY_MINOR");
  sm_count_ = attribute(CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "MULTIPROCESSOR_COUNT");
  check(drv_.cuDeviceTotalMem(&total_bytes_, dev_), "cuDeviceTotalMem");
  const std::string arch = "sm_" + std::to_string(cc_major_) + std::to_string(cc_minor_);
  if (cc_major_ < 8)
    throw Error(name_ + " is " + arch + "; zerowasm's CUDA kernels need sm_80 (Ampere) or newer");

  host_ptr_is_dev_ptr_ = attribute(CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM,
                                   "CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM") != 0;
  {
    // HOST_REGISTER_SUPPORTED is missing from old drivers: assume yes there.
    int v = 1;
    if (drv_.cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED, dev_) != CUDA_SUCCESS) v = 1;
    host_register_ok_ = v != 0 && attribute(CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, "CAN_MAP_HOST_MEMORY") != 0;
  }
  if (!attribute(CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY, "MANAGED_MEMORY"))
    managed_problem_ = name_ + " does not support managed memory";
  else if (!attribute(CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS, "CONCURRENT_MANAGED_ACCESS"))
    managed_problem_ = name_ + " lacks concurrent managed access (the guest's CPU accesses could fault "
                       "while kernels run; this is the case on Windows and pre-Pascal GPUs)";
  managed_ok_ = managed_problem_.empty();
  if (!host_register_ok_ && !managed_ok_)
    throw Error(name_ + " can neither map registered host memory nor use managed memory: " + managed_problem_);

  check(drv_.cuDevicePrimaryCtxRetain(&ctx_, dev_), "cuDevicePrimaryCtxRetain");
  make_current();
  CUresult r = drv_.cuModuleLoadData(&module_, zw_cuda_fatbin);
  if (r != CUDA_SUCCESS) {
    module_ = nullptr;
    throw Error("loading the embedded CUDA kernels (" + std::string(zw_cuda_fatbin_build_info) + ") on " + name_ +
                " (" + arch + ", driver supports CUDA " + version_text(driver_version_) +
                ") failed: " + drv_.error_text(r));
  }
  for (int i = 0; i < static_cast<int>(Kernel::count); ++i) {
    const char* kname = kernel_name(static_cast<Kernel>(i));
    check(drv_.cuModuleGetFunction(&functions_[i], module_, kname),
          std::string("cuModuleGetFunction(") + kname + ")");
  }
}

Device::~Device() {
  // Only reached when init() failed part way (the shared instance is leaked).
  if (ctx_) {
    drv_.cuCtxSetCurrent(ctx_);
    if (module_) drv_.cuModuleUnload(module_);
    drv_.cuDevicePrimaryCtxRelease(dev_);
  }
}

void Device::make_current() const { check(drv_.cuCtxSetCurrent(ctx_), "cuCtxSetCurrent"); }

bool Device::try_make_current() const noexcept { return drv_.cuCtxSetCurrent(ctx_) == CUDA_SUCCESS; }

unsigned grid_stride_blocks(const Device& device, uint64_t work_items, unsigned threads) {
  uint64_t wanted = work_items == 0 ? 1 : (work_items + threads - 1) / threads;
  uint64_t cap = static_cast<uint64_t>(device.sm_count() > 0 ? device.sm_count() : 1) * 32;
  return static_cast<unsigned>(wanted < cap ? wanted : cap);
}

std::string Device::describe() const {
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(total_bytes_) / (1024.0 * 1024 * 1024));
  return name_ + " (sm_" + std::to_string(cc_major_) + std::to_string(cc_minor_) + ", " + mem + ", " +
         std::to_string(sm_count_) + " SMs, driver CUDA " + version_text(driver_version_) + ")";
}

}  // namespace zw::cuda
