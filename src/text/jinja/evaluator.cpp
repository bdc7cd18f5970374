// Expression evaluation with Python's operator semantics (the data model Jinja2 templates are
// written against): int/float arithmetic with floor division and modulo, str and list
// concatenation and repetition, chained comparisons, `in`, short-circuit and/or returning operands.
#include <cmath>

#include "core/error.h"
#include "text/jinja/builtins.h"
#include "text/jinja/interpreter.h"
#include "text/jinja/pystring.h"

namespace edgerun::jinja {

namespace {

bool hashable(const Value& v) { return !(v.is_list() && v.sequence() == Sequence::List) && !v.is_dict() && !v.is_object(); }

Value same_sequence(const Value& like, std::vector<Value> items) {
  return like.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

// Python ints do not overflow; ours are 64-bit and refuse to wrap. `op` is '+', '-' or '*'.
int64_t int_op(char op, int64_t a, int64_t b) {
  int64_t r = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(a, b, &r)
                        : op == '-' ? __builtin_sub_overflow(a, b, &r)
                                    : __builtin_mul_overflow(a, b, &r);
  if (overflow) problem("integer overflow");
  return r;
}

int64_t int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = int_op('*', result, base);
    exp >>= 1;
    if (exp) base = int_op('*', base, base);
  }
  return result;
}

// Python's % and // on ints: the remainder takes the sign of the divisor.
int64_t floor_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  const int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) problem("integer overflow");
  return (a - floor_mod(a, b)) / b;
}

double float_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// Python's float //, rounding exactly as CPython does.
double float_floor_div(double x, double y) {
  const double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floored = std::floor(div);
  if (div - floored > 0.5) floored += 1.0;
  return floored;
}

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  problem("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::Undefined: return false;  // Undefined iterates as empty
    case Kind::String:
      if (!item.is_string()) problem("'in <string>' requires string as left operand, not " + type_name(item));
      return container.string().find(item.string()) != std::string::npos;
    case Kind::List:
      for (const Value& v : container.items())
        if (equal(v, item)) return true;
      return false;
    case Kind::Dict:
      if (!hashable(item)) problem("unhashable type: '" + type_name(item) + "'");
      return container.dict_data().find(item) != nullptr;
    default: problem("argument of type '" + type_name(container) + "' is not iterable");
  }
}

std::optional<int64_t> slice_bound(const Value& v) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_int() && !v.is_bool()) problem("slice indices must be integers or None, not " + type_name(v));
  return v.as_int();
}

}  // namespace

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get())
    for (const auto& [key, value] : s->vars)
      if (key == name) return &value;
  return nullptr;
}

void Scope::set(const std::string& name, Value value) {
  for (auto& [key, existing] : vars) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

Interpreter::Interpreter(const Program& program, const RenderOptions& options) : program_(program), options_(options) {}

Interpreter::~Interpreter() {
  // Move every value out of the kept scopes, namespaces and states first: once they are empty,
  // what is left is values of bounded nesting, destroyed below without deep recursion.
  std::vector<Value> held;
  for (const ScopePtr& s : scopes_) {
    for (auto& var : s->vars) held.push_back(std::move(var.second));
    s->vars.clear();
  }
  for (const auto& ns : namespaces_) {
    for (auto& [key, value] : ns->attributes.entries) held.push_back(std::move(value));
    ns->attributes.entries.clear();
  }
  for (const auto& state : states_) {
    if (*state) held.push_back(std::move(**state));
    state->reset();
  }
  held.clear();
}

ScopePtr Interpreter::new_scope(const ScopePtr& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

void Interpreter::keep_until_end(const ScopePtr& scope) {
  for (ScopePtr s = scope; s && kept_scopes_.insert(s.get()).second; s = s->parent) scopes_.push_back(s);
}

std::shared_ptr<std::optional<Value>> Interpreter::new_state() {
  states_.push_back(std::make_shared<std::optional<Value>>());
  return states_.back();
}

std::shared_ptr<Object> Interpreter::new_namespace() {
  auto o = std::make_shared<Object>();
  o->type_name = "Namespace";
  o->assignable = true;
  namespaces_.push_back(o);
  return o;
}

std::string Interpreter::where(int line) const { return program_.name + " line " + std::to_string(line); }

Interpreter::Nesting::Nesting(Interpreter& interp, int line) : interp_(interp) {
  if (++interp_.depth_ > interp_.options_.limits.max_depth) {
    --interp_.depth_;
    fail(interp_.where(line), "template nests or recurses too deeply (limit " +
                                  std::to_string(interp_.options_.limits.max_depth) + ")");
  }
}

void Interpreter::tick() {
  if (++steps_ > options_.limits.max_steps)
    problem("template does too much work (more than " + std::to_string(options_.limits.max_steps) + " steps)");
}

void Interpreter::check_size(size_t bytes) const {
  if (bytes > options_.limits.max_output_bytes)
    problem("output would exceed " + std::to_string(options_.limits.max_output_bytes) + " bytes");
}

void Interpreter::append(std::string& out, const std::string& text) const {
  check_size(out.size() + text.size());
  out += text;
}

Value Interpreter::eval(const Expr& e, const ScopePtr& scope) {
  Nesting nesting(*this, e.line);
  try {
    tick();
    Value v = eval_expr(e, scope);
    if (v.is_string()) check_size(v.string().size());
    return v;
  } catch (const Problem& p) {
    fail(where(e.line), p.what());
  }
}

Value Interpreter::eval_expr(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::Literal: return e.constant;
    case ExprKind::List:
    case ExprKind::Tuple:
    case ExprKind::Dict: return eval_collection(e, scope);
    case ExprKind::Name: {
      const Value* v = scope->find(e.name);
      return v ? *v : Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::Attribute: {
      const Value object = eval(*e.args[0], scope);
      if (object.is_undefined()) undefined_error(object);
      return get_attribute(object, e.name);
    }
    case ExprKind::Subscript: return eval_subscript(e, scope);
    case ExprKind::Slice: problem("a slice can only be used inside []");
    case ExprKind::Call: return eval_call(e, scope);
    case ExprKind::Filter: {
      const Value operand = eval(*e.args[0], scope);
      CallArgs args;
      eval_arguments(e, 1, scope, args);
      return apply_filter(*this, e.name, operand, args);
    }
    case ExprKind::Test: {
      const Value operand = eval(*e.args[0], scope);
      CallArgs args;
      eval_arguments(e, 1, scope, args);
      return apply_test(*this, e.name, operand, args) != e.negated;
    }
    case ExprKind::Not: return !truthy(eval(*e.args[0], scope));
    case ExprKind::Negate:
    case ExprKind::Plus: {
      const Value v = eval(*e.args[0], scope);
      if (v.is_undefined()) undefined_error(v);
      const char* op = e.kind == ExprKind::Negate ? "-" : "+";
      if (!v.is_number()) problem(std::string("bad operand type for unary ") + op + ": '" + type_name(v) + "'");
      if (e.kind == ExprKind::Plus) return v.is_float() ? v : Value(v.as_int());
      if (v.is_float()) return Value(-v.floating());
      return Value(int_op('-', 0, v.as_int()));
    }
    case ExprKind::Binary: return arithmetic(e.name, eval(*e.args[0], scope), eval(*e.args[1], scope));
    case ExprKind::Concat: {
      std::string out;
      for (const ExprPtr& a : e.args) append(out, to_str(eval(*a, scope)));
      return Value(std::move(out));
    }
    case ExprKind::And: {
      Value a = eval(*e.args[0], scope);
      return truthy(a) ? eval(*e.args[1], scope) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.args[0], scope);
      return truthy(a) ? a : eval(*e.args[1], scope);
    }
    case ExprKind::Compare: return eval_compare(e, scope);
    case ExprKind::Conditional:
      if (truthy(eval(*e.args[1], scope))) return eval(*e.args[0], scope);
      if (e.args[2]) return eval(*e.args[2], scope);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
  }
  problem("unknown expression");
}

Value Interpreter::eval_collection(const Expr& e, const ScopePtr& scope) {
  if (e.kind == ExprKind::Dict) {
    DictData d;
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      Value key = eval(*e.args[i], scope);
      if (!hashable(key)) problem("unhashable type: '" + type_name(key) + "'");
      d.set(std::move(key), eval(*e.args[i + 1], scope));
    }
    return Value::dict(std::move(d));
  }
  std::vector<Value> items;
  items.reserve(e.args.size());
  for (const ExprPtr& a : e.args) items.push_back(eval(*a, scope));
  return e.kind == ExprKind::Tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

void Interpreter::eval_arguments(const Expr& e, size_t first, const ScopePtr& scope, CallArgs& args) {
  for (size_t i = first; i < e.args.size(); ++i) args.positional.push_back(eval(*e.args[i], scope));
  for (const auto& [name, value] : e.keywords) args.keyword.emplace_back(name, eval(*value, scope));
}

Value Interpreter::eval_call(const Expr& e, const ScopePtr& scope) {
  const Value callee = eval(*e.args[0], scope);
  CallArgs args;
  eval_arguments(e, 1, scope, args);
  return call(callee, args);
}

Value Interpreter::call(const Value& callee, const CallArgs& args) {
  if (callee.is_undefined()) undefined_error(callee);
  if (callee.kind() == Kind::Callable) return callee.callable().call(*this, args);
  if (callee.is_object() && callee.object().call) return callee.object().call->call(*this, args);
  problem("'" + type_name(callee) + "' object is not callable");
}

Value Interpreter::eval_subscript(const Expr& e, const ScopePtr& scope) {
  const Value object = eval(*e.args[0], scope);
  const Expr& key_expr = *e.args[1];
  if (key_expr.kind != ExprKind::Slice) {
    const Value key = eval(key_expr, scope);
    if (object.is_undefined()) undefined_error(object);
    return get_item(object, key);
  }
  auto bound = [&](size_t i) { return key_expr.args[i] ? slice_bound(eval(*key_expr.args[i], scope)) : std::nullopt; };
  const auto start = bound(0), stop = bound(1), step = bound(2);
  if (object.is_undefined()) undefined_error(object);
  if (object.is_string()) {
    const py::Codepoints cps = py::decode(object.string());
    py::Codepoints picked;
    for (size_t i : py::slice_indices(int64_t(cps.size()), start, stop, step)) picked.push_back(cps[i]);
    return Value(py::encode(picked));
  }
  if (object.is_indexable()) {
    std::vector<Value> picked;
    const auto& items = object.items();
    for (size_t i : py::slice_indices(int64_t(items.size()), start, stop, step)) picked.push_back(items[i]);
    return same_sequence(object, std::move(picked));
  }
  if (object.is_dict()) problem("unhashable type: 'slice'");
  problem("'" + type_name(object) + "' object is not subscriptable");  // Jinja2 slices without its getitem fallback
}

Value Interpreter::eval_compare(const Expr& e, const ScopePtr& scope) {
  Value left = eval(*e.args[0], scope);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.args[i + 1], scope);
    const std::string& op = e.ops[i];
    bool result;
    if (op == "==") result = equal(left, right);
    else if (op == "!=") result = !equal(left, right);
    else if (op == "<") result = less(left, right);
    else if (op == "<=") result = less(left, right) || equal(left, right);
    else if (op == ">") result = less(right, left);
    else if (op == ">=") result = less(right, left) || equal(left, right);
    else if (op == "in") result = contains(right, left);
    else result = !contains(right, left);  // notin
    if (!result) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::arithmetic(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool numbers = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) return Value(int_op('+', a.as_int(), b.as_int()));
    if (numbers) return Value(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      check_size(a.string().size() + b.string().size());
      return Value(a.string() + b.string());
    }
    if (a.is_plain_sequence() && b.is_plain_sequence() && a.sequence() == b.sequence()) {
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return same_sequence(a, std::move(items));
    }
    if (a.is_string() || a.is_plain_sequence())
      problem("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (ints) return Value(int_op('-', a.as_int(), b.as_int()));
    if (numbers) return Value(a.as_double() - b.as_double());
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (ints) return Value(int_op('*', a.as_int(), b.as_int()));
    if (numbers) return Value(a.as_double() * b.as_double());
    const Value& seq = a.is_string() || a.is_plain_sequence() ? a : b;
    const Value& times = &seq == &a ? b : a;
    if ((seq.is_string() || seq.is_plain_sequence()) && (times.is_int() || times.is_bool())) {
      const int64_t n = std::max<int64_t>(0, times.as_int());
      if (seq.is_string()) {
        const size_t len = seq.string().size();
        if (n > 0 && len > 0) check_size(len > options_.limits.max_output_bytes / size_t(n) ? SIZE_MAX : len * size_t(n));
        std::string out;
        for (int64_t i = 0; i < n && len > 0; ++i) out += seq.string();
        return Value(std::move(out));
      }
      const size_t len = seq.items().size();
      if (n > 0 && len > 0 && len * uint64_t(n) > options_.limits.max_steps) problem("list repetition too large");
      std::vector<Value> items;
      for (int64_t i = 0; i < n && len > 0; ++i) items.insert(items.end(), seq.items().begin(), seq.items().end());
      return same_sequence(seq, std::move(items));
    }
    unsupported("*", a, b);
  }
  if (op == "%" && a.is_string()) return Value(percent_format(a.string(), b));
  if (!numbers) unsupported(op == "**" ? "** or pow()" : op, a, b);
  if (op == "/") {
    if (b.as_double() == 0) problem("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (b.as_double() == 0) problem(op == "%" ? "modulo by zero" : "integer division or modulo by zero");
    if (ints) return Value(op == "%" ? floor_mod(a.as_int(), b.as_int()) : floor_div(a.as_int(), b.as_int()));
    const double x = a.as_double(), y = b.as_double();
    return Value(op == "%" ? float_mod(x, y) : float_floor_div(x, y));
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) return Value(int_pow(a.as_int(), b.as_int()));
    if (a.as_double() == 0 && b.as_double() < 0) problem("0.0 cannot be raised to a negative power");
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  problem("unknown operator " + op);
}

}  // namespace edgerun::jinja
