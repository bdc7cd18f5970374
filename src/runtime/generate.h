// The generation loop: prefill the prompt, then sample one token at a time until an EOS token,
// the token limit or the end of the context. Tokens are handed to a callback as they come.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "models/llama.h"
#include "text/sampler.h"
#include "text/token_constraint.h"
#include "text/tokenizer.h"

namespace edgerun {

struct GenerateOptions {
  int64_t max_tokens = 256;
  SamplerParams sampling;
  std::vector<int32_t> eos_ids;  // stop (without emitting) at any of these
  // Restricts every sampled token (grammar-constrained output); not owned, may be null.
  TokenConstraint* constraint = nullptr;
  // [prompt size, hidden]: the prompt's input rows with image features merged in (vision-language
  // models); not owned, may be null (the prompt's token embeddings).
  const float* prompt_embeddings = nullptr;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids (EOS excluded)
  // "eos" | "length" | "context" | "callback"; "eos" also when the constraint lets nothing follow.
  std::string stop_reason;
  double prompt_seconds = 0, generate_seconds = 0;
};

// on_token returns false to stop early. The state must be empty or hold a prefix of `prompt`'s
// context (its n_past tokens are taken as already processed).
GenerateResult generate(const LlamaModel& model, LlamaState& state, ThreadPool& pool,
                        const std::vector<int32_t>& prompt, const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token);

// Turns a stream of ids into text pieces: decodes the whole sequence and emits what is new,
// holding back a trailing incomplete UTF-8 character (shown as U+FFFD) until it completes.
class TextStream {
 public:
  // `context` = the ids before the stream (the prompt): decoding continues from them so that
  // tokenizers which treat the first token specially (SentencePiece's leading space) stay right.
  TextStream(const Tokenizer& tokenizer, std::vector<int32_t> context);
  std::string push(int32_t id);
  std::string finish();  // whatever is still held back

 private:
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t emitted_ = 0;
};

}  // namespace edgerun
