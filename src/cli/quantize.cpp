// `edgerun quantize IN OUT.gguf --type T [-t N]`: the runtime does the work (runtime/quantize.h);
// progress and the summary go to stderr, errors come back to main() as one Error line.
#include "cli/common.h"
#include <filesystem>

#include "formats/json_file.h"
#include "runtime/mmproj.h"
#include "runtime/quantize.h"

namespace edgerun::cli {

int run_quantize(const QuantizeArgs& args) {
  QuantizeOptions options;
  options.input = args.input;
  options.output = args.output;
  options.type = args.type;
  options.threads = args.threads;
  options.log = stderr;
  quantize_model(options);
  // A SmolVLM directory: its vision tower goes to a separate mmproj GGUF, as llama.cpp splits it.
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(args.input, ec) && fs::exists(args.input + "/config.json") &&
      is_idefics3_config(read_json_file(args.input + "/config.json"))) {
    const fs::path out(args.output);
    const std::string mmproj = (out.parent_path() / ("mmproj-" + out.filename().string())).string();
    write_idefics3_mmproj(args.input, mmproj, args.type == "f32");
    std::fprintf(stderr, "edgerun: wrote the vision tower to %s (use it with --mmproj)\n", mmproj.c_str());
  }
  return 0;
}

}  // namespace edgerun::cli
