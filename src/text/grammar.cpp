#include "text/grammar.h"

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "core/error.h"

namespace edgerun {

// --- ByteDfa ---------------------------------------------------------------------------------

int32_t ByteDfa::add_state(bool accepting, bool starts_unit) {
  if (states() >= kReject) fail("grammar", "automaton has too many states");
  accepting_.push_back(accepting);
  starts_unit_.push_back(starts_unit);
  next_.resize(next_.size() + 256, kReject);
  return states() - 1;
}

void ByteDfa::set(int32_t from, uint8_t lo, uint8_t hi, int32_t to) {
  for (int b = lo; b <= hi; ++b) next_[size_t(from) * 256 + size_t(b)] = uint16_t(to);
}

void ByteDfa::remove_bytes(const ByteSet& bytes) {
  for (int32_t s = 0; s < states(); ++s)
    for (int b = 0; b < 256; ++b)
      if (bytes.has(uint8_t(b))) next_[size_t(s) * 256 + size_t(b)] = kReject;
}

void ByteDfa::finish() {
  // Shortest paths to acceptance backwards from the accepting states; an edge costs one unit
  // when its byte begins one (0-1 breadth-first search).
  const int32_t n = states();
  std::vector<std::vector<std::pair<int32_t, uint32_t>>> into(static_cast<size_t>(n));
  for (int32_t s = 0; s < n; ++s)
    for (int b = 0; b < 256; ++b)
      if (const uint16_t t = next(uint32_t(s), uint8_t(b)); t != kReject)
        into[t].emplace_back(s, starts_unit_[size_t(s)] ? 1u : 0u);
  units_to_accept_.assign(size_t(n), kUnreachable);
  std::deque<int32_t> queue;
  for (int32_t s = 0; s < n; ++s)
    if (accepting_[size_t(s)]) {
      units_to_accept_[size_t(s)] = 0;
      queue.push_back(s);
    }
  while (!queue.empty()) {
    const int32_t t = queue.front();
    queue.pop_front();
    for (const auto& [s, cost] : into[size_t(t)]) {
      const uint32_t d = units_to_accept_[size_t(t)] + cost;
      if (d >= units_to_accept_[size_t(s)]) continue;
      units_to_accept_[size_t(s)] = d;
      if (cost == 0) queue.push_front(s);
      else queue.push_back(s);
    }
  }
  max_finite_units_to_accept_ = 0;
  for (uint32_t d : units_to_accept_)
    if (d != kUnreachable) max_finite_units_to_accept_ = std::max(max_finite_units_to_accept_, d);
}

// --- Grammar ---------------------------------------------------------------------------------

uint32_t Grammar::add_rule(std::string name) {
  rules_.push_back(GrammarRule{std::move(name), {}});
  return uint32_t(rules_.size() - 1);
}

void Grammar::add_alternative(uint32_t rule, const std::vector<Element>& sequence) {
  rules_.at(rule).alternatives.push_back(uint32_t(elements_.size()));
  elements_.insert(elements_.end(), sequence.begin(), sequence.end());
  elements_.push_back(Element{});  // kEnd
}

uint32_t Grammar::add_byte_set(const ByteSet& set) {
  for (size_t i = 0; i < byte_sets_.size(); ++i)
    if (byte_sets_[i] == set) return uint32_t(i);
  byte_sets_.push_back(set);
  return uint32_t(byte_sets_.size() - 1);
}

uint32_t Grammar::add_dfa(ByteDfa dfa) {
  dfas_.push_back(std::move(dfa));
  return uint32_t(dfas_.size() - 1);
}

Element Grammar::bytes(const ByteSet& set, uint32_t min, uint32_t max) {
  return Element{ElementKind::kBytes, add_byte_set(set), min, max};
}

Element Grammar::byte(uint8_t b, uint32_t min, uint32_t max) {
  ByteSet set;
  set.add(b);
  return bytes(set, min, max);
}

Element Grammar::rule(uint32_t rule, uint32_t min, uint32_t max) const {
  return Element{ElementKind::kRule, rule, min, max};
}

Element Grammar::lexeme(uint32_t dfa, uint32_t min_units, uint32_t max_units) const {
  return Element{ElementKind::kLexeme, dfa, min_units, max_units};
}

std::vector<Element> Grammar::literal(std::string_view text) {
  std::vector<Element> out;
  for (char c : text) out.push_back(byte(uint8_t(c)));
  return out;
}

bool Grammar::element_productive(const Element& e, const std::vector<bool>& productive) const {
  if (e.min == 0 && e.kind != ElementKind::kLexeme) return true;  // a lexeme's min counts units
  switch (e.kind) {
    case ElementKind::kBytes: return !byte_sets_[e.index].empty();
    case ElementKind::kRule: return productive[e.index];
    case ElementKind::kLexeme: {
      const uint32_t need = dfas_[e.index].units_to_accept(0);
      return e.min <= e.max && need != ByteDfa::kUnreachable && need <= e.max;
    }
    case ElementKind::kEnd: return true;
  }
  return true;
}

std::vector<bool> Grammar::productive_rules() const {
  std::vector<bool> productive(rules_.size(), false);
  auto element_ok = [&](const Element& e) { return element_productive(e, productive); };
  for (bool changed = true; changed;) {  // fixpoint: a rule completes once one alternative can
    changed = false;
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (productive[r]) continue;
      for (uint32_t alt : rules_[r].alternatives) {
        bool ok = true;
        for (uint32_t i = alt; ok && elements_[i].kind != ElementKind::kEnd; ++i) ok = element_ok(elements_[i]);
        if (ok) {
          productive[r] = changed = true;
          break;
        }
      }
    }
  }
  return productive;
}

void Grammar::check_acyclic() const {
  enum Mark : uint8_t { kNew, kOpen, kDone };
  std::vector<Mark> mark(rules_.size(), kNew);
  std::vector<bool> nullable(rules_.size(), false);
  // Iterative depth-first search: (rule, next alternative element to look at).
  for (size_t start = 0; start < rules_.size(); ++start) {
    if (mark[start] != kNew) continue;
    std::vector<std::pair<uint32_t, std::vector<uint32_t>>> stack;
    auto open = [&](uint32_t r) {
      mark[r] = kOpen;
      std::vector<uint32_t> refs;
      for (uint32_t alt : rules_[r].alternatives)
        for (uint32_t i = alt; elements_[i].kind != ElementKind::kEnd; ++i)
          if (elements_[i].kind == ElementKind::kRule && elements_[i].max > 0) refs.push_back(elements_[i].index);
      stack.emplace_back(r, std::move(refs));
    };
    open(uint32_t(start));
    while (!stack.empty()) {
      auto& [r, refs] = stack.back();
      if (refs.empty()) {
        mark[r] = kDone;
        stack.pop_back();
        continue;
      }
      const uint32_t next = refs.back();
      refs.pop_back();
      if (mark[next] == kOpen) fail("grammar", "rule '" + rules_[next].name + "' contains itself");
      if (mark[next] == kNew) open(next);
    }
  }
  // Acyclic, so nullability settles in one pass per rule count at most.
  for (size_t pass = 0; pass < rules_.size() + 1; ++pass)
    for (size_t r = 0; r < rules_.size(); ++r)
      for (uint32_t alt : rules_[r].alternatives) {
        bool empty = true;
        for (uint32_t i = alt; empty && elements_[i].kind != ElementKind::kEnd; ++i) {
          const Element& e = elements_[i];
          empty = e.min == 0 || (e.kind == ElementKind::kRule && nullable[e.index]);
        }
        if (empty) nullable[r] = true;
      }
  for (const Element& e : elements_)
    if (e.kind == ElementKind::kRule && e.max > 1 && nullable[e.index])
      fail("grammar", "rule '" + rules_[e.index].name + "' can match nothing and is repeated");
}

std::string Grammar::failure_cause(uint32_t root, const std::vector<bool>& productive) const {
  // Breadth-first through the required parts that cannot complete, to the first rule that fails
  // on its own (no alternatives, or only ones whose bytes or lexemes cannot complete).
  std::vector<uint32_t> queue{root};
  std::vector<bool> seen(rules_.size(), false);
  seen[root] = true;
  for (size_t q = 0; q < queue.size(); ++q) {
    bool intrinsic = true;
    for (uint32_t alt : rules_[queue[q]].alternatives)
      for (uint32_t i = alt; elements_[i].kind != ElementKind::kEnd; ++i) {
        const Element& e = elements_[i];
        if (e.kind != ElementKind::kRule || e.min == 0 || productive[e.index]) continue;
        intrinsic = false;
        if (!seen[e.index]) {
          seen[e.index] = true;
          queue.push_back(e.index);
        }
      }
    if (intrinsic) return rules_[queue[q]].name;
  }
  return rules_[root].name;
}

bool Grammar::finalize(uint32_t root, std::string* cause) {
  const std::vector<bool> productive = productive_rules();
  if (!productive.at(root)) {
    if (cause) *cause = failure_cause(root, productive);
    return false;
  }
  for (GrammarRule& r : rules_) {
    std::vector<uint32_t> kept;
    for (uint32_t alt : r.alternatives) {
      bool ok = true;
      for (uint32_t i = alt; elements_[i].kind != ElementKind::kEnd; ++i) {
        Element& e = elements_[i];
        if (e.kind != ElementKind::kRule || productive[e.index]) continue;
        if (e.min > 0) ok = false;
        else e.max = 0;  // an optional part that can never complete is never entered
      }
      if (ok) kept.push_back(alt);
    }
    r.alternatives = std::move(kept);
  }
  check_acyclic();
  // The root is entered through one element of its own so that finishing it pops to nothing.
  root_ = uint32_t(elements_.size());
  elements_.push_back(rule(root));
  elements_.push_back(Element{});
  return true;
}

// --- Matching --------------------------------------------------------------------------------

const StackNode* StackArena::make(const Frame& frame, const StackNode* parent) {
  const size_t chunk = used_ / kChunk;
  if (chunk == chunks_.size()) chunks_.push_back(std::make_unique<StackNode[]>(kChunk));
  StackNode& node = chunks_[chunk][used_ % kChunk];
  ++used_;
  node.frame = frame;
  node.parent = parent;
  return &node;
}

namespace {
void add_stack(StackSet& out, const Stack& s) {
  // Ambiguous grammars reach one position by several parses: keep one. Large sets skip the
  // (quadratic) check and are bounded by kMaxStacks instead.
  if (out.stacks.size() >= kMaxStacks) return;
  if (out.stacks.size() <= 64)
    for (const Stack& t : out.stacks)
      if (t.top == s.top && t.parent == s.parent) return;
  out.stacks.push_back(s);
}
}  // namespace

void GrammarStepper::expand(const Frame& frame, const StackNode* parent, StackSet& out) const {
  const Element& e = g_.element(frame.element);
  const Frame after{frame.element + 1, 0, 0};
  switch (e.kind) {
    case ElementKind::kEnd: {
      if (!parent) {
        out.complete = true;
      } else if (parent == boundary_) {
        out.escaped = true;
      } else {
        Frame up = parent->frame;
        ++up.count;
        for (const auto& [node, count] : out.completed)
          if (node == parent && count == up.count) return;
        out.completed.emplace_back(parent, up.count);
        expand(up, parent->parent, out);
      }
      return;
    }
    case ElementKind::kRule:
      if (frame.count < e.max) {
        const StackNode* node = arena_.make(frame, parent);
        for (uint32_t alt : g_.rule_at(e.index).alternatives) expand(Frame{alt, 0, 0}, node, out);
      }
      if (frame.count >= e.min) expand(after, parent, out);
      return;
    case ElementKind::kBytes:
      if (frame.count < e.max) add_stack(out, Stack{frame, parent});
      if (frame.count >= e.min) expand(after, parent, out);
      return;
    case ElementKind::kLexeme: {
      const ByteDfa& dfa = g_.dfa(e.index);
      if (!(dfa.starts_unit(frame.state) && frame.count >= e.max)) add_stack(out, Stack{frame, parent});
      if (dfa.accepting(frame.state) && frame.count >= e.min) expand(after, parent, out);
      return;
    }
  }
}

bool GrammarStepper::read(const Frame& top, uint8_t b, Frame& next) const {
  const Element& e = g_.element(top.element);
  if (e.kind == ElementKind::kBytes) {
    if (!g_.byte_set(e.index).has(b)) return false;
    next = Frame{top.element, top.count + 1, 0};
    return true;
  }
  const ByteDfa& dfa = g_.dfa(e.index);
  const uint16_t to = dfa.next(top.state, b);
  if (to == ByteDfa::kReject) return false;
  const uint64_t units = uint64_t(top.count) + dfa.starts_unit(top.state);
  const uint32_t need = dfa.units_to_accept(to);
  // Refuse a byte after which the lexeme could not end within its unit limit.
  if (need == ByteDfa::kUnreachable || units + need > e.max) return false;
  next = Frame{top.element, uint32_t(units), to};
  return true;
}

bool GrammarStepper::advance(const StackSet& from, uint8_t b, StackSet& out) const {
  bool alive = false;
  for (const Stack& s : from.stacks) {
    Frame next;
    if (!read(s.top, b, next)) continue;
    alive = true;
    expand(next, s.parent, out);
  }
  return alive;
}

void GrammarStepper::start(StackSet& out) const { expand(Frame{g_.root(), 0, 0}, nullptr, out); }

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> grammar) : grammar_(std::move(grammar)) {
  reset();
}

void GrammarMatcher::reset() {
  arena_.reset();
  current_.clear();
  GrammarStepper(*grammar_, arena_).start(current_);
}

namespace {
// Reads `bytes` from `set` in place; false as soon as one is rejected.
bool advance_text(const GrammarStepper& step, StackSet& set, std::string_view bytes) {
  StackSet next;
  for (char c : bytes) {
    next.clear();
    if (!step.advance(set, uint8_t(c), next)) return false;
    std::swap(set, next);
  }
  return true;
}
}  // namespace

bool GrammarMatcher::accept(std::string_view bytes) {
  StackSet set = current_;
  if (!advance_text(GrammarStepper(*grammar_, arena_), set, bytes)) return false;
  current_ = std::move(set);
  compact();
  return true;
}

bool GrammarMatcher::can_accept(std::string_view bytes) const {
  StackArena scratch;
  StackSet set = current_;
  return advance_text(GrammarStepper(*grammar_, scratch), set, bytes);
}

ByteSet GrammarMatcher::allowed_bytes() const {
  ByteSet out;
  StackArena scratch;
  const GrammarStepper step(*grammar_, scratch);
  for (int b = 0; b < 256; ++b) {
    StackSet next;
    StackSet one;
    for (const Stack& s : current_.stacks) {
      one.stacks.assign(1, s);
      if (step.advance(one, uint8_t(b), next)) {
        out.add(uint8_t(b));
        break;
      }
    }
  }
  return out;
}

void GrammarMatcher::compact() {
  spare_.reset();
  std::unordered_map<const StackNode*, const StackNode*> moved;
  auto move = [&](auto&& self, const StackNode* node) -> const StackNode* {
    if (!node) return nullptr;
    if (auto it = moved.find(node); it != moved.end()) return it->second;
    const StackNode* copy = spare_.make(node->frame, self(self, node->parent));
    moved.emplace(node, copy);
    return copy;
  };
  for (Stack& s : current_.stacks) s.parent = move(move, s.parent);
  std::swap(arena_, spare_);
}

}  // namespace edgerun
