#include "backend/cpu/thread_pool.hpp"

#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define ZW_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ZW_CPU_RELAX() asm volatile("yield")
#else
#define ZW_CPU_RELAX() std::this_thread::yield()
#endif

namespace zw::cpu {
namespace {

// How long an idle worker keeps polling before it sleeps. Ops of one model
// step arrive microseconds apart; a futex wake-up costs ~5-50 us, so staying
// hot across that gap is what makes mid-sized ops worth splitting.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

int configured_threads() {
  if (const char* env = std::getenv("ZEROWASM_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 1024) return static_cast<int>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

ThreadPool& ThreadPool::instance() {
  static ThreadPool* pool = new ThreadPool(configured_threads());  // leaked on purpose
  return *pool;
}

ThreadPool::ThreadPool(int threads) {
  workers_.reserve(threads - 1);
  for (int i = 1; i < threads; ++i) {
    workers_.emplace_back([this] { worker_loop(); });
    workers_.back().detach();  // the pool lives until exit; nothing joins
  }
}

size_t ThreadPool::grain_for(size_t n, size_t min_grain, size_t parts_per_thread) const {
  size_t parts = static_cast<size_t>(size()) * parts_per_thread;
  size_t g = (n + parts - 1) / parts;
  return g < min_grain ? min_grain : g;
}

void ThreadPool::run(size_t n, size_t chunk, Thunk thunk, void* ctx) {
  std::unique_lock<std::mutex> lock(submit_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) {  // pool busy (another executor, or nested): run here
    thunk(ctx, 0, n);
    return;
  }
  // Close the previous job (odd gen), wait until no straggler still touches it,
  // then rewrite it. The seq_cst pair gen_/busy_ is a Dekker handshake with
  // the worker side: either we see its busy_ or it sees our odd gen_.
  unsigned g = gen_.load(std::memory_order_relaxed);
  gen_.store(g + 1, std::memory_order_seq_cst);
  while (busy_.load(std::memory_order_seq_cst) != 0) ZW_CPU_RELAX();
  size_t chunks = (n + chunk - 1) / chunk;
  thunk_.store(thunk, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  chunk_.store(chunk, std::memory_order_relaxed);
  chunks_.store(chunks, std::memory_order_relaxed);
  next_.store(0, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  gen_.store(g + 2, std::memory_order_seq_cst);  // publish
  if (sleeping_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> guard(sleep_mutex_);
    wake_.notify_all();
  }
  work_on_current_job();
  while (done_.load(std::memory_order_acquire) != chunks) ZW_CPU_RELAX();
  // Every chunk has finished (or failed): only now may the caller's frame,
  // which the job's lambda references, unwind.
  std::exception_ptr failure;
  {
    std::lock_guard<std::mutex> guard(failure_mutex_);
    failure = std::exchange(failure_, nullptr);
  }
  if (failure) std::rethrow_exception(failure);
}

void ThreadPool::work_on_current_job() {
  Thunk thunk = thunk_.load(std::memory_order_relaxed);
  void* ctx = ctx_.load(std::memory_order_relaxed);
  size_t n = n_.load(std::memory_order_relaxed);
  size_t chunk = chunk_.load(std::memory_order_relaxed);
  size_t chunks = chunks_.load(std::memory_order_relaxed);
  for (;;) {
    size_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= chunks) break;
    size_t begin = i * chunk;
    size_t end = begin + chunk < n ? begin + chunk : n;
    // An exception must not escape a worker (std::terminate) nor unwind the
    // caller while other threads still run its lambda: keep the first one,
    // count the chunk as done, and let run() rethrow it at the end.
    try {
      thunk(ctx, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> guard(failure_mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker_loop() {
  unsigned seen = 0;  // last generation this worker served
  for (;;) {
    // Wait for a newly published (even) generation: spin first, then sleep.
    auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    unsigned g;
    for (int polls = 0;; ++polls) {
      g = gen_.load(std::memory_order_acquire);
      if (g != seen && (g & 1u) == 0) break;
      ZW_CPU_RELAX();
      if ((polls & 255) == 255 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleeping_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          unsigned now = gen_.load(std::memory_order_seq_cst);
          return now != seen && (now & 1u) == 0;
        });
        sleeping_.fetch_sub(1, std::memory_order_seq_cst);
        spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      }
    }
    seen = g;
    busy_.fetch_add(1, std::memory_order_seq_cst);
    if (gen_.load(std::memory_order_seq_cst) == g) work_on_current_job();
    busy_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace zw::cpu
