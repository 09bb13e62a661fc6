// Queuing zw.* ops as Vulkan compute dispatches (see vk_executor.hpp).
#include "backend/vulkan/vk_executor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/vulkan/vk_params.h"
#include "zerowasm/error.hpp"

namespace zw::vk {
namespace {

constexpr uint32_t kBatchOps = 64;        // dispatches per submitted command buffer
constexpr size_t kMaxBatchesInFlight = 4;  // then the issuing thread waits for the oldest
constexpr uint64_t kScratchBytes = 256 * 1024;
constexpr uint64_t kWaitSliceNs = 1'000'000'000;  // re-check device state every second

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
uint64_t u64(int32_t v) { return static_cast<uint64_t>(v); }  // validated >= 0

// ZW_VK_EW_* of shaders/common.glsl
uint32_t ew_code(Elementwise op) {
  switch (op) {
    case Elementwise::add: return 0;
    case Elementwise::mul: return 1;
    case Elementwise::scale: return 2;
    case Elementwise::gelu: return 3;
    case Elementwise::silu: return 4;
    case Elementwise::gelu_tanh: return 5;
    case Elementwise::to_f16: return 6;
  }
  return 0;
}
const char* ew_name(Elementwise op) {
  switch (op) {
    case Elementwise::add: return "zw.add";
    case Elementwise::mul: return "zw.mul";
    case Elementwise::scale: return "zw.scale";
    case Elementwise::gelu: return "zw.gelu";
    case Elementwise::silu: return "zw.silu";
    case Elementwise::gelu_tanh: return "zw.gelu_tanh";
    case Elementwise::to_f16: return "zw.to_f16";
  }
  return "zw.?";
}

// One kernel per weight dtype, in ZW_DTYPE_* order.
#define ZW_DTYPE_FAMILY(fam)                                                                      \
  {Kernel::fam##_f32, Kernel::fam##_f16, Kernel::fam##_q8_0, Kernel::fam##_q4_1, Kernel::fam##_q4_0, \
   Kernel::fam##_q5_0, Kernel::fam##_q4_k, Kernel::fam##_q5_k, Kernel::fam##_q6_k}
static_assert(kDTypeCount == 9, "every dtype needs its kernel in each family below");
using Family = Kernel[kDTypeCount];
constexpr Family kGather = ZW_DTYPE_FAMILY(gather);
constexpr Family kGemv = ZW_DTYPE_FAMILY(gemv);
constexpr Family kGemm = ZW_DTYPE_FAMILY(gemm);
#undef ZW_DTYPE_FAMILY

Kernel pick(DType t, const Family& family) { return family[static_cast<int>(t)]; }  // t validated

uint64_t import_window_bytes(const Device& device) {
  uint64_t w = device.max_allocation();
  if (const char* v = std::getenv("ZEROWASM_VULKAN_MAX_IMPORT"); v && *v)  // tests: force windows
    w = std::min<uint64_t>(w, std::strtoull(v, nullptr, 10));
  // A multiple of twice the import alignment (and of a Wasm page) so window
  // starts, at multiples of w/2, stay importable.
  const uint64_t unit = std::max<uint64_t>(2 * device.import_alignment(), 2 * 65536);
  w = w / unit * unit;
  if (w == 0) throw Error("Vulkan: the import window (" + std::to_string(w) + " B) is below the alignment unit");
  return w;
}

}  // namespace

VulkanExecutor::VulkanExecutor(std::shared_ptr<Device> device, LinearMemory& memory)
    : device_(std::move(device)), api_(device_->api()), dev_(device_->handle()), memory_(&memory) {
  base_ = memory.base();
  if (reinterpret_cast<uintptr_t>(base_) % device_->import_alignment() != 0)
    throw Error("Vulkan: linear memory base is not aligned to the device's host-import alignment (" +
                std::to_string(device_->import_alignment()) + " B)");
  window_ = import_window_bytes(*device_);

  auto pci = make<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = device_->queue_family();
  check(api_.vkCreateCommandPool(dev_, &pci, nullptr, &pool_), "vkCreateCommandPool");
  device_->count_object(+1);
  auto sti = make<VkSemaphoreTypeCreateInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO);
  sti.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  auto sci = make<VkSemaphoreCreateInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO);
  sci.pNext = &sti;
  VkResult r = api_.vkCreateSemaphore(dev_, &sci, nullptr, &timeline_);
  if (r != VK_SUCCESS) {
    api_.vkDestroyCommandPool(dev_, pool_, nullptr);
    device_->count_object(-1);
    check(r, "vkCreateSemaphore(timeline)");
  }
  device_->count_object(+1);
  try {
    memory.add_listener(this);  // imports what is already committed
  } catch (...) {
    memory.remove_listener(this);  // -> on_release frees any partial imports
    api_.vkDestroySemaphore(dev_, timeline_, nullptr);
    api_.vkDestroyCommandPool(dev_, pool_, nullptr);
    device_->count_object(-2);
    throw;
  }
}

VulkanExecutor::~VulkanExecutor() {
  // Nothing may be freed while a submitted batch could still touch it.
  wait_all_quietly();
  if (memory_) memory_->remove_listener(this);  // -> on_release frees the imports
  if (recording_) free_cbs_.push_back(recording_);
  for (const Batch& b : in_flight_) free_cbs_.push_back(b.cb);
  if (!free_cbs_.empty())
    api_.vkFreeCommandBuffers(dev_, pool_, static_cast<uint32_t>(free_cbs_.size()), free_cbs_.data());
  api_.vkDestroyCommandPool(dev_, pool_, nullptr);
  api_.vkDestroySemaphore(dev_, timeline_, nullptr);
  device_->count_object(-2);
  if (scratch_) {
    api_.vkDestroyBuffer(dev_, scratch_, nullptr);
    api_.vkUnmapMemory(dev_, scratch_memory_);
    api_.vkFreeMemory(dev_, scratch_memory_, nullptr);
    device_->count_object(-2);
  }
}

// ---- guest memory -------------------------------------------------------------

VulkanExecutor::Import VulkanExecutor::import_range(uint64_t begin, uint64_t end) {
  Import im;
  im.begin = begin;
  im.end = end;
  void* host = base_ + begin;
  const uint64_t bytes = end - begin;
  const auto handle = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
  const std::string range = "linear memory [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
  auto hp = make<VkMemoryHostPointerPropertiesEXT>(VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT);
  check(api_.vkGetMemoryHostPointerPropertiesEXT(dev_, handle, host, &hp),
        "vkGetMemoryHostPointerPropertiesEXT for " + range);

  auto ebci = make<VkExternalMemoryBufferCreateInfo>(VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO);
  ebci.handleTypes = handle;
  auto bci = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bci.pNext = &ebci;
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  check(api_.vkCreateBuffer(dev_, &bci, nullptr, &im.buffer), "vkCreateBuffer for " + range);
  device_->count_object(+1);
  try {
    VkMemoryRequirements req;
    api_.vkGetBufferMemoryRequirements(dev_, im.buffer, &req);
    const uint32_t type = device_->memory_type(req.memoryTypeBits & hp.memoryTypeBits, 0);
    if (type == UINT32_MAX) throw Error("Vulkan: no memory type can import " + range);
    auto flags = make<VkMemoryAllocateFlagsInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO);
    flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
    auto imp = make<VkImportMemoryHostPointerInfoEXT>(VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT);
    imp.pNext = &flags;
    imp.handleType = handle;
    imp.pHostPointer = host;
    auto mai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
    mai.pNext = &imp;
    mai.allocationSize = bytes;
    mai.memoryTypeIndex = type;
    check(api_.vkAllocateMemory(dev_, &mai, nullptr, &im.memory),
          "importing " + range + " (" + std::to_string(bytes >> 20) + " MiB) with vkAllocateMemory");
    device_->count_object(+1);
    check(api_.vkBindBufferMemory(dev_, im.buffer, im.memory, 0), "vkBindBufferMemory for " + range);
    auto ai = make<VkBufferDeviceAddressInfo>(VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO);
    ai.buffer = im.buffer;
    im.address = api_.vkGetBufferDeviceAddress(dev_, &ai);
  } catch (...) {
    free_import(im);
    throw;
  }
  return im;
}

void VulkanExecutor::free_import(Import& im) noexcept {
  if (im.buffer) {
    api_.vkDestroyBuffer(dev_, im.buffer, nullptr);
    device_->count_object(-1);
  }
  if (im.memory) {
    api_.vkFreeMemory(dev_, im.memory, nullptr);
    device_->count_object(-1);
  }
  im.buffer = VK_NULL_HANDLE;
  im.memory = VK_NULL_HANDLE;
}

void VulkanExecutor::retire(Import im) {
  // Ops already recorded into the open batch captured this import's address:
  // it lives until that batch (not yet submitted: submitted_ + 1) finishes.
  im.retire_at = submitted_ + (recorded_ops_ > 0 ? 1 : 0);
  if (im.retire_at <= completed_)
    free_import(im);
  else
    retired_.push_back(im);
}

void VulkanExecutor::on_commit(uint8_t* base, size_t /*old_committed*/, size_t new_committed) {
  if (base != base_) throw Error("Vulkan: linear memory base moved");
  if (new_committed % device_->import_alignment() != 0)
    throw Error("Vulkan: committed size " + std::to_string(new_committed) +
                " is not a multiple of the host-import alignment");
  const uint64_t stride = window_ / 2;
  // The windows the new size needs; build every changed one before touching
  // the current set, so a failed import leaves the old (still valid) state.
  std::vector<Import> fresh;
  std::vector<size_t> replaced;
  try {
    const uint64_t count = new_committed <= window_ ? 1 : ceil_div(new_committed - window_, stride) + 1;
    for (uint64_t k = 0; k < count; ++k) {
      const uint64_t begin = k * stride;
      const uint64_t end = std::min<uint64_t>(begin + window_, new_committed);
      if (k < windows_.size() && windows_[k].end == end) continue;
      fresh.push_back(import_range(begin, end));
      replaced.push_back(k);
    }
  } catch (...) {
    for (Import& im : fresh) free_import(im);
    throw;
  }
  for (size_t i = 0; i < fresh.size(); ++i) {
    const size_t k = replaced[i];
    if (k < windows_.size()) {
      retire(windows_[k]);
      windows_[k] = fresh[i];
    } else {
      windows_.push_back(fresh[i]);
    }
  }
}

void VulkanExecutor::on_release(uint8_t* /*base*/, size_t /*committed*/) {
  wait_all_quietly();
  for (Import& im : windows_) free_import(im);
  for (Import& im : retired_) free_import(im);
  windows_.clear();
  retired_.clear();
  memory_ = nullptr;
}

VkDeviceAddress VulkanExecutor::addr(const Operand& operand, const char* op, const char* what) const {
  const Offset off = operand.offset;
  const uint64_t bytes = operand.bytes;
  if (windows_.empty()) throw Error(std::string(op) + ": the instance's memory is released");
  const uint64_t stride = window_ / 2;
  const uint64_t k = std::min<uint64_t>(off / stride, windows_.size() - 1);
  const Import& im = windows_[k];
  if (off < im.begin || off + bytes > im.end)
    throw Error(std::string(op) + ": " + what + " [" + std::to_string(off) + ", " + std::to_string(off + bytes) +
                ") spans more than one Vulkan import window; operands may be at most " +
                std::to_string(stride >> 20) + " MiB on this device (half its maxMemoryAllocationSize)");
  return im.address + (off - im.begin);
}

uint64_t VulkanExecutor::device_address(Offset off) const {
  return addr(Operand(off, 0), "device_address", "offset");
}

// ---- submission ---------------------------------------------------------------

void VulkanExecutor::check_usable(const char* op) const {
  if (!broken_.empty()) throw Error(std::string(op) + ": this Vulkan instance is unusable: " + broken_);
}

template <class Push>
void VulkanExecutor::dispatch(Kernel kernel, const char* op, uint64_t groups, const Push& push) {
  static_assert(sizeof(Push) <= kPushConstantBytes);
  check_usable(op);
  if (groups == 0) return;
  const uint32_t count = static_cast<uint32_t>(std::min<uint64_t>(groups, device_->max_groups_x()));
  VkPipeline pipeline = device_->pipeline(kernel);
  if (!recording_) {
    if (free_cbs_.empty()) {
      auto cai = make<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
      cai.commandPool = pool_;
      cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
      cai.commandBufferCount = 1;
      VkCommandBuffer cb = VK_NULL_HANDLE;
      check(api_.vkAllocateCommandBuffers(dev_, &cai, &cb), std::string(op) + ": vkAllocateCommandBuffers");
      free_cbs_.push_back(cb);
    }
    VkCommandBuffer cb = free_cbs_.back();
    check(api_.vkResetCommandBuffer(cb, 0), std::string(op) + ": vkResetCommandBuffer");
    auto bi = make<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(api_.vkBeginCommandBuffer(cb, &bi), std::string(op) + ": vkBeginCommandBuffer");
    free_cbs_.pop_back();
    recording_ = cb;
  }
  // Every op may read what any earlier op wrote (also across batches: a
  // barrier's first scope covers all earlier submitted work on the queue).
  // Buffer-reference accesses are not tracked per buffer, so a global memory
  // barrier it is.
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  api_.vkCmdPipelineBarrier(recording_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0,
                            1, &mb, 0, nullptr, 0, nullptr);
  api_.vkCmdBindPipeline(recording_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
  api_.vkCmdPushConstants(recording_, device_->layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(Push), &push);
  api_.vkCmdDispatch(recording_, count, 1, 1);
  last_op_ = op;
  ++ops_issued_;
  if (++recorded_ops_ >= kBatchOps) flush();
}

void VulkanExecutor::flush() {
  if (!recording_) return;
  VkCommandBuffer cb = recording_;
  recording_ = VK_NULL_HANDLE;
  recorded_ops_ = 0;
  // Kernel writes -> host reads after the timeline wait.
  auto mb = make<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  api_.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                            nullptr, 0, nullptr);
  VkResult r = api_.vkEndCommandBuffer(cb);
  if (r == VK_SUCCESS) {
    const uint64_t value = submitted_ + 1;
    auto tsi = make<VkTimelineSemaphoreSubmitInfo>(VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO);
    tsi.signalSemaphoreValueCount = 1;
    tsi.pSignalSemaphoreValues = &value;
    auto si = make<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
    si.pNext = &tsi;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &timeline_;
    r = device_->submit(si);
    if (r == VK_SUCCESS) {
      submitted_ = value;
      in_flight_.push_back({cb, value});
      while (in_flight_.size() > kMaxBatchesInFlight) wait_for(in_flight_.front().value);
      reclaim();
      return;
    }
  }
  // The batch's ops never ran: report them (the guest's results are missing).
  free_cbs_.push_back(cb);
  std::string message = "Vulkan: submitting a batch of ops (the last was " + std::string(last_op_) + ", op #" +
                        std::to_string(ops_issued_) + ") failed: " + result_name(r);
  if (r == VK_ERROR_DEVICE_LOST) broken_ = message;
  throw Error(message + (r == VK_ERROR_DEVICE_LOST ? "; the instance is unusable" : "; those ops did not run"));
}

void VulkanExecutor::wait_for(uint64_t value) {
  if (value <= completed_) return;
  auto wi = make<VkSemaphoreWaitInfo>(VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO);
  wi.semaphoreCount = 1;
  wi.pSemaphores = &timeline_;
  wi.pValues = &value;
  for (;;) {
    VkResult r = api_.vkWaitSemaphores(dev_, &wi, kWaitSliceNs);
    if (r == VK_SUCCESS) break;
    if (r == VK_TIMEOUT) continue;  // long ops: keep waiting; a hung device reports DEVICE_LOST
    std::string message = "Vulkan error while running this instance's queued ops (the last queued was " +
                          std::string(last_op_) + ", op #" + std::to_string(ops_issued_) + "): " + result_name(r);
    broken_ = message;
    throw Error(message + "; the instance is unusable");
  }
  reclaim();
}

void VulkanExecutor::reclaim() {
  uint64_t value = completed_;
  if (api_.vkGetSemaphoreCounterValue(dev_, timeline_, &value) == VK_SUCCESS) completed_ = std::max(completed_, value);
  while (!in_flight_.empty() && in_flight_.front().value <= completed_) {
    free_cbs_.push_back(in_flight_.front().cb);
    in_flight_.pop_front();
  }
  auto done = [&](Import& im) {
    if (im.retire_at > completed_) return false;
    free_import(im);
    return true;
  };
  retired_.erase(std::remove_if(retired_.begin(), retired_.end(), done), retired_.end());
}

void VulkanExecutor::wait_all_quietly() noexcept {
  try {
    flush();
  } catch (...) {
  }
  try {
    wait_for(submitted_);
  } catch (...) {
    // Device lost: nothing will run any more, so freeing is safe; wait for
    // idle to be sure the driver agrees.
    api_.vkDeviceWaitIdle(dev_);
  }
}

void VulkanExecutor::sync() {
  check_usable("zw.sync");
  flush();
  wait_for(submitted_);
}

// ---- ops ------------------------------------------------------------------------

void VulkanExecutor::run(const ElementwiseArgs& a) {
  const char* op = ew_name(a.op);
  ElementwisePush p{};
  p.a = addr(a.a, op, "a");
  p.b = addr(a.b, op, "b");  // == a for the unary ops
  p.out = addr(a.out, op, "out");
  p.n = static_cast<uint32_t>(a.n);
  p.s = a.s;
  p.op = ew_code(a.op);
  dispatch(Kernel::elementwise, op, ceil_div(u64(a.n), kGroupThreads), p);
}

void VulkanExecutor::run(const NormArgs& a) {
  const char* op = a.rms ? "zw.rmsnorm" : "zw.layernorm";
  NormPush p{};
  p.x = addr(a.x, op, "x");
  p.gamma = addr(a.gamma, op, "gamma");
  p.beta = a.rms ? 0 : addr(a.beta, op, "beta");
  p.out = addr(a.out, op, "out");
  p.rows = static_cast<uint32_t>(a.rows);
  p.cols = static_cast<uint32_t>(a.cols);
  p.eps = a.eps;
  p.rms = a.rms ? 1 : 0;
  dispatch(Kernel::norm, op, u64(a.rows), p);
}

void VulkanExecutor::run(const SoftmaxArgs& a) {
  SoftmaxPush p{};
  p.x = addr(a.x, "zw.softmax", "x");
  p.out = addr(a.out, "zw.softmax", "out");
  p.rows = static_cast<uint32_t>(a.rows);
  p.cols = static_cast<uint32_t>(a.cols);
  p.scale = a.scale;
  p.causal = a.causal ? 1 : 0;
  dispatch(Kernel::softmax, "zw.softmax", u64(a.rows), p);
}

uint64_t VulkanExecutor::rope_table(uint32_t head_dim, float theta) {
  for (const RopeTable& t : rope_tables_)
    if (t.head_dim == head_dim && std::memcmp(&t.theta, &theta, sizeof theta) == 0) return scratch_address_ + t.offset;
  const uint64_t bytes = (head_dim / 2) * 2 * sizeof(float);
  if (bytes > kScratchBytes)
    throw Error("zw.rope: head_dim " + std::to_string(head_dim) + " exceeds the Vulkan backend's limit of " +
                std::to_string(kScratchBytes / 4));
  if (!scratch_) {
    auto bci = make<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
    bci.size = kScratchBytes;
    bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
    check(api_.vkCreateBuffer(dev_, &bci, nullptr, &scratch_), "vkCreateBuffer(scratch)");
    device_->count_object(+1);
    VkMemoryRequirements req;
    api_.vkGetBufferMemoryRequirements(dev_, scratch_, &req);
    const uint32_t type = device_->memory_type(
        req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    auto flags = make<VkMemoryAllocateFlagsInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO);
    flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
    auto mai = make<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
    mai.pNext = &flags;
    mai.allocationSize = req.size;
    mai.memoryTypeIndex = type;
    if (type == UINT32_MAX) throw Error("Vulkan: no host-visible memory for the RoPE table");
    check(api_.vkAllocateMemory(dev_, &mai, nullptr, &scratch_memory_), "vkAllocateMemory(scratch)");
    device_->count_object(+1);
    check(api_.vkBindBufferMemory(dev_, scratch_, scratch_memory_, 0), "vkBindBufferMemory(scratch)");
    void* host = nullptr;
    check(api_.vkMapMemory(dev_, scratch_memory_, 0, VK_WHOLE_SIZE, 0, &host), "vkMapMemory(scratch)");
    scratch_host_ = static_cast<float*>(host);
    auto ai = make<VkBufferDeviceAddressInfo>(VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO);
    ai.buffer = scratch_;
    scratch_address_ = api_.vkGetBufferDeviceAddress(dev_, &ai);
  }
  if (scratch_used_ + bytes > kScratchBytes) {
    sync();  // every op using the old tables has finished: start over
    rope_tables_.clear();
    scratch_used_ = 0;
  }
  // Frequencies in double: as doubles for the f64 shader, else as an
  // unevaluated float sum hi + lo, so the shader's angle pos * freq keeps
  // ~1e-7 rad accuracy at large positions (8 bytes per pair either way).
  uint8_t* out = reinterpret_cast<uint8_t*>(scratch_host_) + scratch_used_;
  for (uint32_t i = 0; i < head_dim / 2; ++i) {
    const double f = std::pow(static_cast<double>(theta), -2.0 * i / static_cast<double>(head_dim));
    if (device_->has_f64()) {
      std::memcpy(out + 8 * i, &f, 8);
    } else {
      const float pair[2] = {static_cast<float>(f), static_cast<float>(f - static_cast<float>(f))};
      std::memcpy(out + 8 * i, pair, 8);
    }
  }
  rope_tables_.push_back({head_dim, theta, scratch_used_});
  scratch_used_ += (bytes + 15) / 16 * 16;
  return scratch_address_ + rope_tables_.back().offset;
}

void VulkanExecutor::run(const RopeArgs& a) {
  RopePush p{};
  p.x = addr(a.x, "zw.rope", "x");
  p.out = addr(a.out, "zw.rope", "out");
  p.factors = a.has_factors ? addr(a.factors, "zw.rope_factors", "factors") : 0;
  p.rows = static_cast<uint32_t>(a.rows);
  p.heads = static_cast<uint32_t>(a.heads);
  p.head_dim = static_cast<uint32_t>(a.head_dim);
  p.pos0 = static_cast<uint32_t>(a.pos0);
  p.adjacent = a.adjacent ? 1 : 0;
  const uint64_t pairs = u64(a.rows) * u64(a.heads) * u64(a.head_dim / 2);
  if (pairs == 0) return;
  p.freqs = rope_table(p.head_dim, a.theta);
  dispatch(device_->has_f64() ? Kernel::rope_f64 : Kernel::rope, "zw.rope", ceil_div(pairs, kGroupThreads), p);
}

void VulkanExecutor::run(const AttentionArgs& a) {
  if (static_cast<uint32_t>(a.head_dim) > kAttentionMaxHeadDim)
    throw Error("zw.attention: head_dim " + std::to_string(a.head_dim) +
                " exceeds the Vulkan attention kernel's limit of " + std::to_string(kAttentionMaxHeadDim));
  AttentionPush p{};
  p.q = addr(a.q, "zw.attention", "q");
  p.k = addr(a.k, "zw.attention", "k");
  p.v = addr(a.v, "zw.attention", "v");
  p.out = addr(a.out, "zw.attention", "out");
  p.seq_q = static_cast<uint32_t>(a.seq_q);
  p.seq_kv = static_cast<uint32_t>(a.seq_kv);
  p.heads = static_cast<uint32_t>(a.heads);
  p.kv_heads = static_cast<uint32_t>(a.kv_heads);
  p.head_dim = static_cast<uint32_t>(a.head_dim);
  p.scale = a.scale;
  p.flags = (a.causal ? abi::kCausal : 0u) | (a.kv_type == DType::f16 ? abi::kKvF16 : 0u);
  dispatch(Kernel::attention, "zw.attention", u64(a.seq_q) * u64(a.heads), p);
}

void VulkanExecutor::run(const GatherArgs& a) {
  GatherPush p{};
  p.table = addr(a.table, "zw.gather", "table");
  p.ids = addr(a.ids, "zw.gather", "ids");
  p.out = addr(a.out, "zw.gather", "out");
  p.row_bytes = a.table_row_bytes;
  p.rows = static_cast<uint32_t>(a.rows);
  p.n = static_cast<uint32_t>(a.n);
  p.dim = static_cast<uint32_t>(a.dim);
  Kernel k = pick(a.type, kGather);
  dispatch(k, "zw.gather", u64(a.n), p);
}

void VulkanExecutor::run(const MatmulArgs& a) {
  MatmulPush p{};
  p.a = addr(a.a, "zw.matmul", "a");
  p.b = addr(a.b, "zw.matmul", "b");
  p.c = addr(a.c, "zw.matmul", "c");
  p.b_row_bytes = a.b_row_bytes;
  p.m = static_cast<uint32_t>(a.m);
  p.n = static_cast<uint32_t>(a.n);
  p.k = static_cast<uint32_t>(a.k);
  p.accumulate = a.accumulate ? 1 : 0;
  if (static_cast<uint32_t>(a.m) <= kGemvMaxM) {
    Kernel k = pick(a.b_type, kGemv);
    dispatch(k, "zw.matmul", ceil_div(u64(a.n), kGemvThreads), p);
  } else {
    Kernel k = pick(a.b_type, kGemm);
    dispatch(k, "zw.matmul", ceil_div(u64(a.m), kGemmTileRows) * ceil_div(u64(a.n), kGemmTileCols), p);
  }
}

}  // namespace zw::vk
