#include "server/metrics.h"

#include <sstream>

namespace edgerun::server {

void Metrics::record_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
    if (seconds <= kLatencyBuckets[i]) ++latency_buckets_[i];
  ++latency_count_;
  latency_sum_ += seconds;
}

void Metrics::add_tokens(int64_t prompt, int64_t cached_prompt, int64_t generated) {
  prompt_tokens_ += prompt;
  cached_prompt_tokens_ += cached_prompt;
  generated_tokens_ += generated;
}

std::string Metrics::render(int64_t slots) const {
  std::ostringstream o;
  auto header = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  std::lock_guard<std::mutex> lock(mutex_);
  header("edgerun_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, n] : requests_)
    o << "edgerun_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << '\n';
  header("edgerun_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
  o << "edgerun_prompt_tokens_total " << prompt_tokens_ << '\n';
  header("edgerun_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's KV cache.");
  o << "edgerun_prompt_tokens_cached_total " << cached_prompt_tokens_ << '\n';
  header("edgerun_generated_tokens_total", "counter", "Generated tokens.");
  o << "edgerun_generated_tokens_total " << generated_tokens_ << '\n';
  header("edgerun_request_duration_seconds", "histogram", "Time from request to last byte.");
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
    o << "edgerun_request_duration_seconds_bucket{le=\"" << kLatencyBuckets[i] << "\"} " << latency_buckets_[i] << '\n';
  o << "edgerun_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count_ << '\n';
  o << "edgerun_request_duration_seconds_sum " << latency_sum_ << '\n';
  o << "edgerun_request_duration_seconds_count " << latency_count_ << '\n';
  header("edgerun_queue_depth", "gauge", "Requests waiting for a free slot.");
  o << "edgerun_queue_depth " << queue_depth_ << '\n';
  header("edgerun_slots_busy", "gauge", "Slots generating now.");
  o << "edgerun_slots_busy " << busy_slots_ << '\n';
  header("edgerun_slots", "gauge", "Slots (parallel sequences) configured.");
  o << "edgerun_slots " << slots << '\n';
  return o.str();
}

}  // namespace edgerun::server
