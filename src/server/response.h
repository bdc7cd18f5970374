// The JSON of replies: chat completions (whole and as stream chunks), text completions, errors,
// and Server-Sent Events framing.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/output_parser.h"

namespace edgerun::server {

using ojson = nlohmann::ordered_json;

// Fields every reply object of one request shares.
struct ReplyHeader {
  std::string id;       // "chatcmpl-…" / "cmpl-…"
  int64_t created = 0;  // Unix seconds
  std::string model;
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

ojson usage_json(const Usage& usage);
ojson error_json(const ApiError& error);

// {"role":"assistant","content":…,"reasoning_content":…,"tool_calls":[…]}
ojson assistant_message(const std::string& content, const std::string& reasoning,
                        const std::vector<ToolCall>& tool_calls);
ojson tool_calls_json(const std::vector<ToolCall>& calls, bool with_index);

ojson chat_completion(const ReplyHeader& h, const ojson& message, const std::string& finish_reason,
                      const Usage& usage);
// One "chat.completion.chunk"; finish_reason empty → null.
ojson chat_chunk(const ReplyHeader& h, const ojson& delta, const std::string& finish_reason);
ojson text_completion(const ReplyHeader& h, const std::string& text, const std::string& finish_reason,
                      const std::optional<Usage>& usage);

// "data: <json>\n\n" and the closing "data: [DONE]\n\n".
std::string sse_event(const ojson& data);
std::string sse_done();

// OpenAI finish reasons from the scheduler's ("stop" | "length" | ...).
std::string openai_finish_reason(const std::string& scheduler_reason, bool stop_string_seen);

}  // namespace edgerun::server
