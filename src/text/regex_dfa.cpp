// Pattern → syntax tree → Thompson NFA over UTF-8 bytes → DFA by subset construction.
#include "text/regex_dfa.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "text/unicode.h"

namespace edgerun {

namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxRepeat = 1000;
constexpr int kMaxGroupDepth = 64;  // nested parentheses (parsing and building recurse on them)
constexpr size_t kMaxNfaStates = 20000;
constexpr size_t kMaxDfaStates = 4000;

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;  // code point ranges, inclusive

Ranges normalized(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (const auto& [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) out.back().second = std::max(out.back().second, hi);
    else out.emplace_back(lo, hi);
  }
  return out;
}

// Every scalar value outside `r` (surrogates are not characters).
Ranges complement(const Ranges& r) {
  Ranges out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : normalized(r)) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  Ranges cut;
  for (const auto& [lo, hi] : out) {
    if (hi < 0xD800 || lo > 0xDFFF) {
      cut.emplace_back(lo, hi);
      continue;
    }
    if (lo < 0xD800) cut.emplace_back(lo, 0xD7FF);
    if (hi > 0xDFFF) cut.emplace_back(0xE000, hi);
  }
  return cut;
}

Ranges digit_class() { return {{'0', '9'}}; }
Ranges word_class() { return {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; }
Ranges space_class() {
  return {{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029},
          {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
}
Ranges any_char() { return complement({}); }
Ranges dot_class() { return complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}); }

struct RegexNode {
  enum Kind { kChars, kConcat, kAlternation, kRepeat } kind = kConcat;
  Ranges chars;
  std::vector<int> children;
  int min = 0, max = 0;  // kRepeat; max -1 = unbounded
};

class RegexParser {
 public:
  RegexParser(std::string_view pattern, const std::string& where) : where_(where) {
    for (size_t i = 0; i < pattern.size();) {
      uint32_t cp;
      i += text::utf8_next(pattern, i, &cp);
      cps_.push_back(cp);
    }
  }

  std::vector<RegexNode> nodes;

  // The whole pattern with JSON Schema's search semantics: each top-level alternative not
  // anchored with ^ / $ may have anything before / after it.
  int parse_pattern() {
    std::vector<int> alternatives;
    do {
      const bool start_anchor = eat('^');
      std::vector<int> parts;
      if (!start_anchor) parts.push_back(repeat(chars(any_char()), 0, -1));
      parts.push_back(parse_concat());
      const bool end_anchor = eat('$');
      if (!end_anchor) parts.push_back(repeat(chars(any_char()), 0, -1));
      alternatives.push_back(concat(parts));
    } while (eat('|'));
    if (pos_ < cps_.size()) error(cps_[pos_] == ')' ? "unmatched ')'" : "'^' and '$' are supported only at the ends");
    return alternatives.size() == 1 ? alternatives[0] : add(RegexNode{RegexNode::kAlternation, {}, alternatives});
  }

 private:
  [[noreturn]] void error(const std::string& problem) const {
    fail(where_, problem + " (at offset " + std::to_string(pos_) + " of the pattern)");
  }
  bool more() const { return pos_ < cps_.size(); }
  uint32_t peek() const { return cps_[pos_]; }
  bool eat(uint32_t c) {
    if (more() && peek() == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  int add(RegexNode n) {
    nodes.push_back(std::move(n));
    return int(nodes.size() - 1);
  }
  int chars(Ranges r) { return add(RegexNode{RegexNode::kChars, normalized(std::move(r)), {}}); }
  int concat(std::vector<int> parts) { return add(RegexNode{RegexNode::kConcat, {}, std::move(parts)}); }
  int repeat(int child, int min, int max) { return add(RegexNode{RegexNode::kRepeat, {}, {child}, min, max}); }

  int parse_alternation() {
    std::vector<int> alternatives{parse_concat()};
    while (eat('|')) alternatives.push_back(parse_concat());
    return alternatives.size() == 1 ? alternatives[0] : add(RegexNode{RegexNode::kAlternation, {}, alternatives});
  }

  int parse_concat() {
    std::vector<int> parts;
    while (more() && peek() != '|' && peek() != ')' && peek() != '$') parts.push_back(parse_quantified());
    if (more() && peek() == '$' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != '|' && cps_[pos_ + 1] != ')')
      error("'$' is supported only at the end");
    return concat(parts);
  }

  int parse_quantified() {
    const int atom = parse_atom();
    int min, max;
    if (eat('*')) min = 0, max = -1;
    else if (eat('+')) min = 1, max = -1;
    else if (eat('?')) min = 0, max = 1;
    else if (!parse_braces(min, max)) return atom;
    eat('?');  // a lazy quantifier matches the same strings
    int unused_min, unused_max;
    if (more() && (peek() == '*' || peek() == '+' || peek() == '?' || parse_braces(unused_min, unused_max)))
      error("nothing to repeat");  // as in JavaScript: a quantifier cannot follow another
    return repeat(atom, min, max);
  }

  // {n} {n,} {n,m}; false (nothing consumed) when what follows '{' is not a quantifier.
  bool parse_braces(int& min, int& max) {
    if (!more() || peek() != '{') return false;
    size_t p = pos_ + 1;
    auto number = [&](int& out) {
      const size_t from = p;
      long long v = 0;
      while (p < cps_.size() && cps_[p] >= '0' && cps_[p] <= '9') v = std::min<long long>(v * 10 + (cps_[p++] - '0'), 1 << 30);
      out = int(v);
      return p > from;
    };
    if (!number(min)) return false;
    max = min;
    if (p < cps_.size() && cps_[p] == ',') {
      ++p;
      if (!number(max)) max = -1;
    }
    if (p >= cps_.size() || cps_[p] != '}') return false;
    pos_ = p + 1;
    if (min > kMaxRepeat || max > kMaxRepeat) error("repeat count above " + std::to_string(kMaxRepeat));
    if (max >= 0 && max < min) error("repeat range {" + std::to_string(min) + "," + std::to_string(max) + "} is backwards");
    return true;
  }

  int parse_atom() {
    const uint32_t c = peek();
    ++pos_;
    switch (c) {
      case '(': {
        if (++group_depth_ > kMaxGroupDepth) error("groups nested more than " + std::to_string(kMaxGroupDepth) + " deep");
        if (eat('?')) {
          if (eat(':')) {
          } else if (eat('<') && more() && peek() != '=' && peek() != '!') {
            while (more() && peek() != '>') ++pos_;  // a named group matches as a plain one
            if (!eat('>')) error("unterminated group name");
          } else {
            error("lookaround assertions are unsupported");
          }
        }
        const int inner = parse_alternation();
        if (!eat(')')) error("missing ')'");
        --group_depth_;
        return inner;
      }
      case '[': return parse_class();
      case '.': return chars(dot_class());
      case '\\': return chars(parse_escape(false));
      case '*': case '+': case '?': error("nothing to repeat");
      case '^': error("'^' is supported only at the start");
      default: return chars({{c, c}});
    }
  }

  Ranges parse_escape(bool in_class) {
    if (!more()) error("pattern ends with '\\'");
    const uint32_t c = peek();
    ++pos_;
    switch (c) {
      case 'd': return digit_class();
      case 'D': return complement(digit_class());
      case 'w': return word_class();
      case 'W': return complement(word_class());
      case 's': return space_class();
      case 'S': return complement(space_class());
      case 'n': return {{'\n', '\n'}};
      case 't': return {{'\t', '\t'}};
      case 'r': return {{'\r', '\r'}};
      case 'f': return {{'\f', '\f'}};
      case 'v': return {{'\v', '\v'}};
      case '0': return {{0, 0}};
      case 'b':
        if (in_class) return {{'\b', '\b'}};
        error("word boundaries (\\b) are unsupported");
      case 'x': case 'u': {
        const int digits = c == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < digits; ++i) {
          if (!more() || !std::isxdigit(int(peek() < 128 ? peek() : 0))) error("expected hex digits after \\" + std::string(1, char(c)));
          const uint32_t h = peek();
          ++pos_;
          v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        return {{v, v}};
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9'))
          error("unsupported escape \\" + text::utf8_encode(c));
        return {{c, c}};  // an escaped punctuation character stands for itself
    }
  }

  int parse_class() {
    const bool negate = eat('^');
    Ranges r;
    bool first = true;
    while (more() && (peek() != ']' || first)) {
      first = false;
      auto item = [&]() -> Ranges {
        const uint32_t c = peek();
        ++pos_;
        return c == '\\' ? parse_escape(true) : Ranges{{c, c}};
      };
      Ranges lo = item();
      if (lo.size() == 1 && lo[0].first == lo[0].second && more() && peek() == '-' && pos_ + 1 < cps_.size() &&
          cps_[pos_ + 1] != ']') {
        ++pos_;
        const Ranges hi = item();
        if (hi.size() != 1 || hi[0].first != hi[0].second) error("a class range must end in one character");
        if (hi[0].first < lo[0].first) error("class range is backwards");
        r.emplace_back(lo[0].first, hi[0].first);
      } else {
        r.insert(r.end(), lo.begin(), lo.end());
      }
    }
    if (!eat(']')) error("missing ']'");
    return chars(negate ? complement(r) : r);
  }

  std::vector<uint32_t> cps_;
  size_t pos_ = 0;
  int group_depth_ = 0;
  std::string where_;
};

// Splits code points [lo, hi] into runs whose UTF-8 encodings are products of byte ranges.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  for (uint32_t bound : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= bound && hi > bound) {
      utf8_sequences(lo, bound, out);
      utf8_sequences(bound + 1, hi, out);
      return;
    }
  }
  const std::string a = text::utf8_encode(lo), b = text::utf8_encode(hi);
  for (size_t i = 1; i < a.size(); ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) == (hi & ~m)) continue;
    if ((lo & m) != 0) {
      utf8_sequences(lo, lo | m, out);
      utf8_sequences((lo | m) + 1, hi, out);
      return;
    }
    if ((hi & m) != m) {
      utf8_sequences(lo, (hi & ~m) - 1, out);
      utf8_sequences(hi & ~m, hi, out);
      return;
    }
  }
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (size_t i = 0; i < a.size(); ++i) seq.emplace_back(uint8_t(a[i]), uint8_t(b[i]));
  out.push_back(std::move(seq));
}

struct Nfa {
  struct Edge {
    uint8_t lo, hi;
    int to;
  };
  struct State {
    std::vector<Edge> edges;
    std::vector<int> epsilon;
    bool mid_char = false;  // inside a multi-byte character
  };
  std::vector<State> states;
  std::string where;

  int add(bool mid_char = false) {
    if (states.size() >= kMaxNfaStates) fail(where, "pattern is too large");
    states.push_back(State{{}, {}, mid_char});
    return int(states.size() - 1);
  }

  // Builds `node` between fresh states; returns {start, end}.
  std::pair<int, int> build(const std::vector<RegexNode>& nodes, int index) {
    const RegexNode& n = nodes[size_t(index)];
    const int start = add(), end = add();
    switch (n.kind) {
      case RegexNode::kChars: {
        std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
        for (const auto& [lo, hi] : n.chars) utf8_sequences(lo, hi, seqs);
        for (const auto& seq : seqs) {
          int at = start;
          for (size_t i = 0; i < seq.size(); ++i) {
            const int to = i + 1 == seq.size() ? end : add(true);
            states[size_t(at)].edges.push_back(Edge{seq[i].first, seq[i].second, to});
            at = to;
          }
        }
        break;
      }
      case RegexNode::kConcat: {
        int at = start;
        for (int child : n.children) {
          const auto [s, e] = build(nodes, child);
          states[size_t(at)].epsilon.push_back(s);
          at = e;
        }
        states[size_t(at)].epsilon.push_back(end);
        break;
      }
      case RegexNode::kAlternation:
        for (int child : n.children) {
          const auto [s, e] = build(nodes, child);
          states[size_t(start)].epsilon.push_back(s);
          states[size_t(e)].epsilon.push_back(end);
        }
        break;
      case RegexNode::kRepeat: {
        int at = start;
        const int copies = n.max < 0 ? std::max(n.min, 1) : n.max;
        for (int i = 0; i < copies; ++i) {
          const auto [s, e] = build(nodes, n.children[0]);
          states[size_t(at)].epsilon.push_back(s);
          if (i >= n.min) states[size_t(at)].epsilon.push_back(end);  // optional copies may be skipped
          if (n.max < 0 && i + 1 == copies) states[size_t(e)].epsilon.push_back(s);  // the last one loops
          at = e;
        }
        states[size_t(at)].epsilon.push_back(end);
        break;
      }
    }
    return {start, end};
  }

  void close(std::vector<int>& set) const {
    std::vector<bool> seen(states.size(), false);
    std::vector<int> todo = set;
    for (int s : set) seen[size_t(s)] = true;
    while (!todo.empty()) {
      const int s = todo.back();
      todo.pop_back();
      for (int t : states[size_t(s)].epsilon)
        if (!seen[size_t(t)]) {
          seen[size_t(t)] = true;
          set.push_back(t);
          todo.push_back(t);
        }
    }
    std::sort(set.begin(), set.end());
  }
};

ByteDfa determinize(const Nfa& nfa, int start, int accept, const std::string& where) {
  ByteDfa dfa;
  std::map<std::vector<int>, int32_t> ids;
  std::vector<std::vector<int>> sets;
  auto intern = [&](std::vector<int> set) {
    if (auto it = ids.find(set); it != ids.end()) return it->second;
    if (sets.size() >= kMaxDfaStates)
      fail(where, "pattern is too complex (more than " + std::to_string(kMaxDfaStates) + " automaton states)");
    bool accepting = false, boundary = true;
    for (int s : set) {
      accepting = accepting || s == accept;
      boundary = boundary && !nfa.states[size_t(s)].mid_char;
    }
    const int32_t id = dfa.add_state(accepting, boundary);
    ids.emplace(set, id);
    sets.push_back(std::move(set));
    return id;
  };
  std::vector<int> first{start};
  nfa.close(first);
  intern(first);
  for (size_t i = 0; i < sets.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::vector<int> next;
      for (int s : sets[i])
        for (const Nfa::Edge& e : nfa.states[size_t(s)].edges)
          if (b >= e.lo && b <= e.hi) next.push_back(e.to);
      if (next.empty()) continue;
      std::sort(next.begin(), next.end());
      next.erase(std::unique(next.begin(), next.end()), next.end());
      nfa.close(next);
      const int32_t to = intern(std::move(next));
      dfa.set(int32_t(i), uint8_t(b), uint8_t(b), to);
    }
  }
  dfa.finish();
  return dfa;
}

}  // namespace

std::shared_ptr<const RegexDfa> RegexDfa::compile(std::string_view pattern, const std::string& where) {
  RegexParser parser(pattern, where);
  const int root = parser.parse_pattern();
  Nfa nfa;
  nfa.where = where;
  const auto [start, accept] = nfa.build(parser.nodes, root);
  auto out = std::make_shared<RegexDfa>();
  out->dfa_ = determinize(nfa, start, accept, where);
  return out;
}

std::shared_ptr<const RegexDfa> RegexDfa::for_format(const std::string& format) {
  const std::string date = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
  const std::string time =
      "([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  const std::string octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
  std::string pattern;
  if (format == "date") pattern = date;
  else if (format == "time") pattern = time;
  else if (format == "date-time") pattern = date + "[Tt]" + time;
  else if (format == "uuid") pattern = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
  else if (format == "email") pattern = "[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63}){1,8}";
  else if (format == "ipv4") pattern = octet + "(\\." + octet + "){3}";
  else return nullptr;
  return compile("^" + pattern + "$", "format " + format);
}

bool RegexDfa::matches(std::string_view text) const {
  uint32_t state = 0;
  for (char c : text) {
    const uint16_t next = dfa_.next(state, uint8_t(c));
    if (next == ByteDfa::kReject) return false;
    state = next;
  }
  return dfa_.accepting(state);
}

}  // namespace edgerun
