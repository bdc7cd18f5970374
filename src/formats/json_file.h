// Reading JSON files (config.json, tokenizer.json, index files) with errors that name the file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace edgerun {

using json = nlohmann::json;

// Parses the file (following git textual symlinks). Throws Error("<path>: invalid JSON: ...").
json read_json_file(const std::string& path);
// The same, keeping object keys in file order (for data that is printed back, e.g. chat messages).
nlohmann::ordered_json read_ordered_json_file(const std::string& path);

// Field access that names the file and field on error.
const json& json_require(const json& obj, const std::string& key, const std::string& file);
int64_t json_int(const json& obj, const std::string& key, const std::string& file);
double json_number(const json& obj, const std::string& key, const std::string& file);
std::string json_string(const json& obj, const std::string& key, const std::string& file);
// Optional forms: fallback when absent or null; Error when present with the wrong type.
int64_t json_int_or(const json& obj, const std::string& key, int64_t fallback, const std::string& file);
double json_number_or(const json& obj, const std::string& key, double fallback, const std::string& file);
bool json_bool_or(const json& obj, const std::string& key, bool fallback, const std::string& file);
// A JSON object key that names a token id ("128011"): the id, or -1 when the key is not a
// whole non-negative decimal integer.
int64_t parse_id_key(const std::string& key);
std::string json_string_or(const json& obj, const std::string& key, const std::string& fallback,
                           const std::string& file);

}  // namespace edgerun
