#include "server/request.h"

#include <cmath>
#include <set>

namespace edgerun::server {

namespace {

using ojson = nlohmann::ordered_json;

const char* type_name(const ojson& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

[[noreturn]] void wrong_type(const std::string& param, const char* expected, const ojson& got) {
  bad_request(param, std::string("expected ") + expected + ", got " + type_name(got));
}

ojson parse_body(const std::string& body) {
  ojson j = ojson::parse(body, nullptr, false);
  if (j.is_discarded()) bad_request("", "the request body is not valid JSON");
  if (!j.is_object()) wrong_type("body", "a JSON object", j);
  return j;
}

// The field when present and not null.
const ojson* field(const ojson& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

double number_in(const ojson& obj, const char* name, double lo, double hi) {
  const ojson& v = obj[name];
  if (!v.is_number()) wrong_type(name, "a number", v);
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi))
    bad_request(name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return x;
}

int64_t integer(const ojson& v, const std::string& param) {
  if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
    wrong_type(param, "an integer", v);
  if (v.is_number_float() && !(std::abs(v.get<double>()) < 9.0e18)) bad_request(param, "is out of range");
  return v.is_number_unsigned() ? int64_t(std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX)) : v.get<int64_t>();
}

GenerationParams parse_params(const ojson& j) {
  GenerationParams p;
  if (field(j, "temperature")) p.temperature = float(number_in(j, "temperature", 0, 2));
  if (field(j, "top_p")) p.top_p = float(number_in(j, "top_p", 0, 1));
  if (field(j, "frequency_penalty")) p.frequency_penalty = float(number_in(j, "frequency_penalty", -2, 2));
  if (field(j, "presence_penalty")) p.presence_penalty = float(number_in(j, "presence_penalty", -2, 2));
  // Options that change what a reply contains, which this server does not produce: refused
  // rather than silently ignored.
  if (const ojson* v = field(j, "logprobs"); v && !(v->is_boolean() && !v->get<bool>()) && !(v->is_number() && v->get<double>() == 0))
    bad_request("logprobs", "log probabilities are not supported");
  if (field(j, "top_logprobs")) bad_request("top_logprobs", "log probabilities are not supported");
  if (const ojson* v = field(j, "logit_bias"); v && !(v->is_object() && v->empty()))
    bad_request("logit_bias", "is not supported");
  if (const ojson* v = field(j, "best_of"); v && integer(*v, "best_of") != 1) bad_request("best_of", "only best_of=1 is supported");
  if (const ojson* v = field(j, "suffix"); v && !(v->is_string() && v->get<std::string>().empty()))
    bad_request("suffix", "is not supported");
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    if (const ojson* v = field(j, name)) {
      p.max_tokens = integer(*v, name);
      if (*p.max_tokens < 1) bad_request(name, "must be at least 1");
    }
  }
  if (const ojson* v = field(j, "seed")) p.seed = uint64_t(integer(*v, "seed"));
  if (const ojson* v = field(j, "n"))
    if (integer(*v, "n") != 1) bad_request("n", "only n=1 is supported");
  if (const ojson* v = field(j, "stop")) {
    if (v->is_string()) {
      p.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) bad_request("stop", "at most 4 stop sequences");
      for (size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string()) wrong_type("stop[" + std::to_string(i) + "]", "a string", (*v)[i]);
        p.stop.push_back((*v)[i].get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or an array of strings", *v);
    }
    for (const std::string& s : p.stop)
      if (s.empty()) bad_request("stop", "stop sequences must not be empty");
  }
  if (const ojson* v = field(j, "stream")) {
    if (!v->is_boolean()) wrong_type("stream", "a boolean", *v);
    p.stream = v->get<bool>();
  }
  if (const ojson* v = field(j, "stream_options")) {
    if (!v->is_object()) wrong_type("stream_options", "an object", *v);
    if (const ojson* u = field(*v, "include_usage")) {
      if (!u->is_boolean()) wrong_type("stream_options.include_usage", "a boolean", *u);
      p.include_usage = u->get<bool>();
    }
  }
  if (const ojson* v = field(j, "model"); v && !v->is_string()) wrong_type("model", "a string", *v);
  return p;
}

// Message content as the templates expect it: a string (text parts of an array joined), or, when
// it has image or video parts (vision-language models), the checked array itself.
ojson normalize_content(const ojson& content, const std::string& param) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array()) wrong_type(param, "a string or an array of content parts", content);
  std::string text;
  bool media = false;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string part = param + "[" + std::to_string(i) + "]";
    const ojson& c = content[i];
    if (!c.is_object()) wrong_type(part, "an object", c);
    const ojson* type = field(c, "type");
    if (!type || !type->is_string()) wrong_type(part + ".type", "a string", type ? *type : ojson());
    const std::string kind = type->get<std::string>();
    if (kind == "image_url" || kind == "video_url") {
      const ojson* u = field(c, kind.c_str());
      const ojson* url = u && u->is_object() ? field(*u, "url") : u;
      if (!url || !url->is_string()) wrong_type(part + "." + kind + ".url", "a string", url ? *url : ojson());
      media = true;
      continue;
    }
    if (kind != "text") bad_request(part + ".type", "unsupported content part '" + kind + "' (text, image_url, video_url)");
    const ojson* t = field(c, "text");
    if (!t || !t->is_string()) wrong_type(part + ".text", "a string", t ? *t : ojson());
    text += t->get<std::string>();
  }
  return media ? content : ojson(text);
}

void check_tool_calls(const ojson& calls, const std::string& param) {
  if (!calls.is_array()) wrong_type(param, "an array", calls);
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string at = param + "[" + std::to_string(i) + "]";
    const ojson* fn = calls[i].is_object() ? field(calls[i], "function") : nullptr;
    if (!fn || !fn->is_object()) wrong_type(at + ".function", "an object", fn ? *fn : ojson());
    const ojson* name = field(*fn, "name");
    if (!name || !name->is_string()) wrong_type(at + ".function.name", "a string", name ? *name : ojson());
  }
}

ojson parse_messages(const ojson& j) {
  const ojson* msgs = field(j, "messages");
  if (!msgs) bad_request("messages", "is required");
  if (!msgs->is_array()) wrong_type("messages", "an array", *msgs);
  if (msgs->empty()) bad_request("messages", "must not be empty");
  static const std::set<std::string> roles = {"system", "developer", "user", "assistant", "tool"};
  ojson out = ojson::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const ojson& m = (*msgs)[i];
    if (!m.is_object()) wrong_type(at, "an object", m);
    const ojson* role = field(m, "role");
    if (!role || !role->is_string()) wrong_type(at + ".role", "a string", role ? *role : ojson());
    if (!roles.count(role->get<std::string>()))
      bad_request(at + ".role", "unknown role '" + role->get<std::string>() + "'");
    ojson msg = m;
    if (*role == "developer") msg["role"] = "system";  // templates know "system"
    msg["content"] = normalize_content(m.value("content", ojson()), at + ".content");
    if (const ojson* calls = field(m, "tool_calls")) check_tool_calls(*calls, at + ".tool_calls");
    if (msg["content"].is_null() && *role != "assistant")
      bad_request(at + ".content", "is required for role '" + role->get<std::string>() + "'");
    out.push_back(std::move(msg));
  }
  return out;
}

void parse_tools(const ojson& j, ChatRequest& r) {
  if (const ojson* tools = field(j, "tools")) {
    if (!tools->is_array()) wrong_type("tools", "an array", *tools);
    for (size_t i = 0; i < tools->size(); ++i) {
      const std::string at = "tools[" + std::to_string(i) + "]";
      const ojson& t = (*tools)[i];
      if (!t.is_object()) wrong_type(at, "an object", t);
      if (t.value("type", "") != "function") bad_request(at + ".type", "must be \"function\"");
      const ojson* fn = field(t, "function");
      if (!fn || !fn->is_object()) wrong_type(at + ".function", "an object", fn ? *fn : ojson());
      const ojson* name = field(*fn, "name");
      if (!name || !name->is_string() || name->get<std::string>().empty())
        bad_request(at + ".function.name", "a non-empty string is required");
      if (const ojson* params = field(*fn, "parameters"); params && !params->is_object())
        wrong_type(at + ".function.parameters", "an object", *params);
    }
    if (!tools->empty()) r.tools = *tools;
  }
  if (const ojson* choice = field(j, "tool_choice")) {
    if (choice->is_string()) {
      r.tool_choice = choice->get<std::string>();
      if (r.tool_choice != "auto" && r.tool_choice != "none" && r.tool_choice != "required")
        bad_request("tool_choice", "expected \"auto\", \"none\", \"required\" or a function object");
    } else if (choice->is_object()) {
      const ojson* fn = field(*choice, "function");
      const ojson* name = fn && fn->is_object() ? field(*fn, "name") : nullptr;
      if (!name || !name->is_string()) bad_request("tool_choice.function.name", "a string is required");
      r.tool_choice = name->get<std::string>();
      bool known = false;
      for (const ojson& t : r.tools.is_array() ? r.tools : ojson::array())
        known = known || t["function"]["name"] == *name;
      if (!known) bad_request("tool_choice", "no tool named '" + r.tool_choice + "' in tools");
    } else {
      wrong_type("tool_choice", "a string or an object", *choice);
    }
    if (r.tool_choice == "required" && r.tools.is_null()) bad_request("tool_choice", "\"required\" needs tools");
  }
}

OutputFormat parse_format(const ojson& j) {
  OutputFormat f;
  const ojson* rf = field(j, "response_format");
  if (!rf) return f;
  if (!rf->is_object()) wrong_type("response_format", "an object", *rf);
  const std::string type = rf->value("type", "");
  if (type == "text") return f;
  if (type == "json_object") {
    f.kind = OutputFormat::kJsonObject;
    return f;
  }
  if (type != "json_schema")
    bad_request("response_format.type", "expected \"text\", \"json_object\" or \"json_schema\"");
  const ojson* js = field(*rf, "json_schema");
  if (!js || !js->is_object()) wrong_type("response_format.json_schema", "an object", js ? *js : ojson());
  const ojson* schema = field(*js, "schema");
  if (!schema || !(schema->is_object() || schema->is_boolean()))
    bad_request("response_format.json_schema.schema", "a JSON schema object is required");
  f.kind = OutputFormat::kJsonSchema;
  f.schema = *schema;
  return f;
}

}  // namespace

ChatRequest parse_chat_request(const std::string& body) {
  const ojson j = parse_body(body);
  ChatRequest r;
  r.params = parse_params(j);
  r.messages = parse_messages(j);
  parse_tools(j, r);
  r.format = parse_format(j);
  if (const ojson* kw = field(j, "chat_template_kwargs")) {
    if (!kw->is_object()) wrong_type("chat_template_kwargs", "an object", *kw);
    r.template_kwargs = *kw;
  }
  return r;
}

CompletionRequest parse_completion_request(const std::string& body) {
  const ojson j = parse_body(body);
  CompletionRequest r;
  r.params = parse_params(j);
  const ojson* prompt = field(j, "prompt");
  if (!prompt) bad_request("prompt", "is required");
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
  if (!prompt->is_string()) wrong_type("prompt", "a string", *prompt);
  r.prompt = prompt->get<std::string>();
  if (const ojson* echo = field(j, "echo")) {
    if (!echo->is_boolean()) wrong_type("echo", "a boolean", *echo);
    r.echo = echo->get<bool>();
  }
  return r;
}

nlohmann::ordered_json forced_tools(const ChatRequest& request) {
  if (request.tool_choice == "required") return request.tools;
  ojson named = ojson::array();
  for (const ojson& t : request.tools)
    if (t["function"]["name"] == request.tool_choice) named.push_back(t);
  return named;
}

}  // namespace edgerun::server
