// Grammar-constrained sampling at the token level: which tokens of a vocabulary keep the text
// inside a grammar.
//
// A token is allowed when the grammar accepts all its bytes in sequence; end-of-text tokens
// only once the text is a complete match. The vocabulary's byte strings sit in a prefix tree, so
// checking every token walks each shared prefix once and skips whole subtrees on the first
// rejected byte. On top of that, per grammar position (the top frame of a parse stack), the
// tokens accepted without leaving that position's rule are computed once and cached; only the
// tokens that leave it are checked against the rest of the stack at each step (the idea of
// xgrammar's context-independent token cache). Inside a JSON string that leaves a few thousand
// tokens containing '"' to check instead of the whole vocabulary.
//
// Server use: one VocabTrie per model; one TokenGrammar per schema (cache it by schema text:
// it is shareable across requests and threads, and its mask cache warms up with use); one
// GrammarConstraint per generation.
//   auto vocab = std::make_shared<VocabTrie>(tokenizer);
//   // response_format {"type": "json_object"}:
//   auto grammar = json_object_grammar();
//   // response_format {"type": "json_schema", "json_schema": {"schema": S, ...}}:
//   auto grammar = json_schema_grammar(JsonSchema::compile(S, "response_format.json_schema.schema"));
//   // tool calls ({"name": ..., "arguments": {...}} for any of the request's tools; with
//   // tool_choice naming one tool, compile just its function.parameters instead):
//   auto grammar = json_schema_grammar(JsonSchema::compile(tool_call_schema(tools, "tools"), "tools"));
//   GrammarConstraint constraint(std::make_shared<TokenGrammar>(grammar, vocab), model.eos_ids);
//   options.constraint = &constraint;  generate(...);  reply with constraint.text()
// Schema errors are Error("<path>: <problem>"): a 400 for the request.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/grammar.h"
#include "text/token_constraint.h"
#include "text/tokenizer.h"

namespace edgerun {

// The vocabulary's byte strings as a prefix tree, stored in preorder: node 0 is the root (the
// empty prefix); the subtree of node i is nodes i .. subtree_end(i) - 1.
class VocabTrie {
 public:
  // Every token's Tokenizer::token_bytes except special tokens and ones without bytes.
  explicit VocabTrie(const Tokenizer& tokenizer);
  // Token i has bytes token_bytes[i]; empty strings are never allowed.
  explicit VocabTrie(std::vector<std::string> token_bytes);

  int32_t vocab_size() const { return int32_t(bytes_.size()); }
  const std::string& token_bytes(int32_t id) const { return bytes_[size_t(id)]; }
  size_t max_token_bytes() const { return max_token_bytes_; }

  uint32_t node_count() const { return uint32_t(byte_.size()); }
  uint8_t byte(uint32_t node) const { return byte_[node]; }
  uint32_t depth(uint32_t node) const { return depth_[node]; }
  uint32_t parent(uint32_t node) const { return parent_[node]; }
  uint32_t subtree_end(uint32_t node) const { return subtree_end_[node]; }
  // The tokens whose bytes end at `node`: tokens_[first_token(node) .. first_token(node + 1)).
  const int32_t* tokens_begin(uint32_t node) const { return tokens_.data() + first_token_[node]; }
  const int32_t* tokens_end(uint32_t node) const { return tokens_.data() + first_token_[node + 1]; }

 private:
  void build();
  std::vector<std::string> bytes_;
  size_t max_token_bytes_ = 0;
  std::vector<uint8_t> byte_;
  std::vector<uint16_t> depth_;
  std::vector<uint32_t> parent_, subtree_end_, first_token_;
  std::vector<int32_t> tokens_;
};

// A bitset over token ids.
using TokenBits = std::vector<uint64_t>;
inline bool token_bit(const TokenBits& bits, int32_t id) { return (bits[size_t(id) >> 6] >> (id & 63)) & 1; }

// Scratch space of one caller (a GrammarConstraint): not shared between threads.
struct MaskScratch {
  StackArena arena;
  std::vector<StackSet> levels;          // stack sets by trie depth during a walk
  std::vector<StackSet> replay;          // stack sets along the path to an escape node
  std::vector<uint32_t> replay_path;     // trie nodes of that path
  StackNode boundary{};                  // marks the bottom of walks that start inside a rule
};

// A grammar bound to a vocabulary, with the cache of per-position token sets.
class TokenGrammar {
 public:
  TokenGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabTrie> vocab);
  const std::shared_ptr<const Grammar>& grammar() const { return grammar_; }
  const VocabTrie& vocab() const { return *vocab_; }

  // Sets in `allowed` (vocab_size bits) every token some stack of `state` can read next.
  void add_allowed(const StackSet& state, MaskScratch& scratch, TokenBits& allowed) const;
  // The same by walking the whole prefix tree for every step (no cache): for tests and timing.
  void add_allowed_uncached(const StackSet& state, MaskScratch& scratch, TokenBits& allowed) const;
  size_t cache_entries() const;

 private:
  struct Entry {
    TokenBits accepted;              // tokens read without leaving the top frame's rule
    std::vector<uint32_t> escapes;   // trie nodes after which a parse left it
  };
  struct KeyHash {
    size_t operator()(const Frame& f) const {
      return std::hash<uint64_t>()((uint64_t(f.element) << 32) ^ (uint64_t(f.count) << 16) ^ f.state);
    }
  };
  Frame cache_key(const Frame& top) const;
  const Entry& entry_for(const Frame& top, MaskScratch& scratch, Entry& uncached) const;
  void walk(const GrammarStepper& step, const StackSet& start, uint32_t node, MaskScratch& scratch,
            TokenBits& accepted, std::vector<uint32_t>* escapes) const;
  void walk_escapes(const Stack& stack, const std::vector<uint32_t>& escapes, MaskScratch& scratch,
                    TokenBits& allowed) const;

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const VocabTrie> vocab_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<Frame, std::unique_ptr<Entry>, KeyHash> cache_;
};

// The constraint for one generation.
class GrammarConstraint : public TokenConstraint {
 public:
  // `end_tokens` (the model's EOS ids) are allowed once the text is a complete match.
  GrammarConstraint(std::shared_ptr<const TokenGrammar> grammar, std::vector<int32_t> end_tokens);

  void mask_logits(float* logits, int64_t n) override;
  void accept(int32_t token) override;
  bool finished() const override;

  // The tokens allowed next (bits over the vocabulary, end tokens included when allowed).
  const TokenBits& allowed();
  bool is_allowed(int32_t token) { return token >= 0 && token < vocab_bits() && token_bit(allowed(), token); }
  bool is_complete() const { return matcher_.is_complete(); }
  // The bytes of the accepted tokens: the text the grammar matched. Reply with this rather than a
  // re-decoding, which may post-process spaces.
  const std::string& text() const { return text_; }
  const GrammarMatcher& matcher() const { return matcher_; }

 private:
  int32_t vocab_bits() const;
  std::shared_ptr<const TokenGrammar> grammar_;
  std::vector<int32_t> end_tokens_;
  GrammarMatcher matcher_;
  MaskScratch scratch_;
  TokenBits allowed_;
  bool allowed_ready_ = false;
  bool ended_ = false;  // an end token was accepted
  std::string text_;
};

}  // namespace edgerun
