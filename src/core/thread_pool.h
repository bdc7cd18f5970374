// A fixed set of worker threads created once and passed explicitly to whatever computes.
// parallel_for cuts [0, n) into a few chunks per thread that threads claim as they finish (the
// caller's thread works too), so one slow thread does not stall the rest; a pool of size 1 runs
// everything inline with no synchronisation.
// Workers spin briefly between jobs before sleeping: a decode step issues hundreds of short
// parallel regions, and a futex wake-up per region would cost more than the work.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgerun {

class ThreadPool {
 public:
  // n_threads <= 0 means one per hardware core.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(begin, end, thread_index) on disjoint chunks covering [0, n). Blocks until done.
  // Chunk boundaries are multiples of `grain` (except the last end), so callers can keep
  // blocks of rows together. A thread may be given several chunks. Not reentrant: fn must not call parallel_for on the same pool.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                    int64_t grain = 1);

 private:
  void worker_loop(int index);
  void run_chunks(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  // The job being run; written before `generation_` is bumped, read after it is seen.
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunk_ = 1;
  std::atomic<int64_t> next_chunk_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_, done_;
};

}  // namespace edgerun
