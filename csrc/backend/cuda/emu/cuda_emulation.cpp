// CPU execution of CUDA-style kernels (see cuda_emulation.hpp): each block's
// threads are fibers (ucontext) on the calling OS thread, switched at barriers.
#include "backend/cuda/emu/cuda_emulation.hpp"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace zw_emu {
namespace {

// Big enough for any kernel's locals (the largest hold a few hundred floats);
// mapped lazily, so untouched stack pages cost nothing. A guard page below
// turns an overflow into a fault instead of silent corruption.
constexpr size_t kStackBytes = 256 * 1024;

enum class Wait { none, warp, block, done };

struct Fiber {
  ucontext_t context{};
  void* stack_base = nullptr;  // guard page + stack
  Wait wait = Wait::none;
};

struct Scheduler {
  ucontext_t scheduler_context{};
  std::vector<Fiber> fibers;  // one per thread of a block; stacks reused across launches
  unsigned current = 0;
  const std::function<void()>* body = nullptr;
  std::exception_ptr error;
  ~Scheduler() {
    for (Fiber& f : fibers)
      if (f.stack_base) munmap(f.stack_base, kStackBytes + static_cast<size_t>(getpagesize()));
  }
};

thread_local Scheduler t_scheduler;

void fiber_main() {
  Scheduler& s = t_scheduler;
  try {
    (*s.body)();
  } catch (...) {
    if (!s.error) s.error = std::current_exception();
  }
  s.fibers[s.current].wait = Wait::done;
  // uc_link returns to the scheduler.
}

void ensure_fibers(unsigned threads) {
  Scheduler& s = t_scheduler;
  const size_t guard = static_cast<size_t>(getpagesize());
  while (s.fibers.size() < threads) {
    Fiber f;
    f.stack_base = mmap(nullptr, kStackBytes + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (f.stack_base == MAP_FAILED) throw std::bad_alloc();
    mprotect(f.stack_base, guard, PROT_NONE);
    s.fibers.push_back(f);
  }
}

// Suspends the running fiber until every participant of its barrier has arrived.
void arrive_and_wait(Wait kind) {
  Scheduler& s = t_scheduler;
  Fiber& f = s.fibers[s.current];
  f.wait = kind;
  swapcontext(&f.context, &s.scheduler_context);
}

[[noreturn]] void barrier_mismatch(const char* what, unsigned thread) {
  throw std::runtime_error(std::string("emulated launch: ") + what + " (thread " + std::to_string(thread) +
                           "); every thread of a block must reach the same barriers");
}

// Runs one block to completion. A fiber waiting at a barrier resumes only once
// the barrier is complete: all 32 threads of its warp (shuffle) or all threads
// of the block (__syncthreads) are waiting there. Odd launches visit threads in
// reverse order, so a race between a writer and a reader without a barrier
// between them gives a wrong result in one of the two orders.
void run_block(unsigned threads, bool reverse) {
  Scheduler& s = t_scheduler;
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = s.fibers[t];
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = static_cast<char*>(f.stack_base) + getpagesize();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &s.scheduler_context;
    makecontext(&f.context, fiber_main, 0);
    f.wait = Wait::none;
  }
  const unsigned warps = threads / 32;
  std::vector<char> warp_ready(warps);
  for (;;) {
    unsigned at_block = 0, done = 0;
    for (unsigned w = 0; w < warps; ++w) {
      unsigned at_warp = 0;
      for (unsigned t = w * 32; t < w * 32 + 32; ++t) at_warp += s.fibers[t].wait == Wait::warp;
      if (at_warp != 0 && at_warp != 32) {
        for (unsigned t = w * 32; t < w * 32 + 32; ++t)
          if (s.fibers[t].wait == Wait::done) barrier_mismatch("a warp shuffle was left by an exited thread", t);
      }
      warp_ready[w] = at_warp == 32;
    }
    for (unsigned t = 0; t < threads; ++t) {
      at_block += s.fibers[t].wait == Wait::block;
      done += s.fibers[t].wait == Wait::done;
    }
    if (done == threads) return;
    if (at_block != 0 && done != 0 && at_block + done == threads)
      barrier_mismatch("__syncthreads was left by an exited thread", 0);
    const bool block_ready = at_block == threads;
    bool progressed = false;
    for (unsigned i = 0; i < threads; ++i) {
      const unsigned t = reverse ? threads - 1 - i : i;
      Fiber& f = s.fibers[t];
      const bool runnable = f.wait == Wait::none || (f.wait == Wait::warp && warp_ready[t / 32]) ||
                            (f.wait == Wait::block && block_ready);
      if (!runnable) continue;
      f.wait = Wait::none;
      s.current = t;
      tls.thread_idx = {t, 0, 0};
      swapcontext(&s.scheduler_context, &f.context);
      progressed = true;
      if (s.error) return;
    }
    if (!progressed) barrier_mismatch("threads wait at different barriers", 0);
  }
}

}  // namespace

void sync_block() { arrive_and_wait(Wait::block); }
void sync_warp() { arrive_and_wait(Wait::warp); }

void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, const std::function<void()>& body) {
  const unsigned threads = block.x * block.y * block.z;
  if (block.y != 1 || block.z != 1 || threads == 0 || threads % 32 != 0 || threads > 1024)
    throw std::invalid_argument("emulated launch: block must be (32k, 1, 1) with k in 1..32, got " +
                                std::to_string(block.x) + "x" + std::to_string(block.y) + "x" +
                                std::to_string(block.z));
  static thread_local unsigned launches = 0;
  const bool reverse = (launches++ & 1) != 0;
  Launch l;
  l.shuffle_slots.assign(threads, 0);
  // Garbage, not zeros: kernels must not rely on shared memory starting cleared.
  l.dynamic_shared.assign(dynamic_shared_bytes, 0xA5);

  Scheduler& s = t_scheduler;
  ensure_fibers(threads);
  s.body = &body;
  s.error = nullptr;
  tls.launch = &l;
  tls.block_dim = block;
  tls.grid_dim = grid;
  for (unsigned bz = 0; bz < grid.z && !s.error; ++bz)
    for (unsigned by = 0; by < grid.y && !s.error; ++by)
      for (unsigned bx = 0; bx < grid.x && !s.error; ++bx) {
        tls.block_idx = {bx, by, bz};
        run_block(threads, reverse);
      }
  tls.launch = nullptr;
  s.body = nullptr;
  if (s.error) std::rethrow_exception(std::exchange(s.error, nullptr));
}

}  // namespace zw_emu
