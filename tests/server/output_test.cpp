// Reply assembly of the server: stop strings, <think> splitting, <tool_call> parsing, the JSON and
// SSE framing of replies, and the metrics text.
#include <gtest/gtest.h>

#include "server/metrics.h"
#include "server/output_parser.h"
#include "server/response.h"
#include "server/segment_service.h"

namespace edgerun::server {
namespace {

// Feeds `pieces` one at a time and returns everything emitted.
template <typename Stream>
std::string feed(Stream& s, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += s.push(p);
  return out + s.finish();
}

TEST(StopMatcher, CutsAtAStopStringSplitAcrossPieces) {
  StopMatcher m({"END", "xyz"});
  EXPECT_EQ(m.push("hello E"), "hello ");  // "E" may start END: held back
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("D and more"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.finish(), "");
}

TEST(StopMatcher, ReleasesAFalseStart) {
  StopMatcher m({"END"});
  EXPECT_EQ(feed(m, {"a E", "Nd", " b"}), "a ENd b");
  EXPECT_FALSE(m.stopped());
}

TextDelta split_all(const std::vector<std::string>& pieces) {
  ReasoningSplitter s;
  TextDelta all;
  for (const std::string& p : pieces) {
    const TextDelta d = s.push(p);
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  const TextDelta d = s.finish();
  return {all.reasoning + d.reasoning, all.content + d.content};
}

TEST(ReasoningSplitter, SeparatesThinkingFromTheAnswer) {
  const TextDelta d = split_all({"<th", "ink>Let me", " think.</thi", "nk>\n\nThe answer", " is 4."});
  EXPECT_EQ(d.reasoning, "Let me think.");
  EXPECT_EQ(d.content, "The answer is 4.");
}

TEST(ReasoningSplitter, PlainAnswersAndUnfinishedThoughts) {
  EXPECT_EQ(split_all({"<b>bold</b>"}).content, "<b>bold</b>");
  EXPECT_EQ(split_all({"<", "t"}).content, "<t");  // a prefix of <think> that never completed
  const TextDelta cut = split_all({"<think>still going"});
  EXPECT_EQ(cut.reasoning, "still going");
  EXPECT_EQ(cut.content, "");
}

TEST(ToolCalls, ParsesBlocksAndKeepsInvalidOnesAsText) {
  const ParsedContent p = parse_tool_calls(
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
      "<tool_call>{\"name\": \"now\"}</tool_call>", "call_");
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(p.tool_calls[0].name, "get_weather");
  EXPECT_EQ(p.tool_calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(p.tool_calls[0].id, "call_0");
  EXPECT_EQ(p.tool_calls[1].arguments, "{}");
  EXPECT_EQ(p.content, "");

  // A reply that ends right after the last call's object, without the closing tag.
  const ParsedContent open_end = parse_tool_calls("Sure.\n<tool_call>\n{\"name\": \"now\"}\n", "c");
  ASSERT_EQ(open_end.tool_calls.size(), 1u);
  EXPECT_EQ(open_end.tool_calls[0].name, "now");
  EXPECT_EQ(open_end.content, "Sure.\n");

  const ParsedContent bad = parse_tool_calls("Sure. <tool_call>{oops}</tool_call> <tool_call>{\"name\":", "c");
  EXPECT_TRUE(bad.tool_calls.empty());
  EXPECT_EQ(bad.content, "Sure. <tool_call>{oops}</tool_call> <tool_call>{\"name\":");
}

TEST(ToolCallStreamer, StreamsTheTextBeforeCallsAndMatchesTheWholeParse) {
  const std::string texts[] = {
      "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>\n",
      "\n<tool_call>{\"name\": \"f\"}</tool_call>\n<tool_call>{\"name\": \"g\"}</tool_call>",
      "Hi \n<tool_call>{\"name\": \"f\"}</tool_call>\n",
      "No calls here, only <tool text and a < sign.",
      "Broken: <tool_call>{oops}</tool_call> tail",
      "Unfinished <tool_call>{\"name\": \"f\"",
      "  \n ",
  };
  for (const std::string& text : texts) {
    const ParsedContent whole = parse_tool_calls(text, "c");
    // Every way of cutting the text in two, and one byte at a time.
    std::vector<std::vector<std::string>> splits;
    for (size_t cut = 0; cut <= text.size(); ++cut) splits.push_back({text.substr(0, cut), text.substr(cut)});
    std::vector<std::string> bytes;
    for (char c : text) bytes.emplace_back(1, c);
    splits.push_back(bytes);
    for (const auto& pieces : splits) {
      ToolCallStreamer s;
      std::string streamed;
      for (const std::string& p : pieces) {
        const std::string out = s.push(p);
        EXPECT_EQ(out.find("<tool_call>"), std::string::npos) << text;
        streamed += out;
      }
      const ParsedContent rest = s.finish("c");
      EXPECT_EQ(streamed + rest.content, whole.content) << text;
      ASSERT_EQ(rest.tool_calls.size(), whole.tool_calls.size()) << text;
      for (size_t i = 0; i < whole.tool_calls.size(); ++i) {
        EXPECT_EQ(rest.tool_calls[i].name, whole.tool_calls[i].name);
        EXPECT_EQ(rest.tool_calls[i].arguments, whole.tool_calls[i].arguments);
        EXPECT_EQ(rest.tool_calls[i].id, whole.tool_calls[i].id);
      }
    }
  }
  // The text before a call is sent before the reply ends, not held to the end.
  ToolCallStreamer s;
  EXPECT_EQ(s.push("Let me check the weather. <tool"), "Let me check the weather. ");
  EXPECT_EQ(s.push("_call>{\"name\": \"f\"}</tool_call>"), "");
  EXPECT_EQ(s.finish("c").tool_calls.size(), 1u);
}

TEST(ToolCalls, MistralFormats) {
  const auto mistral = ReplyFormat::ToolCalls::kMistral;
  const ParsedContent p = parse_tool_calls(
      "Checking.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\", \"note\": \"a } in [a] string\"}"
      "[TOOL_CALLS]now[ARGS]{}", "c", mistral);
  ASSERT_EQ(p.tool_calls.size(), 2u);
  EXPECT_EQ(p.content, "Checking.");
  EXPECT_EQ(p.tool_calls[0].name, "get_weather");
  EXPECT_EQ(p.tool_calls[0].arguments, R"({"city":"Paris","note":"a } in [a] string"})");
  EXPECT_EQ(p.tool_calls[1].name, "now");
  EXPECT_EQ(p.tool_calls[1].id, "c1");
  // The older list form (Mistral 7B v0.3 era).
  const ParsedContent list = parse_tool_calls("[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"x\": 1}}]", "c", mistral);
  ASSERT_EQ(list.tool_calls.size(), 1u);
  EXPECT_EQ(list.tool_calls[0].arguments, R"({"x":1})");
  // Not calls: they stay text.
  for (const std::string text : {"[TOOL_CALLS]get weather[ARGS]{}", "[TOOL_CALLS]f[ARGS]{\"x\": ", "[TOOL_CALLS]f[ARGS]3"}) {
    const ParsedContent bad = parse_tool_calls(text, "c", mistral);
    EXPECT_TRUE(bad.tool_calls.empty()) << text;
    EXPECT_EQ(bad.content, text);
  }
  // The template decides the format.
  EXPECT_EQ(reply_format_of_template("{{ '[TOOL_CALLS]' + name }}").tool_calls, mistral);
  EXPECT_EQ(reply_format_of_template("{{ '<tool_call>' }}").tool_calls, ReplyFormat::ToolCalls::kTagged);
  EXPECT_EQ(reply_format_of_template("[THINK]").think_open, "[THINK]");
}

TEST(ReasoningSplitter, MistralThinkMarkers) {
  ReplyFormat f;
  f.think_open = "[THINK]";
  f.think_close = "[/THINK]";
  ReasoningSplitter s(f);
  TextDelta all;
  for (const char* piece : {"[TH", "INK]Hmm, 2+2.[/TH", "INK]It is 4."}) {
    const TextDelta d = s.push(piece);
    all.reasoning += d.reasoning;
    all.content += d.content;
  }
  const TextDelta d = s.finish();
  EXPECT_EQ(all.reasoning + d.reasoning, "Hmm, 2+2.");
  EXPECT_EQ(all.content + d.content, "It is 4.");
}

TEST(ToolCallStreamer, MistralCallsAreHeldFromTheirMarker) {
  const std::string text = "Let me look.[TOOL_CALLS]f[ARGS]{\"x\": [1, 2]}";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    ToolCallStreamer s(ReplyFormat::ToolCalls::kMistral);
    std::string streamed = s.push(text.substr(0, cut));
    streamed += s.push(text.substr(cut));
    const ParsedContent rest = s.finish("c");
    EXPECT_EQ(streamed + rest.content, "Let me look.") << cut;
    ASSERT_EQ(rest.tool_calls.size(), 1u) << cut;
    EXPECT_EQ(rest.tool_calls[0].arguments, R"({"x":[1,2]})");
  }
}

TEST(Response, ChatCompletionAndChunksHaveTheOpenAIShape) {
  const ReplyHeader h{"chatcmpl-1", 100, "m"};
  const ojson msg = assistant_message("", "hmm", {{"call_0", "f", "{}"}});
  const ojson r = chat_completion(h, msg, "tool_calls", {5, 2, 1});
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_TRUE(r["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(r["choices"][0]["message"]["reasoning_content"], "hmm");
  EXPECT_EQ(r["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(r["usage"]["total_tokens"], 7);
  EXPECT_EQ(r["usage"]["prompt_tokens_details"]["cached_tokens"], 1);

  const ojson chunk = chat_chunk(h, {{"content", "hi"}}, "");
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(sse_event(chunk).rfind("data: {", 0), 0u);
  EXPECT_EQ(sse_event(chunk).substr(sse_event(chunk).size() - 2), "\n\n");
  EXPECT_EQ(sse_event(ojson{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(SegmentReply, CocoRunLengthsAreColumnMajorStartingWithZeros) {
  // 2 rows x 3 columns:  1 0 1
  //                      1 0 0   column-major: 1 1 0 0 1 0
  const uint8_t mask[6] = {1, 0, 1, 1, 0, 0};
  EXPECT_EQ(mask_rle(mask, 2, 3), (std::vector<int64_t>{0, 2, 2, 1, 1}));
  const uint8_t zeros[4] = {0, 0, 0, 0};
  EXPECT_EQ(mask_rle(zeros, 2, 2), (std::vector<int64_t>{4}));
}

TEST(Response, ErrorJson) {
  const ojson e = error_json(ApiError(400, "n: only n=1 is supported", "n"));
  EXPECT_EQ(e.dump(), R"({"error":{"message":"n: only n=1 is supported","type":"invalid_request_error","param":"n","code":null}})");
}

TEST(Metrics, PrometheusText) {
  Metrics m;
  m.record_request("/v1/chat/completions", 200, 0.3);
  m.record_request("/v1/chat/completions", 400, 0.01);
  m.add_tokens(10, 4, 7);
  m.set_queue_depth(2);
  const std::string text = m.render(3);
  EXPECT_NE(text.find("# TYPE edgerun_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("edgerun_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_prompt_tokens_total 10\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_prompt_tokens_cached_total 4\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_generated_tokens_total 7\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_request_duration_seconds_bucket{le=\"0.05\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_request_duration_seconds_bucket{le=\"0.5\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_queue_depth 2\n"), std::string::npos);
  EXPECT_NE(text.find("edgerun_slots 3\n"), std::string::npos);
}

}  // namespace
}  // namespace edgerun::server
