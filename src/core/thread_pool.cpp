#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {

namespace {

// About 50–100 µs of spinning before a thread goes to sleep.
constexpr int kSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

constexpr int64_t kChunksPerThread = 4;

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin, then sleep. All atomics are seq_cst so that "publish then check sleepers" on one
    // side and "announce sleeping then check for work" on the other cannot both miss.
    int spins = 0;
    while (generation_.load() == seen && !stop_.load() && spins < kSpinIterations) {
      cpu_relax();
      ++spins;
    }
    if (generation_.load() == seen && !stop_.load()) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_workers_.fetch_add(1);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleeping_workers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load();
    run_chunks(index);
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

void ThreadPool::run_chunks(int index) {
  for (;;) {
    const int64_t b = next_chunk_.fetch_add(1, std::memory_order_relaxed) * job_chunk_;
    if (b >= job_n_) return;
    (*job_)(b, std::min(job_n_, b + job_chunk_), index);
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                              int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  // About four chunks per thread: small enough that a thread slowed by the OS or by memory
  // contention does not hold the others up, large enough that claiming one is negligible.
  const int64_t grains = (n + grain - 1) / grain;
  job_chunk_ = std::max<int64_t>(1, grains / (int64_t(n_threads_) * kChunksPerThread)) * grain;
  next_chunk_.store(0);
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);
  if (sleeping_workers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  run_chunks(0);
  for (int spins = 0; pending_.load() != 0 && spins < kSpinIterations; ++spins) cpu_relax();
  if (pending_.load() != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_.wait(lock, [&] { return pending_.load() == 0; });
    caller_sleeping_.store(false);
  }
}

}  // namespace edgerun
