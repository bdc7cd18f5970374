// The model behind the server: turns validated requests into generation jobs (chat template,
// tokens, sampling, grammar) and the job's tokens back into reply text.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/model_loader.h"
#include "runtime/multimodal.h"
#include "server/output_parser.h"
#include "server/request.h"
#include "server/scheduler.h"
#include "text/chat_template.h"

namespace edgerun::server {

// A request ready for the scheduler, and what its reply needs.
struct PreparedJob {
  GenerationJob job;
  std::vector<std::string> stop;
  bool split_reasoning = false;  // chat replies: <think> → reasoning_content
  bool parse_tools = false;      // <tool_call> blocks → tool_calls
  bool forced_tool_call = false; // the output is one {"name","arguments"} object (grammar)
  ReplyFormat format;            // the model family's reasoning and tool-call markers
};

class ServedModel {
 public:
  // `model` (kept by reference) must hold weights and a tokenizer. The chat template is optional: without one,
  // chat requests fail with a clear error and /v1/completions still works.
  // For vision-language models, `allow_local_files` ("" = none) is the only directory image_url
  // paths may name, and images are encoded on a pool of `vision_threads` threads (0 = one per core).
  ServedModel(const LoadedModel& model, std::string name, std::optional<ModelChatTemplate> chat_template,
              std::string allow_local_files = "", int vision_threads = 0);

  PreparedJob prepare_chat(const ChatRequest& request, int64_t context) const;
  PreparedJob prepare_completion(const CompletionRequest& request, int64_t context) const;

  const std::string& name() const { return name_; }
  const LoadedModel& loaded() const { return model_; }
  const Tokenizer& tokenizer() const { return *model_.tokenizer; }
  const ReplyFormat& reply_format() const { return format_; }

 private:
  // The template's prompt; `messages` are the conversation as the template sees it.
  std::string render_chat(const ChatRequest& request, const nlohmann::ordered_json& messages) const;
  // A vision-language conversation: images loaded, encoded (cached by content) and merged.
  void prepare_vision_prompt(const ChatRequest& request, GenerationJob& job) const;
  void set_limits(GenerationJob& job, const GenerationParams& params, int64_t context) const;

  const LoadedModel& model_;
  std::string name_;
  std::optional<ModelChatTemplate> template_source_;
  std::unique_ptr<ChatTemplate> template_;
  ReplyFormat format_;
  std::shared_ptr<const VocabTrie> vocab_;
  std::string allow_local_files_;
  int vision_threads_;
  mutable std::mutex vision_mutex_;  // one image encoding at a time, on its own pool
  mutable std::unique_ptr<ThreadPool> vision_pool_;
  mutable ImageFeatureCache image_cache_;
};

// Collects the text of one job's tokens: decoding, stop strings, reasoning split.
class ReplyAssembler {
 public:
  ReplyAssembler(const Tokenizer& tokenizer, const PreparedJob& prepared);
  TextDelta push(const std::vector<int32_t>& tokens);
  TextDelta finish();
  bool stop_seen() const { return stop_.stopped(); }
  int64_t completion_tokens() const { return tokens_; }
  // All text so far (content and reasoning as generated, up to a stop string).
  const std::string& text() const { return text_; }

 private:
  TextDelta split(const std::string& text);
  const Tokenizer& tok_;
  std::vector<int32_t> ids_;
  size_t decoded_ = 0;  // bytes of decode(ids_) already passed on
  StopMatcher stop_;
  bool raw_bytes_;   // grammar-constrained: the text is the tokens' bytes
  std::string raw_;  // bytes of an incomplete UTF-8 character
  std::optional<ReasoningSplitter> reasoning_;
  int64_t tokens_ = 0;
  std::string text_;
};

}  // namespace edgerun::server
