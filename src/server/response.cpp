#include "server/response.h"

namespace edgerun::server {

ojson usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

ojson error_json(const ApiError& e) {
  const auto or_null = [](const std::string& s) { return s.empty() ? ojson() : ojson(s); };
  return {{"error", {{"message", e.what()}, {"type", e.type}, {"param", or_null(e.param)}, {"code", or_null(e.code)}}}};
}

ojson tool_calls_json(const std::vector<ToolCall>& calls, bool with_index) {
  ojson out = ojson::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    ojson call;
    if (with_index) call["index"] = i;
    call["id"] = calls[i].id;
    call["type"] = "function";
    call["function"] = {{"name", calls[i].name}, {"arguments", calls[i].arguments}};
    out.push_back(std::move(call));
  }
  return out;
}

ojson assistant_message(const std::string& content, const std::string& reasoning,
                        const std::vector<ToolCall>& tool_calls) {
  ojson m = {{"role", "assistant"}, {"content", tool_calls.empty() || !content.empty() ? ojson(content) : ojson()}};
  if (!reasoning.empty()) m["reasoning_content"] = reasoning;
  if (!tool_calls.empty()) m["tool_calls"] = tool_calls_json(tool_calls, false);
  return m;
}

ojson chat_completion(const ReplyHeader& h, const ojson& message, const std::string& finish_reason,
                      const Usage& usage) {
  return {{"id", h.id},
          {"object", "chat.completion"},
          {"created", h.created},
          {"model", h.model},
          {"choices", {{{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}}},
          {"usage", usage_json(usage)}};
}

ojson chat_chunk(const ReplyHeader& h, const ojson& delta, const std::string& finish_reason) {
  return {{"id", h.id},
          {"object", "chat.completion.chunk"},
          {"created", h.created},
          {"model", h.model},
          {"choices",
           {{{"index", 0}, {"delta", delta}, {"logprobs", nullptr},
             {"finish_reason", finish_reason.empty() ? ojson() : ojson(finish_reason)}}}}};
}

ojson text_completion(const ReplyHeader& h, const std::string& text, const std::string& finish_reason,
                      const std::optional<Usage>& usage) {
  ojson r = {{"id", h.id},
             {"object", "text_completion"},
             {"created", h.created},
             {"model", h.model},
             {"choices",
              {{{"index", 0}, {"text", text}, {"logprobs", nullptr},
                {"finish_reason", finish_reason.empty() ? ojson() : ojson(finish_reason)}}}}};
  if (usage) r["usage"] = usage_json(*usage);
  return r;
}

std::string sse_event(const ojson& data) { return "data: " + data.dump() + "\n\n"; }
std::string sse_done() { return "data: [DONE]\n\n"; }

std::string openai_finish_reason(const std::string& scheduler_reason, bool stop_string_seen) {
  if (stop_string_seen) return "stop";
  if (scheduler_reason == "length") return "length";
  return "stop";
}

}  // namespace edgerun::server
