// Chat templates: turning a conversation (OpenAI / Hugging Face style messages, optional tools)
// into the prompt text a model was trained on, exactly as transformers' apply_chat_template
// renders it, and finding a model's template and special tokens.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "text/jinja/template.h"

namespace edgerun {

class GgufFile;

// What a chat template sees besides the template itself.
struct ChatTemplateInput {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null when there are none
  bool add_generation_prompt = false;
  // Extra template variables, e.g. {"enable_thinking": false}.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  // bos_token, eos_token, ... (strings) and additional_special_tokens (a list).
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
  // The clock strftime_now() reads; the local time when absent.
  std::optional<jinja::DateTime> now;
};

class ChatTemplate {
 public:
  // Parses the template; `name` prefixes error messages ("<name> line N: ...").
  explicit ChatTemplate(const std::string& source, const std::string& name = "chat template");

  // The prompt. Throws Error for malformed input and for template errors (raise_exception).
  std::string render(const ChatTemplateInput& input, const jinja::RenderLimits& limits = {}) const;

 private:
  jinja::Template template_;
};

// Checks the shapes a chat template relies on: messages are objects with a string "role";
// tools a list of objects; extra an object. Errors name `where` and the field
// ("conv.json: messages[2].role: expected a string, got 5").
void check_chat_input(const ChatTemplateInput& input, const std::string& where);

// A model's chat template and the special tokens rendered with it.
struct ModelChatTemplate {
  std::string source;
  std::string origin;  // where the template was found (a file, or a GGUF key), for messages
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
};

// From a Hugging Face model directory (chat_template.jinja, else tokenizer_config.json
// "chat_template" — a string or a list of {name, template} whose "default" is used — else
// chat_template.json) or a .gguf file (tokenizer.chat_template). Throws Error when the model
// has none.
ModelChatTemplate find_chat_template(const std::string& model_path);
ModelChatTemplate chat_template_from_gguf(const GgufFile& gguf, const std::string& model_name);

// "2026-03-01T08:30:00", "2026-03-01 08:30" or "2026-03-01"; Error naming `where` otherwise.
jinja::DateTime parse_datetime(const std::string& text, const std::string& where);

}  // namespace edgerun
