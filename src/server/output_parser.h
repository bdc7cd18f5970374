// Turning generated text into the parts of an OpenAI reply, incrementally (for streaming) and
// all at once: stop sequences cut the text; <think>…</think> becomes reasoning_content;
// <tool_call>{json}</tool_call> blocks become tool_calls. Shared by `edgerun serve` and
// `edgerun chat`.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace edgerun::server {

// Cuts a stream of text at the first stop string. Text that might be the beginning of a stop
// string is held back until it is known not to be one.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // The text that is safe to emit now. After a stop string was seen, returns "" forever.
  std::string push(const std::string& text);
  std::string finish();  // the held-back rest (no stop string came)
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// How a model family marks reasoning and tool calls in its replies.
struct ReplyFormat {
  enum class ToolCalls {
    kTagged,   // <tool_call>{"name": …, "arguments": {…}}</tool_call> (SmolLM3, Qwen, Hermes)
    kMistral,  // [TOOL_CALLS]name[ARGS]{…} per call (Mistral / Ministral 3)
  };
  std::string think_open = "<think>", think_close = "</think>";
  ToolCalls tool_calls = ToolCalls::kTagged;
  // The text that opens a call: "<tool_call>" or "[TOOL_CALLS]".
  const char* tool_call_open() const { return tool_calls == ToolCalls::kMistral ? "[TOOL_CALLS]" : "<tool_call>"; }
};
// The format a chat template writes (Mistral markers when it uses [TOOL_CALLS] / [THINK]).
ReplyFormat reply_format_of_template(const std::string& template_source);

// Splits text into reasoning (inside <think>…</think> at the start) and answer content.
struct TextDelta {
  std::string reasoning, content;
  bool empty() const { return reasoning.empty() && content.empty(); }
};

class ReasoningSplitter {
 public:
  explicit ReasoningSplitter(const ReplyFormat& format = {}) : open_(format.think_open), close_(format.think_close) {}
  TextDelta push(const std::string& text);
  TextDelta finish();

 private:
  enum class Phase { kStart, kThinking, kAfterThink, kContent };
  TextDelta drain(bool final);
  std::string open_, close_;
  Phase phase_ = Phase::kStart;
  std::string pending_;
};

struct ToolCall {
  std::string id, name, arguments;  // arguments: a JSON text, as OpenAI sends it
};

// Finds the calls (<tool_call>{"name":..., "arguments":{...}}</tool_call> blocks, or Mistral's
// [TOOL_CALLS]name[ARGS]{...}). Returns the text outside them in `content` and the calls; blocks
// that are not valid calls stay in the content.
struct ParsedContent {
  std::string content;
  std::vector<ToolCall> tool_calls;
};
ParsedContent parse_tool_calls(const std::string& text, const std::string& id_prefix,
                               ReplyFormat::ToolCalls style = ReplyFormat::ToolCalls::kTagged);

// Streams the content of a reply that may call tools: text before the first <tool_call> goes
// out as it arrives (a possible beginning of the tag, and leading whitespace, wait); from the
// tag on, text is held and parsed when the reply is complete. The streamed text plus finish()'s
// content equals parse_tool_calls() of the whole text.
class ToolCallStreamer {
 public:
  explicit ToolCallStreamer(ReplyFormat::ToolCalls style = ReplyFormat::ToolCalls::kTagged) : style_(style) {}
  std::string push(const std::string& content);  // what can be sent now
  ParsedContent finish(const std::string& id_prefix);

 private:
  ReplyFormat::ToolCalls style_;
  std::string held_;
  bool in_calls_ = false;
  bool streamed_text_ = false;  // answer text already went out: trailing layout is kept
};

// A tool call from the JSON object {"name": ..., "arguments": ...} (arguments an object or a
// JSON string). False when the object is not of that shape.
bool tool_call_from_json(const nlohmann::json& call, ToolCall& out);

}  // namespace edgerun::server
