// A byte-level grammar for constrained generation, and the pushdown matcher that runs it.
//
// A Grammar is a set of rules; a rule is a list of alternatives; an alternative is a sequence of
// elements, each one of
//   - a byte set: one byte out of a set, repeated between min and max times;
//   - a rule reference, repeated between min and max times;
//   - a lexeme: a deterministic byte automaton (a JSON string body, a number) read as a whole,
//     between min and max units long, where a unit is what the automaton counts (characters).
// Grammars are acyclic: whoever builds one unrolls recursion to a fixed depth, so matching never
// loops and stacks stay shallow. Ambiguity is allowed: the matcher follows every parse at once.
//
// Matching state is a set of stacks. A stack's top frame sits on an element that reads bytes;
// its parents are immutable nodes shared between stacks (a persistent stack), so following a
// byte copies one frame and allocates only when a rule is entered.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgerun {

// A set of byte values.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t b) { bits[b >> 6] |= uint64_t(1) << (b & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add(uint8_t(b));
  }
  bool empty() const { return !(bits[0] | bits[1] | bits[2] | bits[3]); }
  bool operator==(const ByteSet&) const = default;
};

// A deterministic automaton over bytes; state 0 is the start. Units (usually characters) begin
// when a byte is read in a state marked unit-start.
class ByteDfa {
 public:
  static constexpr uint16_t kReject = 0xFFFF;
  int32_t add_state(bool accepting, bool starts_unit);
  void set(int32_t from, uint8_t lo, uint8_t hi, int32_t to);
  // Removes every transition on the bytes of `bytes`.
  void remove_bytes(const ByteSet& bytes);
  // Computes the distances to acceptance; call once all states and transitions are in (again
  // after remove_bytes).
  void finish();

  int32_t states() const { return int32_t(accepting_.size()); }
  uint16_t next(uint32_t state, uint8_t b) const { return next_[state * 256 + b]; }
  bool accepting(uint32_t state) const { return accepting_[state]; }
  bool starts_unit(uint32_t state) const { return starts_unit_[state]; }
  // Fewest units still to begin before an accepting state (kUnreachable when none is reachable).
  static constexpr uint32_t kUnreachable = 0xFFFFFFFF;
  uint32_t units_to_accept(uint32_t state) const { return units_to_accept_[state]; }
  uint32_t max_finite_units_to_accept() const { return max_finite_units_to_accept_; }

 private:
  std::vector<uint16_t> next_;  // [state * 256 + byte]
  std::vector<uint8_t> accepting_, starts_unit_;
  std::vector<uint32_t> units_to_accept_;
  uint32_t max_finite_units_to_accept_ = 0;
};

enum class ElementKind : uint8_t { kBytes, kRule, kLexeme, kEnd };

struct Element {
  ElementKind kind = ElementKind::kEnd;
  uint32_t index = 0;         // byte set, rule or automaton index
  uint32_t min = 1, max = 1;  // repeats (kBytes, kRule) or units (kLexeme)
};

inline constexpr uint32_t kUnbounded = 0xFFFFFFFF;

struct GrammarRule {
  std::string name;                    // for messages: what the rule stands for
  std::vector<uint32_t> alternatives;  // index of each alternative's first element
};

class Grammar {
 public:
  uint32_t add_rule(std::string name);
  // Appends an alternative (a sequence, possibly empty) to `rule`.
  void add_alternative(uint32_t rule, const std::vector<Element>& sequence);
  uint32_t add_byte_set(const ByteSet& set);  // equal sets share an index
  uint32_t add_dfa(ByteDfa dfa);              // `dfa` must be finished

  Element bytes(const ByteSet& set, uint32_t min = 1, uint32_t max = 1);
  Element byte(uint8_t b, uint32_t min = 1, uint32_t max = 1);
  Element rule(uint32_t rule, uint32_t min = 1, uint32_t max = 1) const;
  Element lexeme(uint32_t dfa, uint32_t min_units, uint32_t max_units) const;
  // The bytes of `text`, one element each.
  std::vector<Element> literal(std::string_view text);

  // Sets the start rule, drops alternatives that can never complete (they need a rule that has
  // none) and checks the rules are acyclic. Returns false when the root itself can never
  // complete, with `cause` (when given) set to the name of a rule at the bottom of the failure.
  // Throws Error for a malformed grammar (a cycle, an empty rule repeated).
  bool finalize(uint32_t root, std::string* cause = nullptr);

  uint32_t root() const { return root_; }
  const Element& element(uint32_t i) const { return elements_[i]; }
  const GrammarRule& rule_at(uint32_t i) const { return rules_[i]; }
  const ByteSet& byte_set(uint32_t i) const { return byte_sets_[i]; }
  const ByteDfa& dfa(uint32_t i) const { return dfas_[i]; }
  size_t rule_count() const { return rules_.size(); }
  size_t element_count() const { return elements_.size(); }

 private:
  bool element_productive(const Element& e, const std::vector<bool>& productive_rules) const;
  std::vector<bool> productive_rules() const;
  std::string failure_cause(uint32_t root, const std::vector<bool>& productive) const;
  void check_acyclic() const;

  std::vector<Element> elements_;
  std::vector<GrammarRule> rules_;
  std::vector<ByteSet> byte_sets_;
  std::vector<ByteDfa> dfas_;
  uint32_t root_ = 0;
};

// --- Matching -------------------------------------------------------------------------------

// A position in an alternative: the element, how many repeats of it are done (for a lexeme: how
// many units have begun) and the lexeme automaton's state.
struct Frame {
  uint32_t element = 0, count = 0, state = 0;
  bool operator==(const Frame&) const = default;
};

struct StackNode {
  Frame frame;
  const StackNode* parent;
};

// One parse: the top frame by value (it changes with every byte), the rest shared.
struct Stack {
  Frame top;
  const StackNode* parent;
};

// Storage for stack nodes with stable addresses; reset() reuses the memory.
class StackArena {
 public:
  const StackNode* make(const Frame& frame, const StackNode* parent);
  void reset() { used_ = 0; }
  size_t size() const { return used_; }

 private:
  static constexpr size_t kChunk = 4096;
  std::vector<std::unique_ptr<StackNode[]>> chunks_;
  size_t used_ = 0;
};

// The parses alive after some text: stacks whose top can read a byte, plus whether one parse has
// finished the root (`complete`) or, in a walk started inside a rule, left that rule (`escaped`).
struct StackSet {
  std::vector<Stack> stacks;
  bool complete = false;
  bool escaped = false;
  // Rule completions already followed while filling this set: (parent node, its new count).
  // Parses that diverged inside a rule and finish it together continue as one.
  std::vector<std::pair<const StackNode*, uint32_t>> completed;
  void clear() {
    stacks.clear();
    completed.clear();
    complete = escaped = false;
  }
};

// Upper bound on parses followed at once; beyond it further parses are dropped, which only
// narrows what may be generated (every kept parse is still valid).
inline constexpr size_t kMaxStacks = 4096;

// The step functions. `boundary` marks the bottom of a walk that starts inside a rule: popping
// to it sets `escaped` instead of continuing (null for walks from the root).
class GrammarStepper {
 public:
  GrammarStepper(const Grammar& grammar, StackArena& arena, const StackNode* boundary = nullptr)
      : g_(grammar), arena_(arena), boundary_(boundary) {}
  // Adds the stacks reached from `frame` (on any element) without reading a byte.
  void expand(const Frame& frame, const StackNode* parent, StackSet& out) const;
  // Reads `b` from every stack of `from` into `out`. Returns whether any stack read it (the
  // text stays valid), even when no stack can read further.
  bool advance(const StackSet& from, uint8_t b, StackSet& out) const;
  // The stacks at the start of the grammar.
  void start(StackSet& out) const;

 private:
  bool read(const Frame& top, uint8_t b, Frame& next) const;
  const Grammar& g_;
  StackArena& arena_;
  const StackNode* boundary_;
};

// Character-level matching of a text against a grammar.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar);
  // Reads `bytes`; false (and no change) when the grammar rejects any of them.
  bool accept(std::string_view bytes);
  // Whether `bytes` could be read next (no change).
  bool can_accept(std::string_view bytes) const;
  bool is_complete() const { return current_.complete; }   // the text read is a whole match
  bool can_continue() const { return !current_.stacks.empty(); }  // some byte may follow
  ByteSet allowed_bytes() const;
  const StackSet& stacks() const { return current_; }
  const Grammar& grammar() const { return *grammar_; }
  void reset();

 private:
  // Copies the live nodes into a fresh arena so garbage from rejected or past bytes is freed.
  void compact();
  std::shared_ptr<const Grammar> grammar_;
  StackArena arena_, spare_;
  StackSet current_;
};

}  // namespace edgerun
