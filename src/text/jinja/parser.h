// Jinja2 syntax → AST. Operator precedence, tuple rules and tag forms follow Jinja2's parser;
// unknown filters, tests and tags are rejected here, with the line, as Jinja2 does at compile time.
#pragma once
#include <memory>
#include <string>

#include "text/jinja/ast.h"

namespace edgerun::jinja {

struct Program {
  std::string name;  // used in error messages: "<name> line N: ..."
  Body body;
};

// How deep expressions and blocks may nest before parsing stops with an error (hostile input
// must not exhaust the stack, here or later while rendering).
inline constexpr int kMaxNesting = 128;

// Throws Error("<name> line N: <problem>").
std::shared_ptr<const Program> parse_template(const std::string& source, const std::string& name);

}  // namespace edgerun::jinja
