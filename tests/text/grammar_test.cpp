// Character-level matching of JSON grammars built from schemas: what is accepted, what is not.
#include "text/grammar.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"

namespace edgerun {
namespace {

using ordered_json = nlohmann::ordered_json;

std::shared_ptr<const Grammar> grammar_for(const std::string& schema, const JsonGrammarOptions& options = {}) {
  return json_schema_grammar(JsonSchema::compile(ordered_json::parse(schema), "schema"), options);
}

// Whole-text match.
bool matches(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.accept(text) && m.is_complete();
}

void expect_matches(const std::shared_ptr<const Grammar>& g, const std::vector<std::string>& good,
                    const std::vector<std::string>& bad) {
  for (const std::string& t : good) EXPECT_TRUE(matches(g, t)) << "should match: " << t;
  for (const std::string& t : bad) EXPECT_FALSE(matches(g, t)) << "should not match: " << t;
}

const char* kPerson = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "email": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}}
  },
  "required": ["name", "age"],
  "additionalProperties": false
})";

TEST(JsonGrammar, ObjectsWithRequiredAndOptionalPropertiesInSchemaOrder) {
  expect_matches(grammar_for(kPerson),
                 {R"({"name":"Bob","age":30})", R"({"name": "Bob", "age": 30, "tags": ["a", "b"]})",
                  R"({"name":"Bob","age":30,"email":"b@x.org","tags":[]})", "{\n  \"name\": \"Bob\",\n  \"age\": -3\n}",
                  R"( {"name":"","age":0})"},
                 {R"({"name":"Bob"})",                   // missing required
                  R"({"age":30,"name":"Bob"})",          // properties follow the schema order
                  R"({"name":"Bob","age":30,"x":1})",    // undeclared property
                  R"({"name":"Bob","age":"30"})",        // wrong type
                  R"({"name":"Bob","age":30.5})", R"({"name":"Bob","age":030})",
                  R"({"name":"Bob","age":30,})",         // trailing comma
                  R"({"name":"Bob","age":30} )",         // nothing after the value
                  R"({  "name":"Bob","age":30})",        // one whitespace run at most
                  "{\"name\":\"Bob\",\"age\":30}\n", R"({"name":"Bob","age":30}{})"});
}

TEST(JsonGrammar, PrefixesAreAcceptedButIncomplete) {
  GrammarMatcher m(grammar_for(kPerson));
  EXPECT_TRUE(m.accept(R"({"name":"Bo)"));
  EXPECT_FALSE(m.is_complete());
  EXPECT_FALSE(m.accept("\x01"));  // rejected bytes leave the state as it was
  EXPECT_TRUE(m.accept(R"(b","age":7)"));
  EXPECT_FALSE(m.is_complete());
  EXPECT_TRUE(m.can_accept("0"));  // the number may go on
  const ByteSet next = m.allowed_bytes();
  for (char c : std::string("0123456789 \n,}")) EXPECT_TRUE(next.has(uint8_t(c))) << c;
  for (char c : std::string("a\".]-")) EXPECT_FALSE(next.has(uint8_t(c))) << c;
  EXPECT_TRUE(m.accept("}"));
  EXPECT_TRUE(m.is_complete());
  EXPECT_FALSE(m.can_continue());
}

TEST(JsonGrammar, StringsEscapesAndUtf8) {
  const auto g = grammar_for(R"({"type": "string"})");
  expect_matches(g,
                 {R"("")", R"("a\"b\\c\/d\b\f\n\r\t")", R"("\u00e9\u00E9\uD7FF\uE000\u0000")", "\"h\xC3\xA9llo \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89\"",
                  "\"\x7F\"", "\"\xEF\xBF\xBF\xF4\x8F\xBF\xBF\""},
                 {R"("\uD800")", R"("\udfff")", R"("\x41")", R"("\u12")", "\"a\x01\"", "\"tab\there\"", "\"\xC0\x80\"",
                  "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xC3\"", "\"\x80\"", R"("abc)", R"('abc')"});
}

TEST(JsonGrammar, NumbersAndIntegers) {
  expect_matches(grammar_for(R"({"type": "number"})"),
                 {"0", "-0", "12", "-12.5e+10", "1E5", "0.5", "3.25E-07", "1e99"},
                 {"01", "1.", ".5", "+1", "1e", "1e123", "--1", "- 1", "0x10", "NaN", "Infinity"});
  expect_matches(grammar_for(R"({"type": "integer"})"), {"-5", "0", "1234567890123"}, {"1.0", "1e5", "-", "00"});
  JsonGrammarOptions small;
  small.max_number_chars = 4;
  expect_matches(grammar_for(R"({"type": "number"})", small), {"1234", "-1.5", "1e10"}, {"12345", "-1.55", "1.5e1"});
}

TEST(JsonGrammar, IntegerBoundsAreExact) {
  for (const auto& [lo, hi] : std::vector<std::pair<int, int>>{{-15, 120}, {0, 0}, {7, 7}, {-200, -13}, {99, 1001}, {-9, 9}}) {
    const auto g = grammar_for(R"({"type": "integer", "minimum": )" + std::to_string(lo) + R"(, "maximum": )" +
                               std::to_string(hi) + "}");
    for (int v = -1100; v <= 1100; ++v)
      EXPECT_EQ(matches(g, std::to_string(v)), v >= lo && v <= hi) << v << " in [" << lo << ", " << hi << "]";
    EXPECT_FALSE(matches(g, "-0"));
    EXPECT_FALSE(matches(g, "007"));
  }
  const auto exclusive = grammar_for(R"({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10.5})");
  expect_matches(exclusive, {"1", "10"}, {"0", "11", "-1"});
  const auto open_ended = grammar_for(R"({"type": "integer", "minimum": 5})");
  expect_matches(open_ended, {"5", "6", "100000000000000"}, {"4", "-5", "0"});
}

TEST(JsonGrammar, NumberBoundsKeepFractionsInside) {
  expect_matches(grammar_for(R"({"type": "number", "minimum": 0, "maximum": 1})"), {"0", "1", "0.5", "0.999"},
                 {"1.5", "-0.1", "2", "1.0", "1e0"});
  expect_matches(grammar_for(R"({"type": "number", "minimum": -2.5, "maximum": 3})"),
                 {"-2", "-1.75", "-0.5", "0", "2.9", "3"}, {"-3", "-2.6", "3.1", "-2.5"});
  expect_matches(grammar_for(R"({"type": "number", "exclusiveMinimum": 0, "maximum": 10})"), {"1", "9.99", "10"},
                 {"0", "10.5", "-1"});
}

TEST(JsonGrammar, EnumsConstBooleansAndNull) {
  expect_matches(grammar_for(R"({"enum": ["red", "green", 3, null, true, {"a": [1]}]})"),
                 {R"("red")", R"("green")", "3", "null", "true", R"({"a":[1]})"},
                 {R"("blue")", R"("re")", "4", "false", R"({"a": [1]})"});
  expect_matches(grammar_for(R"({"const": "x\"y"})"), {R"("x\"y")"}, {R"("x")"});
  expect_matches(grammar_for(R"({"type": "boolean"})"), {"true", "false"}, {"null", "True", "1"});
  expect_matches(grammar_for(R"({"type": ["string", "null"]})"), {"null", R"("a")"}, {"1", "nul"});
}

TEST(JsonGrammar, AnyOfRefsAndRecursion) {
  expect_matches(grammar_for(R"({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]})"),
                 {R"("x")", "5"}, {"true", "-5"});
  const char* points = R"({
    "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                        "required": ["x", "y"]}},
    "type": "array", "items": {"$ref": "#/$defs/point"}, "minItems": 1})";
  expect_matches(grammar_for(points), {R"([{"x":1,"y":2},{"x":-1.5,"y":0}])", R"([ {"x": 1, "y": 2} ])"},
                 {"[]", R"([{"x":1}])", R"([{"y":2,"x":1}])"});
  const char* tree = R"({"type": "object", "properties": {"v": {"type": "integer"},
                         "children": {"type": "array", "items": {"$ref": "#"}}}, "required": ["v"]})";
  JsonGrammarOptions shallow;
  shallow.max_depth = 4;  // object, array, object, array: the deepest object has no children
  const auto g = grammar_for(tree, shallow);
  expect_matches(g, {R"({"v":1})", R"({"v":1,"children":[{"v":2,"children":[]}]})"},
                 {R"({"v":1,"children":[{"v":2,"children":[{"v":3}]}]})"});
  const char* oneof = R"({"oneOf": [{"type": "object", "properties": {"cat": {"const": true}}, "required": ["cat"]},
                                   {"type": "object", "properties": {"dog": {"const": true}}, "required": ["dog"]}]})";
  expect_matches(grammar_for(oneof), {R"({"cat":true})", R"({"dog":true})"}, {R"({"cat":true,"dog":true})"});
}

TEST(JsonGrammar, ArrayAndStringLengths) {
  expect_matches(grammar_for(R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3})"),
                 {"[1,2]", "[1, 2, 3]", "[\n1,\n2\n]"}, {"[]", "[1]", "[1,2,3,4]", "[1,,2]"});
  expect_matches(grammar_for(R"({"type": "array", "maxItems": 0})"), {"[]", "[ ]"}, {"[1]"});
  expect_matches(grammar_for(R"({"type": "string", "minLength": 2, "maxLength": 3})"),
                 {R"("ab")", R"("abc")", "\"\xC3\xA9\xE6\x97\xA5\"", R"("\n\t")"}, {R"("a")", R"("abcd")", R"("")"});
  JsonGrammarOptions tiny;
  tiny.max_string_chars = 3;
  expect_matches(grammar_for(R"({"type": "string"})", tiny), {R"("abc")"}, {R"("abcd")"});
  expect_matches(grammar_for(R"({"type": "string", "minLength": 5})", tiny), {R"("abcde")"}, {R"("abcdef")", R"("abc")"});
}

TEST(JsonGrammar, PatternsAndFormats) {
  expect_matches(grammar_for(R"({"type": "string", "pattern": "^[A-Z]{3}-\\d+$"})"), {R"("ABC-12")", R"("XYZ-0")"},
                 {R"("AB-1")", R"("ABC-")", R"("abc-1")", R"("ABC-1x")"});
  expect_matches(grammar_for(R"({"type": "string", "pattern": "cat"})"), {R"("cat")", R"("a cat!")"}, {R"("dog")"});
  expect_matches(grammar_for(R"({"type": "string", "format": "date"})"), {R"("2024-02-29")"},
                 {R"("2024-13-01")", R"("24-01-01")", R"("2024-01-01T")"});
  expect_matches(grammar_for(R"({"type": "string", "format": "date-time"})"),
                 {R"("2024-02-29T13:45:00Z")", R"("2024-02-29T13:45:00.123+02:00")"}, {R"("2024-02-29 13:45:00Z")"});
  expect_matches(grammar_for(R"({"type": "string", "format": "uuid"})"), {R"("123e4567-e89b-12d3-a456-426614174000")"},
                 {R"("123e4567e89b12d3a456426614174000")"});
  expect_matches(grammar_for(R"({"type": "string", "format": "hostname"})"), {R"("anything")"}, {});
}

TEST(JsonGrammar, AnyJsonObject) {
  JsonGrammarOptions options;
  options.max_depth = 3;
  const auto g = json_object_grammar(options);
  expect_matches(g, {"{}", R"({"a": [1, {"b": null}], "c": "d", "e": -1.5e3, "f": true})", R"({"a":{"b":{"c":1}}})"},
                 {"[]", R"("x")", "1", R"({"a":{"b":{"c":{}}}})", R"({a:1})"});
}

TEST(JsonGrammar, MapsFromAdditionalProperties) {
  expect_matches(grammar_for(R"({"type": "object", "additionalProperties": {"type": "integer"}})"),
                 {"{}", R"({"a":1,"b":2})"}, {R"({"a":"x"})"});
  expect_matches(grammar_for(R"({"type": "object", "additionalProperties": false})"), {"{}", "{ }"}, {R"({"a":1})"});
}

TEST(JsonGrammar, UnsatisfiableSchemasNameThePart) {
  auto message = [](const std::string& schema) {
    try {
      grammar_for(schema);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(R"({"type": "object", "properties": {"a": false}, "required": ["a"]})"),
            "schema.properties.a: no value can be generated here (the schema admits none within a nesting depth of 16)");
  EXPECT_EQ(message(R"({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]})"),
            "schema: no value can be generated here (the schema admits none within a nesting depth of 16)");
  EXPECT_EQ(message(R"({"type": "integer", "minimum": 5, "maximum": 4})"),
            "schema: no value can be generated here (the schema admits none within a nesting depth of 16)");
  EXPECT_EQ(message(R"({"type": "string", "pattern": "^a\n$"})").substr(0, 8), "schema: ");
}

TEST(Grammar, RejectsCyclesAndEmptyRepeats) {
  Grammar cyclic;
  const uint32_t a = cyclic.add_rule("a");
  cyclic.add_alternative(a, cyclic.literal("x"));
  cyclic.add_alternative(a, {cyclic.byte('('), cyclic.rule(a), cyclic.byte(')')});
  EXPECT_THROW(cyclic.finalize(a), Error);
  Grammar empty_repeat;
  const uint32_t e = empty_repeat.add_rule("e");
  empty_repeat.add_alternative(e, {empty_repeat.byte('x', 0, 1)});
  const uint32_t root = empty_repeat.add_rule("root");
  empty_repeat.add_alternative(root, {empty_repeat.rule(e, 0, kUnbounded)});
  EXPECT_THROW(empty_repeat.finalize(root), Error);
}

TEST(Grammar, AmbiguityIsFollowedWithoutBlowingUp) {
  // (a|a)* over 2000 bytes: every step collapses the two parses into one.
  Grammar g;
  const uint32_t either = g.add_rule("either");
  g.add_alternative(either, g.literal("a"));
  g.add_alternative(either, g.literal("a"));
  const uint32_t root = g.add_rule("root");
  g.add_alternative(root, {g.rule(either, 0, kUnbounded)});
  ASSERT_TRUE(g.finalize(root));
  GrammarMatcher m(std::make_shared<Grammar>(std::move(g)));
  EXPECT_TRUE(m.accept(std::string(2000, 'a')));
  EXPECT_TRUE(m.is_complete());
  EXPECT_LE(m.stacks().stacks.size(), 2u);
}

}  // namespace
}  // namespace edgerun
