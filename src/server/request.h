// Reading and validating the bodies of /v1/chat/completions and /v1/completions. Every field the
// server uses is checked for type and range here, so generation only ever sees valid settings;
// problems throw ApiError (400) naming the field.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"

namespace edgerun::server {

// Settings common to both endpoints.
struct GenerationParams {
  std::optional<float> temperature, top_p, frequency_penalty, presence_penalty;
  std::optional<int64_t> max_tokens;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// What the output must look like: free text, any JSON object, or JSON matching a schema.
struct OutputFormat {
  enum Kind { kText, kJsonObject, kJsonSchema } kind = kText;
  nlohmann::ordered_json schema;  // for kJsonSchema
};

struct ChatRequest {
  GenerationParams params;
  nlohmann::ordered_json messages;  // validated, content normalized to strings
  nlohmann::ordered_json tools;     // null when none
  // "auto" | "none" | "required" | a function name (forced call).
  std::string tool_choice = "auto";
  OutputFormat format;
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();
};

struct CompletionRequest {
  GenerationParams params;
  std::string prompt;
  bool echo = false;
};

// `body` is the raw request text; malformed JSON is a 400 too.
ChatRequest parse_chat_request(const std::string& body);
CompletionRequest parse_completion_request(const std::string& body);

// For tool_choice "required": all tools; for a named function: that one. Generation is then
// held to the schema of a call of one of them (edgerun::tool_call_schema).
nlohmann::ordered_json forced_tools(const ChatRequest& request);

}  // namespace edgerun::server
