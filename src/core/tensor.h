// A non-owning view of a tensor: dtype, shape (PyTorch order, outermost first; for a Linear
// weight [out, in]) and a pointer to row-major bytes that live in a Storage.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace edgerun {

struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  // Multiplier of the stored values: the per-tensor scale an FP8 weight ships with
  // (attach_fp8_scales); 1 for every other tensor. Kernels apply it to their outputs.
  float scale = 1.0f;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t dim(size_t i) const { return shape.at(i); }
  // Bytes of one row along the last dimension.
  size_t row_bytes() const { return shape.empty() ? nbytes : dtype_row_bytes(dtype, shape.back()); }
  std::string shape_string() const;
};

}  // namespace edgerun
