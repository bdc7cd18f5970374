#include "text/jinja/value.h"

#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "text/unicode.h"

namespace edgerun::jinja {

void problem(const std::string& message) { throw Problem(message); }

namespace {

constexpr uint64_t kMaxWalkNodes = 20'000'000;

// Bounds one structural walk (==, <, repr): lists that share sub-lists can make a small value
// exponentially large when walked, and namespaces can even contain themselves.
struct Walk {
  uint64_t nodes = 0;
  void visit(int depth) {
    if (depth > kMaxValueDepth) problem("value nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
    if (++nodes > kMaxWalkNodes) problem("value too large to compare or print");
  }
};

bool equal_at(const Value& a, const Value& b, Walk& walk, int depth);

bool dicts_equal(const DictData& a, const DictData& b, Walk& walk, int depth) {
  if (a.entries.size() != b.entries.size()) return false;
  for (const auto& [key, value] : a.entries) {
    const Value* other = b.find(key);
    if (!other || !equal_at(value, *other, walk, depth + 1)) return false;
  }
  return true;
}

bool equal_at(const Value& a, const Value& b, Walk& walk, int depth) {
  walk.visit(depth);
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind() != b.kind()) return false;
  if (a.identity() && a.identity() == b.identity()) return true;  // Python compares `is` first too
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None: return true;
    case Kind::String: return a.string() == b.string();
    case Kind::List: {
      if (a.sequence() != b.sequence() || a.is_iterator() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equal_at(a.items()[i], b.items()[i], walk, depth + 1)) return false;
      return true;
    }
    case Kind::Dict: return dicts_equal(a.dict_data(), b.dict_data(), walk, depth);
    default: return false;  // objects and functions are equal only to themselves
  }
}

bool less_at(const Value& a, const Value& b, Walk& walk, int depth) {
  walk.visit(depth);
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.as_int() < b.as_int();
    return a.as_double() < b.as_double();
  }
  if (a.is_string() && b.is_string()) return a.string() < b.string();  // UTF-8 bytes sort as code points
  if (a.is_plain_sequence() && b.is_plain_sequence() && a.sequence() == b.sequence()) {
    const auto &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equal_at(x[i], y[i], walk, depth + 1)) return less_at(x[i], y[i], walk, depth + 1);
    return x.size() < y.size();
  }
  problem("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

void repr_at(const Value& v, std::string& out, Walk& walk, int depth);

void dict_repr(const DictData& d, std::string& out, Walk& walk, int depth) {
  out += '{';
  for (size_t i = 0; i < d.entries.size(); ++i) {
    if (i) out += ", ";
    repr_at(d.entries[i].first, out, walk, depth + 1);
    out += ": ";
    repr_at(d.entries[i].second, out, walk, depth + 1);
  }
  out += '}';
}

void repr_at(const Value& v, std::string& out, Walk& walk, int depth) {
  walk.visit(depth);
  check_string_size(out.size());
  switch (v.kind()) {
    case Kind::Undefined: out += "Undefined"; return;
    case Kind::String: out += string_repr(v.string()); return;
    case Kind::List: {
      if (v.sequence() == Sequence::View) {  // dict_items([('a', 1)])
        out += v.list_data().display + "([";
        for (size_t i = 0; i < v.items().size(); ++i) {
          if (i) out += ", ";
          repr_at(v.items()[i], out, walk, depth + 1);
        }
        out += "])";
        return;
      }
      if (!v.is_plain_sequence()) {
        out += v.list_data().display;
        return;
      }
      const bool tuple = v.is_tuple();
      out += tuple ? '(' : '[';
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i) out += ", ";
        repr_at(v.items()[i], out, walk, depth + 1);
      }
      if (tuple && v.items().size() == 1) out += ',';
      out += tuple ? ')' : ']';
      return;
    }
    case Kind::Dict: dict_repr(v.dict_data(), out, walk, depth); return;
    case Kind::Object: {
      const Object& o = v.object();
      if (o.loop) {
        out += "<LoopContext " + std::to_string(o.loop->index0 + 1) + "/" + std::to_string(o.loop->items->size()) + ">";
        return;
      }
      out += "<" + o.type_name + " ";
      dict_repr(o.attributes, out, walk, depth);
      out += '>';
      return;
    }
    default: out += to_str(v);
  }
}

// str.isprintable(): everything but the "Other" and "Separator" categories (space excepted).
bool printable(uint32_t cp) {
  switch (utf8proc_category(utf8proc_int32_t(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return cp == ' ';
    default: return true;
  }
}

}  // namespace

const Value* DictData::find(const Value& key) const {
  for (const auto& entry : entries)
    if (equal(entry.first, key)) return &entry.second;
  return nullptr;
}

const Value* DictData::find(const std::string& key) const {
  for (const auto& entry : entries)
    if (entry.first.is_string() && entry.first.string() == key) return &entry.second;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  for (auto& entry : entries) {
    if (equal(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value Value::undefined(std::string hint) {
  Value v;
  std::get<UndefinedValue>(v.v_).hint = std::move(hint);
  return v;
}

namespace {

int checked_nesting(int below) {
  if (below + 1 > kMaxValueDepth) problem("value nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
  return below + 1;
}

Value make_sequence(std::vector<Value> items, Sequence sequence, std::string display) {
  int below = 0;
  for (const Value& v : items) below = std::max(below, nesting_of(v));
  const int nesting = checked_nesting(below);
  return Value(std::make_shared<const ListData>(ListData{std::move(items), sequence, std::move(display), nesting}));
}

}  // namespace

Value Value::list(std::vector<Value> items) { return make_sequence(std::move(items), Sequence::List, {}); }
Value Value::tuple(std::vector<Value> items) { return make_sequence(std::move(items), Sequence::Tuple, {}); }
Value Value::iterator(std::vector<Value> items, std::string display) {
  return make_sequence(std::move(items), Sequence::Iterator, std::move(display));
}
Value Value::view(std::vector<Value> items, std::string type_name) {
  return make_sequence(std::move(items), Sequence::View, std::move(type_name));
}
Value Value::range(std::vector<Value> items, std::string display) {
  return make_sequence(std::move(items), Sequence::Range, std::move(display));
}

Value Value::dict(DictData data) {
  int below = 0;
  for (const auto& [key, value] : data.entries) below = std::max({below, nesting_of(key), nesting_of(value)});
  data.nesting = checked_nesting(below);
  return Value(std::make_shared<const DictData>(std::move(data)));
}

int nesting_of(const Value& v) {
  switch (v.kind()) {
    case Kind::List: return v.list_data().nesting;
    case Kind::Dict: return v.dict_data().nesting;
    case Kind::Object: return v.object().nesting;
    case Kind::Callable: return v.callable().nesting();
    default: return 0;
  }
}

double Value::as_double() const {
  if (is_float()) return floating();
  if (is_int()) return double(integer());
  if (is_bool()) return boolean() ? 1.0 : 0.0;
  problem("expected a number, got " + type_name(*this));
}

int64_t Value::as_int() const {
  if (is_int()) return integer();
  if (is_bool()) return boolean() ? 1 : 0;
  problem("expected an integer, got " + type_name(*this));
}

const void* Value::identity() const {
  switch (kind()) {
    case Kind::String: return std::get<std::shared_ptr<const std::string>>(v_).get();
    case Kind::List: return std::get<std::shared_ptr<const ListData>>(v_).get();
    case Kind::Dict: return std::get<std::shared_ptr<const DictData>>(v_).get();
    case Kind::Object: return std::get<std::shared_ptr<Object>>(v_).get();
    case Kind::Callable: return std::get<CallablePtr>(v_).get();
    default: return nullptr;
  }
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List:
      switch (v.sequence()) {
        case Sequence::Tuple: return "tuple";
        case Sequence::Iterator: return "generator";
        case Sequence::Range: return "range";
        case Sequence::View: return v.list_data().display;
        default: return "list";
      }
    case Kind::Dict: return "dict";
    case Kind::Object: return v.object().type_name;
    case Kind::Callable: return "function";
  }
  return "object";
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return v.boolean();
    case Kind::Int: return v.integer() != 0;
    case Kind::Float: return v.floating() != 0.0;
    case Kind::String: return !v.string().empty();
    case Kind::List: return v.is_iterator() || !v.items().empty();
    case Kind::Dict: return !v.dict_data().entries.empty();
    default: return true;
  }
}

bool equal(const Value& a, const Value& b) {
  Walk walk;
  return equal_at(a, b, walk, 0);
}

bool less(const Value& a, const Value& b) {
  Walk walk;
  return less_at(a, b, walk, 0);
}

void check_string_size(uint64_t bytes) {
  if (bytes > kMaxStringBytes) problem("string would exceed " + std::to_string(kMaxStringBytes) + " bytes");
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return v.boolean() ? "True" : "False";
    case Kind::Int: return std::to_string(v.integer());
    case Kind::Float: return float_repr(v.floating());
    case Kind::String: return v.string();
    case Kind::Callable: return "<function " + v.callable().name() + ">";
    default: return repr(v);
  }
}

std::string repr(const Value& v) {
  std::string out;
  Walk walk;
  repr_at(v, out, walk, 0);
  check_string_size(out.size());
  return out;
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // "-1.2345e+02": shortest digits that round-trip
  const size_t e = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {  // Python switches to exponent form outside this range
    if (exponent >= 0) {
      const size_t int_len = size_t(exponent) + 1;
      if (digits.size() <= int_len) {
        out += digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out += "0." + std::string(size_t(-exponent - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_buf;
}

std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = text::utf8_next(s, i, &cp);
    if (cp == uint32_t(quote) || cp == '\\') {
      out += '\\';
      out += char(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp >= 0x20 && cp < 0x7f) {
      out += char(cp);
    } else if (cp < 0x7f || !printable(cp)) {
      if (cp < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      else if (cp < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      else std::snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    } else {
      text::append_utf8(out, cp);
    }
    i += n;
  }
  return out + quote;
}

void undefined_error(const Value& v) {
  const std::string& hint = v.is_undefined() ? v.undefined_hint() : std::string();
  problem(hint.empty() ? "value is undefined" : hint);
}

}  // namespace edgerun::jinja
