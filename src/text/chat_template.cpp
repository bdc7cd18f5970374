#include "text/chat_template.h"

#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "core/storage.h"
#include "formats/gguf.h"
#include "formats/json_file.h"

namespace edgerun {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

namespace {

// Variables apply_chat_template sets itself; extra arguments may not replace them.
const char* const kReservedNames[] = {"messages", "tools", "documents", "add_generation_prompt"};

// transformers' SPECIAL_TOKENS_ATTRIBUTES, as its special_tokens_map passes them to templates.
const char* const kSpecialTokenNames[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                          "pad_token", "cls_token", "mask_token"};

jinja::DateTime local_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return jinja::DateTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
}

std::string describe(const ordered_json& j) {
  const std::string text = j.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// A token in tokenizer_config.json: "<s>" or {"content": "<s>", ...} (a serialized AddedToken).
std::optional<std::string> token_text(const json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string())
    return entry["content"].get<std::string>();
  return std::nullopt;
}

void add_special_tokens(const json& config, ordered_json& tokens) {
  if (!config.is_object()) return;
  for (const char* name : kSpecialTokenNames) {
    if (!config.contains(name)) continue;
    if (const auto text = token_text(config[name])) tokens[name] = *text;
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    ordered_json list = ordered_json::array();
    for (const json& entry : config["additional_special_tokens"])
      if (const auto text = token_text(entry)) list.push_back(*text);
    tokens["additional_special_tokens"] = list;
  }
}

// tokenizer_config.json's "chat_template": a string, or named templates of which "default" is used.
std::optional<std::string> template_from_config(const json& config, const std::string& file) {
  if (!config.is_object() || !config.contains("chat_template") || config["chat_template"].is_null()) return std::nullopt;
  const json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (!t.is_array()) fail(file + ": field 'chat_template'", "expected a string or a list of {name, template}");
  for (const json& named : t)
    if (named.is_object() && named.value("name", json()) == "default" && named.contains("template") &&
        named["template"].is_string())
      return named["template"].get<std::string>();
  fail(file + ": field 'chat_template'", "has named templates but none called 'default'");
}

json read_object_if_present(const std::string& path) {
  if (!file_exists(path)) return json::object();
  json j = read_json_file(path);
  if (!j.is_object()) fail(path, "expected a JSON object");
  return j;
}

ModelChatTemplate from_directory(const std::string& dir) {
  ModelChatTemplate found;
  const std::string jinja_file = (fs::path(dir) / "chat_template.jinja").string();
  const std::string config_file = (fs::path(dir) / "tokenizer_config.json").string();
  const std::string processor_file = (fs::path(dir) / "chat_template.json").string();
  const json config = read_object_if_present(config_file);
  // A separate chat_template.jinja takes precedence over the config, as in transformers.
  if (file_exists(jinja_file)) {
    found.source = read_text_file(jinja_file);
    found.origin = jinja_file;
  } else if (auto t = template_from_config(config, config_file)) {
    found.source = *t;
    found.origin = config_file;
  } else if (auto p = template_from_config(read_object_if_present(processor_file), processor_file)) {
    found.source = *p;
    found.origin = processor_file;
  } else {
    fail(dir, "the model has no chat template (looked for chat_template.jinja, 'chat_template' in "
              "tokenizer_config.json and chat_template.json)");
  }
  add_special_tokens(config, found.special_tokens);
  // special_tokens_map.json, when present, overrides the config's entries.
  add_special_tokens(read_object_if_present((fs::path(dir) / "special_tokens_map.json").string()), found.special_tokens);
  return found;
}

int parse_field(const std::string& text, size_t at, size_t digits, bool& ok) {
  int v = 0;
  for (size_t i = at; i < at + digits; ++i) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') {
      ok = false;
      return 0;
    }
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, const std::string& name)
    : template_(jinja::Template::parse(source, name)) {}

std::string ChatTemplate::render(const ChatTemplateInput& input, const jinja::RenderLimits& limits) const {
  jinja::DictData context;
  auto set = [&](const std::string& key, const ordered_json& value) {
    context.set(jinja::Value(key), jinja::from_json(value));
  };
  if (input.special_tokens.is_object())
    for (const auto& [key, value] : input.special_tokens.items()) set(key, value);
  if (!input.extra.is_null() && !input.extra.is_object()) fail("chat template arguments", "expected a JSON object");
  if (input.extra.is_object()) {
    for (const auto& [key, value] : input.extra.items()) {
      for (const char* reserved : kReservedNames)
        if (key == reserved) fail("chat template arguments", "'" + key + "' is set from the request, not as an extra argument");
      set(key, value);
    }
  }
  set("messages", input.messages);
  set("tools", input.tools);
  set("documents", nullptr);
  set("add_generation_prompt", input.add_generation_prompt);
  jinja::RenderOptions options;
  options.limits = limits;
  if (input.now) {
    const jinja::DateTime now = *input.now;
    options.clock = [now] { return now; };
  } else {
    options.clock = local_now;
  }
  return template_.render(jinja::Value::dict(std::move(context)), options);
}

void check_chat_input(const ChatTemplateInput& input, const std::string& where) {
  if (!input.messages.is_array()) fail(where + ": messages", "expected a JSON array of messages, got " + describe(input.messages));
  for (size_t i = 0; i < input.messages.size(); ++i) {
    const ordered_json& m = input.messages[i];
    const std::string at = where + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object()) fail(at, "expected an object with a 'role', got " + describe(m));
    if (!m.contains("role")) fail(at, "has no 'role'");
    if (!m["role"].is_string()) fail(at + ".role", "expected a string, got " + describe(m["role"]));
    if (m.contains("content")) {
      const ordered_json& c = m["content"];
      if (!c.is_string() && !c.is_array() && !c.is_null())
        fail(at + ".content", "expected a string, a list of parts or null, got " + describe(c));
    }
  }
  if (!input.tools.is_null()) {
    if (!input.tools.is_array()) fail(where + ": tools", "expected a JSON array of tools, got " + describe(input.tools));
    for (size_t i = 0; i < input.tools.size(); ++i)
      if (!input.tools[i].is_object())
        fail(where + ": tools[" + std::to_string(i) + "]", "expected an object, got " + describe(input.tools[i]));
  }
  if (!input.extra.is_null() && !input.extra.is_object())
    fail(where + ": chat template arguments", "expected a JSON object, got " + describe(input.extra));
}

ModelChatTemplate chat_template_from_gguf(const GgufFile& gguf, const std::string& model_name) {
  ModelChatTemplate found;
  if (!gguf.find("tokenizer.chat_template"))
    fail(model_name, "the model has no chat template (no tokenizer.chat_template in the GGUF metadata)");
  found.source = gguf.get_string("tokenizer.chat_template");
  found.origin = model_name;
  if (!gguf.find("tokenizer.ggml.tokens")) return found;
  const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const std::pair<const char*, const char*> ids[] = {
      {"tokenizer.ggml.bos_token_id", "bos_token"},     {"tokenizer.ggml.eos_token_id", "eos_token"},
      {"tokenizer.ggml.unknown_token_id", "unk_token"}, {"tokenizer.ggml.seperator_token_id", "sep_token"},
      {"tokenizer.ggml.padding_token_id", "pad_token"}, {"tokenizer.ggml.cls_token_id", "cls_token"},
      {"tokenizer.ggml.mask_token_id", "mask_token"},
  };
  for (const auto& [key, name] : ids) {
    const int64_t id = gguf.get_int_or(key, -1);
    if (id >= 0 && id < int64_t(tokens.size())) found.special_tokens[name] = tokens[size_t(id)];
  }
  return found;
}

ModelChatTemplate find_chat_template(const std::string& model_path) {
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) return from_directory(model_path);
  if (!fs::exists(model_path, ec)) fail(model_path, "no such file or directory");
  const std::string name = fs::path(model_path).filename().string();
  if (name.ends_with(".json") || name.ends_with(".safetensors") || name.ends_with(".jinja"))
    return from_directory(fs::path(model_path).parent_path().string());
  return chat_template_from_gguf(GgufFile::open(model_path), model_path);
}

jinja::DateTime parse_datetime(const std::string& text, const std::string& where) {
  bool ok = text.size() >= 10 && text[4] == '-' && text[7] == '-';
  jinja::DateTime t;
  t.year = parse_field(text, 0, 4, ok);
  t.month = parse_field(text, 5, 2, ok);
  t.day = parse_field(text, 8, 2, ok);
  if (ok && text.size() > 10) {
    ok = (text[10] == 'T' || text[10] == ' ') && text.size() >= 16 && text[13] == ':';
    t.hour = parse_field(text, 11, 2, ok);
    t.minute = parse_field(text, 14, 2, ok);
    if (ok && text.size() > 16) {
      ok = text.size() >= 19 && text[16] == ':';
      t.second = parse_field(text, 17, 2, ok);
      for (size_t i = 19; ok && i < text.size(); ++i)  // fractional seconds are accepted and ignored
        ok = (i == 19 && text[i] == '.') || (i > 19 && text[i] >= '0' && text[i] <= '9');
    }
  }
  static const int kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0;
  ok = ok && t.year >= 1 && t.month >= 1 && t.month <= 12 && t.day >= 1 &&
       t.day <= (t.month == 2 && !leap ? 28 : kDaysInMonth[t.month - 1]) && t.hour < 24 && t.minute < 60 &&
       t.second < 60;
  if (!ok) fail(where, "expected a date and time like 2026-03-01T08:30:00, got " + quote_for_message(text));
  return t;
}

}  // namespace edgerun
