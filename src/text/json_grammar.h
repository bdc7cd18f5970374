// Grammars for JSON output: values of a JSON schema (response_format json_schema, tool-call
// arguments) or any JSON object (response_format json_object).
//
// What the grammar lets a model write:
//  - Whitespace: between JSON tokens at most one run, either one space or a newline followed by
//    up to max_indent spaces (compact and pretty-printed JSON both fit; a model cannot loop on
//    whitespace). The value may be preceded by one such run (SentencePiece vocabularies start
//    words with a space) and nothing may follow it.
//  - Objects: only the declared properties, in schema order; required ones always, optional
//    ones may be left out. additionalProperties matters only for objects without declared
//    properties: then any keys (true / absent) with values of its schema, or none (false).
//  - Strings: raw UTF-8 (strictly valid) or escapes; \u escapes of surrogates are not produced
//    (characters outside the BMP are written raw). At most max_string_chars characters unless
//    the schema's maxLength says otherwise; patterns and formats (date, time, date-time, uuid,
//    email, ipv4) are enforced, with the characters '"', '\' and controls left out of them.
//  - Numbers: at most max_number_chars characters, exponents of at most two digits. Integer
//    bounds are enforced exactly; number bounds by generating numbers with an integer part
//    inside the bounds and a fraction only where any fraction stays inside (no exponent).
//  - Nesting: at most max_depth objects/arrays deep; recursive schemas are unrolled to it.
//  - enum/const: exactly the listed values, written compactly.
#pragma once
#include <cstdint>
#include <memory>

#include "text/grammar.h"
#include "text/json_schema.h"

namespace edgerun {

struct JsonGrammarOptions {
  uint32_t max_indent = 16;
  uint32_t max_string_chars = 4096;
  uint32_t max_number_chars = 32;
  uint32_t max_depth = 16;
};

// Throws Error naming the schema when it admits no value the grammar can produce.
std::shared_ptr<const Grammar> json_schema_grammar(const JsonSchema& schema, const JsonGrammarOptions& options = {});
// Any JSON object.
std::shared_ptr<const Grammar> json_object_grammar(const JsonGrammarOptions& options = {});

}  // namespace edgerun
