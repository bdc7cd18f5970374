// Mistral's Tekken tokenizer file, tekken.json, as mistral-common's Tekkenizer.from_file reads it
// (MODELS.md §5.5): `config` {pattern, num_vocab_tokens, default_vocab_size,
// default_num_special_tokens, version}, `vocab` [{rank, token_bytes (base64), token_str}] and
// `special_tokens` [{rank, token_str, is_control}]. Control tokens take ids 0..n_special-1 (missing
// ones are named <SPECIAL_i>), BPE rank r is id r + n_special, and the ranks are cut to
// default_vocab_size - n_special. Encoding is tiktoken's: split with the pattern, take a piece
// whole when it is a token, else merge the adjacent pair whose concatenation has the lowest rank.
// Tokenizer::from_tekken builds the Tokenizer; the parsed file also feeds the GGUF export.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace edgerun::text {

struct TekkenVocab {
  std::string file;                   // for messages
  std::string version;                // "v3", "v7", "v11", "v13"
  std::string pattern;                // the split regex
  std::vector<std::string> specials;  // by id: token_str of the control tokens (fillers included)
  std::vector<std::string> tokens;    // by rank: the bytes of each BPE token (already cut)

  int64_t num_special() const { return int64_t(specials.size()); }
  int64_t vocab_size() const { return num_special() + int64_t(tokens.size()); }
  // Id of a control token by its text, -1 when there is none.
  int32_t special_id(const std::string& text) const;
};

// Throws Error("<file>: field '<field>': <problem>") for anything malformed, including a version
// mistral-common does not know.
TekkenVocab read_tekken(const std::string& file);

// A BPE merge in rank terms: tokens `left` + `right` form `merged`.
struct TekkenMerge {
  int32_t left, right, merged;
};
// Every split of every token into two tokens of the (cut) vocabulary, ordered by the merged
// token's rank, then by the left and right ranks: with the merged rank as priority, BPE over
// these pairs is tiktoken's algorithm. The same list transformers' and llama.cpp's converters
// derive for tokenizer.json / GGUF.
std::vector<TekkenMerge> tekken_merges(const TekkenVocab& vocab);

}  // namespace edgerun::text
