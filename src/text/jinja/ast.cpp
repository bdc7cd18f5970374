#include "text/jinja/ast.h"

namespace edgerun::jinja {

namespace {

bool reads_name(const Expr* e, const std::string& name) {
  if (!e) return false;
  if (e->kind == ExprKind::Name && e->name == name) return true;
  for (const ExprPtr& a : e->args)
    if (reads_name(a.get(), name)) return true;
  for (const auto& k : e->keywords)
    if (reads_name(k.second.get(), name)) return true;
  return false;
}

}  // namespace

bool body_reads_name(const Body& body, const std::string& name) {
  for (const StmtPtr& s : body) {
    if (s->kind == StmtKind::Macro) continue;  // a nested macro has its own varargs/kwargs/caller
    if (reads_name(s->expr.get(), name) || reads_name(s->condition.get(), name)) return true;
    for (const IfBranch& b : s->branches)
      if (reads_name(b.condition.get(), name) || body_reads_name(b.body, name)) return true;
    for (const auto& a : s->assignments)
      if (reads_name(a.second.get(), name)) return true;
    if (body_reads_name(s->body, name) || body_reads_name(s->else_body, name)) return true;
  }
  return false;
}

}  // namespace edgerun::jinja
