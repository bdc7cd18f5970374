// `edgerun quantize IN OUT.gguf --type T [-t N]`: the runtime does the work (runtime/quantize.h);
// progress and the summary go to stderr, errors come back to main() as one Error line.
#include "cli/common.h"
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
  return 0;
}

}  // namespace edgerun::cli
