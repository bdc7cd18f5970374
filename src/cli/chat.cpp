// `edgerun chat`: a conversation in the terminal. Each line on stdin is a user turn; the reply
// streams back, with the model's reasoning (<think>…</think>) dimmed on a terminal or marked
// "[reasoning]" otherwise. The KV cache is kept between turns: only the part of the newly
// rendered conversation that differs from what is cached gets computed.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <thread>

#include "cli/common.h"
#include "core/error.h"
#include "runtime/generate.h"
#include "runtime/multimodal.h"
#include "server/scheduler.h"
#include "server/served_model.h"
#include "text/chat_template.h"

namespace edgerun::cli {

namespace {

// Prints reasoning and answer pieces as they come, marking where each starts.
class ReplyPrinter {
 public:
  explicit ReplyPrinter(bool terminal) : terminal_(terminal) {}
  void print(const server::TextDelta& d) {
    if (!d.reasoning.empty()) {
      if (!in_reasoning_) std::fputs(terminal_ ? "\033[2m" : "[reasoning] ", stdout);
      in_reasoning_ = true;
      std::fwrite(d.reasoning.data(), 1, d.reasoning.size(), stdout);
    }
    if (!d.content.empty()) {
      end_reasoning();
      std::fwrite(d.content.data(), 1, d.content.size(), stdout);
    }
    std::fflush(stdout);
  }
  void end_reasoning() {
    if (!in_reasoning_) return;
    std::fputs(terminal_ ? "\033[0m\n" : "\n[answer] ", stdout);
    in_reasoning_ = false;
  }

 private:
  bool terminal_;
  bool in_reasoning_ = false;
};

}  // namespace

CLI::App* add_chat_command(CLI::App& app, ChatArgs& a) {
  auto* cmd = app.add_subcommand("chat", "Chat with a model in the terminal (lines on stdin are your turns; "
                                         "with a vision-language model, `/image PATH` and `/video PATH` attach media)");
  cmd->add_option("-m,--model", a.model, "Model directory or .gguf file with a chat template");
  cmd->add_option("--mmproj", a.mmproj, "The vision tower GGUF of a GGUF text model (llama.cpp's mmproj file)");
  cmd->add_option("--system", a.system, "System prompt");
  auto* think = cmd->add_flag("--think", a.think, "Ask the model to reason first (enable_thinking=true)");
  cmd->add_flag("--no-think", a.no_think, "Ask the model to answer directly (enable_thinking=false)")->excludes(think);
  cmd->add_option("--temp", a.temp, "Temperature; 0 = greedy (default: generation_config.json, else 0.8)");
  cmd->add_option("--seed", a.seed, "Random seed (default: random)");
  cmd->add_option("-n,--n-predict", a.n_predict, "Maximum tokens per reply (default: up to the context)");
  cmd->add_option("-c,--ctx", a.ctx, "Context size in tokens (default: the model's, at most 4096)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", a.threads, "Worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--cache-type", a.cache_type, "KV cache element type: f16 (default), bf16, q8_0, f32");
  return cmd;
}

int run_chat(const ChatArgs& a) {
  // Ctrl-C: stops a reply being written, or ends the chat at the prompt. A thread waiting for
  // the signal decides, so no handler touches shared state asynchronously.
  sigset_t interrupt;
  sigemptyset(&interrupt);
  sigaddset(&interrupt, SIGINT);
  // A shell starting us in the background ignores SIGINT; ignored signals never reach sigwait.
  signal(SIGINT, SIG_DFL);
  pthread_sigmask(SIG_BLOCK, &interrupt, nullptr);
  std::atomic<bool> generating{false}, stop_reply{false};
  std::thread interrupt_waiter([&] {
    for (;;) {
      int signal = 0;
      sigwait(&interrupt, &signal);
      if (generating) {
        stop_reply = true;
        continue;
      }
      std::fputs("\n", stdout);
      std::fflush(stdout);
      std::_Exit(0);  // at the prompt nothing is half done; stdin may be blocking the main thread
    }
  });
  interrupt_waiter.detach();

  const DType kv_type = parse_cache_type(a.cache_type);
  LoadOptions load;
  load.mmproj = a.mmproj;
  const LoadedModel model = open_model(a.model, load);
  const Tokenizer& tok = model.require_tokenizer();
  const ModelChatTemplate found = model_chat_template(a.model, model);
  const ChatTemplate chat_template(found.source, "chat template (" + found.origin + ")");
  const int64_t context = a.ctx > 0 ? a.ctx : model.default_context();
  ThreadPool pool(a.threads);
  LlamaState state = model.model->new_state(context, kv_type);
  std::vector<int32_t> cached;  // the ids in `state`

  GenerateOptions options;
  options.sampling = model.generation_defaults.value_or(SamplerParams{});
  if (a.temp >= 0) options.sampling.temperature = a.temp;
  options.sampling.seed = a.seed >= 0 ? uint64_t(a.seed) : std::random_device{}();
  check_sampler_params(options.sampling);
  options.eos_ids = model.eos_ids;

  ChatTemplateInput input;
  input.add_generation_prompt = true;
  input.special_tokens = found.special_tokens;
  if (a.think || a.no_think) input.extra["enable_thinking"] = a.think;
  if (!a.system.empty()) input.messages.push_back({{"role", "system"}, {"content", a.system}});

  const bool terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  // Vision-language models: `/image PATH` lines attach images to the next turn.
  ImageFeatureCache image_cache;
  std::vector<EncodedMedia> media, pending;  // the conversation's; the next turn's
  MultimodalPrompt multimodal;
  std::string line;
  for (;;) {
    if (terminal) std::fputs("\n> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;  // Ctrl-D / end of input
    if (line.empty()) continue;
    const bool image_line = line.rfind("/image ", 0) == 0, video_line = line.rfind("/video ", 0) == 0;
    if (image_line || video_line) {
      if (!model.vision) {
        std::fprintf(stderr, "edgerun: this model does not take images or videos\n");
        continue;
      }
      try {
        if (image_line) {
          pending.push_back({image_cache.encode(*model.vision, read_image(line.substr(7)), pool), nullptr});
          std::fprintf(stderr, "edgerun: image attached (%lld tiles); it goes with your next message\n",
                       (long long)pending.back().image->processed.n_tiles());
        } else {
          pending.push_back({nullptr, encode_video(*model.vision, line.substr(7), pool)});
          std::fprintf(stderr, "edgerun: video attached (%lld frames); it goes with your next message\n",
                       (long long)pending.back().video->frames());
        }
      } catch (const Error& e) {
        std::fprintf(stderr, "edgerun: error: %s\n", e.what());
      }
      continue;
    }
    server::PreparedJob prepared;
    if (model.vision) {
      nlohmann::ordered_json content = nlohmann::ordered_json::array();
      for (const EncodedMedia& m : pending) content.push_back({{"type", m.video ? "video" : "image"}});
      content.push_back({{"type", "text"}, {"text", line}});
      input.messages.push_back({{"role", "user"}, {"content", content}});
      ChatTemplateInput shaped = input;
      normalise_vision_messages(shaped.messages, "chat");
      std::vector<EncodedMedia> all = media;
      all.insert(all.end(), pending.begin(), pending.end());
      bool has_video = false;
      for (const EncodedMedia& m : all) has_video = has_video || m.video;
      const std::string rendered = has_video && found.source.find("video") == std::string::npos
                                       ? ChatTemplate(vision_chat_template(found.source, true)).render(shaped)
                                       : chat_template.render(shaped);
      multimodal = build_multimodal_prompt(model, rendered, all);
      prepared.job.prompt = multimodal.ids;
      options.prompt_embeddings = multimodal.embeddings.data();
    } else {
      input.messages.push_back({{"role", "user"}, {"content", line}});
      prepared.job.prompt = tok.encode(chat_template.render(input), false);
    }
    prepared.split_reasoning = true;
    prepared.format = server::reply_format_of_template(found.source);
    const int64_t n = int64_t(prepared.job.prompt.size());
    if (n >= context) {
      std::fprintf(stderr, "edgerun: the conversation has %lld tokens, the context holds %lld; start over or raise --ctx\n",
                   (long long)n, (long long)context);
      input.messages.erase(input.messages.end() - 1);
      pending.clear();
      continue;
    }
    media.insert(media.end(), pending.begin(), pending.end());
    pending.clear();
    // Reuse the cached start of the conversation; generate() computes the rest.
    state.n_past = int64_t(server::common_prefix(cached, prepared.job.prompt));
    options.max_tokens = a.n_predict > 0 ? std::min(a.n_predict, context - n) : context - n;

    server::ReplyAssembler reply(tok, prepared);
    ReplyPrinter printer(terminal);
    std::string answer;
    stop_reply = false;
    generating = true;
    const GenerateResult res = generate(*model.model, state, pool, prepared.job.prompt, options, [&](int32_t id) {
      const server::TextDelta d = reply.push({id});
      answer += d.content;
      printer.print(d);
      return !stop_reply;
    });
    generating = false;
    const server::TextDelta tail = reply.finish();
    answer += tail.content;
    printer.print(tail);
    printer.end_reasoning();
    std::fputs("\n", stdout);
    std::fflush(stdout);
    cached = prepared.job.prompt;
    cached.insert(cached.end(), res.tokens.begin(), res.tokens.end());
    cached.resize(size_t(state.n_past));
    // Templates drop earlier turns' reasoning, so the history keeps only the answer.
    input.messages.push_back({{"role", "assistant"}, {"content", answer}});
  }
  return 0;
}

}  // namespace edgerun::cli
