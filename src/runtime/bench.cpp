#include "runtime/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "kernels/simd.h"

namespace edgerun {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }


// Sums 64-bit words with independent accumulators so the loop is load-bound, not add-bound.
EDGERUN_MULTIVERSION
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {};
  for (size_t i = 0; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  uint64_t s = 0;
  for (uint64_t a : acc) s += a;
  return s;
}

}  // namespace

double measure_memory_bandwidth(ThreadPool& pool, size_t bytes) {
  const size_t words = bytes / 8;
  std::unique_ptr<uint64_t[]> buf(new uint64_t[words]);
  pool.parallel_for(int64_t(words), [&](int64_t b, int64_t e, int) {  // touch from the threads that read
    for (int64_t i = b; i < e; ++i) buf[size_t(i)] = uint64_t(i);
  }, 4096);
  double best = 0;
  std::vector<uint64_t> sink(size_t(pool.size()));
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = Clock::now();
    pool.parallel_for(int64_t(words), [&](int64_t b, int64_t e, int t) {
      sink[size_t(t)] += sum_words(buf.get() + b, size_t(e - b));
    }, 4096);
    best = std::max(best, double(bytes) / seconds_since(t0));
  }
  volatile uint64_t keep = 0;
  for (uint64_t s : sink) keep = keep + s;
  return best;
}

BenchResult run_benchmark(const LlamaModel& model, ThreadPool& pool, const BenchOptions& opt,
                          const std::function<void(const std::string&)>& progress) {
  if (opt.n_prompt < 0 || opt.n_gen < 0 || opt.repeats < 1) fail("bench", "-p, -n must be >= 0 and -r >= 1");
  const LlamaConfig& c = model.config();
  BenchResult r;
  r.model_bytes = model.weight_bytes();
  std::vector<int32_t> tokens(static_cast<size_t>(std::max<int64_t>(opt.n_prompt, 1)));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 7919 + 13) % size_t(c.vocab_size));
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));
  // Warm-up: fault in the mapped weights and settle the clocks.
  {
    LlamaState s = model.new_state(2, opt.kv_type);
    model.forward(tokens.data(), 1, s, pool, logits.data(), false);
  }
  std::vector<double> pp, tg;
  for (int rep = 0; rep < opt.repeats; ++rep) {
    if (opt.n_prompt > 0) {
      LlamaState s = model.new_state(opt.n_prompt, opt.kv_type);
      const auto t0 = Clock::now();
      model.forward(tokens.data(), opt.n_prompt, s, pool, logits.data(), false);
      pp.push_back(double(opt.n_prompt) / seconds_since(t0));
      progress("pp" + std::to_string(opt.n_prompt) + " run " + std::to_string(rep + 1) + ": " +
               std::to_string(pp.back()) + " tokens/s");
    }
    if (opt.n_gen > 0) {
      LlamaState s = model.new_state(opt.n_gen, opt.kv_type);
      int32_t id = tokens[0];
      const auto t0 = Clock::now();
      for (int64_t i = 0; i < opt.n_gen; ++i) {
        model.forward(&id, 1, s, pool, logits.data(), false);
        id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      tg.push_back(double(opt.n_gen) / seconds_since(t0));
      progress("tg" + std::to_string(opt.n_gen) + " run " + std::to_string(rep + 1) + ": " +
               std::to_string(tg.back()) + " tokens/s");
    }
  }
  if (!pp.empty()) r.pp_tokens_per_s = stat_of(pp);
  if (!tg.empty()) r.tg_tokens_per_s = stat_of(tg);
  progress("measuring memory bandwidth");
  r.machine_bandwidth = measure_memory_bandwidth(pool);
  r.achieved_bandwidth = double(r.model_bytes) * r.tg_tokens_per_s.mean;
  r.bandwidth_fraction = r.machine_bandwidth > 0 ? r.achieved_bandwidth / r.machine_bandwidth : 0;
  return r;
}

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  s.min = v.empty() ? 0 : *std::min_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0;
  return s;
}

}  // namespace edgerun
