// Placeholder until the quantize command lands: says so instead of pretending.
#include "cli/common.h"
#include "core/error.h"

namespace edgerun::cli {
int run_quantize(const QuantizeArgs& args) { fail("quantize", "not implemented yet"); }
}  // namespace edgerun::cli
