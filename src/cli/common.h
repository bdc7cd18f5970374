// Pieces shared by the subcommands: opening the model named by -m (or the default one).
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"
#include "runtime/generate.h"
#include "runtime/model_loader.h"

namespace CLI {
class App;
}

namespace edgerun {
struct ModelChatTemplate;
}

namespace edgerun::cli {

// Name shown for the model linked into the binary.
inline constexpr const char* kDefaultModelName = "stories260K (built in)";

// Loads `path`, or the built-in default model when path is empty.
LoadedModel open_model(const std::string& path, const LoadOptions& options);

// Generates from `prompt`, writing the text to stdout as it comes (no newline added).
GenerateResult generate_to_stdout(const LoadedModel& model, LlamaState& state, ThreadPool& pool,
                                  const std::vector<int32_t>& prompt, const GenerateOptions& options);

// Parses "1,2,3" (spaces allowed) into ids; throws Error naming `option` on bad input.
std::vector<int32_t> parse_id_list(const std::string& text, const std::string& option);

// "f16" | "bf16" | "q8_0" | "f32" for --cache-type; Error otherwise.
DType parse_cache_type(const std::string& s);

// Human-readable byte count ("1.23 GiB").
std::string format_bytes(double bytes);

int run_info(const std::string& model_path);

// `edgerun quantize IN OUT.gguf --type T [-t N]` (src/cli/quantize.cpp).
struct QuantizeArgs {
  std::string input, output, type;
  int threads = 0;
};
int run_quantize(const QuantizeArgs& args);

// `edgerun bench -m MODEL [-p 512] [-n 128] [-t N] [-r 3] [--json]` (src/cli/bench.cpp).
struct BenchArgs {
  std::string model, image;  // image: SAM models only
  int64_t n_prompt = 512, n_gen = 128;
  int threads = 0, repeats = 3;
  bool json = false;
};
int run_bench(const BenchArgs& args);

// `edgerun perplexity -m MODEL -f TEXT [--ctx N] [--kl-base BASE]` (src/cli/perplexity.cpp).
struct PerplexityArgs {
  std::string model, text_file, kl_base;
  int64_t ctx = 512;
  int threads = 0;
};
int run_perplexity(const PerplexityArgs& args);

// `edgerun template -m MODEL --messages conv.json [--tools tools.json] [--add-generation-prompt]
// [--kwargs JSON] [--now TIME]` (src/cli/template.cpp): prints the rendered chat prompt.
struct TemplateArgs {
  std::string model, messages, tools, kwargs, now;
  bool add_generation_prompt = false;
};
CLI::App* add_template_command(CLI::App& app, TemplateArgs& args);
int run_template(const TemplateArgs& args);

// The chat template of the model opened from `model_path` ("" = the built-in one); Error when
// it has none.
ModelChatTemplate model_chat_template(const std::string& model_path, const LoadedModel& model);

// `edgerun serve -m MODEL [--host H] [--port P] [--parallel N] [--ctx N]` (src/cli/serve.cpp):
// the OpenAI-compatible HTTP server.
struct ServeArgs {
  std::string model, mmproj, host = "127.0.0.1", cache_type = "f16", allow_local_files;
  int port = 8080, parallel = 1, threads = 0;
  int64_t ctx = 0;
};
CLI::App* add_serve_command(CLI::App& app, ServeArgs& args);
int run_serve(const ServeArgs& args);

// `edgerun segment -m SAM_MODEL --image IMG [--point X,Y[,L]]... [--box X0,Y0,X1,Y1] [--multimask]
// [--mask-input F] [-o mask.png] [--overlay o.png] [--dump out.safetensors] [--prompts P.json]`
// (src/cli/segment.cpp).
struct SegmentArgs {
  std::string model, image, box, mask_input, output, overlay, dump, prompts;
  std::vector<std::string> points;
  bool multimask = false;
  int threads = 0;
};
CLI::App* add_segment_command(CLI::App& app, SegmentArgs& args);
int run_segment(const SegmentArgs& args);

// `edgerun chat -m MODEL [--system TEXT] [--think|--no-think]` (src/cli/chat.cpp): a terminal
// conversation; lines on stdin are user turns.
struct ChatArgs {
  std::string model, mmproj, system, cache_type = "f16";
  bool think = false, no_think = false;
  float temp = -1;
  int64_t seed = -1, n_predict = -1, ctx = 0;
  int threads = 0;
};
CLI::App* add_chat_command(CLI::App& app, ChatArgs& args);
int run_chat(const ChatArgs& args);

// `edgerun logits -m VLM --messages conv.json --image A [--image B]... [--add-generation-prompt]
// -o out.safetensors` (src/cli/vision.cpp): input ids, per-image pixel values and features, and
// logits at every position of a vision-language prompt.
struct MessagesLogitsArgs {
  std::string model, mmproj, messages, output;
  std::vector<std::string> images;
  bool add_generation_prompt = false;
  int threads = 0;
  int64_t ctx = 0;
};
int run_messages_logits(const MessagesLogitsArgs& args);

// `edgerun describe -m VLM --image A [--image B]... [--video V]... [-p QUESTION]` (src/cli/vision.cpp).
struct DescribeArgs {
  std::string model, mmproj, prompt, system;
  std::vector<std::string> images, videos;
  int64_t n_predict = 256, seed = -1, ctx = 0;
  float temp = -1;
  int threads = 0;
};
CLI::App* add_describe_command(CLI::App& app, DescribeArgs& args);
int run_describe(const DescribeArgs& args);

}  // namespace edgerun::cli
