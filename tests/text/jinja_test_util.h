// Helpers for the template engine tests. Expected strings in these tests are what Python
// Jinja2 3.1.6 renders with Hugging Face's settings (ImmutableSandboxedEnvironment,
// trim_blocks, lstrip_blocks, loop controls), checked against it when the tests were written.
#pragma once
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "text/jinja/template.h"

namespace edgerun::test {

inline jinja::RenderOptions frozen_clock_options() {
  jinja::RenderOptions options;
  options.clock = [] { return jinja::DateTime{2025, 7, 8, 12, 0, 0}; };
  return options;
}

// Renders `source` with `context` (a JSON object) and the clock frozen at 2025-07-08 12:00:00.
inline std::string render(const std::string& source, const nlohmann::ordered_json& context = nlohmann::ordered_json::object(),
                          const jinja::RenderOptions& options = frozen_clock_options()) {
  return jinja::Template::parse(source, "t").render(jinja::from_json(context), options);
}

// The message of the Error that parsing or rendering throws ("" and a test failure if none).
inline std::string render_error(const std::string& source,
                                const nlohmann::ordered_json& context = nlohmann::ordered_json::object(),
                                const jinja::RenderOptions& options = frozen_clock_options()) {
  try {
    const std::string out = render(source, context, options);
    ADD_FAILURE() << "expected an error from " << source << ", got " << out;
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace edgerun::test
