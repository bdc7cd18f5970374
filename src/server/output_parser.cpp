#include "server/output_parser.h"

#include <algorithm>

namespace edgerun::server {

namespace {

// Length of the longest suffix of `text` that is a proper prefix of `word`.
size_t partial_suffix(const std::string& text, const std::string& word) {
  for (size_t n = std::min(text.size(), word.size() - 1); n > 0; --n)
    if (text.compare(text.size() - n, n, word, 0, n) == 0) return n;
  return 0;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

constexpr const char* kToolCallOpen = "<tool_call>";
constexpr const char* kThinkOpen = "<think>";
constexpr const char* kThinkClose = "</think>";

}  // namespace

std::string StopMatcher::push(const std::string& text) {
  if (stopped_) return "";
  pending_ += text;
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = pending_.find(s);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  size_t hold = 0;
  for (const std::string& s : stops_) hold = std::max(hold, partial_suffix(pending_, s));
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::finish() {
  if (stopped_) return "";
  return std::exchange(pending_, "");
}

TextDelta ReasoningSplitter::push(const std::string& text) {
  pending_ += text;
  return drain(false);
}

TextDelta ReasoningSplitter::finish() { return drain(true); }

TextDelta ReasoningSplitter::drain(bool final) {
  TextDelta out;
  for (;;) {
    switch (phase_) {
      case Phase::kStart: {
        // Models may open with whitespace before <think>; decide once enough text is in.
        const size_t lead = pending_.find_first_not_of(" \n");
        if (lead == std::string::npos) {
          if (final) { out.content += pending_; pending_.clear(); }
          return out;
        }
        const std::string rest = pending_.substr(lead);
        if (starts_with(rest, kThinkOpen)) {
          pending_ = rest.substr(std::string(kThinkOpen).size());
          phase_ = Phase::kThinking;
          continue;
        }
        if (!final && starts_with(kThinkOpen, rest)) return out;  // maybe "<thi" so far
        phase_ = Phase::kContent;
        continue;
      }
      case Phase::kThinking: {
        const size_t close = pending_.find(kThinkClose);
        if (close != std::string::npos) {
          out.reasoning += pending_.substr(0, close);
          pending_.erase(0, close + std::string(kThinkClose).size());
          phase_ = Phase::kAfterThink;
          continue;
        }
        const size_t hold = final ? 0 : partial_suffix(pending_, kThinkClose);
        out.reasoning += pending_.substr(0, pending_.size() - hold);
        pending_.erase(0, pending_.size() - hold);
        return out;
      }
      case Phase::kAfterThink: {  // the newlines separating the thought from the answer
        const size_t lead = pending_.find_first_not_of('\n');
        if (lead == std::string::npos && !final) {
          pending_.clear();
          return out;
        }
        pending_.erase(0, lead == std::string::npos ? pending_.size() : lead);
        phase_ = Phase::kContent;
        continue;
      }
      case Phase::kContent:
        out.content += pending_;
        pending_.clear();
        return out;
    }
  }
}

bool tool_call_from_json(const nlohmann::json& call, ToolCall& out) {
  if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) return false;
  out.name = call["name"].get<std::string>();
  const auto args = call.find("arguments");
  if (args == call.end() || args->is_null()) out.arguments = "{}";
  else if (args->is_string()) out.arguments = args->get<std::string>();
  else if (args->is_object()) out.arguments = args->dump();
  else return false;
  return true;
}

namespace {

bool is_layout(const std::string& s) { return s.find_first_not_of(" \n") == std::string::npos; }

// The calls in `text` and the text around them, as it is.
ParsedContent split_tool_calls(const std::string& text, const std::string& id_prefix) {
  static const std::string open = kToolCallOpen, close = "</tool_call>";
  ParsedContent out;
  size_t pos = 0;
  for (;;) {
    const size_t start = text.find(open, pos);
    const size_t end = start == std::string::npos ? start : text.find(close, start + open.size());
    if (end == std::string::npos) {
      // A last call the reply ended in before its closing tag (the model stopped right after
      // the object) still counts when the rest is exactly one valid call.
      ToolCall call;
      const nlohmann::json last = start == std::string::npos
                                      ? nlohmann::json()
                                      : nlohmann::json::parse(text.substr(start + open.size()), nullptr, false);
      if (!last.is_discarded() && tool_call_from_json(last, call)) {
        out.content += text.substr(pos, start - pos);
        call.id = id_prefix + std::to_string(out.tool_calls.size());
        out.tool_calls.push_back(std::move(call));
      } else {
        out.content += text.substr(pos);
      }
      break;
    }
    const std::string body = text.substr(start + open.size(), end - start - open.size());
    ToolCall call;
    const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
    if (!parsed.is_discarded() && tool_call_from_json(parsed, call)) {
      out.content += text.substr(pos, start - pos);
      call.id = id_prefix + std::to_string(out.tool_calls.size());
      out.tool_calls.push_back(std::move(call));
    } else {
      out.content += text.substr(pos, end + close.size() - pos);
    }
    pos = end + close.size();
  }
  return out;
}

}  // namespace

ParsedContent parse_tool_calls(const std::string& text, const std::string& id_prefix) {
  ParsedContent out = split_tool_calls(text, id_prefix);
  // What is left between calls is layout, not an answer.
  if (!out.tool_calls.empty() && is_layout(out.content)) out.content.clear();
  return out;
}

std::string ToolCallStreamer::push(const std::string& content) {
  held_ += content;
  if (in_calls_) return "";
  const size_t at = held_.find(kToolCallOpen);
  if (at != std::string::npos) {
    in_calls_ = true;
    std::string out = held_.substr(0, at);
    // Whitespace alone waits: it is dropped if only calls follow (as parse_tool_calls does).
    if (is_layout(out)) return "";
    held_.erase(0, at);
    streamed_text_ = true;
    return out;
  }
  const size_t keep = partial_suffix(held_, kToolCallOpen);
  std::string out = held_.substr(0, held_.size() - keep);
  if (is_layout(out)) return "";
  held_.erase(0, held_.size() - keep);
  streamed_text_ = true;
  return out;
}

ParsedContent ToolCallStreamer::finish(const std::string& id_prefix) {
  ParsedContent out = split_tool_calls(std::exchange(held_, ""), id_prefix);
  if (!out.tool_calls.empty() && !streamed_text_ && is_layout(out.content)) out.content.clear();
  return out;
}

}  // namespace edgerun::server
