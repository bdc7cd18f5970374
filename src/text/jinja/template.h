// A Jinja2 template engine for chat templates: parse once, render many times. It renders what
// Python Jinja2 renders with the settings Hugging Face uses for chat templates (sandboxed,
// trim_blocks, lstrip_blocks, loop controls, a `generation` tag), byte for byte.
//
//   Template t = Template::parse(text, "chat template");
//   std::string s = t.render(context_dict, options);
//
// Errors (syntax or while rendering) are edgerun::Error "<name> line N: <problem>".
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "text/jinja/value.h"

namespace edgerun::jinja {

struct Program;

// A wall-clock reading as strftime sees it (local time, no zone).
struct DateTime {
  int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0;
};
// Supplies "now" to strftime_now(); tests pass a frozen one.
using Clock = std::function<DateTime()>;

// Bounds that keep a hostile template from exhausting memory, stack or time.
struct RenderLimits {
  size_t max_output_bytes = size_t(32) << 20;  // the rendered text and any one string value
  int max_depth = 400;                         // nesting of evaluation: expressions, blocks, macro calls
  uint64_t max_steps = 5'000'000;              // expression evaluations and loop iterations
};

struct RenderOptions {
  Clock clock;  // empty: strftime_now() is an error
  RenderLimits limits;
};

class Template {
 public:
  // Parses `source`; `name` is used in error messages. Throws Error on syntax errors.
  static Template parse(const std::string& source, const std::string& name = "template");

  // Renders with `context` (a dict) as the template's variables, on top of the globals
  // (range, dict, namespace, raise_exception, strftime_now, ...).
  std::string render(const Value& context, const RenderOptions& options = {}) const;

  const std::string& name() const;

 private:
  std::shared_ptr<const Program> program_;
};

// JSON input data as template values: objects keep their key order (use ordered_json so it is
// the order of the file), integers stay integers, floats stay floats.
Value from_json(const nlohmann::ordered_json& j);

}  // namespace edgerun::jinja
