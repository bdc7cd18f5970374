#include "text/jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "core/error.h"
#include "text/jinja/builtins.h"
#include "text/jinja/lexer.h"

namespace edgerun::jinja {

namespace {

// Expression trees deeper than this are refused (a long `a + b + c ...` chain nests to the left).
constexpr int kMaxExprDepth = 256;

class Parser {
 public:
  Parser(std::vector<Token> tokens, const std::string& name) : toks_(std::move(tokens)), name_(name) {}

  Body parse_all() { return subparse({}, "", 0); }

 private:
  // --- token helpers ---------------------------------------------------------------------------
  const Token& cur() const { return toks_[i_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  void advance() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool is_op(const char* op) const { return cur().kind == TokenKind::Operator && cur().text == op; }
  bool is_name(const char* n) const { return cur().kind == TokenKind::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }

  [[noreturn]] void error(int line, const std::string& message) const {
    fail(name_ + " line " + std::to_string(line), message);
  }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::Text: return "template text";
      case TokenKind::VariableBegin: return "'{{'";
      case TokenKind::VariableEnd: return "end of print statement '}}'";
      case TokenKind::BlockBegin: return "'{%'";
      case TokenKind::BlockEnd: return "end of statement block '%}'";
      case TokenKind::Name: return "'" + t.text + "'";
      case TokenKind::String: return "string " + quote_for_message(t.text);
      case TokenKind::Integer:
      case TokenKind::Float: return "number " + t.text;
      case TokenKind::Operator: return "'" + t.text + "'";
      case TokenKind::End: return "end of template";
    }
    return "token";
  }

  [[noreturn]] void unexpected(const std::string& wanted) const {
    error(cur().line, "expected " + wanted + ", got " + describe(cur()));
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) unexpected("'" + std::string(op) + "'");
  }
  std::string expect_name() {
    if (cur().kind != TokenKind::Name) unexpected("a name");
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().kind != TokenKind::BlockEnd) unexpected("end of statement block '%}'");
    advance();
  }

  // Bounds recursion while parsing (and so while rendering the tree later).
  struct Nesting {
    Parser& p;
    Nesting(Parser& parser, int line) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.error(line, "template nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
    }
    ~Nesting() { --p.depth_; }
  };

  ExprPtr node(ExprKind kind, int line) { return std::make_unique<Expr>(kind, line); }
  // Records the subtree height; refuses trees too deep to evaluate safely.
  ExprPtr finish(ExprPtr e) {
    int height = 0;
    for (const ExprPtr& a : e->args) height = std::max(height, a ? a->depth : 0);
    for (const auto& k : e->keywords) height = std::max(height, k.second->depth);
    e->depth = height + 1;
    if (e->depth > kMaxExprDepth) error(e->line, "expression nested too deeply");
    return e;
  }
  ExprPtr unary(ExprKind kind, int line, ExprPtr operand) {
    ExprPtr e = node(kind, line);
    e->args.push_back(std::move(operand));
    return finish(std::move(e));
  }
  ExprPtr binary(ExprKind kind, int line, ExprPtr a, ExprPtr b, std::string op = "") {
    ExprPtr e = node(kind, line);
    e->name = std::move(op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return finish(std::move(e));
  }

  // --- statements ------------------------------------------------------------------------------
  // Parses until one of `end_tags` opens a block; leaves the tag name as the current token.
  Body subparse(std::initializer_list<const char*> end_tags, const std::string& opener, int opener_line) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.kind == TokenKind::Text) {
        auto s = std::make_unique<Stmt>(StmtKind::Text, t.line);
        s->text = t.text;
        body.push_back(std::move(s));
        advance();
      } else if (t.kind == TokenKind::VariableBegin) {
        const int line = t.line;
        advance();
        auto s = std::make_unique<Stmt>(StmtKind::Output, line);
        s->expr = parse_tuple(true, {}, false);
        if (cur().kind != TokenKind::VariableEnd) unexpected("end of print statement '}}'");
        advance();
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::BlockBegin) {
        const Token& tag = peek();
        if (tag.kind == TokenKind::Name &&
            std::any_of(end_tags.begin(), end_tags.end(), [&](const char* e) { return tag.text == e; })) {
          advance();
          return body;
        }
        advance();
        body.push_back(parse_statement(end_tags, opener, opener_line));
      } else if (t.kind == TokenKind::End) {
        if (end_tags.size() == 0) return body;
        error(opener_line, "'" + opener + "' block is never closed (expected " + tag_list(end_tags) + ")");
      } else {
        error(t.line, "unexpected " + describe(t));
      }
    }
  }

  static std::string tag_list(std::initializer_list<const char*> tags) {
    std::string out;
    for (const char* t : tags) out += (out.empty() ? "'" : " or '") + std::string(t) + "'";
    return out;
  }

  StmtPtr parse_statement(std::initializer_list<const char*> end_tags, const std::string& opener, int opener_line) {
    if (cur().kind != TokenKind::Name) unexpected("a tag name");
    const std::string tag = cur().text;
    const int line = cur().line;
    Nesting nesting(*this, line);
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "generation") return parse_scoped("generation", "endgeneration");
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) error(line, "'" + tag + "' outside of a loop");
      advance();
      expect_block_end();
      return std::make_unique<Stmt>(tag == "break" ? StmtKind::Break : StmtKind::Continue, line);
    }
    const bool is_end = tag.rfind("end", 0) == 0 || tag == "else" || tag == "elif";
    if (is_end && end_tags.size() > 0)
      error(line, "unexpected '" + tag + "': the innermost open block is '" + opener + "' (line " +
                      std::to_string(opener_line) + "), which needs " + tag_list(end_tags));
    if (is_end) error(line, "unexpected '" + tag + "' (no open block needs it)");
    error(line, "unknown tag '" + tag + "'");
  }

  // Reads `{% <end> %}` after subparse stopped at it.
  void close_block() {
    advance();
    expect_block_end();
  }

  StmtPtr parse_if() {
    auto s = std::make_unique<Stmt>(StmtKind::If, cur().line);
    advance();
    ExprPtr condition = parse_tuple(false, {}, false);
    expect_block_end();
    while (true) {
      Body body = subparse({"elif", "else", "endif"}, "if", s->line);
      s->branches.push_back(IfBranch{std::move(condition), std::move(body)});
      const std::string tag = cur().text;
      advance();
      if (tag == "elif") {
        condition = parse_tuple(false, {}, false);
        expect_block_end();
        continue;
      }
      expect_block_end();
      if (tag == "else") {
        Body else_body = subparse({"endif"}, "if", s->line);
        s->branches.push_back(IfBranch{nullptr, std::move(else_body)});
        close_block();
      }
      return s;
    }
  }

  // Names to assign to: `x`, `a, b`, `(a, b)`.
  Target parse_names_target(const char* end_name) {
    Target t;
    const bool parens = skip_op("(");
    while (true) {
      if (is_op("(")) error(cur().line, "nested unpacking is not supported");
      t.names.push_back(expect_name());
      if (!skip_op(",")) break;
      t.unpack = true;
      if ((parens && is_op(")")) || (end_name && is_name(end_name)) || is_op("=")) break;
    }
    if (parens) {
      expect_op(")");
      t.unpack = true;
    }
    return t;
  }

  StmtPtr parse_for() {
    auto s = std::make_unique<Stmt>(StmtKind::For, cur().line);
    advance();
    s->target = parse_names_target("in");
    if (!skip_name("in")) unexpected("'in'");
    s->expr = parse_tuple(false, {"recursive"}, false);
    if (skip_name("if")) s->condition = parse_expression(true);
    s->recursive = skip_name("recursive");
    expect_block_end();
    ++loop_depth_;
    s->body = subparse({"endfor", "else"}, "for", s->line);
    --loop_depth_;
    if (is_name("else")) {
      advance();
      expect_block_end();
      s->else_body = subparse({"endfor"}, "for", s->line);
    }
    close_block();
    return s;
  }

  StmtPtr parse_set() {
    const int line = cur().line;
    advance();
    Target target;
    if (cur().kind == TokenKind::Name && peek().kind == TokenKind::Operator && peek().text == ".") {
      target.names.push_back(expect_name());
      advance();
      target.attribute = expect_name();
    } else {
      target = parse_names_target(nullptr);
    }
    if (skip_op("=")) {
      auto s = std::make_unique<Stmt>(StmtKind::Set, line);
      s->target = std::move(target);
      s->expr = parse_tuple(true, {}, false);
      expect_block_end();
      return s;
    }
    auto s = std::make_unique<Stmt>(StmtKind::SetBlock, line);
    if (target.unpack) error(line, "a block set assigns to one name");
    s->target = std::move(target);
    if (is_op("|")) s->expr = parse_filter_chain(nullptr);
    expect_block_end();
    s->body = without_loop([&] { return subparse({"endset"}, "set", line); });
    close_block();
    return s;
  }

  template <typename F>
  Body without_loop(F parse_body) {
    const int saved = loop_depth_;
    loop_depth_ = 0;
    Body body = parse_body();
    loop_depth_ = saved;
    return body;
  }

  std::vector<MacroParam> parse_signature() {
    std::vector<MacroParam> params;
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      MacroParam p;
      p.name = expect_name();
      if (skip_op("=")) p.default_value = parse_expression(true);
      else if (!params.empty() && params.back().default_value) error(cur().line, "non-default argument follows default argument");
      params.push_back(std::move(p));
    }
    advance();
    return params;
  }

  void note_special_names(Stmt& s) {
    s.macro.uses_varargs = body_reads_name(s.body, "varargs");
    s.macro.uses_kwargs = body_reads_name(s.body, "kwargs");
    s.macro.uses_caller = body_reads_name(s.body, "caller");
  }

  StmtPtr parse_macro() {
    auto s = std::make_unique<Stmt>(StmtKind::Macro, cur().line);
    advance();
    s->macro.name = expect_name();
    s->macro.params = parse_signature();
    expect_block_end();
    s->body = without_loop([&] { return subparse({"endmacro"}, "macro", s->line); });
    close_block();
    note_special_names(*s);
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = std::make_unique<Stmt>(StmtKind::CallBlock, cur().line);
    advance();
    s->macro.name = "caller";
    if (is_op("(")) s->macro.params = parse_signature();
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::Call) error(s->line, "expected a call after 'call'");
    expect_block_end();
    s->body = without_loop([&] { return subparse({"endcall"}, "call", s->line); });
    close_block();
    note_special_names(*s);
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = std::make_unique<Stmt>(StmtKind::FilterBlock, cur().line);
    advance();
    s->expr = parse_filter_chain(nullptr, true);
    expect_block_end();
    s->body = subparse({"endfilter"}, "filter", s->line);
    close_block();
    return s;
  }

  StmtPtr parse_with() {
    auto s = std::make_unique<Stmt>(StmtKind::With, cur().line);
    advance();
    while (cur().kind != TokenKind::BlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      Target t;
      t.names.push_back(expect_name());
      expect_op("=");
      s->assignments.emplace_back(std::move(t), parse_expression(true));
    }
    expect_block_end();
    s->body = subparse({"endwith"}, "with", s->line);
    close_block();
    return s;
  }

  StmtPtr parse_scoped(const char* tag, const char* end_tag) {
    auto s = std::make_unique<Stmt>(StmtKind::Scoped, cur().line);
    advance();
    expect_block_end();
    s->body = without_loop([&] { return subparse({end_tag}, tag, s->line); });
    close_block();
    return s;
  }

  // --- expressions -------------------------------------------------------------------------------
  bool at_tuple_end(std::initializer_list<const char*> extra_end) const {
    const Token& t = cur();
    if (t.kind == TokenKind::VariableEnd || t.kind == TokenKind::BlockEnd || t.kind == TokenKind::End) return true;
    if (t.kind == TokenKind::Operator && t.text == ")") return true;
    return t.kind == TokenKind::Name &&
           std::any_of(extra_end.begin(), extra_end.end(), [&](const char* n) { return t.text == n; });
  }

  // Comma-separated expressions; a tuple when there is a comma ("a, b" or "a,").
  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end, bool explicit_parens) {
    const int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (at_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (!is_op(",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) unexpected("an expression");
    }
    ExprPtr e = node(ExprKind::Tuple, line);
    e->args = std::move(items);
    return finish(std::move(e));
  }

  ExprPtr parse_expression(bool with_condexpr) {
    Nesting nesting(*this, cur().line);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr value = parse_or();
    while (is_name("if")) {
      const int line = cur().line;
      advance();
      ExprPtr condition = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_condexpr() : nullptr;
      ExprPtr e = node(ExprKind::Conditional, line);
      e->args.push_back(std::move(value));
      e->args.push_back(std::move(condition));
      e->args.push_back(std::move(otherwise));
      value = finish(std::move(e));
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const int line = cur().line;
      advance();
      left = binary(ExprKind::Or, line, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const int line = cur().line;
      advance();
      left = binary(ExprKind::And, line, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      const int line = cur().line;
      Nesting nesting(*this, line);
      advance();
      return unary(ExprKind::Not, line, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = cur().line;
    ExprPtr first = parse_math1();
    ExprPtr e;
    while (true) {
      std::string op;
      if (cur().kind == TokenKind::Operator &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" || cur().text == ">" ||
           cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().kind == TokenKind::Name && peek().text == "in") {
        op = "notin";
        advance();
        advance();
      } else {
        break;
      }
      if (!e) {
        e = node(ExprKind::Compare, line);
        e->args.push_back(std::move(first));
      }
      e->ops.push_back(op);
      e->args.push_back(parse_math1());
    }
    return e ? finish(std::move(e)) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().text;
      const int line = cur().line;
      advance();
      left = binary(ExprKind::Binary, line, std::move(left), parse_concat(), op);
    }
    return left;
  }

  ExprPtr parse_concat() {
    const int line = cur().line;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    ExprPtr e = node(ExprKind::Concat, line);
    e->args.push_back(std::move(first));
    while (skip_op("~")) e->args.push_back(parse_math2());
    return finish(std::move(e));
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().text;
      const int line = cur().line;
      advance();
      left = binary(ExprKind::Binary, line, std::move(left), parse_pow(), op);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const int line = cur().line;
      advance();
      left = binary(ExprKind::Binary, line, std::move(left), parse_unary(true), "**");
    }
    return left;
  }

  // Jinja2 binds unary minus tighter than ** and applies postfix and filters after it.
  ExprPtr parse_unary(bool with_filter) {
    const int line = cur().line;
    Nesting nesting(*this, line);
    ExprPtr e;
    if (skip_op("-")) e = unary(ExprKind::Negate, line, parse_unary(false));
    else if (skip_op("+")) e = unary(ExprKind::Plus, line, parse_unary(false));
    else e = parse_primary();
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr literal(Value v, int line) {
    ExprPtr e = node(ExprKind::Literal, line);
    e->constant = std::move(v);
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    const int line = t.line;
    switch (t.kind) {
      case TokenKind::Name: {
        const std::string n = t.text;
        advance();
        if (n == "true" || n == "True") return literal(Value(true), line);
        if (n == "false" || n == "False") return literal(Value(false), line);
        if (n == "none" || n == "None") return literal(Value(nullptr), line);
        ExprPtr e = node(ExprKind::Name, line);
        e->name = n;
        return e;
      }
      case TokenKind::String: {
        std::string s;
        while (cur().kind == TokenKind::String) {  // adjacent literals concatenate
          s += cur().text;
          advance();
        }
        return literal(Value(std::move(s)), line);
      }
      case TokenKind::Integer: {
        const int64_t v = t.integer;
        advance();
        return literal(Value(v), line);
      }
      case TokenKind::Float: {
        const double v = t.number;
        advance();
        return literal(Value(v), line);
      }
      case TokenKind::Operator:
        if (t.text == "(") {
          advance();
          ExprPtr e = parse_tuple(true, {}, true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default: break;
    }
    error(line, "unexpected " + describe(t));
  }

  ExprPtr parse_list() {
    ExprPtr e = node(ExprKind::List, cur().line);
    advance();
    while (!is_op("]")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("]")) break;
      e->args.push_back(parse_expression(true));
    }
    advance();
    return finish(std::move(e));
  }

  ExprPtr parse_dict() {
    ExprPtr e = node(ExprKind::Dict, cur().line);
    advance();
    while (!is_op("}")) {
      if (!e->args.empty()) expect_op(",");
      if (is_op("}")) break;
      e->args.push_back(parse_expression(true));
      expect_op(":");
      e->args.push_back(parse_expression(true));
    }
    advance();
    return finish(std::move(e));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".") || is_op("[")) e = parse_subscript(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) e = parse_filter_chain(std::move(e));
      else if (is_name("is")) e = parse_test(std::move(e));
      else if (is_op("(")) e = parse_call(std::move(e));
      else return e;
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    const int line = cur().line;
    if (skip_op(".")) {
      if (cur().kind == TokenKind::Name) {
        ExprPtr e = node(ExprKind::Attribute, line);
        e->name = cur().text;
        advance();
        e->args.push_back(std::move(target));
        return finish(std::move(e));
      }
      if (cur().kind != TokenKind::Integer) unexpected("a name or number after '.'");
      ExprPtr index = literal(Value(cur().integer), line);
      advance();
      return binary(ExprKind::Subscript, line, std::move(target), std::move(index));
    }
    advance();  // [
    std::vector<ExprPtr> keys;
    while (!is_op("]")) {
      if (!keys.empty()) expect_op(",");
      keys.push_back(parse_subscribed());
    }
    advance();
    ExprPtr key;  // x[] subscripts with an empty tuple, as in Jinja2
    if (keys.size() == 1) {
      key = std::move(keys[0]);
    } else {
      key = node(ExprKind::Tuple, line);
      key->args = std::move(keys);
      key = finish(std::move(key));
    }
    return binary(ExprKind::Subscript, line, std::move(target), std::move(key));
  }

  // One subscript: an expression or a slice start:stop:step (any part may be missing).
  ExprPtr parse_subscribed() {
    const int line = cur().line;
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    advance();  // :
    ExprPtr e = node(ExprKind::Slice, line);
    e->args.push_back(std::move(start));
    e->args.push_back(is_op(":") || is_op("]") || is_op(",") ? nullptr : parse_expression(true));
    ExprPtr step;
    if (skip_op(":") && !is_op("]") && !is_op(",")) step = parse_expression(true);
    e->args.push_back(std::move(step));
    return finish(std::move(e));
  }

  // ( positional..., name=value... ) appended to e's args / keywords.
  void parse_call_args(Expr& e) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) error(cur().line, "*args and **kwargs in calls are not supported");
      if (cur().kind == TokenKind::Name && peek().kind == TokenKind::Operator && peek().text == "=") {
        std::string key = cur().text;
        advance();
        advance();
        e.keywords.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!e.keywords.empty()) error(cur().line, "positional argument follows keyword argument");
        e.args.push_back(parse_expression(true));
      }
    }
    advance();
  }

  ExprPtr parse_call(ExprPtr callee) {
    ExprPtr e = node(ExprKind::Call, cur().line);
    e->args.push_back(std::move(callee));
    parse_call_args(*e);
    return finish(std::move(e));
  }

  std::string parse_dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      advance();
      n += "." + expect_name();
    }
    return n;
  }

  // `| name(args) | name ...`; with `first_without_pipe` the first filter has no leading '|'
  // ({% filter upper %}).
  ExprPtr parse_filter_chain(ExprPtr operand, bool first_without_pipe = false) {
    bool first = true;
    while (is_op("|") || (first && first_without_pipe)) {
      if (!(first && first_without_pipe)) advance();
      first = false;
      const int line = cur().line;
      ExprPtr e = node(ExprKind::Filter, line);
      e->name = parse_dotted_name();
      if (!has_filter(e->name)) error(line, "unknown filter '" + e->name + "'");
      e->args.push_back(std::move(operand));
      if (is_op("(")) parse_call_args(*e);
      operand = finish(std::move(e));
    }
    return operand;
  }

  ExprPtr parse_test(ExprPtr operand) {
    const int line = cur().line;
    advance();  // is
    ExprPtr e = node(ExprKind::Test, line);
    e->negated = skip_name("not");
    e->name = parse_dotted_name();
    if (!has_test(e->name)) error(line, "unknown test '" + e->name + "'");
    e->args.push_back(std::move(operand));
    const TokenKind k = cur().kind;
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((k == TokenKind::Name || k == TokenKind::String || k == TokenKind::Integer || k == TokenKind::Float ||
                is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) error(cur().line, "tests cannot be chained with 'is'");
      // `x is divisibleby 3`: one argument without parentheses.
      e->args.push_back(parse_postfix(parse_primary()));
    }
    return finish(std::move(e));
  }

  std::vector<Token> toks_;
  const std::string& name_;
  size_t i_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

std::shared_ptr<const Program> parse_template(const std::string& source, const std::string& name) {
  auto program = std::make_shared<Program>();
  program->name = name;
  Parser parser(tokenize(source, name), program->name);
  program->body = parser.parse_all();
  return program;
}

}  // namespace edgerun::jinja
