// Statements with Jinja2's scoping: `if` shares its scope, every loop iteration gets a fresh one
// (so `set` inside a loop does not leak — templates use namespace() for that), macros and call
// blocks run in a child of the scope they were defined in, and `set ns.attr` writes through.
#include <algorithm>
#include <optional>

#include "core/error.h"
#include "text/jinja/builtins.h"
#include "text/jinja/interpreter.h"

namespace edgerun::jinja {

namespace {

// A {% macro %} (or the body of a {% call %} block, which becomes `caller`).
class Macro : public Callable {
 public:
  Macro(const Stmt& def, ScopePtr closure) : def_(def), closure_(std::move(closure)) {}

  std::string name() const override { return def_.macro.name; }

  Value call(Interpreter& interp, const CallArgs& args) const override {
    Interpreter::Nesting nesting(interp, def_.line);
    const MacroDef& m = def_.macro;
    ScopePtr scope = interp.new_scope(closure_);
    const size_t n_params = m.params.size();
    if (args.positional.size() > n_params && !m.uses_varargs)
      problem("macro '" + m.name + "' takes not more than " + std::to_string(n_params) + " argument(s)");
    std::vector<bool> bound(n_params, false);
    for (size_t i = 0; i < args.positional.size() && i < n_params; ++i) {
      scope->set(m.params[i].name, args.positional[i]);
      bound[i] = true;
    }
    DictData extra_keywords;
    Value caller = Value::undefined("no caller was passed to macro '" + m.name + "'");
    for (const auto& [key, value] : args.keyword) {
      size_t i = 0;
      while (i < n_params && m.params[i].name != key) ++i;
      if (i < n_params) {
        if (bound[i]) problem("macro '" + m.name + "' got multiple values for argument '" + key + "'");
        scope->set(key, value);
        bound[i] = true;
      } else if (key == "caller" && m.uses_caller) {
        caller = value;
      } else if (m.uses_kwargs) {
        extra_keywords.set(Value(key), value);
      } else {
        problem("macro '" + m.name + "' takes no keyword argument '" + key + "'");
      }
    }
    for (size_t i = 0; i < n_params; ++i) {
      if (bound[i]) continue;
      const MacroParam& p = m.params[i];
      scope->set(p.name, p.default_value ? interp.eval(*p.default_value, scope)
                                         : Value::undefined("parameter '" + p.name + "' was not provided"));
    }
    if (m.uses_varargs) {
      std::vector<Value> rest;
      for (size_t i = n_params; i < args.positional.size(); ++i) rest.push_back(args.positional[i]);
      scope->set("varargs", Value::tuple(std::move(rest)));
    }
    if (m.uses_kwargs) scope->set("kwargs", Value::dict(std::move(extra_keywords)));
    if (m.uses_caller) scope->set("caller", caller);
    return Value(interp.render_body(def_.body, scope));
  }

 private:
  const Stmt& def_;
  ScopePtr closure_;
};

// `loop(children)` inside a recursive for loop renders the loop body one level deeper.
class RecursiveLoop : public Callable {
 public:
  RecursiveLoop(const Stmt& loop, ScopePtr scope, int depth) : loop_(loop), scope_(std::move(scope)), depth_(depth) {}
  std::string name() const override { return "loop"; }
  Value call(Interpreter& interp, const CallArgs& args) const override {
    if (args.positional.size() != 1 || !args.keyword.empty()) problem("loop() takes exactly one argument");
    std::string out;
    interp.run_for(loop_, scope_, iterate(args.positional[0]), depth_ + 1, out);
    return Value(std::move(out));
  }

 private:
  const Stmt& loop_;
  ScopePtr scope_;
  int depth_;
};

// Applies a {% filter %} / {% set x | f %} chain whose innermost operand is `text`.
Value apply_chain(Interpreter& interp, const Expr& filter, const Value& text, const ScopePtr& scope) {
  const Value operand = filter.args[0] ? apply_chain(interp, *filter.args[0], text, scope) : text;
  CallArgs args;
  for (size_t i = 1; i < filter.args.size(); ++i) args.positional.push_back(interp.eval(*filter.args[i], scope));
  for (const auto& [name, value] : filter.keywords) args.keyword.emplace_back(name, interp.eval(*value, scope));
  return apply_filter(interp, filter.name, operand, args);
}

}  // namespace

std::string Interpreter::render(const DictData& context) {
  ScopePtr globals = new_scope(nullptr);
  for (auto& [key, value] : builtin_globals().entries) globals->set(key.string(), value);
  ScopePtr top = new_scope(globals);
  for (const auto& [key, value] : context.entries) {
    if (!key.is_string()) fail(program_.name, "context keys must be strings, got " + repr(key));
    top->set(key.string(), value);
  }
  std::string out;
  exec(program_.body, top, out);
  return out;
}

std::string Interpreter::render_body(const Body& body, const ScopePtr& scope) {
  std::string out;
  exec(body, scope, out);
  return out;
}

Flow Interpreter::exec(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const StmtPtr& s : body) {
    const Flow flow = exec_stmt(*s, scope, out);
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Flow Interpreter::exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
  Nesting nesting(*this, s.line);
  try {
    switch (s.kind) {
      case StmtKind::Text: append(out, s.text); break;
      case StmtKind::Output: append(out, to_str(eval(*s.expr, scope))); break;
      case StmtKind::If:
        for (const IfBranch& b : s.branches)
          if (!b.condition || truthy(eval(*b.condition, scope))) return exec(b.body, scope, out);
        break;
      case StmtKind::For: {
        const Value iterable = eval(*s.expr, scope);
        run_for(s, scope, iterate(iterable), 1, out);
        break;
      }
      case StmtKind::Set: assign(s.target, eval(*s.expr, scope), scope, s.line); break;
      case StmtKind::SetBlock: {
        Value text(render_body(s.body, new_scope(scope)));
        if (s.expr) text = apply_chain(*this, *s.expr, text, scope);
        assign(s.target, text, scope, s.line);
        break;
      }
      case StmtKind::Macro: define_macro(s, scope); break;
      case StmtKind::CallBlock: call_block(s, scope, out); break;
      case StmtKind::FilterBlock: {
        const Value text(render_body(s.body, new_scope(scope)));
        append(out, to_str(apply_chain(*this, *s.expr, text, scope)));
        break;
      }
      case StmtKind::With: {
        ScopePtr inner = new_scope(scope);
        for (const auto& [target, value] : s.assignments) assign(target, eval(*value, scope), inner, s.line);
        return exec(s.body, inner, out);
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::Scoped: append(out, render_body(s.body, new_scope(scope))); break;
    }
  } catch (const Problem& p) {
    fail(where(s.line), p.what());
  }
  return Flow::Normal;
}

void Interpreter::assign(const Target& target, const Value& value, const ScopePtr& scope, int line) {
  if (!target.attribute.empty()) {
    const Value* object = scope->find(target.names[0]);
    if (!object || !object->is_object() || !object->object().assignable)
      problem("cannot assign attribute on non-namespace object");
    object->object().attributes.set(Value(target.attribute), value);
    return;
  }
  if (!target.unpack) {
    scope->set(target.names[0], value);
    return;
  }
  const std::vector<Value> items = iterate(value);
  const size_t want = target.names.size();
  if (items.size() > want) problem("too many values to unpack (expected " + std::to_string(want) + ")");
  if (items.size() < want)
    problem("not enough values to unpack (expected " + std::to_string(want) + ", got " + std::to_string(items.size()) + ")");
  for (size_t i = 0; i < want; ++i) scope->set(target.names[i], items[i]);
}

void Interpreter::define_macro(const Stmt& s, const ScopePtr& scope) {
  keep_until_end(scope);
  scope->set(s.macro.name, Value(CallablePtr(std::make_shared<Macro>(s, scope))));
}

void Interpreter::call_block(const Stmt& s, const ScopePtr& scope, std::string& out) {
  const Expr& call_expr = *s.expr;
  const Value callee = eval(*call_expr.args[0], scope);
  CallArgs args;
  for (size_t i = 1; i < call_expr.args.size(); ++i) args.positional.push_back(eval(*call_expr.args[i], scope));
  for (const auto& [name, value] : call_expr.keywords) args.keyword.emplace_back(name, eval(*value, scope));
  keep_until_end(scope);
  args.keyword.emplace_back("caller", Value(CallablePtr(std::make_shared<Macro>(s, scope))));
  append(out, to_str(call(callee, args)));
}

void Interpreter::run_for(const Stmt& s, const ScopePtr& scope, std::vector<Value> items, int depth, std::string& out) {
  if (s.condition) {  // `for x in xs if cond`: filtered before the loop counts its length
    std::vector<Value> kept;
    for (Value& item : items) {
      tick();
      ScopePtr probe = new_scope(scope);
      assign(s.target, item, probe, s.line);
      if (truthy(eval(*s.condition, probe))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec(s.else_body, scope, out);
    return;
  }
  auto last_changed = new_state();
  const Value changed = native("changed", [last_changed](Interpreter&, const CallArgs& a) {
    const Value current = Value::tuple(a.positional);
    if (*last_changed && equal(**last_changed, current)) return Value(false);
    *last_changed = current;
    return Value(true);
  });
  CallablePtr recurse;
  if (s.recursive) {
    keep_until_end(scope);
    recurse = std::make_shared<RecursiveLoop>(s, scope, depth);
  }
  int items_nesting = 0;
  for (const Value& item : items) items_nesting = std::max(items_nesting, nesting_of(item));
  if (items_nesting + 1 > kMaxValueDepth) problem("value nested more than " + std::to_string(kMaxValueDepth) + " levels deep");
  const auto shared_items = std::make_shared<const std::vector<Value>>(std::move(items));
  for (size_t i = 0; i < shared_items->size(); ++i) {
    tick();
    ScopePtr iteration = new_scope(scope);
    assign(s.target, (*shared_items)[i], iteration, s.line);
    auto loop = std::make_shared<Object>();
    loop->type_name = "LoopContext";
    loop->loop = std::make_shared<const LoopInfo>(LoopInfo{shared_items, int64_t(i), depth, changed.callable_ptr()});
    loop->call = recurse;
    loop->nesting = items_nesting + 1;
    iteration->set("loop", Value(loop));
    if (exec(s.body, iteration, out) == Flow::Break) break;
  }
}

}  // namespace edgerun::jinja
