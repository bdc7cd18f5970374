// Pieces shared by the subcommands: opening the model named by -m (or the default one).
#pragma once
#include <string>

#include "runtime/model_loader.h"

namespace CLI {
class App;
}

namespace edgerun::cli {

// Name shown for the model linked into the binary.
inline constexpr const char* kDefaultModelName = "stories260K (built in)";

// Loads `path`, or the built-in default model when path is empty.
LoadedModel open_model(const std::string& path, const LoadOptions& options);

// Parses "1,2,3" (spaces allowed) into ids; throws Error naming `option` on bad input.
std::vector<int32_t> parse_id_list(const std::string& text, const std::string& option);

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
  std::string model;
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

}  // namespace edgerun::cli
