// Regular expressions as JSON Schema's `pattern` uses them, compiled to a deterministic byte
// automaton over UTF-8 text (units = characters), for constrained generation and validation.
//
// Syntax: literals, `.`, classes `[a-z_]` / `[^...]` (with \d \w \s inside), \d \w \s \D \W \S,
// escapes (\. \\ \n \t \uXXXX ...), groups `(...)` and `(?:...)`, `|`, quantifiers `* + ? {n}
// {n,} {n,m}` (lazy forms match the same strings), `^` at the start and `$` at the end.
// Unsupported (an error naming the construct): backreferences, lookaround, other anchors.
// As JSON Schema says, a pattern is searched for anywhere in the string unless anchored.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "text/grammar.h"

namespace edgerun {

class RegexDfa {
 public:
  // Throws Error(where, problem) for syntax that is invalid, unsupported or too large.
  static std::shared_ptr<const RegexDfa> compile(std::string_view pattern, const std::string& where);
  // The automaton for a JSON Schema `format` (date, time, date-time, uuid, email, ipv4), or null
  // for formats that are not checked.
  static std::shared_ptr<const RegexDfa> for_format(const std::string& format);

  // Whole-string match (the pattern's search semantics are built into the automaton).
  bool matches(std::string_view text) const;
  const ByteDfa& dfa() const { return dfa_; }

 private:
  ByteDfa dfa_;
};

}  // namespace edgerun
