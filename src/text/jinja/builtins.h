// Internal to the template engine: the built-in filters, tests (`is ...`), methods of str / dict /
// list values and global functions, plus argument binding shared by all of them.
#pragma once
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "text/jinja/value.h"

namespace edgerun::jinja {

class Interpreter;

// Binds call arguments to named parameters the way Python does; errors name the function.
class Arguments {
 public:
  Arguments(const std::string& function, const CallArgs& args, std::initializer_list<const char*> params,
            size_t required = 0);
  // The argument, or an Undefined value when it was not given.
  const Value& operator[](size_t i) const { return values_[i]; }
  bool given(size_t i) const { return !values_[i].is_undefined(); }
  int64_t integer(size_t i, int64_t fallback) const;
  std::string string(size_t i, const std::string& fallback) const;
  bool boolean(size_t i, bool fallback) const;

 private:
  std::string function_;
  std::vector<Value> values_;
};

// A function implemented here (globals, bound methods, loop.cycle).
class NativeFunction : public Callable {
 public:
  using Fn = std::function<Value(Interpreter&, const CallArgs&)>;
  NativeFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  Value call(Interpreter& interp, const CallArgs& args) const override { return fn_(interp, args); }

 private:
  std::string name_;
  Fn fn_;
};
Value native(std::string name, NativeFunction::Fn fn);

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(Interpreter& interp, const std::string& name, const Value& operand, const CallArgs& args);
bool apply_test(Interpreter& interp, const std::string& name, const Value& operand, const CallArgs& args);

// Attribute lookup on a value (methods of str, dict and list bound to it, dict keys, object
// attributes), following Jinja2's getattr: Undefined when absent.
Value get_attribute(const Value& object, const std::string& name);
// obj[key] following Jinja2's getitem (falls back to attributes for string keys).
Value get_item(const Value& object, const Value& key);

// Global functions available to every template: range, dict, namespace, raise_exception,
// strftime_now, joiner, cycler.
DictData builtin_globals();

// Python's `%` string formatting (printf-style), used by the `%` operator and `format` filter.
std::string percent_format(const std::string& format, const Value& args);

// Iterating a value as Python does: list items, dict keys, string characters; Undefined is
// empty. Throws Problem for values that are not iterable.
std::vector<Value> iterate(const Value& v);

// Python's sorted(): stable, reverse keeps equal items in order; safe with inconsistent `less`.
void sort_values(std::vector<Value>& values, bool reverse, const std::function<bool(const Value&, const Value&)>& less_than);

// Encodes a value as JSON the way Python's json.dumps does.
struct JsonOptions {
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool indent_set = false;  // indent given (a number or a string)
  std::string indent;
  std::string item_separator = ", ", key_separator = ": ";
};
std::string to_json(const Value& v, const JsonOptions& options);

}  // namespace edgerun::jinja
