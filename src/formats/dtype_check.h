// Checks between a loaded tensor and what this build's kernels can use. Format readers accept
// every dtype they can describe (so metadata and shapes stay inspectable); model loaders call
// these before compute so an unsupported file fails with one clear line instead of wrong math.
#pragma once
#include <cstddef>
#include <string>

#include "core/dtype.h"
#include "core/tensor.h"

namespace edgerun {

// Throws Error("<file>: tensor '<name>' has type Q4_0, which this build cannot compute with yet
// (supported: F32, F16, BF16)") for any dtype the kernels cannot consume.
void require_supported_compute_type(const Tensor& t, const std::string& file);

// Byte alignment a pointer to this dtype's data needs before kernels may cast it: the element
// size for plain types, 2 for block types (their scales are fp16).
size_t dtype_alignment(DType t);

}  // namespace edgerun
