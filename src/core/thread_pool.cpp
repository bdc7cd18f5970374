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

// The chunk of [0, n) that thread `index` of `count` owns, in whole grains.
void chunk_of(int64_t n, int64_t grain, int index, int count, int64_t* begin, int64_t* end) {
  const int64_t grains = (n + grain - 1) / grain;
  const int64_t per = grains / count, extra = grains % count;
  const int64_t g0 = index * per + std::min<int64_t>(index, extra);
  const int64_t g1 = g0 + per + (index < extra ? 1 : 0);
  *begin = std::min(n, g0 * grain);
  *end = std::min(n, g1 * grain);
}

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
    int64_t b, e;
    chunk_of(job_n_, job_grain_, index, n_threads_, &b, &e);
    if (b < e) (*job_)(b, e, index);
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
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
  job_grain_ = grain;
  pending_.store(n_threads_ - 1);
  generation_.fetch_add(1);
  if (sleeping_workers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  int64_t b, e;
  chunk_of(n, grain, 0, n_threads_, &b, &e);
  if (b < e) fn(b, e, 0);
  for (int spins = 0; pending_.load() != 0 && spins < kSpinIterations; ++spins) cpu_relax();
  if (pending_.load() != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    caller_sleeping_.store(true);
    done_.wait(lock, [&] { return pending_.load() == 0; });
    caller_sleeping_.store(false);
  }
}

}  // namespace edgerun
