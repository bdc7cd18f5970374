// Internal to the template engine: renders a parsed Program. Expressions are evaluated in
// evaluator.cpp, statements (loops, macros, assignments) run in statements.cpp. Every problem
// becomes an edgerun Error naming the template and line; depth, work and output are bounded.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/parser.h"
#include "text/jinja/template.h"

namespace edgerun::jinja {

// Variables visible at one level: the globals, the render context, a loop iteration, a macro call.
struct Scope {
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;

  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value value);
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

class Interpreter {
 public:
  Interpreter(const Program& program, const RenderOptions& options);
  ~Interpreter();  // clears closure scopes and namespaces so reference cycles are freed

  std::string render(const DictData& context);

  Value eval(const Expr& e, const ScopePtr& scope);
  Flow exec(const Body& body, const ScopePtr& scope, std::string& out);
  // Calls a function, macro or callable object.
  Value call(const Value& callee, const CallArgs& args);
  // Python's binary operators: + - * / // % **.
  Value arithmetic(const std::string& op, const Value& a, const Value& b);

  ScopePtr new_scope(const ScopePtr& parent);
  // A namespace object; its attributes are cleared when the render ends (it may refer to itself).
  std::shared_ptr<Object> new_namespace();
  // Keeps the scope (and its parents) until the render ends, then empties them: a function that
  // captured it (a macro, caller, recursive loop) may be stored in a value inside it.
  void keep_until_end(const ScopePtr& scope);
  // State that outlives one call (loop.changed); kept and emptied the same way.
  std::shared_ptr<std::optional<Value>> new_state();

  const RenderOptions& options() const { return options_; }
  // Counts work against RenderLimits::max_steps.
  void tick();
  // Refuses strings longer than RenderLimits::max_output_bytes.
  void check_size(size_t bytes) const;
  void append(std::string& out, const std::string& text) const;

  // Runs a for loop over `items` (already evaluated); `depth` counts recursive loop() calls.
  void run_for(const Stmt& s, const ScopePtr& scope, std::vector<Value> items, int depth, std::string& out);
  // Renders a macro-like body (macros, caller, generation) in a fresh scope.
  std::string render_body(const Body& body, const ScopePtr& scope);

  // "<template> line N".
  std::string where(int line) const;

  // RAII bound on recursion (expressions, statements, macro calls).
  class Nesting {
   public:
    Nesting(Interpreter& interp, int line);
    ~Nesting() { --interp_.depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    Interpreter& interp_;
  };

 private:
  Value eval_expr(const Expr& e, const ScopePtr& scope);
  Value eval_call(const Expr& e, const ScopePtr& scope);
  Value eval_subscript(const Expr& e, const ScopePtr& scope);
  Value eval_compare(const Expr& e, const ScopePtr& scope);
  Value eval_collection(const Expr& e, const ScopePtr& scope);
  void eval_arguments(const Expr& e, size_t first, const ScopePtr& scope, CallArgs& args);

  Flow exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out);
  void assign(const Target& target, const Value& value, const ScopePtr& scope, int line);
  void define_macro(const Stmt& s, const ScopePtr& scope);
  void call_block(const Stmt& s, const ScopePtr& scope, std::string& out);

  const Program& program_;
  const RenderOptions& options_;
  int depth_ = 0;
  uint64_t steps_ = 0;
  // Everything that can take part in a reference cycle or an unbounded chain of references is
  // held here until the render ends and then emptied, so nothing is torn down recursively.
  std::vector<ScopePtr> scopes_;
  std::unordered_set<const Scope*> kept_scopes_;
  std::vector<std::shared_ptr<Object>> namespaces_;
  std::vector<std::shared_ptr<std::optional<Value>>> states_;
};

}  // namespace edgerun::jinja
