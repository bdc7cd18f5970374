// `edgerun serve`: loads the model once and serves the OpenAI-compatible API until Ctrl-C or
// SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/common.h"
#include "core/error.h"
#include "runtime/sam_predictor.h"
#include "server/http_server.h"
#include "server/segment_server.h"
#include "text/chat_template.h"

namespace edgerun::cli {

ModelChatTemplate model_chat_template(const std::string& model_path, const LoadedModel& model) {
  if (!model_path.empty() && !model.gguf) return find_chat_template(model_path);
  return chat_template_from_gguf(*model.gguf, model_path.empty() ? kDefaultModelName : model_path);
}

CLI::App* add_serve_command(CLI::App& app, ServeArgs& a) {
  auto* cmd = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
  cmd->add_option("-m,--model", a.model, "Model directory or .gguf file (default: built-in)");
  cmd->add_option("--mmproj", a.mmproj, "The vision tower GGUF of a GGUF text model (llama.cpp's mmproj file)");
  cmd->add_option("--host", a.host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", a.port, "Port (default 8080; 0 = any free port, printed on stderr)")->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", a.parallel, "Requests generated at once, each with its own KV cache (default 1)")->check(CLI::Range(1, 256));
  cmd->add_option("-c,--ctx", a.ctx, "Context size of each slot in tokens (default: the model's, at most 4096)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", a.threads, "Worker threads (default: one per core)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--cache-type", a.cache_type, "KV cache element type: f16 (default), bf16, q8_0, f32");
  cmd->add_option("--allow-local-files", a.allow_local_files,
                  "Vision-language models: image_url / video_url parts may name files in this directory")
      ->check(CLI::ExistingDirectory);
  return cmd;
}

namespace {

// Serves until Ctrl-C or SIGTERM, which `stop_signals` (blocked in every thread) delivers to one
// waiting thread.
template <typename Server>
void serve_until_signal(Server& http, const sigset_t& stop_signals) {
  std::thread signal_waiter([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    http.stop();
  });
  http.listen();
  pthread_kill(signal_waiter.native_handle(), SIGTERM);  // wakes the waiter if listen ended otherwise
  signal_waiter.join();
  std::fprintf(stderr, "edgerun: server stopped\n");
}

std::string model_name(const std::string& path) {
  if (path.empty()) return "stories260K";
  std::string name = std::filesystem::path(path).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(path).lexically_normal().parent_path().filename().string();
  return name;
}

// `serve` with a SAM model: the segmentation API and its web page.
int run_segment_serve(const ServeArgs& a, const sigset_t& stop_signals) {
  const auto model = load_sam(a.model);
  ThreadPool pool(a.threads);
  server::SegmentService service(*model, pool);
  server::SegmentHttpServer http(service, model_name(a.model), model->description, a.parallel + 8);
  const int port = http.bind(a.host, a.port);
  std::fprintf(stderr, "edgerun: serving %s (%s) on http://%s:%d (segmentation; web page at /, %d threads)\n",
               model_name(a.model).c_str(), model->description.c_str(), a.host.c_str(), port, pool.size());
  std::fflush(stderr);
  serve_until_signal(http, stop_signals);
  return 0;
}

}  // namespace

int run_serve(const ServeArgs& a) {
  // Ctrl-C and SIGTERM are taken by one waiting thread (below), so block them before any other
  // thread starts: threads inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // A shell starting us in the background ignores SIGINT; ignored signals never reach sigwait.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects must not kill the server: failed writes report EPIPE instead.
  signal(SIGPIPE, SIG_IGN);

  if (is_sam_model(a.model)) return run_segment_serve(a, stop_signals);
  const DType kv_type = parse_cache_type(a.cache_type);
  LoadOptions load;
  load.mmproj = a.mmproj;
  const LoadedModel model = open_model(a.model, load);
  model.require_tokenizer();
  const std::string name = model_name(a.model);
  std::optional<ModelChatTemplate> chat_template;
  try {
    chat_template = model_chat_template(a.model, model);
  } catch (const Error& e) {
    std::fprintf(stderr, "edgerun: no chat template (%s): /v1/chat/completions will answer 400\n", e.what());
  }
  const int64_t context = a.ctx > 0 ? a.ctx : model.default_context();
  ThreadPool pool(a.threads);
  server::Metrics metrics;
  const server::ServedModel served(model, name, chat_template, a.allow_local_files, a.threads);
  server::Scheduler scheduler(*model.model, pool, {a.parallel, context, kv_type, model.eos_ids}, metrics);
  // Streams hold a connection thread while they wait, so allow more connections than slots.
  server::HttpServer http(served, scheduler, metrics, a.parallel + 8);
  const int port = http.bind(a.host, a.port);
  std::fprintf(stderr, "edgerun: serving %s on http://%s:%d (%d slot%s of %lld tokens, %d threads)\n", name.c_str(),
               a.host.c_str(), port, a.parallel, a.parallel == 1 ? "" : "s", (long long)context, pool.size());
  std::fflush(stderr);

  serve_until_signal(http, stop_signals);
  return 0;
}

}  // namespace edgerun::cli
