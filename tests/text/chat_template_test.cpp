// Chat templates end to end: every golden conversation renders byte for byte as transformers'
// apply_chat_template does; real Llama and Mistral templates render as Python Jinja2 does; a
// model's template and special tokens are found where transformers and llama.cpp look.
#include "text/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "formats/json_file.h"
#include "test_util.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

ChatTemplateInput input_of(const json& c) {
  ChatTemplateInput in;
  in.messages = c.at("messages");
  in.tools = c.value("tools", json());
  in.add_generation_prompt = c.value("add_generation_prompt", false);
  in.extra = c.value("extra", json::object());
  in.special_tokens = c.value("special_tokens", json::object());
  if (c.contains("now")) in.now = parse_datetime(c["now"].get<std::string>(), "now");
  return in;
}

// Renders every case of <dir>/cases.json with <dir>/template.jinja; returns how many ran.
int check_cases(const fs::path& dir) {
  const ChatTemplate tmpl(read_text_file((dir / "template.jinja").string()), dir.filename().string());
  const json cases = read_ordered_json_file((dir / "cases.json").string());
  int n = 0;
  for (const json& c : cases) {
    SCOPED_TRACE(dir.filename().string() + " case " + std::to_string(n) + ": " + c.at("messages").dump().substr(0, 200));
    const ChatTemplateInput in = input_of(c);
    if (c.contains("expected_error")) {
      try {
        tmpl.render(in);
        ADD_FAILURE() << "expected the error " << c["expected_error"];
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(c["expected_error"].get<std::string>()), std::string::npos) << e.what();
      }
    } else {
      EXPECT_EQ(tmpl.render(in), c.at("expected").get<std::string>());
    }
    ++n;
  }
  return n;
}

int check_all(const fs::path& root) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "cases.json")) n += check_cases(entry.path());
  return n;
}

TEST(ChatTemplate, GoldenConversationsRenderByteExactly) {
  // smollm3 (16), smolvlm-256m (16), smollm2-instruct (8): thinking flags, tools via | string,
  // tool calls, image parts.
  EXPECT_EQ(check_all(test::golden_dir() + "/chat_template"), 40);
}

TEST(ChatTemplate, LlamaMistralAndMinistralTemplatesRenderAsJinja2Does) {
  EXPECT_EQ(check_all(test::source_dir() + "/tests/text/chat_templates"), 20);
}

TEST(ChatTemplate, LlamaPromptHasTheExpectedShape) {
  const fs::path dir = fs::path(test::source_dir()) / "tests/text/chat_templates/llama-3.2-instruct";
  const ChatTemplate tmpl(read_text_file((dir / "template.jinja").string()));
  ChatTemplateInput in;
  in.messages = json::parse(R"([{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hi"}])");
  in.special_tokens = {{"bos_token", "<|begin_of_text|>"}};
  in.add_generation_prompt = true;
  in.now = jinja::DateTime{2026, 3, 1, 8, 30, 0};
  const std::string p = tmpl.render(in);
  EXPECT_EQ(p.rfind("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n", 0), 0u) << p;
  EXPECT_NE(p.find("Today Date: 01 Mar 2026\n"), std::string::npos) << p;
  EXPECT_NE(p.find("\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"), std::string::npos) << p;
  EXPECT_TRUE(p.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n")) << p;
}

TEST(ChatTemplate, ReservedAndMalformedArguments) {
  const ChatTemplate tmpl("{{ messages|length }}");
  ChatTemplateInput in;
  EXPECT_EQ(tmpl.render(in), "0");
  in.extra = {{"messages", 1}};
  EXPECT_THROW(tmpl.render(in), Error);
  ChatTemplateInput bad;
  bad.messages = json::parse(R"([{"role": "user"}, {"content": "x"}])");
  try {
    check_chat_input(bad, "conv.json");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "conv.json: messages[1]: has no 'role'");
  }
  bad.messages = json::parse(R"([{"role": "user", "content": 5}])");
  EXPECT_THROW(check_chat_input(bad, "conv.json"), Error);
  bad.messages = json::array();
  bad.tools = json::object();
  EXPECT_THROW(check_chat_input(bad, "conv.json"), Error);
}

TEST(ChatTemplate, ParsesDates) {
  const jinja::DateTime t = parse_datetime("2026-03-01T08:30:15", "--now");
  EXPECT_EQ(t.year, 2026);
  EXPECT_EQ(t.month, 3);
  EXPECT_EQ(t.day, 1);
  EXPECT_EQ(t.hour, 8);
  EXPECT_EQ(t.minute, 30);
  EXPECT_EQ(t.second, 15);
  EXPECT_EQ(parse_datetime("2024-02-29", "--now").day, 29);
  EXPECT_EQ(parse_datetime("2024-02-29 23:59", "--now").minute, 59);
  for (const char* bad : {"2026-02-29", "2026-13-01", "2026-03-01T25:00", "yesterday", "2026-03-01T08:30:00Z", ""})
    EXPECT_THROW(parse_datetime(bad, "--now"), Error) << bad;
}

class ModelTemplate : public ::testing::Test {
 protected:
  test::TempDir dir;
};

TEST_F(ModelTemplate, JinjaFileWinsOverTokenizerConfig) {
  dir.write("tokenizer_config.json", R"({"chat_template": "from config", "bos_token": "<s>",
    "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": false}, "pad_token": null,
    "additional_special_tokens": ["<a>", {"content": "<b>"}]})");
  dir.write("chat_template.jinja", "from file");
  ModelChatTemplate t = find_chat_template(dir.path());
  EXPECT_EQ(t.source, "from file");
  EXPECT_EQ(t.origin, dir.file("chat_template.jinja"));
  EXPECT_EQ(t.special_tokens.dump(), R"({"bos_token":"<s>","eos_token":"</s>","additional_special_tokens":["<a>","<b>"]})");
  fs::remove(dir.file("chat_template.jinja"));
  t = find_chat_template(dir.path());
  EXPECT_EQ(t.source, "from config");
  EXPECT_EQ(t.origin, dir.file("tokenizer_config.json"));
}

TEST_F(ModelTemplate, NamedTemplatesUseDefault) {
  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "tools"},
    {"name": "default", "template": "plain"}]})");
  EXPECT_EQ(find_chat_template(dir.path()).source, "plain");
  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "tools"}]})");
  EXPECT_THROW(find_chat_template(dir.path()), Error);
  dir.write("tokenizer_config.json", R"({"chat_template": 5})");
  EXPECT_THROW(find_chat_template(dir.path()), Error);
}

TEST_F(ModelTemplate, MissingTemplateIsAClearError) {
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  try {
    find_chat_template(dir.path());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no chat template"), std::string::npos) << e.what();
  }
  EXPECT_THROW(find_chat_template(dir.file("absent")), Error);
}

TEST_F(ModelTemplate, FromGgufMetadata) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.chat_template", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}");
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "hi"});
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.padding_token_id", 99);  // out of range: left out
  const std::string path = dir.file("m.gguf");
  w.write_file(path, {});
  const ModelChatTemplate t = find_chat_template(path);
  EXPECT_EQ(t.special_tokens.dump(), R"({"bos_token":"<s>","eos_token":"</s>"})");
  ChatTemplateInput in;
  in.messages = json::parse(R"([{"role": "user", "content": "hey"}])");
  in.special_tokens = t.special_tokens;
  EXPECT_EQ(ChatTemplate(t.source).render(in), "<s>hey</s>");
}

}  // namespace
}  // namespace edgerun
