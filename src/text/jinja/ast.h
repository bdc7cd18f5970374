// The parsed form of a template: expressions and statements, each with its source line for
// error messages. Built by the parser, read-only while rendering (one parse, many renders).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja/value.h"

namespace edgerun::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  Literal,      // constant
  List,         // [args...]
  Tuple,        // (args...)
  Dict,         // {args[0]: args[1], args[2]: args[3], ...}
  Name,         // name
  Attribute,    // args[0] . name
  Subscript,    // args[0] [ args[1] ]
  Slice,        // args[0] : args[1] : args[2] (each may be null); only as a subscript
  Call,         // args[0] ( args[1..], keywords )
  Filter,       // args[0] | name ( args[1..], keywords ); args[0] null in {% filter %} blocks
  Test,         // args[0] is [not] name ( args[1..], keywords )
  Not,          // not args[0]
  Negate,       // -args[0]
  Plus,         // +args[0]
  Binary,       // args[0] op args[1]: + - * / // % **
  Concat,       // args[0] ~ args[1] ~ ... (n-ary, so long chains stay shallow)
  And,          // args[0] and args[1]
  Or,           // args[0] or args[1]
  Compare,      // args[0] ops[0] args[1] ops[1] args[2] ... (chained)
  Conditional,  // args[0] if args[1] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line;
  std::string name;                // Name, Attribute, Filter, Test; operator of Binary
  Value constant;                  // Literal
  std::vector<ExprPtr> args;       // operands (see ExprKind)
  std::vector<std::pair<std::string, ExprPtr>> keywords;  // Call, Filter, Test
  std::vector<std::string> ops;    // Compare: "==", "!=", "<", "<=", ">", ">=", "in", "notin"
  bool negated = false;            // Test: `is not`
  int depth = 1;                   // height of this subtree (bounded by the parser)

  Expr(ExprKind k, int l) : kind(k), line(l) {}
};

// Where `for` and `set` store values: one name, several names (unpacking), or ns.attribute.
struct Target {
  std::vector<std::string> names;
  std::string attribute;  // set: `names[0].attribute = ...`
  bool unpack = false;
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct MacroDef {
  std::string name;
  std::vector<MacroParam> params;
  // Whether the body reads these names; Jinja2 then accepts extra arguments / a caller.
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
};

enum class StmtKind {
  Text,         // text
  Output,       // {{ expr }}
  If,           // branches (a null condition is the else branch)
  For,          // for target in expr [if condition] [recursive]: body [else: else_body]
  Set,          // set target = expr
  SetBlock,     // set target [| filter] %} body {% endset
  Macro,        // macro name(params): body
  CallBlock,    // call[(params)] expr: body (body becomes `caller`)
  FilterBlock,  // filter expr (a Filter chain with a null innermost operand): body
  With,         // with assignments: body
  Break,
  Continue,
  Scoped,       // {% generation %}: body rendered as a call block (own scope)
};

struct IfBranch {
  ExprPtr condition;  // null for else
  Body body;
};

struct Stmt {
  StmtKind kind;
  int line;
  std::string text;                 // Text
  ExprPtr expr;                     // Output, For (iterable), Set, CallBlock, FilterBlock, SetBlock filter
  ExprPtr condition;                // For's `if`
  Target target;                    // For, Set, SetBlock
  std::vector<IfBranch> branches;   // If
  std::vector<std::pair<Target, ExprPtr>> assignments;  // With
  Body body, else_body;
  MacroDef macro;                   // Macro; CallBlock's caller
  bool recursive = false;           // For

  Stmt(StmtKind k, int l) : kind(k), line(l) {}
};

// Whether statements in `body` read the variable `name` (macros check for varargs, kwargs and
// caller, which Jinja2 only provides when the body uses them). Nested macros are skipped.
bool body_reads_name(const Body& body, const std::string& name);

}  // namespace edgerun::jinja
