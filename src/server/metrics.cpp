#include "server/metrics.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace edgerun::server {

int64_t resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0, resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return 0;
  return resident_pages * int64_t(sysconf(_SC_PAGESIZE));
}

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
  // A metric with one unlabelled value.
  const auto single = [&](const char* name, const char* type, const char* help, int64_t value) {
    header(name, type, help);
    o << name << ' ' << value << '\n';
  };
  std::lock_guard<std::mutex> lock(mutex_);
  header("edgerun_requests_total", "counter", "HTTP requests by endpoint and status.");
  for (const auto& [key, n] : requests_)
    o << "edgerun_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << '\n';
  single("edgerun_prompt_tokens_total", "counter", "Prompt tokens of finished generations.", prompt_tokens_);
  single("edgerun_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's KV cache.", cached_prompt_tokens_);
  single("edgerun_generated_tokens_total", "counter", "Generated tokens.", generated_tokens_);
  header("edgerun_request_duration_seconds", "histogram", "Time from request to last byte.");
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i)
    o << "edgerun_request_duration_seconds_bucket{le=\"" << kLatencyBuckets[i] << "\"} " << latency_buckets_[i] << '\n';
  o << "edgerun_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count_ << '\n';
  o << "edgerun_request_duration_seconds_sum " << latency_sum_ << '\n';
  o << "edgerun_request_duration_seconds_count " << latency_count_ << '\n';
  single("edgerun_queue_depth", "gauge", "Requests waiting for a free slot.", queue_depth_);
  single("edgerun_slots_busy", "gauge", "Slots generating now.", busy_slots_);
  single("edgerun_slots", "gauge", "Slots (parallel sequences) configured.", slots);
  single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident_memory_bytes());
  return o.str();
}

}  // namespace edgerun::server
