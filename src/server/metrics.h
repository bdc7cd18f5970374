// Counters the server exposes at GET /metrics in the Prometheus text format. One object per
// server, updated from any thread.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace edgerun::server {

// Resident memory of this process in bytes (Linux /proc/self/statm); 0 where unknown.
int64_t resident_memory_bytes();

class Metrics {
 public:
  // One finished HTTP request to `endpoint` ("/v1/chat/completions") with its status and time.
  void record_request(const std::string& endpoint, int status, double seconds);
  void add_tokens(int64_t prompt, int64_t cached_prompt, int64_t generated);
  void set_queue_depth(int64_t n) { queue_depth_ = n; }
  void set_busy_slots(int64_t n) { busy_slots_ = n; }

  // The Prometheus exposition text.
  std::string render(int64_t slots) const;

  static constexpr std::array<double, 10> kLatencyBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::array<int64_t, kLatencyBuckets.size()> latency_buckets_{};  // cumulative on output
  int64_t latency_count_ = 0;
  double latency_sum_ = 0;
  std::atomic<int64_t> prompt_tokens_{0}, cached_prompt_tokens_{0}, generated_tokens_{0};
  std::atomic<int64_t> queue_depth_{0}, busy_slots_{0};
};

}  // namespace edgerun::server
