// Request validation of the OpenAI-compatible server: every bad field is a 400 naming it.
#include <gtest/gtest.h>

#include "server/request.h"

namespace edgerun::server {
namespace {

// The ApiError a chat body raises (status 0 when it is accepted).
ApiError chat_error(const std::string& body) {
  try {
    parse_chat_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "accepted");
}

const std::string kUser = R"("messages":[{"role":"user","content":"hi"}])";

TEST(ChatRequest, AcceptsAFullRequest) {
  const ChatRequest r = parse_chat_request(R"({"model":"m",)" + kUser + R"(,"temperature":0.5,"top_p":0.9,
      "max_tokens":7,"stop":["a","b"],"seed":3,"n":1,"stream":true,"stream_options":{"include_usage":true},
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",
      "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
      "chat_template_kwargs":{"enable_thinking":false}})");
  EXPECT_EQ(*r.params.temperature, 0.5f);
  EXPECT_EQ(*r.params.max_tokens, 7);
  EXPECT_EQ(r.params.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*r.params.seed, 3u);
  EXPECT_TRUE(r.params.stream && r.params.include_usage);
  EXPECT_EQ(r.tool_choice, "auto");
  EXPECT_EQ(r.format.kind, OutputFormat::kJsonSchema);
  EXPECT_EQ(r.template_kwargs["enable_thinking"], false);
}

TEST(ChatRequest, NormalizesContentPartsAndDeveloperRole) {
  const ChatRequest r = parse_chat_request(
      R"({"messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
          "stop":"x","max_completion_tokens":4})");
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "ab");
  EXPECT_EQ(r.params.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(*r.params.max_tokens, 4);
}

TEST(ChatRequest, EveryBadFieldIsA400NamingIt) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", ""},
      {"[1]", "body"},
      {"{}", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":[5]})", "messages[0]"},
      {R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0].image_url.url"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":5}}]}]})", "messages[0].content[0].image_url.url"},
      {R"({"messages":[{"role":"user","content":[{"type":"input_audio"}]}]})", "messages[0].content[0].type"},
      {R"({"messages":[{"role":"assistant","tool_calls":[{"function":{}}]}]})", "messages[0].tool_calls[0].function.name"},
      {"{" + kUser + R"(,"model":5})", "model"},
      {"{" + kUser + R"(,"temperature":"hot"})", "temperature"},
      {"{" + kUser + R"(,"temperature":2.5})", "temperature"},
      {"{" + kUser + R"(,"top_p":-0.1})", "top_p"},
      {"{" + kUser + R"(,"max_tokens":0})", "max_tokens"},
      {"{" + kUser + R"(,"max_tokens":1.5})", "max_tokens"},
      {"{" + kUser + R"(,"max_completion_tokens":"x"})", "max_completion_tokens"},
      {"{" + kUser + R"(,"seed":"x"})", "seed"},
      {"{" + kUser + R"(,"n":2})", "n"},
      {"{" + kUser + R"(,"stop":5})", "stop"},
      {"{" + kUser + R"(,"stop":[""]})", "stop"},
      {"{" + kUser + R"(,"stop":["a",1]})", "stop[1]"},
      {"{" + kUser + R"(,"stop":["a","b","c","d","e"]})", "stop"},
      {"{" + kUser + R"(,"stream":1})", "stream"},
      {"{" + kUser + R"(,"stream_options":{"include_usage":"yes"}})", "stream_options.include_usage"},
      {"{" + kUser + R"(,"tools":{}})", "tools"},
      {"{" + kUser + R"(,"tools":[{"type":"retrieval"}]})", "tools[0].type"},
      {"{" + kUser + R"(,"tools":[{"type":"function"}]})", "tools[0].function"},
      {"{" + kUser + R"(,"tools":[{"type":"function","function":{"name":""}}]})", "tools[0].function.name"},
      {"{" + kUser + R"(,"tools":[{"type":"function","function":{"name":"f","parameters":3}}]})", "tools[0].function.parameters"},
      {"{" + kUser + R"(,"tool_choice":"always"})", "tool_choice"},
      {"{" + kUser + R"(,"tool_choice":"required"})", "tool_choice"},
      {"{" + kUser + R"(,"tool_choice":{"type":"function","function":{"name":"g"}}})", "tool_choice"},
      {"{" + kUser + R"(,"response_format":"json"})", "response_format"},
      {"{" + kUser + R"(,"response_format":{"type":"xml"}})", "response_format.type"},
      {"{" + kUser + R"(,"response_format":{"type":"json_schema"}})", "response_format.json_schema"},
      {"{" + kUser + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x"}}})", "response_format.json_schema.schema"},
      {"{" + kUser + R"(,"chat_template_kwargs":[]})", "chat_template_kwargs"},
      {"{" + kUser + R"(,"max_tokens":1e30})", "max_tokens"},
      {"{" + kUser + R"(,"seed":-1e300})", "seed"},
      {"{" + kUser + R"(,"frequency_penalty":3})", "frequency_penalty"},
      {"{" + kUser + R"(,"presence_penalty":"x"})", "presence_penalty"},
      {"{" + kUser + R"(,"logprobs":true})", "logprobs"},
      {"{" + kUser + R"(,"top_logprobs":2})", "top_logprobs"},
      {"{" + kUser + R"(,"logit_bias":{"50256":-100}})", "logit_bias"},
  };
  for (const auto& [body, param] : cases) {
    const ApiError e = chat_error(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << " → " << e.what();
    EXPECT_EQ(e.type, "invalid_request_error");
  }
}

TEST(ChatRequest, HarmlessDefaultsOfUnsupportedOptionsAreAccepted) {
  const ChatRequest r = parse_chat_request("{" + kUser +
      R"(,"logprobs":false,"logit_bias":{},"frequency_penalty":0.5,"presence_penalty":-0.25})");
  EXPECT_EQ(*r.params.frequency_penalty, 0.5f);
  EXPECT_EQ(*r.params.presence_penalty, -0.25f);
}

TEST(CompletionRequest, ValidatesPromptAndEcho) {
  EXPECT_EQ(parse_completion_request(R"({"prompt":["once"],"echo":true})").prompt, "once");
  for (const std::string body : {R"({})", R"({"prompt":5})", R"({"prompt":"x","echo":1})", R"({"prompt":"x","n":3})"}) {
    try {
      parse_completion_request(body);
      ADD_FAILURE() << body << " was accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
    }
  }
}

TEST(ForcedTools, TheNamedFunctionOrAll) {
  const ChatRequest r = parse_chat_request("{" + kUser + R"(,"tools":[
      {"type":"function","function":{"name":"f","parameters":{"type":"object"}}},
      {"type":"function","function":{"name":"g"}}],"tool_choice":{"type":"function","function":{"name":"f"}}})");
  ASSERT_EQ(forced_tools(r).size(), 1u);
  EXPECT_EQ(forced_tools(r)[0]["function"]["name"], "f");
  ChatRequest any = r;
  any.tool_choice = "required";
  EXPECT_EQ(forced_tools(any).size(), 2u);
}

}  // namespace
}  // namespace edgerun::server
