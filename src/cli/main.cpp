// The `edgerun` command: parses arguments and hands each subcommand to the runtime. Errors from
// anywhere below come back as one line on stderr and a non-zero exit status.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include "cli/common.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include "runtime/generate.h"

namespace edgerun::cli {
namespace {

struct ModelArgs {
  std::string model;
  int threads = 0;
  int64_t ctx = 0;  // 0 = the model's default
  std::string cache_type = "f16";
};

struct RunArgs {
  std::string prompt;
  int64_t n_predict = 256;
  float temp = -1, top_p = -1, min_p = -1, repeat_penalty = -1;
  int top_k = -1;
  int64_t seed = -1;
  bool echo = false;
};

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

int64_t context_for(const LoadedModel& m, const ModelArgs& a) {
  if (a.ctx < 0) fail("--ctx", "must be positive");
  return a.ctx > 0 ? a.ctx : m.default_context();
}

// Sampling settings: command line > generation_config.json > built-in defaults.
SamplerParams sampling_for(const LoadedModel& m, const RunArgs& r) {
  SamplerParams p = m.generation_defaults.value_or(SamplerParams{});
  if (r.temp != -1) p.temperature = r.temp;
  if (r.top_k != -1) p.top_k = r.top_k;
  if (r.top_p != -1) p.top_p = r.top_p;
  if (r.min_p != -1) p.min_p = r.min_p;
  if (r.repeat_penalty != -1) p.repeat_penalty = r.repeat_penalty;
  p.seed = r.seed >= 0 ? uint64_t(r.seed) : std::random_device{}();
  check_sampler_params(p);
  return p;
}

int cmd_run(const ModelArgs& a, RunArgs r) {
  const bool default_job = a.model.empty() && r.prompt.empty();
  if (r.prompt.empty()) {
    if (!a.model.empty()) fail("-p", "a prompt is required with -m");
    r.prompt = "Once upon a time";
    r.echo = true;
  }
  if (r.n_predict < 0) fail("-n", "must be >= 0");
  const auto t_load = std::chrono::steady_clock::now();
  LoadedModel m = open_model(a.model, {});
  const Tokenizer& tok = m.require_tokenizer();
  ThreadPool pool(a.threads);
  const std::vector<int32_t> prompt = tok.encode(r.prompt, true);
  const int64_t context = context_for(m, a);
  if (int64_t(prompt.size()) > context)
    fail("prompt", "has " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                       std::to_string(context) + " tokens (raise --ctx)");
  LlamaState state = m.model->new_state(context, parse_cache_type(a.cache_type));
  GenerateOptions opt;
  opt.max_tokens = r.n_predict;
  opt.sampling = sampling_for(m, r);
  opt.eos_ids = m.eos_ids;
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
  std::fprintf(stderr, "edgerun: %s | %zu prompt tokens | %d threads | temp %g top-k %d top-p %g min-p %g seed %llu | loaded in %.3f s\n",
               a.model.empty() ? kDefaultModelName : a.model.c_str(), prompt.size(), pool.size(),
               opt.sampling.temperature, opt.sampling.top_k, opt.sampling.top_p, opt.sampling.min_p,
               (unsigned long long)opt.sampling.seed, load_s);
  if (r.echo) {
    std::fputs(r.prompt.c_str(), stdout);
    std::fflush(stdout);
  }
  const GenerateResult res = generate_to_stdout(m, state, pool, prompt, opt);
  if (stdout_is_terminal() || default_job) std::fputc('\n', stdout);
  std::fflush(stdout);
  const double tps = res.generate_seconds > 0 ? double(res.tokens.size()) / res.generate_seconds : 0;
  std::fprintf(stderr, "edgerun: prompt %.1f ms (%.1f tok/s) | %zu tokens at %.1f tok/s | stop: %s\n",
               res.prompt_seconds * 1e3, double(prompt.size()) / std::max(res.prompt_seconds, 1e-9),
               res.tokens.size(), tps, res.stop_reason.c_str());
  return 0;
}

void print_ids_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  std::puts((out + "]").c_str());
}

int cmd_tokenize(const ModelArgs& a, const std::string& prompt, bool no_special) {
  LoadedModel m = open_model(a.model, LoadOptions{false, true});
  print_ids_json(m.require_tokenizer().encode(prompt, !no_special));
  return 0;
}

int cmd_detokenize(const ModelArgs& a, const std::string& ids_text, bool skip_special) {
  const std::vector<int32_t> ids = parse_id_list(ids_text, "--ids");
  LoadedModel m = open_model(a.model, LoadOptions{false, true});
  const Tokenizer& tok = m.require_tokenizer();
  for (int32_t id : ids)
    if (id >= tok.vocab_size())
      fail("--ids", "token id " + std::to_string(id) + " is outside the vocabulary (size " + std::to_string(tok.vocab_size()) + ")");
  const std::string text = tok.decode(ids, skip_special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (stdout_is_terminal()) std::fputc('\n', stdout);
  return 0;
}

int cmd_logits(const ModelArgs& a, const std::string& prompt, const std::string& ids_text, bool no_special,
               const std::string& out_path) {
  if (prompt.empty() == ids_text.empty()) fail("logits", "give exactly one of -p TEXT or --ids 1,2,3");
  std::vector<int32_t> ids;
  if (!ids_text.empty()) ids = parse_id_list(ids_text, "--ids");
  LoadedModel m = open_model(a.model, LoadOptions{true, ids.empty()});
  if (ids.empty()) ids = m.require_tokenizer().encode(prompt, !no_special);
  if (ids.empty()) fail("-p", "the prompt produced no tokens");
  const int64_t n = int64_t(ids.size());
  const int64_t ctx = a.ctx > 0 ? a.ctx : std::max<int64_t>(n, 1);
  if (n > ctx || n > m.config.max_position_embeddings)
    fail("input", std::to_string(n) + " tokens are longer than the context (" +
                      std::to_string(std::min(ctx, m.config.max_position_embeddings)) + ")");
  ThreadPool pool(a.threads);
  LlamaState state = m.model->new_state(ctx, DType::F32);  // parity tool: no cache rounding
  const int64_t vocab = m.config.vocab_size;
  std::vector<float> logits(static_cast<size_t>(n * vocab));
  m.model->forward(ids.data(), n, state, pool, logits.data(), true);
  write_safetensors(out_path, {
      {"logits", DType::F32, {n, vocab}, logits.data(), logits.size() * sizeof(float)},
      {"input_ids", DType::I32, {n}, ids.data(), ids.size() * sizeof(int32_t)},
  });
  std::fprintf(stderr, "edgerun: wrote logits [%lld, %lld] to %s\n", (long long)n, (long long)vocab, out_path.c_str());
  return 0;
}

void add_model_options(CLI::App* cmd, ModelArgs& a, bool threads) {
  cmd->add_option("-m,--model", a.model, "Hugging Face model directory or .gguf file (default: built-in stories260K)");
  if (threads) {
    cmd->add_option("-t,--threads", a.threads, "Worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
    cmd->add_option("-c,--ctx", a.ctx, "Context size in tokens (default: the model's, at most 4096)");
    cmd->add_option("--cache-type", a.cache_type, "KV cache element type: f16 (default), bf16, q8_0, f32");
  }
}

}  // namespace

int main_impl(int argc, char** argv) {
  CLI::App app{"edgerun: run small open models on the device"};
  app.require_subcommand(0, 1);
  ModelArgs margs;
  RunArgs rargs;
  auto* run = app.add_subcommand("run", "Generate text from a prompt, streaming tokens to stdout");
  add_model_options(run, margs, true);
  run->add_option("-p,--prompt", rargs.prompt, "Prompt text");
  run->add_option("-n,--n-predict", rargs.n_predict, "Maximum number of tokens to generate (default 256)");
  run->add_option("--temp", rargs.temp, "Temperature; 0 = greedy (default: generation_config.json, else 0.8)");
  run->add_option("--top-k", rargs.top_k, "Keep the K most likely tokens (0 = off)");
  run->add_option("--top-p", rargs.top_p, "Nucleus sampling mass (1 = off)");
  run->add_option("--min-p", rargs.min_p, "Drop tokens below this fraction of the top probability (0 = off)");
  run->add_option("--repeat-penalty", rargs.repeat_penalty, "Penalty for recently seen tokens (1 = off)");
  run->add_option("--seed", rargs.seed, "Random seed (default: random, printed on stderr)");
  run->add_flag("--echo", rargs.echo, "Print the prompt before the continuation");

  std::string info_model;
  auto* info = app.add_subcommand("info", "Describe a model: architecture, sizes, dtypes, memory");
  info->add_option("model", info_model, "Model directory or .gguf file (default: built-in)");

  std::string text, ids_text, out_path;
  bool no_special = false, skip_special = false;
  auto* tokenize = app.add_subcommand("tokenize", "Print the token ids of a text as JSON");
  add_model_options(tokenize, margs, false);
  tokenize->add_option("-p,--prompt", text, "Text to tokenize")->required();
  tokenize->add_flag("--no-special", no_special, "Do not add BOS/EOS or other special tokens");

  auto* detokenize = app.add_subcommand("detokenize", "Print the text of token ids");
  add_model_options(detokenize, margs, false);
  detokenize->add_option("--ids", ids_text, "Comma-separated token ids")->required();
  detokenize->add_flag("--skip-special", skip_special, "Leave out special tokens");

  auto* logits = app.add_subcommand("logits", "Write F32 logits at every position to a safetensors file");
  add_model_options(logits, margs, true);
  logits->add_option("-p,--prompt", text, "Text to run");
  logits->add_option("--ids", ids_text, "Comma-separated token ids, used exactly as given");
  logits->add_flag("--no-special", no_special, "With -p: do not add BOS or other special tokens");
  logits->add_option("-o,--output", out_path, "Output .safetensors file")->required();
  MessagesLogitsArgs vargs;
  logits->add_option("--messages", vargs.messages, "JSON conversation (vision-language models): rendered with the chat template, images expanded");
  logits->add_option("--image", vargs.images, "With --messages: the image for each {\"type\": \"image\"} part, in order");
  logits->add_option("--mmproj", vargs.mmproj, "With --messages and a GGUF text model: its vision tower GGUF");
  logits->add_flag("--add-generation-prompt", vargs.add_generation_prompt, "With --messages: end with the start of an assistant turn");

  QuantizeArgs qargs;
  auto* quantize = app.add_subcommand("quantize", "Write a GGUF file with quantized weights (q8_0, q4_0, q4_k, f16, bf16, f32)");
  quantize->add_option("input", qargs.input, "Hugging Face model directory or .gguf file")->required();
  quantize->add_option("output", qargs.output, "Output .gguf file")->required();
  quantize->add_option("--type", qargs.type, "q8_0 | q4_0 | q4_k | f16 | bf16 | f32")->required();
  quantize->add_option("-t,--threads", qargs.threads, "Worker threads (default: one per core)");

  BenchArgs bargs;
  auto* bench = app.add_subcommand("bench", "Measure prompt-processing and generation speed");
  bench->add_option("-m,--model", bargs.model, "Model directory or .gguf file (default: built-in)");
  bench->add_option("-p,--n-prompt", bargs.n_prompt, "Prompt tokens processed in one batch (default 512)");
  bench->add_option("-n,--n-gen", bargs.n_gen, "Tokens generated one at a time (default 128)");
  bench->add_option("-t,--threads", bargs.threads, "Worker threads (default: one per core)");
  bench->add_option("-r,--repeats", bargs.repeats, "Repetitions (default 3)");
  bench->add_option("--image", bargs.image, "SAM models: the image to encode (default: a synthetic 1024x768 one)");
  bench->add_flag("--json", bargs.json, "Print one JSON object");

  PerplexityArgs pargs;
  auto* ppl = app.add_subcommand("perplexity", "Perplexity of a model on a text; with --kl-base, KL divergence and top-1 agreement against a base model");
  ppl->add_option("-m,--model", pargs.model, "Model directory or .gguf file (default: built-in)");
  ppl->add_option("-f,--file", pargs.text_file, "Text file")->required();
  ppl->add_option("-c,--ctx", pargs.ctx, "Tokens per chunk (default 512)");
  ppl->add_option("--kl-base", pargs.kl_base, "Base model (e.g. the unquantized checkpoint) to compare against");
  ppl->add_option("-t,--threads", pargs.threads, "Worker threads (default: one per core)");

  TemplateArgs targs;
  auto* chat_template = add_template_command(app, targs);

  ServeArgs serve_args;
  auto* serve = add_serve_command(app, serve_args);
  ChatArgs chat_args;
  auto* chat = add_chat_command(app, chat_args);
  DescribeArgs describe_args;
  auto* describe = add_describe_command(app, describe_args);
  SegmentArgs segment_args;
  auto* segment = add_segment_command(app, segment_args);

  CLI11_PARSE(app, argc, argv);
  if (*serve) return run_serve(serve_args);
  if (*segment) return run_segment(segment_args);
  if (*chat) return run_chat(chat_args);
  if (*chat_template) return run_template(targs);
  if (*bench) return run_bench(bargs);
  if (*ppl) return run_perplexity(pargs);
  if (*quantize) return run_quantize(qargs);
  if (*info) return run_info(info_model);
  if (*tokenize) return cmd_tokenize(margs, text, no_special);
  if (*detokenize) return cmd_detokenize(margs, ids_text, skip_special);
  if (*logits && !vargs.messages.empty()) {
    if (!text.empty() || !ids_text.empty()) fail("logits", "give one of -p, --ids or --messages");
    vargs.model = margs.model;
    vargs.output = out_path;
    vargs.threads = margs.threads;
    vargs.ctx = margs.ctx;
    return run_messages_logits(vargs);
  }
  if (*logits && (!vargs.images.empty() || vargs.add_generation_prompt)) fail("--image", "needs --messages");
  if (*logits) return cmd_logits(margs, text, ids_text, no_special, out_path);
  if (*describe) return run_describe(describe_args);
  return cmd_run(margs, rargs);  // `edgerun` and `edgerun run`
}

}  // namespace edgerun::cli

int main(int argc, char** argv) {
  try {
    return edgerun::cli::main_impl(argc, argv);
  } catch (const edgerun::Error& e) {
    std::fprintf(stderr, "edgerun: error: %s\n", e.what());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "edgerun: error: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgerun: error: %s\n", e.what());
  }
  return 1;
}
