#include "formats/dtype_check.h"

#include "core/error.h"

namespace edgerun {

void require_supported_compute_type(const Tensor& t, const std::string& file) {
  switch (t.dtype) {
    case DType::F32: case DType::F16: case DType::BF16: return;
    default: break;
  }
  fail(file, "tensor '" + t.name + "' has type " + dtype_name(t.dtype) +
                 ", which this build cannot compute with yet (supported: F32, F16, BF16)");
}

size_t dtype_alignment(DType t) {
  return dtype_is_quantized(t) ? 2 : dtype_size(t);
}

}  // namespace edgerun
