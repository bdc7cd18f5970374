// The server's whole text pipeline on real token ids: SmolLM3's tokenizer encodes a reply with a
// thought, an answer and a tool call; fed back one token at a time through ReplyAssembler (decoding,
// stop strings, <think> split) and ToolCallStreamer, it comes out as reasoning_content, streamed
// content and OpenAI tool calls — the same as when the whole text is parsed at once.
#include <gtest/gtest.h>

#include "server/served_model.h"
#include "test_util.h"
#include "text/tokenizer.h"

namespace edgerun::server {
namespace {

struct Assembled {
  std::string reasoning, streamed_content;
  ParsedContent tail;
};

Assembled assemble(const Tokenizer& tok, const std::string& reply, const std::vector<std::string>& stop = {}) {
  PreparedJob job;
  job.job.prompt = tok.encode("<|im_start|>assistant\n", false);
  job.split_reasoning = true;
  job.parse_tools = true;
  job.stop = stop;
  ReplyAssembler assembler(tok, job);
  ToolCallStreamer tools;
  Assembled out;
  const auto take = [&](const TextDelta& d) {
    out.reasoning += d.reasoning;
    out.streamed_content += tools.push(d.content);
  };
  for (int32_t id : tok.encode(reply, false)) take(assembler.push({id}));
  take(assembler.finish());
  out.tail = tools.finish("call_x_");
  return out;
}

TEST(ReplyAssembly, ThoughtAnswerAndToolCallFromRealTokens) {
  const auto tok = Tokenizer::from_hf_dir(test::golden_dir() + "/llm/tiny-smollm3/model");
  const std::string reply =
      "<think>\nThe user wants the weather in Paris — I'll call the tool.\n</think>\n\n"
      "Let me check that for you.\n<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"°C\"}}\n</tool_call>";
  const Assembled a = assemble(*tok, reply);
  EXPECT_EQ(a.reasoning, "\nThe user wants the weather in Paris — I'll call the tool.\n");
  // The answer streams before the call; the newline after it waits (layout until text follows).
  EXPECT_EQ(a.streamed_content, "Let me check that for you.");
  EXPECT_EQ(a.tail.content, "\n");
  ASSERT_EQ(a.tail.tool_calls.size(), 1u);
  EXPECT_EQ(a.tail.tool_calls[0].name, "get_weather");
  EXPECT_EQ(a.tail.tool_calls[0].arguments, "{\"city\":\"Paris\",\"unit\":\"°C\"}");
  EXPECT_EQ(a.tail.tool_calls[0].id, "call_x_0");

  // The same text parsed whole (the non-streaming reply) agrees.
  const ParsedContent whole = parse_tool_calls("Let me check that for you.\n<tool_call>\n"
      "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"°C\"}}\n</tool_call>", "call_x_");
  EXPECT_EQ(a.streamed_content + a.tail.content, whole.content);
}

TEST(ReplyAssembly, StopStringEndsTheAnswerAndEmptyThoughtIsDropped) {
  const auto tok = Tokenizer::from_hf_dir(test::golden_dir() + "/llm/tiny-smollm3/model");
  const Assembled a = assemble(*tok, "<think>\n\n</think>\n\nParis is sunny. END and more", {" END"});
  EXPECT_EQ(a.reasoning, "\n\n");
  EXPECT_EQ(a.streamed_content, "Paris is sunny.");
  EXPECT_TRUE(a.tail.tool_calls.empty());
}

}  // namespace
}  // namespace edgerun::server
