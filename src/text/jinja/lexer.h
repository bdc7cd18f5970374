// Splits a template into text and tag tokens the way Jinja2's lexer does with the settings
// Hugging Face uses (trim_blocks, lstrip_blocks, keep_trailing_newline off): "-" and "+" whitespace
// control, newline normalisation, raw blocks, comments, and expression tokens inside tags.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace edgerun::jinja {

enum class TokenKind {
  Text,           // template data between tags (already whitespace-controlled)
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,
  String,   // text holds the decoded value
  Integer,  // integer holds the value
  Float,    // number holds the value
  Operator,  // text holds the operator: + - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { }
  End,
};

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;
  int64_t integer = 0;
  double number = 0;
  int line = 1;
};

// Throws Error("<template_name> line N: ...") for malformed tags, strings or numbers.
std::vector<Token> tokenize(const std::string& source, const std::string& template_name);

}  // namespace edgerun::jinja
