// JSON Schema, the subset structured output needs, compiled to a tree of nodes; and a validator.
//
// Supported: type (one name or a list), enum, const, properties, required, additionalProperties
// (bool or schema), items (one schema), minItems, maxItems, minLength, maxLength, pattern and
// format (see regex_dfa.h), minimum, maximum, exclusiveMinimum, exclusiveMaximum, anyOf, oneOf,
// allOf with one schema, $ref to any local JSON pointer ("#", "#/$defs/X", "#/definitions/X"),
// recursion through objects and arrays. Annotations (title, description, default, examples,
// $schema, $id, $comment, deprecated, readOnly, writeOnly, x-*) are ignored. Anything else is an
// error naming the keyword and where it is, never silently ignored.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/json_file.h"
#include "text/regex_dfa.h"

namespace edgerun {

enum JsonType : uint8_t {
  kJsonNull = 1,
  kJsonBoolean = 2,
  kJsonInteger = 4,
  kJsonNumber = 8,  // includes integers
  kJsonString = 16,
  kJsonArray = 32,
  kJsonObject = 64,
  kJsonAnyType = 127,
};

struct SchemaNode {
  std::string path;     // where the node is, for messages: "<where>.properties.age"
  bool never = false;   // the `false` schema: no value
  uint8_t types = kJsonAnyType;   // the `type` keyword (all when absent)
  uint8_t generate_types = kJsonAnyType;  // what generation emits: `type`, else the kinds the
                                          // other keywords imply (properties → object, ...)
  std::optional<std::vector<json>> enum_values;  // enum, or const as one value
  // Strings; lengths count Unicode characters.
  uint64_t min_length = 0, max_length = UINT64_MAX;
  std::shared_ptr<const RegexDfa> pattern;  // pattern or format, as a whole-string automaton
  std::string pattern_source;               // for messages
  // Numbers.
  std::optional<double> minimum, maximum, exclusive_minimum, exclusive_maximum;
  // Arrays.
  const SchemaNode* items = nullptr;  // never null once compiled (an any-node when absent)
  uint64_t min_items = 0, max_items = UINT64_MAX;
  // Objects: declared properties in schema order; `required` ones not declared are added with an
  // any-schema. Extra properties: allowed (additional_schema = any-node), forbidden (null) or a
  // schema.
  std::vector<std::pair<std::string, const SchemaNode*>> properties;
  std::vector<std::string> required;
  const SchemaNode* additional_schema = nullptr;
  // Alternatives: the value matches any (anyOf) or exactly one (oneOf) of these.
  std::vector<const SchemaNode*> any_of;
  bool one_of = false;
  // $ref or a one-schema allOf: this node is that schema.
  const SchemaNode* ref = nullptr;

  bool is_required(const std::string& name) const;
};

class JsonSchema {
 public:
  // `where` names the schema in messages ("response_format.json_schema.schema"); errors read
  // "<where>.properties.age: unsupported keyword 'patternProperties'".
  // The ordered_json form keeps the properties in the order written (generation follows it);
  // plain json objects have sorted keys.
  static JsonSchema compile(const nlohmann::ordered_json& schema, const std::string& where);
  static JsonSchema compile(const json& schema, const std::string& where);
  const SchemaNode& root() const { return *root_; }

 private:
  friend class SchemaCompiler;
  std::vector<std::unique_ptr<SchemaNode>> nodes_;
  const SchemaNode* root_ = nullptr;
};

// Follows $ref / one-schema allOf links to the node that holds the constraints.
const SchemaNode& resolve(const SchemaNode& node);

// The schema of one call of one of `tools` (OpenAI "tools": [{"type": "function", "function":
// {"name", "parameters"}}]): {"name": <a tool's name>, "arguments": <its parameters>}, name first.
// Each tool's parameters are compiled on their own first, so their errors name
// "<where>[i].function.parameters..."; local $refs are rewritten to point into the combined schema.
nlohmann::ordered_json tool_call_schema(const nlohmann::ordered_json& tools, const std::string& where);

// Everything wrong with `value` under `schema`, one line each ("$.items[2].id: expected integer,
// got string"); empty when it validates.
std::vector<std::string> validate_json(const JsonSchema& schema, const json& value);

}  // namespace edgerun
