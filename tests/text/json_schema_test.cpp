// Compiling JSON schemas (errors name the path), the validator, and the pattern automata.
#include "text/json_schema.h"

#include <gtest/gtest.h>

#include <regex>

#include "core/error.h"
#include "text/regex_dfa.h"

namespace edgerun {
namespace {

const std::string kWhere = "response_format.json_schema.schema";

std::string compile_error(const std::string& schema) {
  try {
    JsonSchema::compile(nlohmann::ordered_json::parse(schema), kWhere);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(JsonSchema, BadSchemasGiveOneErrorNamingThePath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type": "object", "properties": {"age": {"type": "integer", "patternProperties": {}}}})",
       ".properties.age: unsupported keyword 'patternProperties'"},
      {R"({"type": "strin"})", ".type: unknown type 'strin'"},
      {R"({"type": []})", ".type: is an empty list"},
      {R"({"properties": {"a": {"$ref": "#/$defs/missing"}}})", ".properties.a.$ref: cannot resolve '#/$defs/missing'"},
      {R"({"$ref": "other.json#/a"})", ".$ref: only local references (starting with '#') are supported, got 'other.json#/a'"},
      {R"({"type": "string", "minLength": 5, "maxLength": 3})", ": minLength 5 is more than maxLength 3"},
      {R"({"type": "array", "minItems": -1})", ".minItems: expected a non-negative integer"},
      {R"({"anyOf": []})", ".anyOf: expected a non-empty array of schemas"},
      {R"({"enum": []})", ".enum: expected a non-empty array"},
      {R"({"properties": {"a": 5}})", ".properties.a: expected a schema (an object, true or false)"},
      {R"({"items": [{"type": "string"}]})", ".items: a list of item schemas (tuple validation) is unsupported"},
      {R"({"allOf": [{"type": "string"}, {"minLength": 1}]})", ".allOf: allOf is supported with exactly one schema"},
      {R"({"type": "string", "anyOf": [{"minLength": 1}]})", ": keyword 'type' next to anyOf/oneOf is unsupported"},
      {R"({"$ref": "#/$defs/a", "type": "string", "$defs": {"a": {}}})", ": keyword 'type' next to $ref/allOf is unsupported"},
      {R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})",
       ".$defs.a: refers to itself without nesting inside an object or array"},
      {R"({"anyOf": [{"$ref": "#"}, {"type": "null"}]})", ": refers to itself without nesting inside an object or array"},
      {R"({"type": "string", "pattern": "(?=x)y"})", ".pattern: lookaround assertions are unsupported (at offset 2 of the pattern)"},
      {R"({"type": "string", "pattern": "(a"})", ".pattern: missing ')' (at offset 2 of the pattern)"},
      {R"({"type": "string", "pattern": "a\\1"})", ".pattern: unsupported escape \\1 (at offset 3 of the pattern)"},
      {R"({"type": "string", "pattern": "a{3,1}"})", ".pattern: repeat range {3,1} is backwards (at offset 6 of the pattern)"},
      {R"({"type": "string", "pattern": "^a$", "maxLength": 3})", ": minLength/maxLength together with pattern or format is unsupported"},
      {R"({"minimum": "zero"})", ".minimum: expected a number"},
      {R"({"not": {"type": "null"}})", ": unsupported keyword 'not'"},
      {R"(42)", ": expected a schema (an object, true or false)"},
  };
  for (const auto& [schema, message] : cases) EXPECT_EQ(compile_error(schema), kWhere + message) << schema;
}

TEST(JsonSchema, DeepNestingIsAnErrorNotACrash) {
  std::string schema = R"({"type": "string"})";
  for (int i = 0; i < 200; ++i) schema = R"({"type": "array", "items": )" + schema + "}";
  EXPECT_NE(compile_error(schema).find("schema nested too deeply (more than 64 levels)"), std::string::npos);
}

TEST(JsonSchema, AnnotationsAreIgnoredAndPropertyOrderKept) {
  const JsonSchema s = JsonSchema::compile(nlohmann::ordered_json::parse(R"({
    "title": "T", "description": "d", "$schema": "x", "x-vendor": 1, "type": "object",
    "properties": {"zeta": {"type": "string", "default": "a", "examples": ["b"]}, "alpha": {"type": "integer"}},
    "required": ["alpha", "extra"]})"), kWhere);
  const SchemaNode& root = s.root();
  ASSERT_EQ(root.properties.size(), 3u);
  EXPECT_EQ(root.properties[0].first, "zeta");
  EXPECT_EQ(root.properties[1].first, "alpha");
  EXPECT_EQ(root.properties[2].first, "extra");  // required but not declared: any value
  EXPECT_EQ(root.properties[0].second->path, kWhere + ".properties.zeta");
  EXPECT_TRUE(root.is_required("alpha"));
  EXPECT_FALSE(root.is_required("zeta"));
}

std::vector<std::string> errors_of(const std::string& schema, const std::string& value) {
  return validate_json(JsonSchema::compile(json::parse(schema), "s"), json::parse(value));
}

TEST(JsonSchema, ValidatorCatchesWhatIsWrong) {
  const std::string person = R"({"type": "object", "properties": {"name": {"type": "string", "minLength": 1},
      "age": {"type": "integer", "minimum": 0}, "kind": {"enum": ["a", "b"]},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}},
      "required": ["name", "age"], "additionalProperties": false})";
  EXPECT_TRUE(errors_of(person, R"({"name": "x", "age": 3, "kind": "a", "tags": []})").empty());
  EXPECT_TRUE(errors_of(person, R"({"name": "x", "age": 3.0})").empty());  // 3.0 is an integer
  using V = std::vector<std::string>;
  EXPECT_EQ(errors_of(person, R"({"name": "x"})"), V{"$: missing required property 'age'"});
  EXPECT_EQ(errors_of(person, R"({"name": "x", "age": "3"})"), V{"$.age: expected integer, got string"});
  EXPECT_EQ(errors_of(person, R"({"name": "x", "age": 3.5})"), V{"$.age: expected integer, got number"});
  EXPECT_EQ(errors_of(person, R"({"name": "x", "age": 3, "zip": 1})"), V{"$: unexpected property 'zip'"});
  EXPECT_EQ(errors_of(person, R"({"name": "x", "age": 3, "kind": "c"})"), V{"$.kind: \"c\" is not one of the allowed values"});
  EXPECT_EQ(errors_of(person, R"({"name": "", "age": -1})"),
            (V{"$.age: -1 is less than minimum 0", "$.name: is 0 characters, fewer than minLength 1"}));
  EXPECT_EQ(errors_of(person, R"({"name": "x", "age": 1, "tags": ["a", 2, "c"]})"),
            (V{"$.tags: has 3 items, more than maxItems 2", "$.tags[1]: expected string, got integer"}));
  EXPECT_EQ(errors_of(person, "[]"), V{"$: expected object, got array"});
}

TEST(JsonSchema, ValidatorAlternativesRefsAndPatterns) {
  using V = std::vector<std::string>;
  const std::string one_of = R"({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]})";
  EXPECT_TRUE(errors_of(one_of, "-1").empty());
  EXPECT_TRUE(errors_of(one_of, "0.5").empty());
  EXPECT_EQ(errors_of(one_of, "2"), V{"$: matches 2 of the oneOf schemas, not exactly one"});
  EXPECT_EQ(errors_of(one_of, "\"x\""), V{"$: matches none of the oneOf schemas"});
  const std::string tree = R"({"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
                               "additionalProperties": false})";
  EXPECT_TRUE(errors_of(tree, R"({"kids": [{"kids": []}, {}]})").empty());
  EXPECT_EQ(errors_of(tree, R"({"kids": [{"kids": [{"x": 1}]}]})"), V{"$.kids[0].kids[0]: unexpected property 'x'"});
  EXPECT_EQ(errors_of(R"({"pattern": "^[a-z]+$"})", R"("abC")"), V{"$: 'abC' does not match ^[a-z]+$"});
  EXPECT_TRUE(errors_of(R"({"pattern": "^[a-z]+$"})", "5").empty());  // pattern applies to strings only
  EXPECT_EQ(errors_of(R"({"format": "date"})", R"("2024-1-1")"), V{"$: '2024-1-1' does not match format date"});
  EXPECT_EQ(errors_of("false", "1"), V{"$: no value is allowed here (schema s is false)"});
  EXPECT_EQ(errors_of(R"({"type": "string", "maxLength": 2})", "\"\xC3\xA9\xC3\xA9\xC3\xA9\""),
            V{"$: is 3 characters, more than maxLength 2"});
}

TEST(JsonSchema, ToolCallSchemaCombinesToolsAndRebasesRefs) {
  using ordered_json = nlohmann::ordered_json;
  const ordered_json tools = ordered_json::parse(R"([
    {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}},
                                                                  "required": ["n"]}}},
    {"type": "function", "function": {"name": "b", "parameters": {"$defs": {"s": {"type": "string"}}, "type": "object",
                                                                  "properties": {"s": {"$ref": "#/$defs/s"}}}}},
    {"type": "function", "function": {"name": "c"}}])");
  const JsonSchema schema = JsonSchema::compile(tool_call_schema(tools, "tools"), "tool_call");
  EXPECT_TRUE(validate_json(schema, json::parse(R"({"name": "a", "arguments": {"n": 1}})")).empty());
  EXPECT_TRUE(validate_json(schema, json::parse(R"({"name": "b", "arguments": {"s": "x"}})")).empty());
  EXPECT_TRUE(validate_json(schema, json::parse(R"({"name": "c", "arguments": {"anything": [1]}})")).empty());
  EXPECT_FALSE(validate_json(schema, json::parse(R"({"name": "a", "arguments": {"n": "1"}})")).empty());
  EXPECT_FALSE(validate_json(schema, json::parse(R"({"name": "b", "arguments": {"s": 5}})")).empty());
  EXPECT_FALSE(validate_json(schema, json::parse(R"({"name": "d", "arguments": {}})")).empty());
  auto error = [&](const std::string& text) {
    try {
      tool_call_schema(ordered_json::parse(text), "tools");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error(R"([{"type": "function", "function": {"name": "a", "parameters": {"type": "object",
                      "properties": {"x": {"type": "string", "patternProperties": {}}}}}}])"),
            "tools[0].function.parameters.properties.x: unsupported keyword 'patternProperties'");
  EXPECT_EQ(error(R"([{"type": "function", "function": {"parameters": {}}}])"), "tools[0].function.name: expected a string");
  EXPECT_EQ(error("[]"), "tools: expected a non-empty array of tools");
}

TEST(RegexDfa, AgreesWithStdRegexOnAsciiPatterns) {
  const std::vector<std::string> patterns = {"^[a-c]+x?$", "ab|cd", "^(ab|a)(bc|c)$", "^a{2,3}b{0,}c{1}$",
                                             "^\\d{3}-\\w+\\s?$", "^[^0-9]*$", "^(?:x|y)+\\.$", "^a.c$", "b+",
                                             "^[\\-a]*$", "^.*$", "^$", "x*?y"};
  const std::vector<std::string> texts = {"", "a", "abc", "abcx", "abcd", "xcd", "aabc", "aaab", "aaaabc", "aac", "abbc",
                                          "123-ab", "123-ab ", "12-ab", "xyx.", "x", "a\nc", "a-c", "-a-", "yy", "xxy",
                                          "b", "ab", "bbb", "0", "q1"};
  for (const std::string& p : patterns) {
    const auto dfa = RegexDfa::compile(p, "p");
    const std::regex reference(p, std::regex::ECMAScript);
    for (const std::string& t : texts)
      EXPECT_EQ(dfa->matches(t), std::regex_search(t, reference)) << "pattern " << p << " text '" << t << "'";
  }
}

TEST(RegexDfa, Utf8ClassesCountCharacters) {
  const auto dfa = RegexDfa::compile("^[^a]{2}$", "p");
  EXPECT_TRUE(dfa->matches("\xC3\xA9\xF0\x9F\x8E\x89"));  // é🎉: two characters
  EXPECT_FALSE(dfa->matches("\xC3\xA9"));
  EXPECT_FALSE(dfa->matches("\xC3\xA9\xC3"));  // a broken character is no match
  EXPECT_TRUE(RegexDfa::compile("^\\u00e9.$", "p")->matches("\xC3\xA9\xE6\x97\xA5"));
  EXPECT_TRUE(RegexDfa::compile("^[\xC3\xA0-\xC3\xBF]+$", "p")->matches("\xC3\xA9\xC3\xA0"));
  EXPECT_THROW(RegexDfa::compile("((a|b){0,999}){0,999}", "p"), Error);  // too large: an error
  EXPECT_THROW(RegexDfa::compile(std::string(100000, '(') + std::string(100000, ')'), "p"), Error);  // too deep
  EXPECT_THROW(RegexDfa::compile("a**", "p"), Error);
  EXPECT_THROW(RegexDfa::compile("a{2}{3}", "p"), Error);
}

}  // namespace
}  // namespace edgerun
