// `edgerun template`: prints the prompt exactly, finds the template in model directories and GGUF
// files, and turns every bad input into one error line naming the file or option.
#include <filesystem>

#include "cli/cli_fixture.h"

namespace edgerun {
namespace {

namespace fs = std::filesystem;
using test::Result;

class TemplateCli : public test::Cli {
 protected:
  // A model directory with only the files the command needs.
  std::string model_dir(const std::string& chat_template) {
    write("model/tokenizer_config.json", R"({"bos_token": "<s>", "eos_token": {"content": "</s>"}})");
    write("model/chat_template.jinja", chat_template);
    return (tmp_ / "model").string();
  }
  std::string conversation() {
    return write("conv.json", R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])").string();
  }
};

TEST_F(TemplateCli, PrintsThePromptWithoutAddingANewline) {
  const std::string model = model_dir(
      "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
      "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token if not add_generation_prompt }}");
  Result r = run("template -m " + model + " --messages " + conversation());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "<s>[system] Be brief.\n[user] Hi\n</s>");
  EXPECT_EQ(r.err, "");
  r = run("template -m " + model + " --messages " + conversation() + " --add-generation-prompt");
  EXPECT_EQ(r.out, "<s>[system] Be brief.\n[user] Hi\n[assistant]");
}

TEST_F(TemplateCli, ToolsKwargsAndFrozenClock) {
  const std::string model = model_dir(
      "{{ strftime_now('%d %B %Y') }}|{{ enable_thinking }}|{% for t in tools %}{{ t | tojson }}{% endfor %}");
  const std::string tools = write("tools.json", R"([{"name": "f", "z": 1, "a": [1.0, 1e-05]}])").string();
  const Result r = run("template -m " + model + " --messages " + conversation() + " --tools " + tools +
                       " --kwargs '{\"enable_thinking\": false}' --now 2026-03-01T08:30:00");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, R"(01 March 2026|False|{"name": "f", "z": 1, "a": [1.0, 1e-05]})");
}

TEST_F(TemplateCli, RendersTheSmolLM3GoldenModel) {
  // The real SmolLM3 template from the model directory (chat_template.jinja) with its special
  // tokens from tokenizer_config.json; expected text from the golden case with the same input.
  const std::string conv = write("conv.json", R"([{"role": "user", "content": "What is 2+2?"}])").string();
  const Result r = run("template -m " + golden("llm/tiny-smollm3/model") + " --messages " + conv +
                       " --add-generation-prompt --kwargs '{\"enable_thinking\": false}' --now 2025-07-08T12:00:00");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Reasoning Mode: /no_think\n\n"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n"))
      << r.out;
}

TEST_F(TemplateCli, MessagesMayComeAsARequestObject) {
  const std::string model = model_dir("{{ messages|length }} {{ tools|length }}");
  const std::string request =
      write("req.json", R"({"model": "x", "messages": [{"role": "user", "content": "a"}], "tools": [{"type": "function"}]})").string();
  const Result r = run("template -m " + model + " --messages " + request);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1 1");
}

TEST_F(TemplateCli, BadInputsGiveOneErrorLine) {
  const std::string model = model_dir("{{ messages[0].content }}");
  const std::string conv = conversation();
  expect_clean_error("template -m " + model + " --messages " + (tmp_ / "missing.json").string(), "missing.json");
  expect_clean_error("template -m " + model + " --messages " + write("broken.json", "[{\"role\": ").string(), "broken.json");
  expect_clean_error("template -m " + model + " --messages " + write("shape.json", R"({"role": "user"})").string(), "shape.json: messages");
  expect_clean_error("template -m " + model + " --messages " + write("role.json", R"([{"role": 5}])").string(),
                     "role.json: messages[0].role");
  expect_clean_error("template -m " + model + " --messages " + write("content.json", R"([{"role": "user", "content": 5}])").string(),
                     "content.json: messages[0].content");
  expect_clean_error("template -m " + model + " --messages " + conv + " --tools " + write("t.json", "{}").string(), "t.json: tools");
  expect_clean_error("template -m " + model + " --messages " + conv + " --kwargs '{\"a\": '", "--kwargs");
  expect_clean_error("template -m " + model + " --messages " + conv + " --kwargs '[1]'", "--kwargs");
  expect_clean_error("template -m " + model + " --messages " + conv + " --now tomorrow", "--now");
}

TEST_F(TemplateCli, TemplateErrorsNameTheFileAndLine) {
  const std::string conv = conversation();
  std::string model = model_dir("ok\n{% if messages %}\n{{ raise_exception('Only user and assistant roles are supported!') }}\n{% endif %}");
  expect_clean_error("template -m " + model + " --messages " + conv, "chat_template.jinja) line 3: Only user and assistant roles are supported!");
  model = model_dir("{{ messages | nosuchfilter }}");
  expect_clean_error("template -m " + model + " --messages " + conv, "line 1: unknown filter 'nosuchfilter'");
}

TEST_F(TemplateCli, ModelsWithoutATemplate) {
  const std::string conv = conversation();
  expect_clean_error("template --messages " + conv, "no chat template");  // the built-in stories260K has none
  expect_clean_error("template -m " + golden("llm/stories260K/gguf/stories260K.gguf") + " --messages " + conv, "no chat template");
  write("empty/tokenizer_config.json", "{}");
  expect_clean_error("template -m " + (tmp_ / "empty").string() + " --messages " + conv, "no chat template");
  expect_clean_error("template -m " + (tmp_ / "nothing").string() + " --messages " + conv, "nothing");
}

}  // namespace
}  // namespace edgerun
