// Jinja2's built-in filters (as of Jinja2 3.1) plus Hugging Face's tojson. Where Jinja2 returns a
// generator (map, select, reverse, ...) this returns a list: templates iterate, join or |list it.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "text/jinja/builtins.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/pystring.h"
#include "text/unicode.h"

namespace edgerun::jinja {

namespace {

using Filter = Value (*)(Interpreter&, const Value&, const CallArgs&);

Value ignore_case(const Value& v) { return v.is_string() ? Value(py::lower(v.string())) : v; }

// Jinja2's make_attrgetter: "a.b.0" looked up with getitem at each dot.
Value lookup_path(const Value& item, const Value& attribute) {
  if (attribute.is_undefined() || attribute.is_none()) return item;
  if (!attribute.is_string()) return get_item(item, attribute);
  Value v = item;
  for (const std::string& part : py::split(attribute.string(), std::string("."), -1)) {
    if (v.is_undefined()) undefined_error(v);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = digits && part.size() < 18 ? get_item(v, Value(int64_t(std::stoll(part)))) : get_item(v, Value(part));
  }
  return v;
}

std::vector<Value> key_parts(const Value& attribute) {
  if (!attribute.is_string()) return {attribute};
  std::vector<Value> parts;
  for (const std::string& p : py::split(attribute.string(), std::string(","), -1)) parts.emplace_back(p);
  return parts;
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return 0;
    case Kind::String: return int64_t(py::length(v.string()));
    case Kind::List:
      if (v.is_iterator()) problem("object of type 'generator' has no len()");
      return int64_t(v.items().size());
    case Kind::Dict: return int64_t(v.dict_data().entries.size());
    default: problem("object of type '" + type_name(v) + "' has no len()");
  }
}

std::optional<double> parse_python_float(const std::string& text) {
  const std::string s = py::lower(py::strip(text, py::Side::Both));
  const bool negative = !s.empty() && s[0] == '-';
  const std::string body = !s.empty() && (s[0] == '-' || s[0] == '+') ? s.substr(1) : s;
  if (body == "inf" || body == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (body == "nan") return std::nan("");
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '_') {
      clean += s[i];
      continue;
    }
    const bool between_digits = i > 0 && i + 1 < s.size() && std::isdigit((unsigned char)s[i - 1]) && std::isdigit((unsigned char)s[i + 1]);
    if (!between_digits) return std::nullopt;
  }
  if (clean.empty() || clean.find_first_of("0123456789") == std::string::npos) return std::nullopt;
  double d = 0;
  const char* begin = clean.data() + (clean[0] == '+' ? 1 : 0);
  const auto res = std::from_chars(begin, clean.data() + clean.size(), d);
  if (res.ptr != clean.data() + clean.size()) return std::nullopt;
  if (res.ec == std::errc::result_out_of_range) return py::overflowed_float(clean);
  if (res.ec != std::errc()) return std::nullopt;
  return d;
}

std::optional<int64_t> parse_python_int(const std::string& text, int64_t base) {
  std::string s = py::strip(text, py::Side::Both);
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  if (s.size() > 2 && s[0] == '0') {
    const char p = char(s[1] | 0x20);
    const int64_t prefixed = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefixed && (base == prefixed || base == 0)) {
      s.erase(0, 2);
      base = prefixed;
      if (!s.empty() && s[0] == '_') s.erase(0, 1);
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36 || s.empty() || s.front() == '_' || s.back() == '_' || s.find("__") != std::string::npos)
    return std::nullopt;
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  int64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v, int(base));
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return std::nullopt;
  return negative ? -v : v;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Python's round(x, n) on a float: correctly rounded, ties to even (printf rounds the exact
// binary value the same way).
double python_round(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", int(std::min<int64_t>(digits, 300)), x);
    return std::strtod(buf, nullptr);
  }
  const double scale = std::pow(10.0, double(-digits));
  return std::nearbyint(x / scale) * scale;
}

// round(int, n): an int; for n < 0 to a multiple of 10**-n, ties to even.
int64_t round_int(int64_t x, int64_t digits) {
  if (digits >= 0) return x;
  if (digits < -18) return 0;
  int64_t scale = 1;
  for (int64_t i = 0; i < -digits; ++i) scale *= 10;
  int64_t q = x / scale, r = x % scale;
  if (r < 0) {
    r += scale;
    --q;
  }
  if (2 * r > scale || (2 * r == scale && (q & 1))) ++q;
  int64_t out = 0;
  if (__builtin_mul_overflow(q, scale, &out)) problem("integer overflow");
  return out;
}

Value f_abs(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("abs", args, {});
  if (v.is_float()) return Value(std::fabs(v.floating()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) problem("integer overflow");
    return Value(int64_t(std::llabs(v.as_int())));
  }
  problem("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_batch(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("batch", args, {"linecount", "fill_with"}, 1);
  const int64_t n = a.integer(0, 1);
  std::vector<Value> out, row;
  for (const Value& item : iterate(v)) {
    if (int64_t(row.size()) == n) {
      out.push_back(Value::list(std::move(row)));
      row.clear();
    }
    row.push_back(item);
  }
  if (!row.empty()) {
    if (a.given(1) && !a[1].is_none()) {
      if (n > int64_t(kMaxStringBytes)) problem("batch size too large");
      while (int64_t(row.size()) < n) row.push_back(a[1]);
    }
    out.push_back(Value::list(std::move(row)));
  }
  return Value::iterator(std::move(out));
}

Value f_capitalize(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("capitalize", args, {});
  return Value(py::capitalize(to_str(v)));
}

Value f_center(Interpreter& interp, const Value& v, const CallArgs& args) {
  Arguments a("center", args, {"width"});
  CallArgs width;
  width.positional.push_back(Value(a.integer(0, 80)));
  return interp.call(get_attribute(Value(to_str(v)), "center"), width);
}

Value f_default(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("default", args, {"default_value", "boolean"});
  if (v.is_undefined() || (a.boolean(1, false) && !truthy(v))) return a.given(0) ? a[0] : Value("");
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) problem("dictsort expects a mapping, got " + type_name(v));
  const std::string by = a.string(1, "key");
  if (by != "key" && by != "value") problem("You can only sort by either \"key\" or \"value\"");
  const size_t pos = by == "key" ? 0 : 1;
  const bool case_sensitive = a.boolean(0, false);
  std::vector<Value> items;
  for (const auto& [key, value] : v.dict_data().entries) items.push_back(Value::tuple({key, value}));
  sort_values(items, a.boolean(2, false), [&](const Value& x, const Value& y) {
    const Value &kx = x.items()[pos], &ky = y.items()[pos];
    return case_sensitive ? less(kx, ky) : less(ignore_case(kx), ignore_case(ky));
  });
  return Value::list(std::move(items));
}

Value f_escape(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("escape", args, {});
  return Value(html_escape(to_str(v)));
}

Value f_first(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("first", args, {});
  const std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("last", args, {});
  if (v.is_iterator()) problem("'generator' object is not reversible");
  const std::vector<Value> items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_float(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("float", args, {"default"});
  const Value fallback = a.given(0) ? a[0] : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    const auto d = parse_python_float(v.string());
    return d ? Value(*d) : fallback;
  }
  return fallback;
}

Value f_format(Interpreter&, const Value& v, const CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) problem("can't handle positional and keyword arguments at the same time");
  if (!args.keyword.empty()) {
    DictData d;
    for (const auto& [key, value] : args.keyword) d.set(Value(key), value);
    return Value(percent_format(to_str(v), Value::dict(std::move(d))));
  }
  return Value(percent_format(to_str(v), Value::tuple(args.positional)));
}

Value f_indent(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("indent", args, {"width", "first", "blank"});
  if (v.is_undefined()) undefined_error(v);
  if (!v.is_string()) problem("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  const std::string indent = a.given(0) && a[0].is_string() ? a[0].string() : std::string(size_t(std::clamp<int64_t>(a.integer(0, 4), 0, 1 << 16)), ' ');
  const std::vector<std::string> lines = py::splitlines(v.string() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += "\n";
    if (i > 0 && (a.boolean(2, false) || !lines[i].empty())) out += indent;
    out += lines[i];
  }
  if (a.boolean(1, false)) out = indent + out;
  return Value(std::move(out));
}

Value f_int(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("int", args, {"default", "base"});
  const Value fallback = a.given(0) ? a[0] : Value(int64_t(0));
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.floating()) || std::fabs(v.floating()) >= 9.2e18) problem("cannot convert float to integer");
    return Value(int64_t(v.floating()));
  }
  if (v.is_string()) {
    if (auto i = parse_python_int(v.string(), a.integer(1, 10))) return Value(*i);
    if (auto d = parse_python_float(v.string()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value(int64_t(*d));
  }
  return fallback;
}

Value f_items(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("items", args, {});
  if (v.is_undefined()) return Value::iterator({});
  if (!v.is_dict()) problem("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [key, value] : v.dict_data().entries) out.push_back(Value::tuple({key, value}));
  return Value::iterator(std::move(out));
}

Value f_join(Interpreter& interp, const Value& v, const CallArgs& args) {
  Arguments a("join", args, {"d", "attribute"});
  const std::string separator = a.given(0) ? to_str(a[0]) : "";
  std::string out;
  bool first = true;
  for (const Value& item : iterate(v)) {
    if (!first) interp.append(out, separator);
    first = false;
    interp.append(out, to_str(a.given(1) ? lookup_path(item, a[1]) : item));
  }
  return Value(std::move(out));
}

Value f_length(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("length", args, {});
  return Value(length_of(v));
}

Value f_list(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("list", args, {});
  return Value::list(iterate(v));
}

Value f_lower(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("lower", args, {});
  return Value(py::lower(to_str(v)));
}

Value f_map(Interpreter& interp, const Value& v, const CallArgs& args) {
  std::vector<Value> out;
  if (!truthy(v)) return Value::iterator({});
  const bool by_attribute = args.positional.empty() && !args.keyword.empty() && args.keyword[0].first == "attribute";
  if (by_attribute) {
    Arguments a("map", args, {"attribute", "default"});
    for (const Value& item : iterate(v)) {
      Value x = lookup_path(item, a[0]);
      out.push_back(x.is_undefined() && a.given(1) ? a[1] : x);
    }
    return Value::iterator(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) problem("map requires a filter argument");
  const std::string name = args.positional[0].string();
  if (!has_filter(name)) problem("no filter named '" + name + "'");
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : iterate(v)) out.push_back(apply_filter(interp, name, item, rest));
  return Value::iterator(std::move(out));
}

Value min_or_max(const Value& v, const CallArgs& args, bool want_max) {
  Arguments a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const std::vector<Value> items = iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  const bool case_sensitive = a.boolean(0, false);
  auto key = [&](const Value& item) {
    Value k = lookup_path(item, a[1]);
    return case_sensitive ? k : ignore_case(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? less(best_key, k) : less(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

Value f_max(Interpreter&, const Value& v, const CallArgs& args) { return min_or_max(v, args, true); }
Value f_min(Interpreter&, const Value& v, const CallArgs& args) { return min_or_max(v, args, false); }

Value select_or_reject(Interpreter& interp, const Value& v, const CallArgs& args, bool keep_if, bool by_attribute) {
  std::vector<Value> out;
  if (!truthy(v)) return Value::iterator({});
  size_t off = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) problem("Missing parameter for attribute name");
    attribute = args.positional[0];
    off = 1;
  }
  std::string test;
  CallArgs test_args;
  if (args.positional.size() > off) {
    if (!args.positional[off].is_string()) problem("test name must be a string");
    test = args.positional[off].string();
    if (!has_test(test)) problem("no test named '" + test + "'");
    test_args.positional.assign(args.positional.begin() + long(off) + 1, args.positional.end());
    test_args.keyword = args.keyword;
  }
  for (const Value& item : iterate(v)) {
    const Value x = by_attribute ? lookup_path(item, attribute) : item;
    const bool passed = test.empty() ? truthy(x) : apply_test(interp, test, x, test_args);
    if (passed == keep_if) out.push_back(item);
  }
  return Value::iterator(std::move(out));
}

Value f_select(Interpreter& i, const Value& v, const CallArgs& a) { return select_or_reject(i, v, a, true, false); }
Value f_reject(Interpreter& i, const Value& v, const CallArgs& a) { return select_or_reject(i, v, a, false, false); }
Value f_selectattr(Interpreter& i, const Value& v, const CallArgs& a) { return select_or_reject(i, v, a, true, true); }
Value f_rejectattr(Interpreter& i, const Value& v, const CallArgs& a) { return select_or_reject(i, v, a, false, true); }

Value f_replace(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("replace", args, {"old", "new", "count"}, 2);
  const int64_t count = a.given(2) && !a[2].is_none() ? a.integer(2, -1) : -1;
  return Value(py::replace(to_str(v), to_str(a[0]), to_str(a[1]), count));
}

Value f_reverse(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("reverse", args, {});
  if (v.is_string()) {
    py::Codepoints cps = py::decode(v.string());
    std::reverse(cps.begin(), cps.end());
    return Value(py::encode(cps));
  }
  std::vector<Value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  // reversed() of a list is an iterator; a generator is first copied into a list.
  return v.is_iterator() ? Value::list(std::move(items)) : Value::iterator(std::move(items), "<list_reverseiterator object>");
}

Value f_round(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("round", args, {"precision", "method"});
  const int64_t precision = a.integer(0, 0);
  const std::string method = a.string(1, "common");
  if (method != "common" && method != "ceil" && method != "floor") problem("method must be common, ceil or floor");
  if (!v.is_number()) problem("type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) return Value(round_int(v.as_int(), precision));
    return Value(python_round(v.as_double(), precision));
  }
  const double scale = std::pow(10.0, double(precision));
  const double x = v.as_double() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Value f_safe(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("safe", args, {});
  return Value(to_str(v));
}

Value f_sort(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("sort", args, {"reverse", "case_sensitive", "attribute"});
  std::vector<Value> items = iterate(v);
  const bool case_sensitive = a.boolean(1, false);
  const std::vector<Value> parts = key_parts(a[2]);
  auto key = [&](const Value& item) {
    std::vector<Value> k;
    for (const Value& p : parts) k.push_back(case_sensitive ? lookup_path(item, p) : ignore_case(lookup_path(item, p)));
    return Value::list(std::move(k));
  };
  std::vector<Value> keyed;
  for (const Value& item : items) keyed.push_back(Value::tuple({key(item), item}));
  sort_values(keyed, a.boolean(0, false), [](const Value& x, const Value& y) { return less(x.items()[0], y.items()[0]); });
  for (size_t i = 0; i < keyed.size(); ++i) items[i] = keyed[i].items()[1];
  return Value::list(std::move(items));
}

Value f_string(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("string", args, {});
  return Value(to_str(v));
}

Value f_sum(Interpreter& interp, const Value& v, const CallArgs& args) {
  Arguments a("sum", args, {"attribute", "start"});
  Value total = a.given(1) ? a[1] : Value(int64_t(0));
  for (const Value& item : iterate(v)) total = interp.arithmetic("+", total, lookup_path(item, a[0]));
  return total;
}

Value f_title(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("title", args, {});
  return Value(py::jinja_title(to_str(v)));
}

Value f_tojson(Interpreter& interp, const Value& v, const CallArgs& args) {
  Arguments a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = a.boolean(0, false);
  o.sort_keys = a.boolean(3, false);
  if (a.given(1) && !a[1].is_none()) {
    o.indent_set = true;
    if (a[1].is_string()) o.indent = a[1].string();
    else o.indent = std::string(size_t(std::clamp<int64_t>(a.integer(1, 0), 0, 1 << 10)), ' ');
    o.item_separator = ",";
  }
  if (a.given(2) && !a[2].is_none()) {
    const std::vector<Value> seps = iterate(a[2]);
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string()) problem("tojson separators must be two strings");
    o.item_separator = seps[0].string();
    o.key_separator = seps[1].string();
  }
  std::string out = to_json(v, o);
  interp.check_size(out.size());
  return Value(std::move(out));
}

Value f_trim(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("trim", args, {"chars"});
  std::optional<std::string> chars;
  if (a.given(0) && !a[0].is_none()) chars = a.string(0, "");
  return Value(py::strip(to_str(v), py::Side::Both, chars));
}

Value f_truncate(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("truncate", args, {"length", "killwords", "end", "leeway"});
  if (!v.is_string()) problem("object of type '" + type_name(v) + "' has no len()");
  const std::string s = v.string(), end = a.string(2, "...");
  const int64_t length = a.integer(0, 255), leeway = a.integer(3, 5);
  const int64_t end_len = int64_t(py::length(end));
  if (length < end_len) problem("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) problem("expected leeway >= 0, got " + std::to_string(leeway));
  const py::Codepoints cps = py::decode(s);
  if (int64_t(cps.size()) <= length + leeway) return Value(s);
  const std::string head = py::encode(cps, 0, size_t(length - end_len));
  if (a.boolean(1, false)) return Value(head + end);
  return Value(py::split(head, std::string(" "), 1, true)[0] + end);
}

Value f_unique(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments a("unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = a.boolean(0, false);
  std::vector<Value> out, seen;
  for (const Value& item : iterate(v)) {
    Value k = lookup_path(item, a[1]);
    if (!case_sensitive) k = ignore_case(k);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, k); })) continue;
    seen.push_back(std::move(k));
    out.push_back(item);
  }
  return Value::iterator(std::move(out));
}

Value f_upper(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("upper", args, {});
  return Value(py::upper(to_str(v)));
}

Value f_wordcount(Interpreter&, const Value& v, const CallArgs& args) {
  Arguments("wordcount", args, {});
  int64_t words = 0;
  bool in_word = false;
  for (uint32_t cp : py::decode(to_str(v))) {
    const bool word = text::is_word_char(cp);
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value(words);
}

const std::map<std::string, Filter>& filters() {
  static const std::map<std::string, Filter> table = {
      {"abs", f_abs},         {"batch", f_batch},         {"capitalize", f_capitalize}, {"center", f_center},
      {"count", f_length},    {"d", f_default},           {"default", f_default},       {"dictsort", f_dictsort},
      {"e", f_escape},        {"escape", f_escape},       {"first", f_first},           {"float", f_float},
      {"forceescape", f_escape}, {"format", f_format},    {"indent", f_indent},         {"int", f_int},
      {"items", f_items},     {"join", f_join},           {"last", f_last},             {"length", f_length},
      {"list", f_list},       {"lower", f_lower},         {"map", f_map},               {"max", f_max},
      {"min", f_min},         {"reject", f_reject},       {"rejectattr", f_rejectattr}, {"replace", f_replace},
      {"reverse", f_reverse}, {"round", f_round},         {"safe", f_safe},             {"select", f_select},
      {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},         {"sum", f_sum},
      {"title", f_title},     {"tojson", f_tojson},       {"trim", f_trim},             {"truncate", f_truncate},
      {"unique", f_unique},   {"upper", f_upper},         {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

// Bottom-up merge sort: stable, and stays in bounds even if `less_than` is inconsistent (NaN,
// mixed types), which std::sort does not promise.
void sort_values(std::vector<Value>& v, bool reverse, const std::function<bool(const Value&, const Value&)>& less_than) {
  if (reverse) std::reverse(v.begin(), v.end());
  std::vector<Value> tmp(v.size());
  for (size_t width = 1; width < v.size(); width *= 2) {
    for (size_t lo = 0; lo < v.size(); lo += 2 * width) {
      const size_t mid = std::min(lo + width, v.size()), hi = std::min(lo + 2 * width, v.size());
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = less_than(v[j], v[i]) ? v[j++] : v[i++];
      while (i < mid) tmp[k++] = v[i++];
      while (j < hi) tmp[k++] = v[j++];
    }
    std::swap(v, tmp);
  }
  if (reverse) std::reverse(v.begin(), v.end());
}

bool has_filter(const std::string& name) { return filters().count(name) > 0; }

Value apply_filter(Interpreter& interp, const std::string& name, const Value& operand, const CallArgs& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) problem("unknown filter '" + name + "'");
  interp.tick();
  return it->second(interp, operand, args);
}

}  // namespace edgerun::jinja
