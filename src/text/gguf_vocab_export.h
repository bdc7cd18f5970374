// Converting a Hugging Face byte-level BPE tokenizer (tokenizer.json + tokenizer_config.json,
// config.json, generation_config.json, chat_template.jinja) or a Mistral tekken.json into GGUF
// tokenizer.ggml.* metadata the way llama.cpp's convert_hf_to_gguf.py does, so the file
// tokenizes identically in llama.cpp and in Tokenizer::from_gguf. Reads the JSON directly (not
// through Tokenizer).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgerun {

class GgufWriter;

struct GgufVocab {
  std::string model = "gpt2";            // tokenizer.ggml.model
  std::string pre = "default";           // tokenizer.ggml.pre
  std::vector<std::string> tokens;       // by id; ids the tokenizer lacks are "[PAD<id>]"
  std::vector<int32_t> token_types;      // 1 normal, 3 control, 4 user-defined, 5 unused
  std::vector<std::string> merges;       // "left right", by rank
  int64_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;  // -1: not written
  bool add_bos = false, add_eos = false;
  std::optional<bool> add_space_prefix;  // tokenizer_config add_prefix_space, when given
  std::string chat_template;             // empty: none
  std::vector<std::pair<std::string, std::string>> named_templates;  // extra (name, template)
  std::vector<std::string> warnings;     // things llama.cpp may not reproduce exactly
};

// Reads the tokenizer files in `dir`. `vocab_size` (config.json's) is the length of the token
// list; 0 means the tokenizer's own size. Throws Error naming the file and field for anything
// that cannot be converted faithfully (non-BPE models, SentencePiece-style BPE, duplicates).
GgufVocab export_hf_vocab(const std::string& dir, int64_t vocab_size);

// <dir>/tekken.json as llama.cpp's converter writes it when a model has no tokenizer.json
// (MistralVocab): the control tokens, then the BPE tokens in byte-level spelling, merges derived
// from the ranks, pre-tokenizer "tekken", BOS added; chat_template.jinja when present.
GgufVocab export_tekken_vocab(const std::string& dir, int64_t vocab_size);

// Writes the tokenizer.* keys (types as llama.cpp expects: token_type INT32[], ids UINT32).
void write_vocab_metadata(GgufWriter& w, const GgufVocab& v);

}  // namespace edgerun
