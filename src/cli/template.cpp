// `edgerun template`: renders a conversation with the model's chat template and prints the prompt
// exactly (no newline added), for checking templates and scripting.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/common.h"
#include "core/error.h"
#include "formats/json_file.h"
#include "text/chat_template.h"

namespace edgerun::cli {

CLI::App* add_template_command(CLI::App& app, TemplateArgs& args) {
  auto* cmd = app.add_subcommand("template", "Print the prompt a model's chat template makes of a conversation");
  cmd->add_option("-m,--model", args.model, "Model directory or .gguf file (default: built-in)");
  cmd->add_option("--messages", args.messages,
                  "JSON file: an array of messages, or an object with \"messages\" (and \"tools\")")
      ->required();
  cmd->add_option("--tools", args.tools, "JSON file with an array of tool definitions");
  cmd->add_flag("--add-generation-prompt", args.add_generation_prompt, "End with the start of an assistant turn");
  cmd->add_option("--kwargs", args.kwargs, "Extra template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
  cmd->add_option("--now", args.now, "Date and time strftime_now() sees, e.g. 2026-03-01T08:30:00 (default: now)");
  return cmd;
}

int run_template(const TemplateArgs& args) {
  ModelChatTemplate model;
  if (args.model.empty()) {
    const LoadedModel m = open_model("", LoadOptions{false, false});
    model = chat_template_from_gguf(*m.gguf, kDefaultModelName);
  } else {
    model = find_chat_template(args.model);
  }

  ChatTemplateInput input;
  input.add_generation_prompt = args.add_generation_prompt;
  input.special_tokens = model.special_tokens;
  const nlohmann::ordered_json conversation = read_ordered_json_file(args.messages);
  if (conversation.is_object() && conversation.contains("messages")) {
    input.messages = conversation["messages"];
    if (conversation.contains("tools")) input.tools = conversation["tools"];
  } else {
    input.messages = conversation;
  }
  check_chat_input(input, args.messages);
  if (!args.tools.empty()) {
    ChatTemplateInput tools_only;
    tools_only.tools = read_ordered_json_file(args.tools);
    check_chat_input(tools_only, args.tools);
    input.tools = tools_only.tools;
  }
  if (!args.kwargs.empty()) {
    try {
      input.extra = nlohmann::ordered_json::parse(args.kwargs);
    } catch (const nlohmann::ordered_json::parse_error& e) {
      fail("--kwargs", std::string("invalid JSON: ") + e.what());
    }
    if (!input.extra.is_object()) fail("--kwargs", "expected a JSON object, got " + args.kwargs);
  }
  if (!args.now.empty()) input.now = parse_datetime(args.now, "--now");

  const ChatTemplate chat_template(model.source, "chat template (" + model.origin + ")");
  const std::string prompt = chat_template.render(input);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

}  // namespace edgerun::cli
