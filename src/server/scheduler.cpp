#include "server/scheduler.h"

#include <algorithm>
#include <chrono>

namespace edgerun::server {

namespace {
// Prompt tokens computed per turn of a slot: large enough for fast prefill, small enough that
// other slots' streams keep moving while a long prompt is read.
constexpr int64_t kPrefillChunk = 128;
}  // namespace

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

bool JobStream::take(std::vector<int32_t>& out, int wait_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return done_ || !tokens_.empty(); });
  out.insert(out.end(), tokens_.begin(), tokens_.end());
  tokens_.clear();
  return !(done_ && out.empty());
}

std::string JobStream::finish_reason() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reason_;
}

std::string JobStream::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

void JobStream::push(int32_t token) {
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_.push_back(token);
  ready_.notify_all();
}

void JobStream::finish(const std::string& reason, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = true;
  reason_ = reason;
  error_ = error;
  ready_.notify_all();
}

struct Scheduler::Slot {
  LlamaState state;
  std::vector<int32_t> cached;  // the ids in the cache: cached.size() == state.n_past
  uint64_t last_used = 0;
  // The job being served (stream null when the slot is free).
  std::shared_ptr<JobStream> stream;
  GenerationJob job;
  std::optional<Sampler> sampler;
  std::unique_ptr<TokenConstraint> constraint;
  std::vector<int32_t> history;  // prompt + generated, for the repetition penalty
  std::vector<float> logits;
  int64_t generated = 0;
};

Scheduler::Scheduler(const LlamaModel& model, ThreadPool& pool, SchedulerOptions options, Metrics& metrics)
    : model_(model), pool_(pool), options_(std::move(options)), metrics_(metrics) {
  for (int i = 0; i < options_.slots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->state = model_.new_state(options_.context, options_.kv_type);
    slot->logits.resize(size_t(model_.config().vocab_size));
    slots_.push_back(std::move(slot));
  }
  worker_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
  for (auto& [job, stream] : queue_) stream->finish("error", "the server is shutting down");
}

std::shared_ptr<JobStream> Scheduler::submit(GenerationJob job) {
  auto stream = std::make_shared<JobStream>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(std::move(job), stream);
    metrics_.set_queue_depth(int64_t(queue_.size()));
  }
  wake_.notify_all();
  return stream;
}

void Scheduler::admit(std::unique_lock<std::mutex>&) {
  while (!queue_.empty()) {
    auto& [job, stream] = queue_.front();
    if (stream->cancelled()) {  // the client left while waiting
      stream->finish("cancelled");
      queue_.pop_front();
      continue;
    }
    Slot* best = nullptr;
    size_t best_prefix = 0;
    for (auto& s : slots_) {
      if (s->stream) continue;
      const size_t prefix = common_prefix(s->cached, job.cache_key());
      if (!best || prefix > best_prefix || (prefix == best_prefix && s->last_used < best->last_used)) {
        best = s.get();
        best_prefix = prefix;
      }
    }
    if (!best) break;
    // Keep at least the last prompt token to compute: its logits choose the first new token.
    const size_t reuse = std::min(best_prefix, job.prompt.size() - 1);
    best->cached.resize(reuse);
    best->state.n_past = int64_t(reuse);
    best->job = std::move(job);
    best->stream = std::move(stream);
    best->stream->set_cached_prompt_tokens(int64_t(reuse));
    best->sampler.emplace(best->job.sampling);
    best->constraint.reset();
    if (best->job.grammar)
      best->constraint = std::make_unique<GrammarConstraint>(best->job.grammar, options_.eos_ids);
    else if (best->job.tool_call_grammar)
      best->constraint = std::make_unique<LazyGrammar>(best->job.tool_call_grammar, "<tool_call>", options_.eos_ids);
    best->history = best->job.prompt;
    best->generated = 0;
    best->last_used = ++clock_;
    queue_.pop_front();
  }
  metrics_.set_queue_depth(int64_t(queue_.size()));
  metrics_.set_busy_slots(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return bool(s->stream); }));
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      admit(lock);
      const auto busy = [&] { return std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return bool(s->stream); }); };
      wake_.wait(lock, [&] { return stopping_ || busy() || !queue_.empty(); });
      if (stopping_) break;
      admit(lock);
    }
    advance_busy_slots();
  }
  for (auto& s : slots_)
    if (s->stream) end_job(*s, "error", "the server is shutting down");
}

void Scheduler::advance_busy_slots() {
  std::vector<SequenceChunk> batch;
  std::vector<Slot*> members;
  std::vector<bool> from_prompt;  // per batch entry: a prompt chunk (else one sampled token)
  std::vector<int32_t> sampled(slots_.size());
  int64_t budget = model_.max_batch_tokens();
  // Generating slots first (one token each, always room), then prompt chunks in what is left.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = *slots_[i];
      if (!slot.stream) continue;
      const int64_t prompt_left = int64_t(slot.job.prompt.size()) - slot.state.n_past;
      if ((pass == 0) != (prompt_left <= 0)) continue;
      try {
        if (slot.stream->cancelled()) {
          end_job(slot, "cancelled");
          continue;
        }
        if (pass == 0) {
          const std::optional<int32_t> id = next_token(slot);
          if (!id) continue;
          sampled[i] = *id;
          batch.push_back({&sampled[i], 1, &slot.state, slot.logits.data(), false});
        } else {
          const int64_t n = std::min({kPrefillChunk, prompt_left, budget});
          if (n <= 0) continue;  // over budget: next round
          // Logits only once the whole prompt is in: they choose the first new token.
          float* logits = n == prompt_left ? slot.logits.data() : nullptr;
          const float* rows = slot.job.prompt_embeddings
                                  ? slot.job.prompt_embeddings->data() + slot.state.n_past * model_.config().hidden_size
                                  : nullptr;
          batch.push_back({slot.job.prompt.data() + slot.state.n_past, n, &slot.state, logits, false, rows});
        }
        budget -= batch.back().n;
        members.push_back(&slot);
        from_prompt.push_back(pass == 1);
      } catch (const std::exception& e) {
        fail_job(slot, e);
      }
    }
  }
  if (batch.empty()) return;
  try {
    model_.forward_batch(batch, pool_);
  } catch (const std::exception& e) {
    for (Slot* slot : members) fail_job(*slot, e);
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Slot& s = *members[i];
    // A prompt chunk is cached under the prompt's cache key; a sampled token as itself.
    const int32_t* ids = from_prompt[i] ? s.job.cache_key().data() + s.cached.size() : batch[i].tokens;
    s.cached.insert(s.cached.end(), ids, ids + batch[i].n);
  }
}

std::optional<int32_t> Scheduler::next_token(Slot& slot) {
  const int64_t vocab = int64_t(slot.logits.size());
  if (slot.constraint) {
    if (slot.constraint->finished()) return end_job(slot, "stop"), std::nullopt;
    slot.constraint->mask_logits(slot.logits.data(), vocab);
  }
  const int32_t id = slot.sampler->sample(slot.logits.data(), vocab, slot.history);
  if (std::find(options_.eos_ids.begin(), options_.eos_ids.end(), id) != options_.eos_ids.end())
    return end_job(slot, "stop"), std::nullopt;
  if (slot.constraint) slot.constraint->accept(id);
  slot.stream->push(id);
  slot.history.push_back(id);
  ++slot.generated;
  if (slot.constraint && slot.constraint->finished()) return end_job(slot, "stop"), std::nullopt;
  if (slot.generated >= slot.job.max_tokens || slot.state.n_past >= slot.state.context)
    return end_job(slot, "length"), std::nullopt;
  return id;
}

void Scheduler::fail_job(Slot& slot, const std::exception& e) {
  // The cache may hold a half-written sequence: forget it rather than reuse it.
  slot.cached.clear();
  slot.state.n_past = 0;
  end_job(slot, "error", e.what());
}

void Scheduler::end_job(Slot& slot, const std::string& reason, const std::string& error) {
  metrics_.add_tokens(int64_t(slot.job.prompt.size()), slot.stream->cached_prompt_tokens(), slot.generated);
  slot.stream->finish(reason, error);
  slot.stream.reset();
  slot.constraint.reset();
  slot.last_used = ++clock_;
  std::lock_guard<std::mutex> lock(mutex_);
  metrics_.set_busy_slots(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return bool(s->stream); }));
}

}  // namespace edgerun::server
