// Attribute and item access as Jinja2's sandbox does it, and the Python methods templates call
// on values: str (strip, split, replace, startswith, format, ...), dict (items, keys, values,
// get) and list (index, count). Methods that would modify a value are refused, as in
// Hugging Face's ImmutableSandboxedEnvironment.
#include <algorithm>
#include <set>

#include "text/jinja/builtins.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/pystring.h"

namespace edgerun::jinja {

std::string format_method(const std::string& format, const CallArgs& args);  // formatting.cpp

namespace {

const std::set<std::string> kStringMethods = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
    "casefold", "title", "capitalize", "swapcase", "replace", "find", "rfind", "index", "rindex", "count", "join",
    "format", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace", "islower", "isupper", "center",
    "ljust", "rjust", "zfill", "removeprefix", "removesuffix", "partition", "rpartition"};
const std::set<std::string> kDictMethods = {"items", "keys", "values", "get", "copy"};
const std::set<std::string> kListMethods = {"index", "count", "copy"};
const std::set<std::string> kUnsafeDictMethods = {"pop", "popitem", "setdefault", "update", "clear"};
const std::set<std::string> kUnsafeListMethods = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};

std::string kind_label(const Value& v) {
  if (v.is_none()) return "'None'";
  return "'" + type_name(v) + " object'";
}

Value missing_attribute(const Value& object, const std::string& name) {
  return Value::undefined(kind_label(object) + " has no attribute '" + name + "'");
}

Value unsafe(const Value& object, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(object) +
                          "' object is unsafe (templates cannot modify values)");
}

std::optional<std::string> optional_string(const Arguments& a, size_t i, const std::string& method) {
  if (!a.given(i) || a[i].is_none()) return std::nullopt;
  if (!a[i].is_string()) problem(method + " arg must be None or str, not " + type_name(a[i]));
  return a[i].string();
}

const std::string& string_arg(const Arguments& a, size_t i, const std::string& method) {
  if (!a[i].is_string()) problem(method + "() argument must be str, not " + type_name(a[i]));
  return a[i].string();
}

// str.startswith / str.endswith: one prefix or a tuple of them.
bool affix_match(const std::string& s, const Value& affix, bool at_end) {
  auto one = [&](const Value& v) {
    if (!v.is_string()) problem(std::string(at_end ? "endswith" : "startswith") + " first arg must be str or a tuple of str, not " + type_name(v));
    const std::string& a = v.string();
    return a.size() <= s.size() && s.compare(at_end ? s.size() - a.size() : 0, a.size(), a) == 0;
  };
  if (affix.is_tuple()) return std::any_of(affix.items().begin(), affix.items().end(), one);
  return one(affix);
}

std::string pad(const std::string& s, int64_t width, const std::string& fill, char align) {
  const int64_t len = int64_t(py::length(s));
  if (width <= len) return s;
  if (py::length(fill) != 1) problem("The fill character must be exactly one character long");
  check_string_size(uint64_t(width) * fill.size());
  const int64_t total = width - len;
  int64_t left = align == '<' ? 0 : align == '>' ? total : total / 2 + (total & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = left; i < total; ++i) out += fill;
  return out;
}

Value string_list(const std::vector<std::string>& parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (const std::string& p : parts) items.emplace_back(p);
  return Value::list(std::move(items));
}

Value call_string_method(const std::string& self, const std::string& m, const CallArgs& args) {
  if (m == "strip" || m == "lstrip" || m == "rstrip") {
    Arguments a(m, args, {"chars"});
    const py::Side side = m == "strip" ? py::Side::Both : m == "lstrip" ? py::Side::Left : py::Side::Right;
    return Value(py::strip(self, side, optional_string(a, 0, m)));
  }
  if (m == "split" || m == "rsplit") {
    Arguments a(m, args, {"sep", "maxsplit"});
    return string_list(py::split(self, optional_string(a, 0, m), a.integer(1, -1), m == "rsplit"));
  }
  if (m == "splitlines") return string_list(py::splitlines(self, Arguments(m, args, {"keepends"}).boolean(0, false)));
  if (m == "startswith" || m == "endswith") {
    Arguments a(m, args, {"affix"}, 1);
    return Value(affix_match(self, a[0], m == "endswith"));
  }
  if (m == "upper") return Value(py::upper(self));
  if (m == "lower" || m == "casefold") return Value(py::lower(self));
  if (m == "title") return Value(py::title(self));
  if (m == "capitalize") return Value(py::capitalize(self));
  if (m == "swapcase") return Value(py::swapcase(self));
  if (m == "replace") {
    Arguments a(m, args, {"old", "new", "count"}, 2);
    return Value(py::replace(self, string_arg(a, 0, m), string_arg(a, 1, m), a.integer(2, -1)));
  }
  if (m == "find" || m == "rfind" || m == "index" || m == "rindex") {
    Arguments a(m, args, {"sub"}, 1);
    const int64_t at = py::find(self, string_arg(a, 0, m), m[0] == 'r');
    if (at < 0 && (m == "index" || m == "rindex")) problem("substring not found");
    return Value(at);
  }
  if (m == "count") return Value(py::count(self, string_arg(Arguments(m, args, {"sub"}, 1), 0, m)));
  if (m == "join") {
    Arguments a(m, args, {"iterable"}, 1);
    std::string out;
    size_t i = 0;
    for (const Value& v : iterate(a[0])) {
      if (!v.is_string()) problem("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(v) + " found");
      check_string_size(uint64_t(out.size()) + self.size() + v.string().size());
      if (i++) out += self;
      out += v.string();
    }
    return Value(std::move(out));
  }
  if (m == "format") return Value(format_method(self, args));
  if (m == "isdigit" || m == "isdecimal" || m == "isnumeric") return Value(py::is_digit(self));
  if (m == "isalpha") return Value(py::is_alpha(self));
  if (m == "isalnum") return Value(py::is_alnum(self));
  if (m == "isspace") return Value(py::is_space_string(self));
  if (m == "islower") return Value(py::is_lower(self));
  if (m == "isupper") return Value(py::is_upper(self));
  if (m == "center" || m == "ljust" || m == "rjust") {
    Arguments a(m, args, {"width", "fillchar"}, 1);
    const char align = m == "center" ? '^' : m == "ljust" ? '<' : '>';
    return Value(pad(self, a.integer(0, 0), a.string(1, " "), align));
  }
  if (m == "zfill") {
    const int64_t width = Arguments(m, args, {"width"}, 1).integer(0, 0);
    const bool sign = !self.empty() && (self[0] == '-' || self[0] == '+');
    const std::string digits = pad(self.substr(sign ? 1 : 0), width - (sign ? 1 : 0), "0", '>');
    return Value((sign ? self.substr(0, 1) : "") + digits);
  }
  if (m == "removeprefix" || m == "removesuffix") {
    const std::string& affix = string_arg(Arguments(m, args, {"affix"}, 1), 0, m);
    const bool suffix = m == "removesuffix";
    if (!affix_match(self, Value(affix), suffix)) return Value(self);
    return Value(suffix ? self.substr(0, self.size() - affix.size()) : self.substr(affix.size()));
  }
  if (m == "partition" || m == "rpartition") {
    const std::string& sep = string_arg(Arguments(m, args, {"sep"}, 1), 0, m);
    if (sep.empty()) problem("empty separator");
    const size_t at = m == "partition" ? self.find(sep) : self.rfind(sep);
    if (at == std::string::npos)
      return m == "partition" ? Value::tuple({Value(self), Value(""), Value("")}) : Value::tuple({Value(""), Value(""), Value(self)});
    return Value::tuple({Value(self.substr(0, at)), Value(sep), Value(self.substr(at + sep.size()))});
  }
  problem("'str' object has no attribute '" + m + "'");
}

Value call_dict_method(const Value& self, const std::string& m, const CallArgs& args) {
  const DictData& d = self.dict_data();
  if (m == "get") {
    Arguments a(m, args, {"key", "default"}, 1);
    const Value* v = d.find(a[0]);
    return v ? *v : a.given(1) ? a[1] : Value(nullptr);
  }
  Arguments(m, args, {});
  if (m == "copy") return self;
  std::vector<Value> out;
  out.reserve(d.entries.size());
  for (const auto& [key, value] : d.entries) {
    if (m == "keys") out.push_back(key);
    else if (m == "values") out.push_back(value);
    else out.push_back(Value::tuple({key, value}));
  }
  return Value::view(std::move(out), "dict_" + m);
}

Value call_list_method(const Value& self, const std::string& m, const CallArgs& args) {
  if (m == "copy") return self;
  Arguments a(m, args, {"value"}, 1);
  int64_t found = -1, n = 0;
  for (size_t i = 0; i < self.items().size(); ++i) {
    if (!equal(self.items()[i], a[0])) continue;
    if (found < 0) found = int64_t(i);
    ++n;
  }
  if (m == "count") return Value(n);
  if (found < 0) problem(repr(a[0]) + " is not in list");
  return Value(found);
}

// `"abc".upper`, `d.items`: a method with its object.
class BoundMethod : public Callable {
 public:
  BoundMethod(Value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  int nesting() const override { return nesting_of(self_) + 1; }
  Value call(Interpreter&, const CallArgs& args) const override {
    if (self_.is_string()) return call_string_method(self_.string(), name_, args);
    if (self_.is_dict()) return call_dict_method(self_, name_, args);
    return call_list_method(self_, name_, args);
  }

 private:
  Value self_;
  std::string name_;
};

Value bound(const Value& self, const std::string& name) {
  return Value(CallablePtr(std::make_shared<BoundMethod>(self, name)));
}

// loop.index, loop.last, loop.cycle(...): computed from the iteration's position.
Value loop_attribute(const Value& loop, const LoopInfo& info, const std::string& name) {
  const int64_t i = info.index0, n = int64_t(info.items->size());
  if (name == "index") return Value(i + 1);
  if (name == "index0") return Value(i);
  if (name == "revindex") return Value(n - i);
  if (name == "revindex0") return Value(n - i - 1);
  if (name == "first") return Value(i == 0);
  if (name == "last") return Value(i == n - 1);
  if (name == "length") return Value(n);
  if (name == "depth") return Value(int64_t(info.depth));
  if (name == "depth0") return Value(int64_t(info.depth - 1));
  if (name == "previtem") return i > 0 ? (*info.items)[size_t(i - 1)] : Value::undefined("there is no previous item");
  if (name == "nextitem") return i + 1 < n ? (*info.items)[size_t(i + 1)] : Value::undefined("there is no next item");
  if (name == "changed") return Value(info.changed);
  if (name == "cycle")
    return native("cycle", [i](Interpreter&, const CallArgs& args) {
      if (args.positional.empty()) problem("no items for cycling given");
      return args.positional[size_t(i) % args.positional.size()];
    });
  return missing_attribute(loop, name);
}

}  // namespace

Value native(std::string name, NativeFunction::Fn fn) {
  return Value(CallablePtr(std::make_shared<NativeFunction>(std::move(name), std::move(fn))));
}

Arguments::Arguments(const std::string& function, const CallArgs& args, std::initializer_list<const char*> params,
                     size_t required)
    : function_(function), values_(params.size()) {
  std::vector<bool> given(params.size(), false);
  if (args.positional.size() > params.size())
    problem(function + "() takes at most " + std::to_string(params.size()) + " argument(s) (" +
            std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i) {
    values_[i] = args.positional[i];
    given[i] = true;
  }
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    for (const char* p : params) {
      if (key == p) break;
      ++i;
    }
    if (i == params.size()) problem(function + "() got an unexpected keyword argument '" + key + "'");
    if (given[i]) problem(function + "() got multiple values for argument '" + key + "'");
    values_[i] = value;
    given[i] = true;
  }
  for (size_t i = 0; i < required; ++i)
    if (!given[i]) problem(function + "() missing required argument '" + std::string(params.begin()[i]) + "'");
}

int64_t Arguments::integer(size_t i, int64_t fallback) const {
  if (!given(i)) return fallback;
  if (!values_[i].is_int() && !values_[i].is_bool())
    problem(function_ + "(): expected an integer, got " + type_name(values_[i]));
  return values_[i].as_int();
}

std::string Arguments::string(size_t i, const std::string& fallback) const {
  if (!given(i)) return fallback;
  if (!values_[i].is_string()) problem(function_ + "(): expected a string, got " + type_name(values_[i]));
  return values_[i].string();
}

bool Arguments::boolean(size_t i, bool fallback) const { return given(i) ? truthy(values_[i]) : fallback; }

Value get_attribute(const Value& object, const std::string& name) {
  switch (object.kind()) {
    case Kind::String:
      return kStringMethods.count(name) ? bound(object, name) : missing_attribute(object, name);
    case Kind::Dict: {
      if (kDictMethods.count(name)) return bound(object, name);
      if (kUnsafeDictMethods.count(name)) return unsafe(object, name);
      const Value* v = object.dict_data().find(name);
      return v ? *v : missing_attribute(object, name);
    }
    case Kind::List:
      if (!object.is_indexable()) return missing_attribute(object, name);
      if (kListMethods.count(name)) return bound(object, name);
      if (kUnsafeListMethods.count(name)) return unsafe(object, name);
      return missing_attribute(object, name);
    case Kind::Object: {
      if (object.object().loop) return loop_attribute(object, *object.object().loop, name);
      const Value* v = object.object().attributes.find(name);
      return v ? *v : missing_attribute(object, name);
    }
    default: return missing_attribute(object, name);
  }
}

Value get_item(const Value& object, const Value& key) {
  const bool int_key = key.is_int() || key.is_bool();
  const bool indexable = object.is_indexable() || object.is_string();
  if (indexable && int_key) {
    const int64_t n = object.is_list() ? int64_t(object.items().size()) : int64_t(py::length(object.string()));
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined(type_name(object) + " object has no element " + std::to_string(key.as_int()));
    if (object.is_list()) return object.items()[size_t(i)];
    const py::Codepoints cps = py::decode(object.string());
    return Value(py::encode(cps, size_t(i), size_t(i) + 1));
  }
  if (object.is_dict()) {
    if (const Value* v = object.dict_data().find(key)) return *v;
  }
  // Jinja2 falls back to an attribute for string keys: d['items'] finds the method.
  if (key.is_string()) return get_attribute(object, key.string());
  return Value::undefined(kind_label(object) + " has no element " + repr(key));
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined: return {};
    case Kind::List: return v.items();
    case Kind::Dict: {
      std::vector<Value> keys;
      keys.reserve(v.dict_data().entries.size());
      for (const auto& entry : v.dict_data().entries) keys.push_back(entry.first);
      return keys;
    }
    case Kind::String: {
      std::vector<Value> chars;
      for (uint32_t cp : py::decode(v.string())) chars.emplace_back(py::encode({cp}));
      return chars;
    }
    default: problem("'" + type_name(v) + "' object is not iterable");
  }
}

}  // namespace edgerun::jinja
