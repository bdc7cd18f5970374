// End-to-end speed measurement: prompt processing and generation tokens/s, and how close
// generation runs to the machine's memory bandwidth (decode streams every weight once a token).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "models/llama.h"

namespace edgerun {

struct BenchOptions {
  int64_t n_prompt = 512;  // pp test: one batch of this many tokens
  int64_t n_gen = 128;     // tg test: this many single-token steps
  int repeats = 3;
  DType kv_type = DType::F16;
};

struct Stat {
  double mean = 0, sd = 0, min = 0;
};

// Mean, sample standard deviation and the fastest run (on a shared, noisy machine the minimum is
// the steadiest comparison between two builds).
Stat stat_of(const std::vector<double>& values);

struct BenchResult {
  Stat pp_tokens_per_s, tg_tokens_per_s;
  size_t model_bytes = 0;          // weight bytes read per generated token
  double machine_bandwidth = 0;    // bytes/s, measured by streaming a large buffer
  double achieved_bandwidth = 0;   // model_bytes × tg tokens/s
  double bandwidth_fraction = 0;
};

// Read bandwidth of this machine with the pool's threads (bytes/s), best of a few passes over a
// buffer much larger than the caches.
double measure_memory_bandwidth(ThreadPool& pool, size_t buffer_bytes = size_t(1) << 30);

BenchResult run_benchmark(const LlamaModel& model, ThreadPool& pool, const BenchOptions& options,
                          const std::function<void(const std::string&)>& progress);

}  // namespace edgerun
