// Text ↔ token ids. One interface over the tokenizer kinds the engine reads:
// Hugging Face tokenizer.json (BPE, byte-level or SentencePiece-style with byte fallback),
// Mistral's tekken.json and the vocabularies embedded in GGUF files (tokenizer.ggml.model "gpt2"
// or "llama").
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgerun {

class GgufFile;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads <dir>/tokenizer.json (+ tokenizer_config.json when present, for add_bos_token /
  // special-token flags). Throws Error naming the file and field on anything malformed.
  static std::unique_ptr<Tokenizer> from_hf_dir(const std::string& dir);
  // Loads a Mistral tekken.json (see text/tekken_tokenizer.h). add_special prepends <s>.
  static std::unique_ptr<Tokenizer> from_tekken(const std::string& file);
  // Builds the tokenizer from GGUF metadata (tokenizer.ggml.*).
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& gguf);

  // add_special = true applies the post-processor / add_bos_token rules (e.g. prepend BOS),
  // as HF `tokenizer(text, add_special_tokens=True)` or llama.cpp `tokenize(add_special)`.
  // Special/added tokens written literally in the text are always matched.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special) const = 0;
  // As HF `decode(ids, skip_special_tokens=...)`. Invalid UTF-8 comes out as U+FFFD.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special) const = 0;

  virtual int32_t vocab_size() const = 0;
  // -1 when the tokenizer has none.
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  // True when `id` is a special/control token (skipped by decode with skip_special).
  virtual bool is_special(int32_t id) const = 0;
  // The bytes token `id` adds to a text it does not start (SentencePiece's ▁ as a space, byte
  // tokens as their byte, byte-level characters mapped back), before any UTF-8 repair: a token
  // holding part of a character gives just those bytes. What grammar-constrained sampling
  // matches tokens by. Special tokens give their text; out-of-range ids give "".
  virtual std::string token_bytes(int32_t id) const = 0;
};

}  // namespace edgerun
