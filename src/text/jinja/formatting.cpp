// Python's two string formatting languages as templates use them: `"%s" % x` / `|format` and
// `"{}".format(x)`. Covers conversions, width, fill/alignment, sign, grouping and precision;
// `=` alignment of numbers is reported as unsupported.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "text/jinja/builtins.h"
#include "text/jinja/pystring.h"

namespace edgerun::jinja {

namespace {

struct Spec {
  std::string fill = " ";
  char align = 0;  // '<' '>' '^' or 0 for the type's default
  char sign = '-';
  bool alternate = false, zero = false;
  int64_t width = -1, precision = -1;
  char type = 0;
};

std::string pad_to(const std::string& s, const Spec& spec, char default_align) {
  const int64_t len = int64_t(py::length(s));
  if (spec.width <= len) return s;
  const int64_t total = spec.width - len;
  const char align = spec.align ? spec.align : default_align;
  const int64_t left = align == '<' ? 0 : align == '>' ? total : total / 2;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += spec.fill;
  out += s;
  for (int64_t i = left; i < total; ++i) out += spec.fill;
  return out;
}

int64_t int_of(const Value& v, char type) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float() && std::isfinite(v.floating()) && std::fabs(v.floating()) < 9.2e18) return int64_t(v.floating());
  problem(std::string("%") + type + " format: a real number is required, not " + type_name(v));
}

double float_of(const Value& v, char type) {
  if (v.is_number()) return v.as_double();
  problem(std::string("%") + type + " format: a real number is required, not " + type_name(v));
}

// A number through C's printf with Python's flags; Python and C agree for these conversions.
std::string format_number(const Value& v, const Spec& spec) {
  std::string fmt = "%";
  if (spec.sign == '+') fmt += '+';
  if (spec.sign == ' ') fmt += ' ';
  if (spec.alternate) fmt += '#';
  char buf[512];
  const char type = spec.type;
  if (type == 'd' || type == 'i' || type == 'u' || type == 'x' || type == 'X' || type == 'o') {
    fmt += std::string("ll") + (type == 'i' || type == 'u' ? 'd' : type);
    std::snprintf(buf, sizeof buf, fmt.c_str(), (long long)int_of(v, type));
    return buf;
  }
  const double d = float_of(v, type);
  if (std::isnan(d) || std::isinf(d)) {
    std::string s = std::isnan(d) ? "nan" : (d < 0 ? "-inf" : (spec.sign == '+' ? "+inf" : "inf"));
    return (type >= 'A' && type <= 'Z') ? py::upper(s) : s;
  }
  const int64_t precision = spec.precision < 0 ? 6 : std::min<int64_t>(spec.precision, 100);
  fmt += ".*";
  fmt += type;
  std::snprintf(buf, sizeof buf, fmt.c_str(), int(precision), d);
  return buf;
}

// Zero padding goes after the sign: "-0005".
std::string zero_pad(std::string s, int64_t width) {
  const size_t sign = !s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ') ? 1 : 0;
  while (int64_t(s.size()) < width) s.insert(sign, "0");
  return s;
}

std::string format_percent_one(const Value& v, Spec spec) {
  if (spec.type == 's' || spec.type == 'r' || spec.type == 'a') {
    std::string s = spec.type == 's' ? to_str(v) : repr(v);
    if (spec.precision >= 0) s = py::encode(py::decode(s), 0, size_t(spec.precision));
    return pad_to(s, spec, spec.align == '<' ? '<' : '>');
  }
  if (spec.type == 'c') {
    if (v.is_string() && py::length(v.string()) == 1) return pad_to(v.string(), spec, '>');
    const int64_t cp = int_of(v, 'c');
    if (cp < 0 || cp > 0x10FFFF) problem("%c arg not in range(0x110000)");
    return pad_to(py::encode({uint32_t(cp)}), spec, '>');
  }
  std::string s = format_number(v, spec);
  if (spec.zero && spec.align != '<') return zero_pad(s, spec.width);
  return pad_to(s, spec, spec.align == '<' ? '<' : '>');
}

}  // namespace

std::string percent_format(const std::string& format, const Value& args) {
  std::vector<Value> values;
  const bool mapping = args.is_dict();
  if (args.is_tuple()) values = args.items();
  else if (!mapping) values.push_back(args);
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) problem("incomplete format");
    const Value* value = nullptr;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos) problem("incomplete format key");
      if (!mapping) problem("format requires a mapping");
      value = args.dict_data().find(format.substr(i + 1, close - i - 1));
      if (!value) problem("KeyError: " + string_repr(format.substr(i + 1, close - i - 1)));
      i = close + 1;
    }
    Spec spec;
    for (; i < format.size() && std::string("-+ #0").find(format[i]) != std::string::npos; ++i) {
      if (format[i] == '-') spec.align = '<';
      else if (format[i] == '+' || format[i] == ' ') spec.sign = format[i];
      else if (format[i] == '#') spec.alternate = true;
      else spec.zero = true;
    }
    auto number = [&]() {
      int64_t n = 0;
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') n = std::min<int64_t>(n * 10 + (format[i++] - '0'), 1 << 20);
      return n;
    };
    if (i < format.size() && format[i] >= '0' && format[i] <= '9') spec.width = number();
    if (i < format.size() && format[i] == '.') {
      ++i;
      spec.precision = number();
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) problem("incomplete format");
    spec.type = format[i];
    if (spec.type == '%') {
      out += '%';
      continue;
    }
    if (std::string("sradiouxXeEfFgGc").find(spec.type) == std::string::npos)
      problem(std::string("unsupported format character '") + spec.type + "'");
    if (!value) {
      if (mapping && !values.empty()) problem("format requires a mapping");
      if (next >= values.size()) problem("not enough arguments for format string");
      value = &values[next++];
    }
    out += format_percent_one(*value, spec);
  }
  // Python treats any subscriptable non-tuple (a dict, also a list) as a mapping: extra values
  // are then not an error.
  const bool subscriptable = mapping || (args.is_list() && !args.is_tuple());
  if (!subscriptable && next < values.size()) problem("not all arguments converted during string formatting");
  return out;
}

namespace {

// One {field} of str.format: the argument, then .attr / [key] lookups.
Value format_field(const std::string& field, const CallArgs& args, size_t& auto_index) {
  size_t end = field.find_first_of(".[");
  const std::string head = field.substr(0, end);
  Value v;
  if (head.empty() || std::all_of(head.begin(), head.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const size_t index = head.empty() ? auto_index++ : size_t(std::stoul(head.substr(0, 9)));
    if (index >= args.positional.size()) problem("Replacement index " + std::to_string(index) + " out of range for positional args tuple");
    v = args.positional[index];
  } else {
    const Value* found = nullptr;
    for (const auto& [k, value] : args.keyword)
      if (k == head) found = &value;
    if (!found) problem("KeyError: " + string_repr(head));
    v = *found;
  }
  while (end < field.size()) {
    if (field[end] == '.') {
      const size_t next = field.find_first_of(".[", end + 1);
      v = get_attribute(v, field.substr(end + 1, next - end - 1));
      end = next == std::string::npos ? field.size() : next;
    } else {
      const size_t close = field.find(']', end);
      if (close == std::string::npos) problem("Missing ']' in format string");
      const std::string key = field.substr(end + 1, close - end - 1);
      const bool numeric = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
      v = get_item(v, numeric ? Value(int64_t(std::stoll(key.substr(0, 18)))) : Value(key));
      end = close + 1;
    }
  }
  return v;
}

// "1234567.5" -> "1,234,567.5" (the `,` option).
std::string group_thousands(const std::string& s) {
  size_t begin = s.find_first_of("0123456789");
  if (begin == std::string::npos) return s;
  size_t end = begin;
  while (end < s.size() && s[end] >= '0' && s[end] <= '9') ++end;
  std::string digits = s.substr(begin, end - begin), grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return s.substr(0, begin) + grouped + s.substr(end);
}

std::string apply_format_spec(const Value& v, const std::string& text) {
  Spec spec;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (text.size() >= 2 && is_align(text[1])) {
    spec.fill = text.substr(0, 1);
    spec.align = text[1];
    i = 2;
  } else if (!text.empty() && is_align(text[0])) {
    spec.align = text[0];
    i = 1;
  }
  if (spec.align == '=') problem("'=' alignment is not supported");
  if (i < text.size() && (text[i] == '+' || text[i] == '-' || text[i] == ' ')) spec.sign = text[i++];
  if (i < text.size() && text[i] == '#') spec.alternate = (++i, true);
  if (i < text.size() && text[i] == '0') spec.zero = (++i, true);
  auto number = [&]() {
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') n = std::min<int64_t>(n * 10 + (text[i++] - '0'), 1 << 20);
    return n;
  };
  if (i < text.size() && text[i] >= '0' && text[i] <= '9') spec.width = number();
  const bool grouping = i < text.size() && text[i] == ',';
  if (grouping) ++i;
  if (i < text.size() && text[i] == '.') {
    ++i;
    spec.precision = number();
  }
  if (i < text.size()) spec.type = text[i++];
  if (i < text.size()) problem("Invalid format specifier");
  if (v.is_string() || (!v.is_number() && !spec.type)) {
    if (spec.type && spec.type != 's') problem(std::string("Unknown format code '") + spec.type + "' for object of type 'str'");
    std::string s = to_str(v);
    if (spec.precision >= 0) s = py::encode(py::decode(s), 0, size_t(spec.precision));
    return pad_to(s, spec, '<');
  }
  std::string s;
  if (!spec.type) {
    s = to_str(v);
    if (spec.sign == '+' && v.as_double() >= 0) s = "+" + s;
    if (spec.precision >= 0 && v.is_float()) {
      spec.type = 'g';
      s = format_number(v, spec);
    }
  } else if (spec.type == '%') {
    spec.type = 'f';
    s = format_number(Value(v.as_double() * 100), spec) + "%";
  } else if (spec.type == 'b') {
    uint64_t n = uint64_t(std::llabs(int_of(v, 'b')));
    do {
      s.insert(s.begin(), char('0' + (n & 1)));
      n >>= 1;
    } while (n);
    if (int_of(v, 'b') < 0) s = "-" + s;
  } else {
    if (std::string("dxXoeEfFgGn").find(spec.type) == std::string::npos)
      problem(std::string("Unknown format code '") + spec.type + "'");
    if (spec.type == 'n') spec.type = v.is_float() ? 'g' : 'd';
    if (spec.type == 'd' && v.is_float()) problem("Unknown format code 'd' for object of type 'float'");
    s = format_number(v, spec);
  }
  if (grouping) s = group_thousands(s);
  if (spec.zero && !spec.align) return zero_pad(s, spec.width);
  return pad_to(s, spec, '>');
}

}  // namespace

std::string format_method(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      problem("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) problem("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    std::string spec;
    char conversion = 0;
    if (const size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) problem("expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field.resize(bang);
    }
    Value v = format_field(field, args, auto_index);
    if (conversion == 'r' || conversion == 'a') v = Value(repr(v));
    else if (conversion == 's') v = Value(to_str(v));
    else if (conversion) problem(std::string("Unknown conversion specifier ") + conversion);
    out += apply_format_spec(v, spec);
    i = close;
  }
  return out;
}

}  // namespace edgerun::jinja
