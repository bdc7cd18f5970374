#include "text/json_schema.h"

#include <cmath>
#include <functional>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "text/unicode.h"

namespace edgerun {

namespace {

using ordered_json = nlohmann::ordered_json;

constexpr int kMaxSchemaDepth = 64;   // nesting of the schema document (and of $ref chains)
constexpr int kMaxValueDepth = 512;   // nesting of a validated value

const std::set<std::string>& annotation_keywords() {
  static const std::set<std::string> names = {"title", "description", "default", "examples", "$schema", "$id",
                                              "$comment", "deprecated", "readOnly", "writeOnly", "$defs",
                                              "definitions"};
  return names;
}

// Keywords that constrain the value itself (as opposed to annotations and combinators).
const std::set<std::string>& constraint_keywords() {
  static const std::set<std::string> names = {
      "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems",
      "maxItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
      "exclusiveMaximum"};
  return names;
}

std::string json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: {
      const double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d ? "integer" : "number";
    }
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "unknown";
  }
}

uint8_t type_bit(const std::string& name) {
  if (name == "null") return kJsonNull;
  if (name == "boolean") return kJsonBoolean;
  if (name == "integer") return kJsonInteger;
  if (name == "number") return kJsonNumber;
  if (name == "string") return kJsonString;
  if (name == "array") return kJsonArray;
  if (name == "object") return kJsonObject;
  return 0;
}

std::string types_text(uint8_t types) {
  std::string out;
  for (const char* name : {"null", "boolean", "integer", "number", "string", "array", "object"})
    if (types & type_bit(name)) out += (out.empty() ? "" : " or ") + std::string(name);
  return out;
}

}  // namespace

bool SchemaNode::is_required(const std::string& name) const {
  for (const std::string& r : required)
    if (r == name) return true;
  return false;
}

const SchemaNode& resolve(const SchemaNode& node) {
  const SchemaNode* n = &node;
  while (n->ref) n = n->ref;  // chains are acyclic (checked when compiling)
  return *n;
}

class SchemaCompiler {
 public:
  SchemaCompiler(JsonSchema& out, const ordered_json& root, std::string where)
      : out_(out), root_(root), where_(std::move(where)) {}

  const SchemaNode* compile_root() { return target("#", where_, 0); }

  void check_no_self_reference() const {
    // A node that reaches itself through $ref / anyOf links alone would make generation and
    // validation loop; through objects and arrays it is fine (recursion is unrolled).
    enum Mark : uint8_t { kNew, kOpen, kDone };
    std::unordered_map<const SchemaNode*, Mark> mark;
    std::function<void(const SchemaNode*)> visit = [&](const SchemaNode* n) {
      mark[n] = kOpen;
      std::vector<const SchemaNode*> next = n->any_of;
      if (n->ref) next.push_back(n->ref);
      for (const SchemaNode* m : next) {
        if (mark[m] == kOpen) fail(m->path, "refers to itself without nesting inside an object or array");
        if (mark[m] == kNew) visit(m);
      }
      mark[n] = kDone;
    };
    for (const auto& n : out_.nodes_)
      if (mark[n.get()] == kNew) visit(n.get());
  }

 private:
  SchemaNode* make(const std::string& path) {
    out_.nodes_.push_back(std::make_unique<SchemaNode>());
    out_.nodes_.back()->path = path;
    return out_.nodes_.back().get();
  }

  const SchemaNode* any_node() {
    if (!any_) {
      SchemaNode* any = make(where_ + " (any value)");
      any->items = any->additional_schema = any;  // arrays and objects of anything
      any_ = any;
    }
    return any_;
  }

  const SchemaNode* compile(const ordered_json& s, const std::string& path, int depth) {
    SchemaNode* node = make(path);
    fill(*node, s, depth);
    return node;
  }

  // The schema a local reference ("#", "#/$defs/X") points to, compiled once.
  const SchemaNode* target(const std::string& ref, const std::string& at, int depth) {
    if (ref.empty() || ref[0] != '#')
      fail(at, "only local references (starting with '#') are supported, got " + quote_for_message(ref));
    const std::string pointer = ref.substr(1);
    if (auto it = by_pointer_.find(pointer); it != by_pointer_.end()) return it->second;
    const ordered_json* s = nullptr;
    std::string path = where_;
    try {
      auto p = ordered_json::json_pointer(pointer);
      if (root_.contains(p)) s = &root_.at(p);
      std::vector<std::string> parts;
      for (; !p.empty(); p.pop_back()) parts.insert(parts.begin(), p.back());
      for (const std::string& part : parts) path += "." + part;
    } catch (const nlohmann::json::exception&) {
      s = nullptr;
    }
    if (!s) fail(at, "cannot resolve " + quote_for_message(ref));
    SchemaNode* node = make(path);
    by_pointer_[pointer] = node;  // before filling, so recursive references find it
    fill(*node, *s, depth);
    return node;
  }

  static uint64_t count_value(const ordered_json& v, const std::string& at) {
    if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0))
      fail(at, "expected a non-negative integer");
    return v.get<uint64_t>();
  }

  static double number_value(const ordered_json& v, const std::string& at) {
    if (!v.is_number()) fail(at, "expected a number");
    return v.get<double>();
  }

  static json plain(const ordered_json& v) { return json::parse(v.dump()); }

  void fill(SchemaNode& n, const ordered_json& s, int depth) {
    if (depth > kMaxSchemaDepth)
      fail(n.path, "schema nested too deeply (more than " + std::to_string(kMaxSchemaDepth) + " levels)");
    if (s.is_boolean()) {
      n.never = !s.get<bool>();
      return;
    }
    if (!s.is_object()) fail(n.path, "expected a schema (an object, true or false)");
    std::vector<std::string> constraints;
    bool has_type = false, combinator = false;
    uint8_t implied = 0;
    bool additional_forbidden = false;
    const SchemaNode* additional = nullptr;
    for (const auto& [key, v] : s.items()) {
      const std::string at = n.path + "." + key;
      if (constraint_keywords().count(key)) constraints.push_back(key);
      if (key == "type") {
        has_type = true;
        n.types = 0;
        const std::vector<ordered_json> names = v.is_array() ? v.get<std::vector<ordered_json>>() : std::vector{v};
        if (names.empty()) fail(at, "is an empty list");
        for (const ordered_json& name : names) {
          const uint8_t bit = name.is_string() ? type_bit(name.get<std::string>()) : 0;
          if (!bit) fail(at, "unknown type " + (name.is_string() ? quote_for_message(name.get<std::string>()) : name.dump()));
          n.types |= bit;
        }
      } else if (key == "enum") {
        if (!v.is_array() || v.empty()) fail(at, "expected a non-empty array");
        n.enum_values.emplace();
        for (const ordered_json& e : v) n.enum_values->push_back(plain(e));
      } else if (key == "const") {
        n.enum_values = std::vector<json>{plain(v)};
      } else if (key == "properties") {
        if (!v.is_object()) fail(at, "expected an object");
        for (const auto& [name, sub] : v.items()) n.properties.emplace_back(name, compile(sub, at + "." + name, depth + 1));
        implied |= kJsonObject;
      } else if (key == "required") {
        if (!v.is_array()) fail(at, "expected an array of property names");
        for (const ordered_json& name : v) {
          if (!name.is_string()) fail(at, "expected an array of property names");
          if (!n.is_required(name.get<std::string>())) n.required.push_back(name.get<std::string>());
        }
        implied |= kJsonObject;
      } else if (key == "additionalProperties") {
        if (v.is_boolean()) additional_forbidden = !v.get<bool>();
        else additional = compile(v, at, depth + 1);
        implied |= kJsonObject;
      } else if (key == "items") {
        if (v.is_array()) fail(at, "a list of item schemas (tuple validation) is unsupported");
        n.items = compile(v, at, depth + 1);
        implied |= kJsonArray;
      } else if (key == "minItems" || key == "maxItems") {
        (key == "minItems" ? n.min_items : n.max_items) = count_value(v, at);
        implied |= kJsonArray;
      } else if (key == "minLength" || key == "maxLength") {
        (key == "minLength" ? n.min_length : n.max_length) = count_value(v, at);
        implied |= kJsonString;
      } else if (key == "pattern") {
        if (!v.is_string()) fail(at, "expected a string");
        n.pattern = RegexDfa::compile(v.get<std::string>(), at);
        n.pattern_source = v.get<std::string>();
        implied |= kJsonString;
      } else if (key == "format") {
        if (!v.is_string()) fail(at, "expected a string");
        n.pattern = RegexDfa::for_format(v.get<std::string>());  // unknown formats: plain strings
        if (n.pattern) n.pattern_source = "format " + v.get<std::string>();
        implied |= kJsonString;
      } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
        const double x = number_value(v, at);
        if (key == "minimum") n.minimum = x;
        else if (key == "maximum") n.maximum = x;
        else if (key == "exclusiveMinimum") n.exclusive_minimum = x;
        else n.exclusive_maximum = x;
        implied |= kJsonNumber;
      } else if (key == "anyOf" || key == "oneOf") {
        if (!v.is_array() || v.empty()) fail(at, "expected a non-empty array of schemas");
        if (!n.any_of.empty()) fail(n.path, "anyOf and oneOf together are unsupported");
        for (size_t i = 0; i < v.size(); ++i) n.any_of.push_back(compile(v[i], at + "[" + std::to_string(i) + "]", depth + 1));
        n.one_of = key == "oneOf";
        combinator = true;
      } else if (key == "allOf") {
        if (!v.is_array() || v.size() != 1) fail(at, "allOf is supported with exactly one schema");
        if (n.ref) fail(n.path, "allOf together with $ref is unsupported");
        n.ref = compile(v[0], at + "[0]", depth + 1);
        combinator = true;
      } else if (key == "$ref") {
        if (!v.is_string()) fail(at, "expected a string");
        if (n.ref) fail(n.path, "allOf together with $ref is unsupported");
        n.ref = target(v.get<std::string>(), at, depth + 1);
        combinator = true;
      } else if (!annotation_keywords().count(key) && key.rfind("x-", 0) != 0) {
        fail(n.path, "unsupported keyword " + quote_for_message(key));
      }
    }
    if (combinator && !constraints.empty())
      fail(n.path, "keyword " + quote_for_message(constraints.front()) + " next to " +
                       (n.ref ? "$ref/allOf" : "anyOf/oneOf") + " is unsupported");
    if (n.ref && !n.any_of.empty()) fail(n.path, "$ref/allOf together with anyOf/oneOf is unsupported");
    if (n.min_length > n.max_length)
      fail(n.path, "minLength " + std::to_string(n.min_length) + " is more than maxLength " + std::to_string(n.max_length));
    if (n.min_items > n.max_items)
      fail(n.path, "minItems " + std::to_string(n.min_items) + " is more than maxItems " + std::to_string(n.max_items));
    if (n.pattern && (n.min_length > 0 || n.max_length != UINT64_MAX))
      fail(n.path, "minLength/maxLength together with pattern or format is unsupported");
    n.generate_types = has_type ? n.types : (implied ? implied : uint8_t(kJsonAnyType));
    for (const std::string& name : n.required) {
      bool declared = false;
      for (const auto& p : n.properties) declared = declared || p.first == name;
      if (!declared) n.properties.emplace_back(name, any_node());
    }
    n.additional_schema = additional_forbidden ? nullptr : (additional ? additional : any_node());
    if (!n.items) n.items = any_node();
  }

  JsonSchema& out_;
  const ordered_json& root_;
  std::string where_;
  std::unordered_map<std::string, SchemaNode*> by_pointer_;
  const SchemaNode* any_ = nullptr;
};

JsonSchema JsonSchema::compile(const ordered_json& schema, const std::string& where) {
  JsonSchema out;
  SchemaCompiler compiler(out, schema, where);
  out.root_ = compiler.compile_root();
  compiler.check_no_self_reference();
  return out;
}

JsonSchema JsonSchema::compile(const json& schema, const std::string& where) {
  return compile(ordered_json::parse(schema.dump()), where);
}

namespace {
// Copies `schema`, prefixing every local $ref's pointer with `prefix`.
ordered_json rebase_refs(const ordered_json& schema, const std::string& prefix, int depth) {
  if (depth > kMaxSchemaDepth) return schema;  // compile() has already rejected such nesting
  if (schema.is_array()) {
    ordered_json out = ordered_json::array();
    for (const ordered_json& v : schema) out.push_back(rebase_refs(v, prefix, depth + 1));
    return out;
  }
  if (!schema.is_object()) return schema;
  ordered_json out = ordered_json::object();
  for (const auto& [key, v] : schema.items()) {
    if (key == "$ref" && v.is_string() && v.get<std::string>().rfind('#', 0) == 0)
      out[key] = "#" + prefix + v.get<std::string>().substr(1);
    else
      out[key] = rebase_refs(v, prefix, depth + 1);
  }
  return out;
}
}  // namespace

ordered_json tool_call_schema(const ordered_json& tools, const std::string& where) {
  if (!tools.is_array() || tools.empty()) fail(where, "expected a non-empty array of tools");
  ordered_json calls = ordered_json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const ordered_json& tool = tools[i];
    if (!tool.is_object() || !tool.contains("function") || !tool.at("function").is_object())
      fail(at + ".function", "missing (expected an object with name and parameters)");
    const ordered_json& function = tool.at("function");
    if (!function.contains("name") || !function.at("name").is_string()) fail(at + ".function.name", "expected a string");
    const ordered_json parameters =
        function.contains("parameters") ? function.at("parameters") : ordered_json{{"type", "object"}};
    JsonSchema::compile(parameters, at + ".function.parameters");
    const std::string prefix = (tools.size() > 1 ? "/anyOf/" + std::to_string(i) : "") + "/properties/arguments";
    ordered_json call = {{"type", "object"},
                         {"properties", {{"name", {{"const", function.at("name")}}}, {"arguments", rebase_refs(parameters, prefix, 0)}}},
                         {"required", {"name", "arguments"}},
                         {"additionalProperties", false}};
    calls.push_back(std::move(call));
  }
  return calls.size() == 1 ? calls[0] : ordered_json{{"anyOf", calls}};
}

// --- Validation ------------------------------------------------------------------------------

namespace {

class Validator {
 public:
  explicit Validator(std::vector<std::string>& errors) : errors_(errors) {}

  void check(const SchemaNode& node, const json& v, const std::string& at, int depth) {
    if (depth > kMaxValueDepth) return error(at, "nested too deeply to validate");
    const SchemaNode& n = resolve(node);
    if (n.never) return error(at, "no value is allowed here (schema " + n.path + " is false)");
    if (!n.any_of.empty()) return check_alternatives(n, v, at, depth);
    const std::string type = json_type_name(v);
    const uint8_t bit = type_bit(type) | (type == "integer" ? kJsonNumber : 0);
    if (!(bit & n.types)) return error(at, "expected " + types_text(n.types) + ", got " + type);
    if (n.enum_values) {
      bool found = false;
      for (const json& e : *n.enum_values) found = found || e == v;
      if (!found) error(at, v.dump() + " is not one of the allowed values");
    }
    if (v.is_string()) check_string(n, v.get<std::string>(), at);
    if (v.is_number()) check_number(n, v.get<double>(), at);
    if (v.is_array()) {
      if (v.size() < n.min_items) error(at, "has " + std::to_string(v.size()) + " items, fewer than minItems " + std::to_string(n.min_items));
      if (v.size() > n.max_items) error(at, "has " + std::to_string(v.size()) + " items, more than maxItems " + std::to_string(n.max_items));
      for (size_t i = 0; i < v.size(); ++i) check(*n.items, v[i], at + "[" + std::to_string(i) + "]", depth + 1);
    }
    if (v.is_object()) check_object(n, v, at, depth);
  }

 private:
  void error(const std::string& at, const std::string& problem) { errors_.push_back(at + ": " + problem); }

  void check_alternatives(const SchemaNode& n, const json& v, const std::string& at, int depth) {
    size_t matching = 0;
    for (const SchemaNode* alt : n.any_of) {
      std::vector<std::string> errs;
      Validator(errs).check(*alt, v, at, depth);
      matching += errs.empty();
    }
    if (matching == 0) error(at, "matches none of the " + std::string(n.one_of ? "oneOf" : "anyOf") + " schemas");
    if (n.one_of && matching > 1) error(at, "matches " + std::to_string(matching) + " of the oneOf schemas, not exactly one");
  }

  void check_string(const SchemaNode& n, const std::string& s, const std::string& at) {
    const size_t length = text::utf8_codepoints(s).size();
    if (length < n.min_length) error(at, "is " + std::to_string(length) + " characters, fewer than minLength " + std::to_string(n.min_length));
    if (length > n.max_length) error(at, "is " + std::to_string(length) + " characters, more than maxLength " + std::to_string(n.max_length));
    if (n.pattern && !n.pattern->matches(s)) error(at, quote_for_message(s) + " does not match " + n.pattern_source);
  }

  void check_number(const SchemaNode& n, double x, const std::string& at) {
    auto num = [](double d) {
      return std::fabs(d) < 1e15 && std::floor(d) == d ? std::to_string(int64_t(d)) : json(d).dump();
    };
    if (n.minimum && x < *n.minimum) error(at, num(x) + " is less than minimum " + num(*n.minimum));
    if (n.maximum && x > *n.maximum) error(at, num(x) + " is more than maximum " + num(*n.maximum));
    if (n.exclusive_minimum && x <= *n.exclusive_minimum) error(at, num(x) + " is not more than exclusiveMinimum " + num(*n.exclusive_minimum));
    if (n.exclusive_maximum && x >= *n.exclusive_maximum) error(at, num(x) + " is not less than exclusiveMaximum " + num(*n.exclusive_maximum));
  }

  void check_object(const SchemaNode& n, const json& v, const std::string& at, int depth) {
    for (const std::string& name : n.required)
      if (!v.contains(name)) error(at, "missing required property " + quote_for_message(name));
    for (const auto& [name, value] : v.items()) {
      const SchemaNode* sub = nullptr;
      for (const auto& p : n.properties)
        if (p.first == name) sub = p.second;
      if (!sub) sub = n.additional_schema;
      if (!sub) error(at, "unexpected property " + quote_for_message(name));
      else check(*sub, value, at + "." + name, depth + 1);
    }
  }

  std::vector<std::string>& errors_;
};

}  // namespace

std::vector<std::string> validate_json(const JsonSchema& schema, const json& value) {
  std::vector<std::string> errors;
  Validator(errors).check(schema.root(), value, "$", 0);
  return errors;
}

}  // namespace edgerun
