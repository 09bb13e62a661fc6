// Per-instance Vulkan executor: the guest's pages imported with
// VK_EXT_external_memory_host, ops recorded as compute dispatches in issue
// order into command buffers, submitted in batches on the shared queue, with
// one timeline semaphore tracking what has finished.
//
// Guest memory (the portable scheme; no driver is assumed to place separate
// imports at adjacent addresses):
//  - The committed range is covered by "windows", each one VkDeviceMemory
//    imported from the guest's host pages and bound to one buffer whose device
//    address the shaders use. While the committed size fits in one allocation
//    (maxMemoryAllocationSize, ZEROWASM_VULKAN_MAX_IMPORT for tests) there is
//    one window, [0, committed): every operand lies in it.
//  - Beyond that, windows of W bytes start every W/2 bytes, so any operand of
//    at most W/2 bytes lies entirely inside the window that starts at or just
//    before it (each operand gets its own address, so an op's operands may use
//    different windows). A larger operand is a clean error naming the limit.
//  - Growth re-imports only the windows whose end changed (in single-window
//    mode: the whole committed range as one new allocation), inside grow,
//    before the guest can issue an op on the new pages. A replaced import is
//    retired, not freed: it is released once the timeline semaphore shows that
//    every batch recorded while it was current has finished.
// Host writes before a submit are visible to it (vkQueueSubmit's host memory
// domain operation); every batch ends with a compute->host barrier, so after
// the timeline wait in sync() the host sees every kernel's writes.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "backend/backend.hpp"
#include "backend/vulkan/vk_device.hpp"

namespace zw::vk {

class VulkanExecutor final : public zw::Executor, public MemoryListener {
 public:
  VulkanExecutor(std::shared_ptr<Device> device, LinearMemory& memory);
  // Waits for all submitted work, then frees (imports last).
  ~VulkanExecutor() override;

  void run(const MatmulArgs&) override;
  void run(const ElementwiseArgs&) override;
  void run(const NormArgs&) override;
  void run(const SoftmaxArgs&) override;
  void run(const RopeArgs&) override;
  void run(const AttentionArgs&) override;
  void run(const GatherArgs&) override;
  void sync() override;
  uint64_t copies() const override { return 0; }
  uint64_t device_address(Offset off) const override;

  void on_commit(uint8_t* base, size_t old_committed, size_t new_committed) override;
  void on_release(uint8_t* base, size_t committed) override;

 private:
  struct Import {
    uint64_t begin = 0, end = 0;  // guest byte range
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    VkDeviceAddress address = 0;  // of guest offset `begin`
    uint64_t retire_at = 0;       // timeline value after which it may be freed
  };
  struct Batch {
    VkCommandBuffer cb;
    uint64_t value;  // timeline value signalled when it finishes
  };

  // The one place guest offsets become device addresses: the window holding
  // the operand's validated byte range. Throws naming `op` and `what` if none does.
  VkDeviceAddress addr(const Operand& operand, const char* op, const char* what) const;
  template <class Push>
  void dispatch(Kernel kernel, const char* op, uint64_t groups, const Push& push);
  void check_usable(const char* op) const;
  void flush();                    // submit the batch being recorded
  void wait_for(uint64_t value);  // timeline >= value, then reclaim
  void reclaim();                  // recycle finished command buffers, free retired imports
  void wait_all_quietly() noexcept;
  Import import_range(uint64_t begin, uint64_t end);
  void free_import(Import& im) noexcept;
  void retire(Import im);
  uint64_t rope_table(uint32_t head_dim, float theta);

  std::shared_ptr<Device> device_;
  const Api& api_;
  VkDevice dev_;
  LinearMemory* memory_;  // null once on_release ran
  uint8_t* base_ = nullptr;
  uint64_t window_ = 0;   // bytes per import window
  std::vector<Import> windows_;  // window k covers [k * window_/2, ...)
  std::vector<Import> retired_;

  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkSemaphore timeline_ = VK_NULL_HANDLE;
  std::vector<VkCommandBuffer> free_cbs_;
  std::deque<Batch> in_flight_;
  VkCommandBuffer recording_ = VK_NULL_HANDLE;
  uint32_t recorded_ops_ = 0;
  uint64_t submitted_ = 0;  // last timeline value a submit will signal
  uint64_t completed_ = 0;  // last value seen reached

  // Small host-visible buffer for RoPE frequency tables (not guest data).
  VkBuffer scratch_ = VK_NULL_HANDLE;
  VkDeviceMemory scratch_memory_ = VK_NULL_HANDLE;
  VkDeviceAddress scratch_address_ = 0;
  float* scratch_host_ = nullptr;
  uint64_t scratch_used_ = 0;
  struct RopeTable {
    uint32_t head_dim;
    float theta;
    uint64_t offset;
  };
  std::vector<RopeTable> rope_tables_;

  const char* last_op_ = "(none)";
  uint64_t ops_issued_ = 0;
  std::string broken_;  // why this executor can no longer run work (device lost)
};

}  // namespace zw::vk
