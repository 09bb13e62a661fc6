// Process-wide worker pool for the CPU kernels.
//
// One pool serves every CPU executor (instances share cores, so per-instance
// pools would only oversubscribe). Sized by ZEROWASM_NUM_THREADS or
// std::thread::hardware_concurrency(). The calling thread always takes part,
// so a job completes even if no worker ever wakes (e.g. after fork()), and a
// parallel_for issued while the pool is busy (another instance's thread, or
// nested) simply runs inline instead of waiting.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace zw::cpu {

class ThreadPool {
 public:
  // The shared pool (created on first use, intentionally never destroyed so
  // process exit does not wait on or race with workers).
  static ThreadPool& instance();

  // Threads that run a job, the caller included (>= 1).
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls f(begin, end) over consecutive chunks of `grain` items covering
  // [0, n) (the last one shorter), spread over the threads. When n <= grain
  // (or the pool has one thread) it is a plain inline call: tiny ops pay nothing.
  // If f throws, the remaining chunks still run and the first exception is
  // rethrown here once all have finished.
  template <class F>
  void parallel_for(size_t n, size_t grain, F&& f) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    if (n <= grain || workers_.empty()) {
      f(size_t{0}, n);
      return;
    }
    auto thunk = [](void* ctx, size_t b, size_t e) { (*static_cast<F*>(ctx))(b, e); };
    run(n, grain, thunk, &f);
  }

  // Chunk size that splits n into about `parts_per_thread` pieces per thread
  // but never below min_grain (the smallest piece worth a thread hand-off).
  size_t grain_for(size_t n, size_t min_grain, size_t parts_per_thread = 4) const;

 private:
  explicit ThreadPool(int threads);
  using Thunk = void (*)(void*, size_t, size_t);
  void run(size_t n, size_t chunk, Thunk thunk, void* ctx);
  void worker_loop();
  void work_on_current_job();

  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one job at a time; contenders run inline

  // Current job. Written only while gen_ is odd and no worker is busy.
  std::atomic<Thunk> thunk_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<size_t> n_{0}, chunk_{1}, chunks_{0};
  std::atomic<size_t> next_{0};  // next chunk index to claim
  std::atomic<size_t> done_{0};  // chunks finished

  // Even: a job is published (or none); odd: the caller is rewriting it.
  std::atomic<unsigned> gen_{0};
  std::atomic<int> busy_{0};  // workers inside work_on_current_job

  std::mutex failure_mutex_;
  std::exception_ptr failure_;  // first exception thrown by a chunk of the current job

  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleeping_{0};
};

}  // namespace zw::cpu
