#include "server/served_model.h"

#include <random>

#include "core/error.h"
#include "server/media_input.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"

namespace edgerun::server {

namespace {

using ojson = nlohmann::ordered_json;

// Assistant turns that called tools, for templates that only read "content" (SmolLM3): the calls
// are written back in the model's own <tool_call> format so it sees what it produced.
ojson fold_tool_calls(const ojson& messages) {
  ojson out = messages;
  for (ojson& m : out) {
    if (m["role"] != "assistant" || !m.contains("tool_calls") || !m["tool_calls"].is_array()) continue;
    std::string content = m["content"].is_string() ? m["content"].get<std::string>() : "";
    for (const ojson& call : m["tool_calls"]) {
      const ojson& fn = call["function"];
      ojson args = fn.value("arguments", ojson("{}"));
      if (args.is_string()) args = ojson::parse(args.get<std::string>(), nullptr, false);
      if (args.is_discarded()) args = fn["arguments"];
      content += "<tool_call>\n" + ojson{{"name", fn["name"]}, {"arguments", args}}.dump() + "\n</tool_call>";
    }
    m["content"] = content;
  }
  return out;
}

// Assistant turns that called tools, for templates that read "tool_calls": OpenAI clients send
// the arguments as a JSON string and the content as null, while chat templates are written for
// transformers' shape (arguments an object, content a string), so convert to that.
ojson tool_calls_for_template(const ojson& messages) {
  ojson out = messages;
  for (ojson& m : out) {
    if (m["role"] != "assistant" || !m.contains("tool_calls") || !m["tool_calls"].is_array()) continue;
    if (m["content"].is_null()) m["content"] = "";
    for (ojson& call : m["tool_calls"]) {
      ojson& fn = call["function"];
      if (!fn.contains("arguments") || !fn["arguments"].is_string()) continue;
      const ojson args = ojson::parse(fn["arguments"].get<std::string>(), nullptr, false);
      if (args.is_object()) fn["arguments"] = args;
    }
  }
  return out;
}

std::shared_ptr<const TokenGrammar> compile_grammar(const ojson& schema, const std::string& where,
                                                    const std::shared_ptr<const VocabTrie>& vocab) {
  try {
    const JsonSchema compiled = JsonSchema::compile(schema, where);
    return std::make_shared<TokenGrammar>(json_schema_grammar(compiled), vocab);
  } catch (const Error& e) {
    throw ApiError(400, std::string("invalid JSON schema: ") + e.what(), where);
  }
}

// The schema of one call of any of `tools` (default: all the request's tools).
ojson tool_schema(const ChatRequest& r, const ojson& tools = nullptr) {
  try {
    return tool_call_schema(tools.is_null() ? r.tools : tools, "tools");
  } catch (const Error& e) {
    throw ApiError(400, std::string("invalid tool parameters: ") + e.what(), "tools");
  }
}

// Bytes of `s` up to the start of a trailing incomplete UTF-8 character.
size_t complete_utf8_prefix(const std::string& s) {
  size_t start = s.size();
  for (size_t back = 1; back <= std::min<size_t>(4, s.size()); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > back) start = s.size() - back;
    break;
  }
  return start;
}

}  // namespace

ServedModel::ServedModel(const LoadedModel& model, std::string name, std::optional<ModelChatTemplate> chat_template,
                         std::string allow_local_files, int vision_threads)
    : model_(model), name_(std::move(name)), template_source_(std::move(chat_template)),
      allow_local_files_(std::move(allow_local_files)), vision_threads_(vision_threads) {
  if (template_source_) {
    template_ = std::make_unique<ChatTemplate>(template_source_->source, "chat template (" + template_source_->origin + ")");
    format_ = reply_format_of_template(template_source_->source);
  }
  vocab_ = std::make_shared<VocabTrie>(*model_.tokenizer);
}

std::string ServedModel::render_chat(const ChatRequest& r, const ojson& messages) const {
  ChatTemplateInput input;
  input.messages = messages;
  if (r.tool_choice != "none") input.tools = r.tools;
  input.add_generation_prompt = true;
  input.extra = r.template_kwargs;
  input.special_tokens = template_source_->special_tokens;
  try {
    return template_->render(input);
  } catch (const Error& e) {
    throw ApiError(400, std::string("the chat template rejected the conversation: ") + e.what(), "messages");
  }
}

void ServedModel::set_limits(GenerationJob& job, const GenerationParams& p, int64_t context) const {
  const int64_t n = int64_t(job.prompt.size());
  if (n == 0) throw ApiError(400, "the prompt is empty", "prompt");
  if (n >= context)
    throw ApiError(400, "the prompt has " + std::to_string(n) + " tokens; the context holds " +
                            std::to_string(context) + " (room for at least one new token is needed)",
                   "messages", "invalid_request_error", "context_length_exceeded");
  job.max_tokens = std::min(p.max_tokens.value_or(context - n), context - n);
  SamplerParams s = model_.generation_defaults.value_or(SamplerParams{});
  if (p.temperature) s.temperature = *p.temperature;
  if (p.top_p) s.top_p = *p.top_p;
  if (p.frequency_penalty) s.frequency_penalty = *p.frequency_penalty;
  if (p.presence_penalty) s.presence_penalty = *p.presence_penalty;
  s.seed = p.seed ? *p.seed : std::random_device{}();
  job.sampling = s;
}

void ServedModel::prepare_vision_prompt(const ChatRequest& r, GenerationJob& job) const {
  ojson messages = fold_tool_calls(r.messages);
  std::vector<MediaRef> media;
  try {
    media = normalise_vision_messages(messages, "messages");
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "messages");
  }
  bool has_video = false;
  for (const MediaRef& m : media) has_video = has_video || m.kind == MediaRef::Kind::kVideo;
  std::string prompt;
  if (has_video && template_source_->source.find("video") == std::string::npos) {
    ChatTemplateInput input;  // the processor's default template, which knows video parts
    input.messages = messages;
    input.add_generation_prompt = true;
    input.special_tokens = template_source_->special_tokens;
    prompt = ChatTemplate(vision_chat_template(template_source_->source, true)).render(input);
  } else {
    prompt = render_chat(r, messages);
  }
  std::vector<EncodedMedia> encoded;
  std::lock_guard<std::mutex> lock(vision_mutex_);
  if (!vision_pool_) vision_pool_ = std::make_unique<ThreadPool>(vision_threads_);
  for (size_t i = 0; i < media.size(); ++i) {
    const bool video = media[i].kind == MediaRef::Kind::kVideo;
    const std::string param = std::string("messages: ") + (video ? "video " : "image ") + std::to_string(i + 1);
    try {
      if (video) {
        const std::string path = resolve_local_file(media[i].url, param, allow_local_files_);
        encoded.push_back({nullptr, encode_video(*model_.vision, path, *vision_pool_)});
      } else {
        const ImageU8 image = load_request_image(media[i].url, param, allow_local_files_);
        encoded.push_back({image_cache_.encode(*model_.vision, image, *vision_pool_), nullptr});
      }
    } catch (const Error& e) {
      throw ApiError(400, e.what(), param);
    }
  }
  MultimodalPrompt mm;
  try {
    mm = build_multimodal_prompt(model_, prompt, encoded);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "messages");
  }
  job.prompt = std::move(mm.ids);
  job.prompt_embeddings = std::make_shared<const std::vector<float>>(std::move(mm.embeddings));
  // The prefix cache compares ids; image tokens are all one id, so each image's rows get ids of
  // their own (negative, from the image's content key) in the cache key.
  job.cache_ids = job.prompt;
  size_t item = 0;
  int64_t row = 0;
  const int64_t per_tile = model_.vision->config.tokens_per_tile();
  const auto rows_of = [&](const EncodedMedia& m) {
    return m.video ? m.video->frames() * per_tile : m.image->processed.n_tiles() * per_tile;
  };
  for (int32_t& id : job.cache_ids) {
    if (id != model_.vision->config.image_token_id) continue;
    while (row == rows_of(encoded[item])) ++item, row = 0;
    const uint64_t key = encoded[item].video ? encoded[item].video->key : encoded[item].image->key;
    id = -1 - int32_t((key + uint64_t(row++) * 0x9E3779B97F4A7C15ull) >> 34);
  }
}

PreparedJob ServedModel::prepare_chat(const ChatRequest& r, int64_t context) const {
  PreparedJob out;
  out.format = format_;
  if (!template_) throw ApiError(400, "the model " + name_ + " has no chat template; use /v1/completions", "messages");
  bool has_media = false;
  for (const ojson& m : r.messages) has_media = has_media || m["content"].is_array();
  if (model_.vision) {
    prepare_vision_prompt(r, out.job);
  } else {
    if (has_media) bad_request("messages", "the model " + name_ + " does not take images or videos");
    const bool template_reads_calls = template_source_->source.find("tool_calls") != std::string::npos;
    out.job.prompt = tokenizer().encode(
        render_chat(r, template_reads_calls ? tool_calls_for_template(r.messages) : fold_tool_calls(r.messages)), false);
  }
  set_limits(out.job, r.params, context);
  out.stop = r.params.stop;
  const bool tools = !r.tools.is_null() && r.tool_choice != "none";
  out.forced_tool_call = tools && r.tool_choice != "auto";
  if (out.forced_tool_call) {
    out.job.grammar = compile_grammar(tool_schema(r, forced_tools(r)), "tools", vocab_);
  } else if (r.format.kind == OutputFormat::kJsonSchema) {
    out.job.grammar = compile_grammar(r.format.schema, "response_format.json_schema.schema", vocab_);
  } else if (r.format.kind == OutputFormat::kJsonObject) {
    out.job.grammar = std::make_shared<TokenGrammar>(json_object_grammar(), vocab_);
  }
  // Constrained output is exactly the JSON: no reasoning block or tool tags to look for.
  out.split_reasoning = !out.job.grammar;
  out.parse_tools = tools && !out.forced_tool_call;
  // The model chooses whether to call; when it does, the call's arguments follow the schemas.
  // (The Mistral format names the function outside the JSON: its calls are parsed, not held.)
  if (out.parse_tools && !out.job.grammar && format_.tool_calls == ReplyFormat::ToolCalls::kTagged)
    out.job.tool_call_grammar = compile_grammar(tool_schema(r), "tools", vocab_);
  return out;
}

PreparedJob ServedModel::prepare_completion(const CompletionRequest& r, int64_t context) const {
  PreparedJob out;
  out.job.prompt = tokenizer().encode(r.prompt, true);
  set_limits(out.job, r.params, context);
  out.stop = r.params.stop;
  return out;
}

ReplyAssembler::ReplyAssembler(const Tokenizer& tokenizer, const PreparedJob& prepared)
    : tok_(tokenizer), stop_(prepared.stop), raw_bytes_(bool(prepared.job.grammar)) {
  // A few prompt tokens as context: tokenizers that treat a text's first token specially
  // (SentencePiece's leading space) then decode the reply as it continues the prompt.
  const std::vector<int32_t>& prompt = prepared.job.prompt;
  ids_.assign(prompt.end() - std::min<size_t>(prompt.size(), 4), prompt.end());
  decoded_ = tok_.decode(ids_, false).size();
  if (prepared.split_reasoning) reasoning_.emplace(prepared.format);
}

TextDelta ReplyAssembler::split(const std::string& text) {
  text_ += text;
  if (!reasoning_) return TextDelta{"", text};
  return reasoning_->push(text);
}

TextDelta ReplyAssembler::push(const std::vector<int32_t>& tokens) {
  std::string fresh;
  for (int32_t id : tokens) {
    if (stop_.stopped()) break;
    ++tokens_;
    ids_.push_back(id);
    if (raw_bytes_) {
      // Constrained output is exactly the bytes the grammar matched: no decoder clean-up.
      raw_ += tok_.token_bytes(id);
      const size_t complete = complete_utf8_prefix(raw_);
      fresh += stop_.push(raw_.substr(0, complete));
      raw_.erase(0, complete);
      continue;
    }
    // Whole-sequence decoding keeps multi-token characters and tokenizer spacing right; a
    // trailing U+FFFD may be an incomplete character, so it waits for the next token.
    const std::string all = tok_.decode(ids_, false);
    size_t stable = all.size();
    while (stable >= 3 && all.compare(stable - 3, 3, "\xEF\xBF\xBD") == 0) stable -= 3;
    if (stable > decoded_) {
      fresh += stop_.push(all.substr(decoded_, stable - decoded_));
      decoded_ = stable;
    }
  }
  return split(fresh);
}

TextDelta ReplyAssembler::finish() {
  std::string rest;
  if (!stop_.stopped() && raw_bytes_) {
    rest = stop_.push(std::exchange(raw_, "")) + stop_.finish();
  } else if (!stop_.stopped()) {
    const std::string all = tok_.decode(ids_, false);
    if (all.size() > decoded_) rest = stop_.push(all.substr(decoded_));
    decoded_ = all.size();
    rest += stop_.finish();
  }
  TextDelta out = split(rest);
  if (reasoning_) {
    const TextDelta tail = reasoning_->finish();
    out.reasoning += tail.reasoning;
    out.content += tail.content;
  }
  return out;
}

}  // namespace edgerun::server
