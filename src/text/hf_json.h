// Internal to the Hugging Face tokenizer.json reader: JSON field access that names the field
// on error, and the "pattern" / "prepend_scheme" fields shared by several components.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/hf_components.h"
#include "text/regex.h"

namespace edgerun::text::hf::detail {

const json& member(const json& j, const std::string& key, const JsonPath& at);
bool has(const json& j, const std::string& key);
std::string get_string(const json& j, const std::string& key, const JsonPath& at);
std::string get_string_or(const json& j, const std::string& key, const std::string& fallback,
                          const JsonPath& at);
bool get_bool_or(const json& j, const std::string& key, bool fallback, const JsonPath& at);
int64_t get_int_or(const json& j, const std::string& key, int64_t fallback, const JsonPath& at);
const json& get_array(const json& j, const std::string& key, const JsonPath& at);
std::string type_of(const json& j, const JsonPath& at);
// A single-character field such as Metaspace's replacement.
uint32_t get_char(const json& j, const std::string& key, const JsonPath& at);

// Non-overlapping occurrences of `lit`, left to right.
std::vector<std::pair<size_t, size_t>> literal_matches(std::string_view s, std::string_view lit);

// A "pattern" field: {"String": "..."} (literal) or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::unique_ptr<Regex> regex;
  std::vector<std::pair<size_t, size_t>> find(std::string_view s) const {
    return regex ? regex->find_all(s) : literal_matches(s, literal);
  }
};
Pattern parse_pattern(const json& j, const std::string& key, const JsonPath& at);
// Every match of `pattern` in `s` replaced by `content`.
std::string replace_all(const Pattern& pattern, const std::string& content, const std::string& s);

enum class Prepend { Always, First, Never };
// Metaspace's prepend_scheme, honouring the older add_prefix_space=false.
Prepend parse_prepend(const json& j, const JsonPath& at);

}  // namespace edgerun::text::hf::detail
