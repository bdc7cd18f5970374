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

}  // namespace

ReplyFormat reply_format_of_template(const std::string& source) {
  ReplyFormat f;
  if (source.find("[TOOL_CALLS]") != std::string::npos) f.tool_calls = ReplyFormat::ToolCalls::kMistral;
  if (source.find("[THINK]") != std::string::npos) f.think_open = "[THINK]", f.think_close = "[/THINK]";
  return f;
}

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
        // Models may open with whitespace before the opening tag; decide once enough text is in.
        const size_t lead = pending_.find_first_not_of(" \n");
        if (lead == std::string::npos) {
          if (final) { out.content += pending_; pending_.clear(); }
          return out;
        }
        const std::string rest = pending_.substr(lead);
        if (starts_with(rest, open_)) {
          pending_ = rest.substr(open_.size());
          phase_ = Phase::kThinking;
          continue;
        }
        if (!final && starts_with(open_, rest)) return out;  // maybe "<thi" so far
        phase_ = Phase::kContent;
        continue;
      }
      case Phase::kThinking: {
        const size_t close = pending_.find(close_);
        if (close != std::string::npos) {
          out.reasoning += pending_.substr(0, close);
          pending_.erase(0, close + close_.size());
          phase_ = Phase::kAfterThink;
          continue;
        }
        const size_t hold = final ? 0 : partial_suffix(pending_, close_);
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

// Where the JSON object or array starting at text[pos] (after spaces) ends, or npos when the text
// does not hold a complete one.
size_t json_container_end(const std::string& text, size_t pos) {
  pos = text.find_first_not_of(" \n\t\r", pos);
  if (pos == std::string::npos || (text[pos] != '{' && text[pos] != '[')) return std::string::npos;
  int depth = 0;
  bool in_string = false;
  for (size_t i = pos; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string::npos;
}

// Mistral: [TOOL_CALLS]name[ARGS]{args} per call (v11+ Tekken), or the older
// [TOOL_CALLS][{"name": …, "arguments": …}, …].
ParsedContent split_mistral_calls(const std::string& text, const std::string& id_prefix) {
  static const std::string open = "[TOOL_CALLS]", args_tag = "[ARGS]";
  ParsedContent out;
  size_t pos = 0;
  for (;;) {
    const size_t start = text.find(open, pos);
    if (start == std::string::npos) break;
    const size_t body = start + open.size();
    const size_t first = text.find_first_not_of(" \n", body);
    std::vector<ToolCall> calls;
    size_t end = std::string::npos;
    if (first != std::string::npos && text[first] == '[' && text.compare(first, args_tag.size(), args_tag) != 0) {
      end = json_container_end(text, first);  // a JSON list of calls
      const nlohmann::json list = end == std::string::npos ? nlohmann::json()
                                                           : nlohmann::json::parse(text.substr(first, end - first), nullptr, false);
      for (const auto& item : list.is_array() ? list : nlohmann::json::array()) {
        ToolCall call;
        if (!tool_call_from_json(item, call)) {
          calls.clear();
          break;
        }
        calls.push_back(std::move(call));
      }
    } else if (const size_t tag = text.find(args_tag, body); tag != std::string::npos) {
      end = json_container_end(text, tag + args_tag.size());
      ToolCall call;
      call.name = text.substr(body, tag - body);
      const size_t args_at = tag + args_tag.size();
      const nlohmann::json args = end == std::string::npos
                                      ? nlohmann::json()
                                      : nlohmann::json::parse(text.substr(args_at, end - args_at), nullptr, false);
      const bool plain_name = !call.name.empty() && call.name.find_first_of(" \n[]{}\"") == std::string::npos;
      if (plain_name && args.is_object()) {
        call.arguments = args.dump();
        calls.push_back(std::move(call));
      }
    }
    if (calls.empty()) break;  // not a call after all: the rest stays text
    out.content += text.substr(pos, start - pos);
    for (ToolCall& c : calls) {
      c.id = id_prefix + std::to_string(out.tool_calls.size());
      out.tool_calls.push_back(std::move(c));
    }
    pos = end;
  }
  out.content += text.substr(pos);
  return out;
}

ParsedContent split_calls(const std::string& text, const std::string& id_prefix, ReplyFormat::ToolCalls style) {
  return style == ReplyFormat::ToolCalls::kMistral ? split_mistral_calls(text, id_prefix)
                                                   : split_tool_calls(text, id_prefix);
}

}  // namespace

ParsedContent parse_tool_calls(const std::string& text, const std::string& id_prefix, ReplyFormat::ToolCalls style) {
  ParsedContent out = split_calls(text, id_prefix, style);

  // What is left between calls is layout, not an answer.
  if (!out.tool_calls.empty() && is_layout(out.content)) out.content.clear();
  return out;
}

std::string ToolCallStreamer::push(const std::string& content) {
  held_ += content;
  if (in_calls_) return "";
  const std::string open = ReplyFormat{{}, {}, style_}.tool_call_open();
  const size_t at = held_.find(open);
  if (at != std::string::npos) {
    in_calls_ = true;
    std::string out = held_.substr(0, at);
    // Whitespace alone waits: it is dropped if only calls follow (as parse_tool_calls does).
    if (is_layout(out)) return "";
    held_.erase(0, at);
    streamed_text_ = true;
    return out;
  }
  const size_t keep = partial_suffix(held_, open);
  std::string out = held_.substr(0, held_.size() - keep);
  if (is_layout(out)) return "";
  held_.erase(0, held_.size() - keep);
  streamed_text_ = true;
  return out;
}

ParsedContent ToolCallStreamer::finish(const std::string& id_prefix) {
  ParsedContent out = split_calls(std::exchange(held_, ""), id_prefix, style_);
  if (!out.tool_calls.empty() && !streamed_text_ && is_layout(out.content)) out.content.clear();
  return out;
}

}  // namespace edgerun::server
