// Jinja2's built-in tests, used as `x is name` / `x is not name(arg)` and by select/reject.
#include <map>

#include "text/jinja/builtins.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/pystring.h"

namespace edgerun::jinja {

namespace {

using Test = bool (*)(Interpreter&, const Value&, const CallArgs&);

const Value& argument(const CallArgs& args, const char* test) {
  if (args.positional.size() + args.keyword.size() != 1) problem(std::string("test '") + test + "' takes one argument");
  return args.positional.empty() ? args.keyword[0].second : args.positional[0];
}

void no_arguments(const CallArgs& args, const char* test) {
  if (!args.positional.empty() || !args.keyword.empty()) problem(std::string("test '") + test + "' takes no arguments");
}

#define SIMPLE_TEST(fn, name, expr)                                  \
  bool fn(Interpreter&, const Value& v, const CallArgs& args) {      \
    no_arguments(args, name);                                        \
    return (expr);                                                   \
  }

SIMPLE_TEST(t_defined, "defined", !v.is_undefined())
SIMPLE_TEST(t_undefined, "undefined", v.is_undefined())
SIMPLE_TEST(t_none, "none", v.is_none())
SIMPLE_TEST(t_boolean, "boolean", v.is_bool())
SIMPLE_TEST(t_true, "true", v.is_bool() && v.boolean())
SIMPLE_TEST(t_false, "false", v.is_bool() && !v.boolean())
SIMPLE_TEST(t_integer, "integer", v.is_int())
SIMPLE_TEST(t_float, "float", v.is_float())
SIMPLE_TEST(t_number, "number", v.is_number())
SIMPLE_TEST(t_string, "string", v.is_string())
SIMPLE_TEST(t_mapping, "mapping", v.is_dict())
SIMPLE_TEST(t_iterable, "iterable", v.is_undefined() || v.is_string() || v.is_list() || v.is_dict())
SIMPLE_TEST(t_sequence, "sequence", v.is_undefined() || v.is_string() || v.is_indexable() || v.is_dict())
SIMPLE_TEST(t_callable, "callable", v.is_callable())
SIMPLE_TEST(t_escaped, "escaped", false)
SIMPLE_TEST(t_lower, "lower", py::is_lower(to_str(v)))
SIMPLE_TEST(t_upper, "upper", py::is_upper(to_str(v)))
#undef SIMPLE_TEST

bool t_odd(Interpreter& interp, const Value& v, const CallArgs& args) {
  no_arguments(args, "odd");
  return equal(interp.arithmetic("%", v, Value(int64_t(2))), Value(int64_t(1)));
}

bool t_even(Interpreter& interp, const Value& v, const CallArgs& args) {
  no_arguments(args, "even");
  return equal(interp.arithmetic("%", v, Value(int64_t(2))), Value(int64_t(0)));
}

bool t_divisibleby(Interpreter& interp, const Value& v, const CallArgs& args) {
  return equal(interp.arithmetic("%", v, argument(args, "divisibleby")), Value(int64_t(0)));
}

bool t_eq(Interpreter&, const Value& v, const CallArgs& a) { return equal(v, argument(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, const CallArgs& a) { return !equal(v, argument(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, const CallArgs& a) { return less(v, argument(a, "lt")); }
bool t_gt(Interpreter&, const Value& v, const CallArgs& a) { return less(argument(a, "gt"), v); }
bool t_le(Interpreter&, const Value& v, const CallArgs& a) {
  const Value& other = argument(a, "le");
  return less(v, other) || equal(v, other);
}
bool t_ge(Interpreter&, const Value& v, const CallArgs& a) {
  const Value& other = argument(a, "ge");
  return less(other, v) || equal(v, other);
}

bool t_in(Interpreter&, const Value& v, const CallArgs& a) {
  const Value& container = argument(a, "in");
  if (container.is_string()) {
    if (!v.is_string()) problem("'in <string>' requires string as left operand, not " + type_name(v));
    return container.string().find(v.string()) != std::string::npos;
  }
  if (container.is_dict()) return container.dict_data().find(v) != nullptr;
  for (const Value& item : iterate(container))
    if (equal(item, v)) return true;
  return false;
}

// Python `is`: identity for containers and objects; small values compare by value.
bool t_sameas(Interpreter&, const Value& v, const CallArgs& a) {
  const Value& other = argument(a, "sameas");
  if (v.kind() != other.kind()) return false;
  if (v.identity() || other.identity()) return v.identity() == other.identity();
  return equal(v, other);
}

bool t_filter(Interpreter&, const Value& v, const CallArgs& args) {
  no_arguments(args, "filter");
  return v.is_string() && has_filter(v.string());
}

bool t_test(Interpreter&, const Value& v, const CallArgs& args) {
  no_arguments(args, "test");
  return v.is_string() && has_test(v.string());
}

const std::map<std::string, Test>& tests() {
  static const std::map<std::string, Test> table = {
      {"boolean", t_boolean},   {"callable", t_callable}, {"defined", t_defined},   {"divisibleby", t_divisibleby},
      {"eq", t_eq},             {"equalto", t_eq},        {"==", t_eq},             {"escaped", t_escaped},
      {"even", t_even},         {"false", t_false},       {"filter", t_filter},     {"float", t_float},
      {"ge", t_ge},             {">=", t_ge},             {"gt", t_gt},             {"greaterthan", t_gt},
      {">", t_gt},              {"in", t_in},             {"integer", t_integer},   {"iterable", t_iterable},
      {"le", t_le},             {"<=", t_le},             {"lower", t_lower},       {"lt", t_lt},
      {"lessthan", t_lt},       {"<", t_lt},              {"mapping", t_mapping},   {"ne", t_ne},
      {"!=", t_ne},             {"none", t_none},         {"number", t_number},     {"odd", t_odd},
      {"sameas", t_sameas},     {"sequence", t_sequence}, {"string", t_string},     {"test", t_test},
      {"true", t_true},         {"undefined", t_undefined}, {"upper", t_upper},
  };
  return table;
}

}  // namespace

bool has_test(const std::string& name) { return tests().count(name) > 0; }

bool apply_test(Interpreter& interp, const std::string& name, const Value& operand, const CallArgs& args) {
  const auto it = tests().find(name);
  if (it == tests().end()) problem("unknown test '" + name + "'");
  return it->second(interp, operand, args);
}

}  // namespace edgerun::jinja
