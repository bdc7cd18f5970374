#include "text/json_grammar.h"

#include <cmath>
#include <map>
#include <optional>

#include "core/error.h"

namespace edgerun {

namespace {

using Seq = std::vector<Element>;

Seq operator+(Seq a, const Seq& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The inside of a JSON string: strictly valid UTF-8 except '"', '\' and controls, or escapes.
// A unit is one character (an escape counts as one).
ByteDfa string_body_dfa() {
  ByteDfa d;
  const int32_t start = d.add_state(true, true);
  auto state = [&] { return d.add_state(false, false); };
  const int32_t cont1 = state(), cont2 = state(), cont3 = state();
  const int32_t after_e0 = state(), after_ed = state(), after_f0 = state(), after_f4 = state();
  const int32_t escape = state(), hex4 = state(), hex3 = state(), hex2 = state(), hex1 = state();
  const int32_t after_d = state();
  d.set(start, 0x20, 0x21, start);
  d.set(start, 0x23, 0x5B, start);
  d.set(start, 0x5D, 0x7F, start);
  d.set(start, 0xC2, 0xDF, cont1);
  d.set(start, 0xE0, 0xE0, after_e0);  // no overlong forms
  d.set(start, 0xE1, 0xEC, cont2);
  d.set(start, 0xED, 0xED, after_ed);  // no surrogates
  d.set(start, 0xEE, 0xEF, cont2);
  d.set(start, 0xF0, 0xF0, after_f0);
  d.set(start, 0xF1, 0xF3, cont3);
  d.set(start, 0xF4, 0xF4, after_f4);  // nothing above U+10FFFF
  d.set(cont1, 0x80, 0xBF, start);
  d.set(cont2, 0x80, 0xBF, cont1);
  d.set(cont3, 0x80, 0xBF, cont2);
  d.set(after_e0, 0xA0, 0xBF, cont1);
  d.set(after_ed, 0x80, 0x9F, cont1);
  d.set(after_f0, 0x90, 0xBF, cont2);
  d.set(after_f4, 0x80, 0x8F, cont2);
  d.set(start, '\\', '\\', escape);
  for (char c : std::string_view("\"\\/bfnrt")) d.set(escape, uint8_t(c), uint8_t(c), start);
  d.set(escape, 'u', 'u', hex4);
  // \uXXXX outside D800-DFFF: a lone surrogate would not parse.
  auto hex = [&](int32_t from, int32_t to) {
    d.set(from, '0', '9', to);
    d.set(from, 'a', 'f', to);
    d.set(from, 'A', 'F', to);
  };
  hex(hex4, hex3);
  d.set(hex4, 'd', 'd', after_d);
  d.set(hex4, 'D', 'D', after_d);
  d.set(after_d, '0', '7', hex2);
  hex(hex3, hex2);
  hex(hex2, hex1);
  hex(hex1, start);
  d.finish();
  return d;
}

// JSON numbers; a unit is one byte. Exponents have at most two digits so every number is finite.
ByteDfa number_dfa(bool integer) {
  ByteDfa d;
  auto state = [&](bool accepting) { return d.add_state(accepting, true); };
  const int32_t start = state(false), minus = state(false), zero = state(true), digits = state(true);
  d.set(start, '-', '-', minus);
  for (int32_t from : {start, minus}) {
    d.set(from, '0', '0', zero);
    d.set(from, '1', '9', digits);
  }
  d.set(digits, '0', '9', digits);
  if (!integer) {
    const int32_t dot = state(false), fraction = state(true), e = state(false), sign = state(false);
    const int32_t exp1 = state(true), exp2 = state(true);
    for (int32_t from : {zero, digits}) d.set(from, '.', '.', dot);
    d.set(dot, '0', '9', fraction);
    d.set(fraction, '0', '9', fraction);
    for (int32_t from : {zero, digits, fraction}) {
      d.set(from, 'e', 'e', e);
      d.set(from, 'E', 'E', e);
    }
    d.set(e, '+', '+', sign);
    d.set(e, '-', '-', sign);
    for (int32_t from : {e, sign}) d.set(from, '0', '9', exp1);
    d.set(exp1, '0', '9', exp2);
  }
  d.finish();
  return d;
}

// Decimal digit strings as sequences of digit ranges.
using DigitRanges = std::vector<std::pair<char, char>>;

// The numbers from a to b (digit strings of one length, a <= b) as few range sequences.
void same_length_ranges(const std::string& a, const std::string& b, DigitRanges prefix, std::vector<DigitRanges>& out) {
  if (a.empty()) {
    out.push_back(std::move(prefix));
    return;
  }
  const std::string ra = a.substr(1), rb = b.substr(1);
  auto with = [&](char lo, char hi) {
    DigitRanges p = prefix;
    p.emplace_back(lo, hi);
    return p;
  };
  if (a[0] == b[0]) return same_length_ranges(ra, rb, with(a[0], a[0]), out);
  const bool a_rest_zero = ra.find_first_not_of('0') == std::string::npos;
  const bool b_rest_nine = rb.find_first_not_of('9') == std::string::npos;
  if (!a_rest_zero) same_length_ranges(ra, std::string(ra.size(), '9'), with(a[0], a[0]), out);
  const char lo = a_rest_zero ? a[0] : char(a[0] + 1), hi = b_rest_nine ? b[0] : char(b[0] - 1);
  if (lo <= hi) {
    DigitRanges middle = with(lo, hi);
    middle.insert(middle.end(), ra.size(), {'0', '9'});
    out.push_back(std::move(middle));
  }
  if (!b_rest_nine) same_length_ranges(std::string(rb.size(), '0'), rb, with(b[0], b[0]), out);
}

// Non-negative integers lo..hi without leading zeros.
std::vector<DigitRanges> decimal_ranges(int64_t lo, int64_t hi) {
  std::vector<DigitRanges> out;
  int64_t low_of_length = 0, high_of_length = 9;
  while (lo <= hi) {
    if (lo <= high_of_length) {
      const int64_t b = std::min(hi, high_of_length);
      same_length_ranges(std::to_string(lo), std::to_string(b), {}, out);
      lo = b + 1;
    }
    if (high_of_length > INT64_MAX / 10) break;
    low_of_length = high_of_length + 1;
    high_of_length = high_of_length * 10 + 9;
    lo = std::max(lo, low_of_length);
  }
  return out;
}

constexpr int64_t kBoundLimit = 999999999999999;  // 15 digits: exact in a double
constexpr uint32_t kFractionDigits = 15;

class JsonGrammarBuilder {
 public:
  explicit JsonGrammarBuilder(const JsonGrammarOptions& options) : opt_(options), g_(std::make_shared<Grammar>()) {
    ws_rule_ = g_->add_rule("whitespace");
    g_->add_alternative(ws_rule_, g_->literal(" "));
    g_->add_alternative(ws_rule_, Seq{g_->byte('\n'), g_->byte(' ', 0, opt_.max_indent)});
    string_dfa_ = g_->add_dfa(string_body_dfa());
    number_dfa_ = g_->add_dfa(number_dfa(false));
    integer_dfa_ = g_->add_dfa(number_dfa(true));
  }

  uint32_t value(const SchemaNode& node, uint32_t depth) {
    const SchemaNode& n = resolve(node);
    if (auto it = rules_.find({&n, depth}); it != rules_.end()) return it->second;
    const uint32_t r = g_->add_rule(n.path);
    rules_[{&n, depth}] = r;
    if (n.never) return r;
    if (!n.any_of.empty()) {
      for (const SchemaNode* alt : n.any_of) g_->add_alternative(r, {g_->rule(value(*alt, depth))});
      return r;
    }
    if (n.enum_values) {
      for (const json& v : *n.enum_values) g_->add_alternative(r, g_->literal(v.dump()));
      return r;
    }
    // Scalars go through rules shared by every node with the same constraints, so the token
    // masks cached per grammar position serve them all.
    const uint8_t t = n.generate_types;
    auto add_shared = [&](std::optional<uint32_t> scalar) {
      if (scalar) g_->add_alternative(r, {g_->rule(*scalar)});
    };
    if (t & kJsonNull) add_shared(shared("null", [&](uint32_t s) { g_->add_alternative(s, lit("null")); }));
    if (t & kJsonBoolean)
      add_shared(shared("boolean", [&](uint32_t s) {
        g_->add_alternative(s, lit("true"));
        g_->add_alternative(s, lit("false"));
      }));
    if (t & (kJsonNumber | kJsonInteger)) add_shared(number_rule(n, !(t & kJsonNumber)));
    if (t & kJsonString) add_shared(string_rule(n));
    if ((t & kJsonArray) && depth < opt_.max_depth) add_array(r, n, depth);
    if ((t & kJsonObject) && depth < opt_.max_depth) add_object(r, n, depth);
    return r;
  }

  std::shared_ptr<const Grammar> finish(uint32_t value_rule, const std::string& where) {
    const uint32_t root = g_->add_rule(where);
    g_->add_alternative(root, {ws(), g_->rule(value_rule)});
    std::string cause;
    if (!g_->finalize(root, &cause))
      fail(cause.empty() ? where : cause,
           "no value can be generated here (the schema admits none within a nesting depth of " +
               std::to_string(opt_.max_depth) + ")");
    return g_;
  }

 private:
  Element ws() const { return g_->rule(ws_rule_, 0, 1); }
  Seq lit(std::string_view text) { return g_->literal(text); }

  Seq digits(const DigitRanges& ranges) {
    Seq out;
    for (const auto& [lo, hi] : ranges) {
      ByteSet set;
      set.add_range(uint8_t(lo), uint8_t(hi));
      out.push_back(g_->bytes(set));
    }
    return out;
  }

  // The rule named `key`, made by `fill` the first time.
  template <class Fill>
  uint32_t shared(const std::string& key, const Fill& fill) {
    if (auto it = shared_.find(key); it != shared_.end()) return it->second;
    const uint32_t r = g_->add_rule(key);
    shared_.emplace(key, r);
    fill(r);
    return r;
  }

  // Integers lo..hi, each followed by `tail`; `negative_zero` adds "-0" (for "-0.5").
  void add_integers(uint32_t r, int64_t lo, int64_t hi, const Seq& tail, bool negative_zero) {
    if (hi >= 0)
      for (const DigitRanges& d : decimal_ranges(std::max<int64_t>(lo, 0), hi)) g_->add_alternative(r, digits(d) + tail);
    if (lo < 0 || negative_zero)
      for (const DigitRanges& d : decimal_ranges(std::max<int64_t>(negative_zero ? 0 : 1, -hi), -lo))
        g_->add_alternative(r, lit("-") + digits(d) + tail);
  }

  // Numbers within the node's bounds; none when no number fits them.
  std::optional<uint32_t> number_rule(const SchemaNode& n, bool integer) {
    const bool bounded = n.minimum || n.maximum || n.exclusive_minimum || n.exclusive_maximum;
    if (!bounded)
      return shared(integer ? "integer" : "number", [&](uint32_t r) {
        g_->add_alternative(r, {g_->lexeme(integer ? integer_dfa_ : number_dfa_, 1, opt_.max_number_chars)});
      });
    // The integer part inside the bounds; a fraction only after integers k where all of k.xxx
    // stays inside them too.
    double lo = -double(kBoundLimit), hi = double(kBoundLimit);
    if (n.minimum) lo = std::max(lo, std::ceil(*n.minimum));
    if (n.exclusive_minimum) lo = std::max(lo, std::floor(*n.exclusive_minimum) + 1);
    if (n.maximum) hi = std::min(hi, std::floor(*n.maximum));
    if (n.exclusive_maximum) hi = std::min(hi, std::ceil(*n.exclusive_maximum) - 1);
    const int64_t lo_int = int64_t(std::max(lo, -double(kBoundLimit)));
    const int64_t hi_int = int64_t(std::min(hi, double(kBoundLimit)));
    if (lo_int > hi_int) return std::nullopt;
    const std::string key = std::string(integer ? "integer " : "number ") + std::to_string(lo_int) + ".." + std::to_string(hi_int);
    return shared(key, [&](uint32_t r) {
      add_integers(r, lo_int, hi_int, {}, false);
      if (integer) return;
      ByteSet digit;
      digit.add_range('0', '9');
      const Seq fraction = lit(".") + Seq{g_->bytes(digit, 1, kFractionDigits)};
      if (hi_int - 1 >= std::max<int64_t>(lo_int, 0))
        add_integers(r, std::max<int64_t>(lo_int, 0), hi_int - 1, fraction, false);
      // -m.xxx for m in max(0, -hi)..(-lo - 1)
      const int64_t m_lo = std::max<int64_t>(0, -hi_int), m_hi = -lo_int - 1;
      if (m_lo <= m_hi) add_integers(r, -m_hi, -m_lo, fraction, m_lo == 0);
    });
  }

  // A string of the node's length, pattern or format; none when no string can be written.
  std::optional<uint32_t> string_rule(const SchemaNode& n) {
    if (n.pattern) {
      auto [it, fresh] = pattern_dfas_.try_emplace(n.pattern.get(), 0);
      if (fresh) {
        ByteDfa dfa = n.pattern->dfa();
        ByteSet unwritable;  // these would need escapes, which the pattern automaton does not know
        unwritable.add_range(0, 0x1F);
        unwritable.add('"');
        unwritable.add('\\');
        dfa.remove_bytes(unwritable);
        dfa.finish();
        if (dfa.units_to_accept(0) > opt_.max_string_chars) it->second = kUnbounded;
        else it->second = g_->add_dfa(std::move(dfa));
      }
      if (it->second == kUnbounded) return std::nullopt;
      return shared("pattern " + n.pattern_source, [&](uint32_t r) {
        g_->add_alternative(r, lit("\"") + Seq{g_->lexeme(it->second, 0, opt_.max_string_chars)} + lit("\""));
      });
    }
    const uint64_t max = std::min<uint64_t>(n.max_length, std::max<uint64_t>(n.min_length, opt_.max_string_chars));
    const uint32_t min = uint32_t(std::min<uint64_t>(n.min_length, kUnbounded - 1));
    return string_rule(min, uint32_t(std::min<uint64_t>(max, kUnbounded - 1)));
  }

  uint32_t string_rule(uint32_t min_chars, uint32_t max_chars) {
    return shared("string " + std::to_string(min_chars) + ".." + std::to_string(max_chars), [&](uint32_t r) {
      g_->add_alternative(r, lit("\"") + Seq{g_->lexeme(string_dfa_, min_chars, max_chars)} + lit("\""));
    });
  }

  // `first` (ws "," ws item)* between the brackets: the repeated part as a rule.
  uint32_t separated(const std::string& name, const Seq& item) {
    const uint32_t more = g_->add_rule(name);
    g_->add_alternative(more, Seq{ws()} + lit(",") + Seq{ws()} + item);
    return more;
  }

  static uint32_t clamp_count(uint64_t n) { return n >= kUnbounded ? kUnbounded : uint32_t(n); }

  void add_array(uint32_t r, const SchemaNode& n, uint32_t depth) {
    if (n.min_items == 0) g_->add_alternative(r, lit("[") + Seq{ws()} + lit("]"));
    if (n.max_items == 0) return;
    const Seq item{g_->rule(value(*n.items, depth + 1))};
    const uint32_t more = separated(n.path + " (more items)", item);
    const uint32_t min_more = n.min_items > 0 ? clamp_count(n.min_items - 1) : 0;
    const uint32_t max_more = n.max_items == UINT64_MAX ? kUnbounded : clamp_count(n.max_items - 1);
    g_->add_alternative(r, lit("[") + Seq{ws()} + item + Seq{g_->rule(more, min_more, max_more), ws()} + lit("]"));
  }

  void add_object(uint32_t r, const SchemaNode& n, uint32_t depth) {
    if (n.properties.empty()) {
      g_->add_alternative(r, lit("{") + Seq{ws()} + lit("}"));
      if (!n.additional_schema) return;
      const uint32_t member = g_->add_rule(n.path + " (member)");
      g_->add_alternative(member, Seq{g_->rule(string_rule(0, opt_.max_string_chars)), ws()} + lit(":") +
                                      Seq{ws(), g_->rule(value(*n.additional_schema, depth + 1))});
      const uint32_t more = separated(n.path + " (more members)", {g_->rule(member)});
      g_->add_alternative(r, lit("{") + Seq{ws(), g_->rule(member), g_->rule(more, 0, kUnbounded), ws()} + lit("}"));
      return;
    }
    // Properties in order. after[i]: the rest once something was written, from property i on;
    // first[i]: the same before anything was written. Required properties cannot be skipped.
    const size_t count = n.properties.size();
    std::vector<uint32_t> after(count + 1), first(count + 1);
    after[count] = g_->add_rule(n.path + " (end)");
    g_->add_alternative(after[count], Seq{ws()} + lit("}"));
    first[count] = g_->add_rule(n.path + " (empty)");
    g_->add_alternative(first[count], lit("}"));
    for (size_t i = count; i-- > 0;) {
      const auto& [name, schema] = n.properties[i];
      const Seq member = lit(json(name).dump()) + Seq{ws()} + lit(":") + Seq{ws(), g_->rule(value(*schema, depth + 1))};
      const bool optional = !n.is_required(name);
      after[i] = g_->add_rule(schema->path);
      g_->add_alternative(after[i], Seq{ws()} + lit(",") + Seq{ws()} + member + Seq{g_->rule(after[i + 1])});
      if (optional) g_->add_alternative(after[i], {g_->rule(after[i + 1])});
      first[i] = g_->add_rule(schema->path);
      g_->add_alternative(first[i], member + Seq{g_->rule(after[i + 1])});
      if (optional) g_->add_alternative(first[i], {g_->rule(first[i + 1])});
    }
    g_->add_alternative(r, lit("{") + Seq{ws(), g_->rule(first[0])});
  }

  JsonGrammarOptions opt_;
  std::shared_ptr<Grammar> g_;
  uint32_t ws_rule_ = 0, string_dfa_ = 0, number_dfa_ = 0, integer_dfa_ = 0;
  std::map<const RegexDfa*, uint32_t> pattern_dfas_;  // kUnbounded: no string fits the pattern
  std::map<std::string, uint32_t> shared_;
  std::map<std::pair<const SchemaNode*, uint32_t>, uint32_t> rules_;
};

}  // namespace

std::shared_ptr<const Grammar> json_schema_grammar(const JsonSchema& schema, const JsonGrammarOptions& options) {
  JsonGrammarBuilder builder(options);
  return builder.finish(builder.value(schema.root(), 0), schema.root().path);
}

std::shared_ptr<const Grammar> json_object_grammar(const JsonGrammarOptions& options) {
  const JsonSchema schema = JsonSchema::compile(json{{"type", "object"}}, "json_object");
  return json_schema_grammar(schema, options);
}

}  // namespace edgerun
