// Slots and the scheduler: N sequences, each with its own KV cache, share one model and one
// thread pool. One worker thread owns all compute. Each round it advances every busy slot at
// once in one batched forward pass (continuous batching): a new token for each generating slot
// and a prompt chunk for each slot still reading its prompt, so the weights are read once per
// round rather than once per request. The thread pool, which is not reentrant, is only ever used
// by that thread. Requests beyond N wait in a queue and join the batch as slots free up.
//
// A slot keeps the tokens of its last sequence in its cache; a new request goes to the free slot
// sharing the longest token prefix with it and only the rest of its prompt is computed.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_pool.h"
#include "models/llama.h"
#include "server/metrics.h"
#include "text/grammar_constraint.h"
#include "text/lazy_grammar.h"
#include "text/sampler.h"

namespace edgerun::server {

// How many leading ids two sequences share: the part of a cached sequence a new prompt can reuse.
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

struct GenerationJob {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 256;
  SamplerParams sampling;
  std::shared_ptr<const TokenGrammar> grammar;  // null: unconstrained
  // Tools the model may call (tool_choice "auto"): a call's object after "<tool_call>" is held to
  // this grammar, the rest of the text is free (LazyGrammar). Null: none.
  std::shared_ptr<const TokenGrammar> tool_call_grammar;
  // Vision-language prompts: the input rows [prompt, hidden] with image features merged in, and
  // the ids the prefix cache compares (image rows made distinct per image). Empty: the prompt's.
  std::shared_ptr<const std::vector<float>> prompt_embeddings;
  std::vector<int32_t> cache_ids;
  const std::vector<int32_t>& cache_key() const { return cache_ids.empty() ? prompt : cache_ids; }
};

// The tokens of one job, passed from the worker to the thread serving the request.
class JobStream {
 public:
  // Waits up to `wait_ms` for tokens; appends them to `out`. False once the job has ended and
  // everything was taken.
  bool take(std::vector<int32_t>& out, int wait_ms);
  // Asks the worker to stop this job (client gone, stop string seen); safe from any thread.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  // After take() returned false: "stop" | "length" | "cancelled" | "error".
  std::string finish_reason() const;
  std::string error() const;
  int64_t cached_prompt_tokens() const { return cached_prompt_tokens_; }

  // Worker side.
  void push(int32_t token);
  void finish(const std::string& reason, const std::string& error = "");
  void set_cached_prompt_tokens(int64_t n) { cached_prompt_tokens_ = n; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<int32_t> tokens_;
  bool done_ = false;
  std::string reason_, error_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> cached_prompt_tokens_{0};
};

struct SchedulerOptions {
  int slots = 1;
  int64_t context = 4096;  // tokens per slot
  DType kv_type = DType::F16;
  std::vector<int32_t> eos_ids;
};

class Scheduler {
 public:
  Scheduler(const LlamaModel& model, ThreadPool& pool, SchedulerOptions options, Metrics& metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job. The prompt must be non-empty and fit the context (checked by the caller).
  std::shared_ptr<JobStream> submit(GenerationJob job);
  int64_t context() const { return options_.context; }
  int slots() const { return options_.slots; }

 private:
  struct Slot;
  void run();
  void admit(std::unique_lock<std::mutex>& lock);
  void advance_busy_slots();
  // Samples the slot's next token and passes it on; nullopt when that ended the job.
  std::optional<int32_t> next_token(Slot& slot);
  void end_job(Slot& slot, const std::string& reason, const std::string& error = "");
  void fail_job(Slot& slot, const std::exception& e);

  const LlamaModel& model_;
  ThreadPool& pool_;
  const SchedulerOptions options_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<GenerationJob, std::shared_ptr<JobStream>>> queue_;
  bool stopping_ = false;
  uint64_t clock_ = 0;  // orders slot use for least-recently-used choice
  std::thread worker_;
};

}  // namespace edgerun::server
