#include "text/grammar_constraint.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace edgerun {

// --- VocabTrie -------------------------------------------------------------------------------

namespace {
constexpr size_t kMaxTokenBytes = 0xFFFF;  // longer tokens (none in practice) are never allowed
constexpr size_t kMaxCacheEntries = 4096;  // per TokenGrammar; beyond it masks are computed afresh

std::vector<std::string> tokenizer_bytes(const Tokenizer& tokenizer) {
  std::vector<std::string> out(size_t(std::max(tokenizer.vocab_size(), 0)));
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id)
    if (!tokenizer.is_special(id)) out[size_t(id)] = tokenizer.token_bytes(id);
  return out;
}
}  // namespace

VocabTrie::VocabTrie(const Tokenizer& tokenizer) : VocabTrie(tokenizer_bytes(tokenizer)) {}

VocabTrie::VocabTrie(std::vector<std::string> token_bytes) : bytes_(std::move(token_bytes)) {
  for (std::string& b : bytes_)
    if (b.size() > kMaxTokenBytes) b.clear();
  build();
}

void VocabTrie::build() {
  // Sorted byte strings arrive in preorder: each token shares a prefix with the one before it,
  // pops the nodes below that prefix and pushes the rest.
  std::vector<int32_t> order;
  for (int32_t id = 0; id < vocab_size(); ++id)
    if (!bytes_[size_t(id)].empty()) order.push_back(id);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return bytes_[size_t(a)] < bytes_[size_t(b)] || (bytes_[size_t(a)] == bytes_[size_t(b)] && a < b); });
  byte_.assign(1, 0);
  depth_.assign(1, 0);
  parent_.assign(1, 0);
  subtree_end_.assign(1, 0);
  first_token_.assign(1, 0);
  std::vector<uint32_t> path{0};  // nodes of the current prefix, root first
  const std::string* previous = nullptr;
  auto close_to = [&](size_t depth) {
    while (path.size() > depth + 1) {
      subtree_end_[path.back()] = uint32_t(byte_.size());
      path.pop_back();
    }
  };
  for (int32_t id : order) {
    const std::string& s = bytes_[size_t(id)];
    max_token_bytes_ = std::max(max_token_bytes_, s.size());
    size_t common = 0;
    if (previous)
      while (common < s.size() && common < previous->size() && s[common] == (*previous)[common]) ++common;
    close_to(common);
    for (size_t d = common; d < s.size(); ++d) {
      const uint32_t node = uint32_t(byte_.size());
      byte_.push_back(uint8_t(s[d]));
      depth_.push_back(uint16_t(d + 1));
      parent_.push_back(path.back());
      subtree_end_.push_back(0);
      first_token_.push_back(uint32_t(tokens_.size()));
      path.push_back(node);
    }
    tokens_.push_back(id);  // ends at path.back(), the newest node, so node ranges stay contiguous
    previous = &s;
  }
  close_to(0);
  subtree_end_[0] = uint32_t(byte_.size());
  first_token_.push_back(uint32_t(tokens_.size()));
}

// --- TokenGrammar ----------------------------------------------------------------------------

TokenGrammar::TokenGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const VocabTrie> vocab)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)) {}

size_t TokenGrammar::cache_entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cache_.size();
}

namespace {
void set_tokens(const VocabTrie& trie, uint32_t node, TokenBits& bits) {
  for (const int32_t* t = trie.tokens_begin(node); t != trie.tokens_end(node); ++t)
    bits[size_t(*t) >> 6] |= uint64_t(1) << (*t & 63);
}

void ensure_levels(std::vector<StackSet>& levels, size_t n) {
  if (levels.size() < n) levels.resize(n);
}
}  // namespace

void TokenGrammar::walk(const GrammarStepper& step, const StackSet& start, uint32_t node, MaskScratch& scratch,
                        TokenBits& accepted, std::vector<uint32_t>* escapes) const {
  // The subtree below `node`, in preorder: the stack set of a node's parent is the last one
  // computed one level up.
  const VocabTrie& trie = *vocab_;
  const uint32_t base = trie.depth(node);
  ensure_levels(scratch.levels, trie.max_token_bytes() + 1);
  for (uint32_t i = node + 1, end = trie.subtree_end(node); i < end;) {
    const uint32_t d = trie.depth(i) - base;
    const StackSet& from = d == 1 ? start : scratch.levels[d - 1];
    StackSet& to = scratch.levels[d];
    to.clear();
    if (!step.advance(from, trie.byte(i), to)) {
      i = trie.subtree_end(i);
      continue;
    }
    set_tokens(trie, i, accepted);
    if (escapes && to.escaped) escapes->push_back(i);
    i = to.stacks.empty() ? trie.subtree_end(i) : i + 1;
  }
}

Frame TokenGrammar::cache_key(const Frame& top) const {
  // A lexeme's unit count matters only near its bounds: far from them (further than one token
  // can reach) every count behaves alike and shares one entry.
  const Element& e = grammar_->element(top.element);
  Frame key = top;
  if (e.kind == ElementKind::kLexeme) {
    const uint64_t reach = uint64_t(vocab_->max_token_bytes()) + grammar_->dfa(e.index).max_finite_units_to_accept() + 1;
    if (top.count >= e.min && uint64_t(e.max) - top.count > reach) key.count = kUnbounded;
  }
  return key;
}

const TokenGrammar::Entry& TokenGrammar::entry_for(const Frame& top, MaskScratch& scratch, Entry& uncached) const {
  const Frame key = cache_key(top);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = cache_.find(key); it != cache_.end()) return *it->second;
  }
  auto entry = std::make_unique<Entry>();
  entry->accepted.assign((size_t(vocab_->vocab_size()) + 63) / 64, 0);
  StackSet start;
  start.stacks.push_back(Stack{top, &scratch.boundary});
  walk(GrammarStepper(*grammar_, scratch.arena, &scratch.boundary), start, 0, scratch, entry->accepted, &entry->escapes);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = cache_.find(key); it != cache_.end()) return *it->second;  // another thread was first
  if (cache_.size() >= kMaxCacheEntries) {
    uncached = std::move(*entry);
    return uncached;
  }
  return *cache_.emplace(key, std::move(entry)).first->second;
}

void TokenGrammar::walk_escapes(const Stack& stack, const std::vector<uint32_t>& escapes, MaskScratch& scratch,
                                TokenBits& allowed) const {
  // For each node where the cached walk left the top frame's rule: the real stacks after that
  // node's bytes, then its subtree. Consecutive escape nodes (preorder) share path prefixes, so
  // the replayed sets along the previous path are reused.
  const VocabTrie& trie = *vocab_;
  const GrammarStepper step(*grammar_, scratch.arena);
  ensure_levels(scratch.replay, trie.max_token_bytes() + 1);
  scratch.replay[0].clear();
  scratch.replay[0].stacks.push_back(stack);
  scratch.replay_path.clear();
  std::vector<uint32_t> path;
  for (uint32_t node : escapes) {
    path.clear();
    for (uint32_t n = node; n != 0; n = trie.parent(n)) path.push_back(n);
    std::reverse(path.begin(), path.end());
    size_t common = 0;
    while (common < path.size() && common < scratch.replay_path.size() && path[common] == scratch.replay_path[common])
      ++common;
    bool alive = true;
    for (size_t d = common; d < path.size() && alive; ++d) {
      scratch.replay[d + 1].clear();
      alive = step.advance(scratch.replay[d], trie.byte(path[d]), scratch.replay[d + 1]);
    }
    scratch.replay_path = path;
    if (!alive) {  // cannot happen for a consistent cache; stay safe by allowing nothing more
      scratch.replay_path.clear();
      continue;
    }
    walk(step, scratch.replay[path.size()], node, scratch, allowed, nullptr);
  }
}

void TokenGrammar::add_allowed(const StackSet& state, MaskScratch& scratch, TokenBits& allowed) const {
  Entry uncached;
  for (const Stack& stack : state.stacks) {
    const Entry& entry = entry_for(stack.top, scratch, uncached);
    for (size_t w = 0; w < allowed.size() && w < entry.accepted.size(); ++w) allowed[w] |= entry.accepted[w];
    walk_escapes(stack, entry.escapes, scratch, allowed);
  }
  scratch.arena.reset();
}

void TokenGrammar::add_allowed_uncached(const StackSet& state, MaskScratch& scratch, TokenBits& allowed) const {
  walk(GrammarStepper(*grammar_, scratch.arena), state, 0, scratch, allowed, nullptr);
  scratch.arena.reset();
}

// --- GrammarConstraint -----------------------------------------------------------------------

GrammarConstraint::GrammarConstraint(std::shared_ptr<const TokenGrammar> grammar, std::vector<int32_t> end_tokens)
    : grammar_(std::move(grammar)), end_tokens_(std::move(end_tokens)), matcher_(grammar_->grammar()) {}

int32_t GrammarConstraint::vocab_bits() const {
  int32_t n = grammar_->vocab().vocab_size();
  for (int32_t t : end_tokens_) n = std::max(n, t + 1);
  return n;
}

const TokenBits& GrammarConstraint::allowed() {
  if (allowed_ready_) return allowed_;
  allowed_.assign((size_t(vocab_bits()) + 63) / 64, 0);
  if (!ended_) {
    grammar_->add_allowed(matcher_.stacks(), scratch_, allowed_);
    if (matcher_.is_complete())
      for (int32_t t : end_tokens_)
        if (t >= 0) allowed_[size_t(t) >> 6] |= uint64_t(1) << (t & 63);
  }
  allowed_ready_ = true;
  return allowed_;
}

void GrammarConstraint::mask_logits(float* logits, int64_t n) {
  const TokenBits& bits = allowed();
  constexpr float kNever = -std::numeric_limits<float>::infinity();
  for (int64_t word = 0; word * 64 < n; ++word) {
    const uint64_t w = size_t(word) < bits.size() ? bits[size_t(word)] : 0;
    if (w == ~uint64_t(0)) continue;
    for (int64_t i = word * 64, end = std::min(n, i + 64); i < end; ++i)
      logits[i] = (w >> (i & 63)) & 1 ? logits[i] : kNever;  // a select, no branch
  }
}

void GrammarConstraint::accept(int32_t token) {
  if (!is_allowed(token)) fail("grammar", "token " + std::to_string(token) + " is not allowed here");
  allowed_ready_ = false;
  if (std::find(end_tokens_.begin(), end_tokens_.end(), token) != end_tokens_.end()) {
    ended_ = true;
    return;
  }
  const std::string& bytes = grammar_->vocab().token_bytes(token);
  if (!matcher_.accept(bytes)) fail("grammar", "token " + std::to_string(token) + " was allowed but not accepted (internal error)");
  text_ += bytes;
}

bool GrammarConstraint::finished() const { return ended_ || (matcher_.is_complete() && !matcher_.can_continue()); }

}  // namespace edgerun
