// JSON in and out: input data (messages, tools) becomes template values with key order kept;
// `tojson` writes what Python's json.dumps writes (", " and ": " separators, floats as repr,
// non-ASCII kept unless ensure_ascii, no HTML escaping).
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "text/jinja/builtins.h"
#include "text/jinja/template.h"
#include "text/unicode.h"

namespace edgerun::jinja {

namespace {

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) problem("JSON nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value(nullptr);
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      return u <= uint64_t(INT64_MAX) ? Value(int64_t(u)) : Value(double(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json_at(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      DictData d;
      d.entries.reserve(j.size());
      for (const auto& [key, value] : j.items()) d.entries.emplace_back(Value(key), from_json_at(value, depth + 1));
      return Value::dict(std::move(d));
    }
    default: problem("unsupported JSON value (binary)");
  }
}

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  char buf[16];
  out += '"';
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const size_t n = text::utf8_next(s, i, &cp);
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
          if (cp >= 0x10000) {  // as a UTF-16 surrogate pair
            const uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else if (cp == text::kReplacementChar) {
          text::append_utf8(out, cp);
        } else {
          out.append(s, i, n);
        }
    }
    i += n;
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d < 0 ? "-Infinity" : "Infinity";
  return float_repr(d);
}

// A dict key as json.dumps converts it: str as is, numbers, bools and None to their JSON text.
std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Kind::String: return key.string();
    case Kind::Int: return std::to_string(key.integer());
    case Kind::Float: return json_float(key.floating());
    case Kind::Bool: return key.boolean() ? "true" : "false";
    case Kind::None: return "null";
    default: problem("keys must be str, int, float, bool or None, not " + type_name(key));
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonOptions& options) : o_(options) {}

  void write(const Value& v, int level) {
    if (level > kMaxValueDepth) problem("value nested too deeply for tojson");
    check_string_size(out.size());
    switch (v.kind()) {
      case Kind::None: out += "null"; return;
      case Kind::Bool: out += v.boolean() ? "true" : "false"; return;
      case Kind::Int: out += std::to_string(v.integer()); return;
      case Kind::Float: out += json_float(v.floating()); return;
      case Kind::String: append_json_string(out, v.string(), o_.ensure_ascii); return;
      case Kind::List: {
        if (!v.is_plain_sequence()) problem("Object of type " + type_name(v) + " is not JSON serializable");
        if (v.items().empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t i = 0; i < v.items().size(); ++i) {
          separator(i, level);
          write(v.items()[i], level + 1);
        }
        close(level, ']');
        return;
      }
      case Kind::Dict: {
        if (v.dict_data().entries.empty()) {
          out += "{}";
          return;
        }
        std::vector<Value> entries;  // (key, value) tuples
        for (const auto& [key, value] : v.dict_data().entries) entries.push_back(Value::tuple({key, value}));
        if (o_.sort_keys)
          sort_values(entries, false, [](const Value& a, const Value& b) { return less(a.items()[0], b.items()[0]); });
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
          separator(i, level);
          append_json_string(out, json_key(entries[i].items()[0]), o_.ensure_ascii);
          out += o_.key_separator;
          write(entries[i].items()[1], level + 1);
        }
        close(level, '}');
        return;
      }
      default: problem("Object of type " + type_name(v) + " is not JSON serializable");
    }
  }

  std::string out;

 private:
  void separator(size_t index, int level) {
    if (index > 0) out += o_.item_separator;
    if (o_.indent_set) newline(level + 1);
  }
  void close(int level, char bracket) {
    if (o_.indent_set) newline(level);
    out += bracket;
  }
  void newline(int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += o_.indent;
  }

  const JsonOptions& o_;
};

}  // namespace

Value from_json(const nlohmann::ordered_json& j) {
  try {
    return from_json_at(j, 0);
  } catch (const Problem& p) {
    fail("JSON input", p.what());
  }
}

std::string to_json(const Value& v, const JsonOptions& options) {
  JsonWriter writer(options);
  writer.write(v, 0);
  return std::move(writer.out);
}

}  // namespace edgerun::jinja
