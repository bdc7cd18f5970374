// Name → tensor view for a loaded checkpoint, keeping the mapped files alive.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/storage.h"
#include "core/tensor.h"

namespace edgerun {

class WeightStore {
 public:
  // Adds tensors; a duplicate name is an error naming `source`.
  void add(const std::vector<Tensor>& tensors, std::shared_ptr<Storage> owner,
           const std::string& source);
  const Tensor* find(const std::string& name) const;
  // Throws Error("<source>: missing tensor '<name>'").
  const Tensor& get(const std::string& name) const;
  // Checks the tensor exists with exactly this shape (PyTorch order).
  const Tensor& get(const std::string& name, const std::vector<int64_t>& shape) const;
  const std::map<std::string, Tensor>& all() const { return tensors_; }
  // Renames every tensor (another checkpoint layout's names to ours); a name mapped to "" is
  // dropped. Throws when two tensors end up with one name.
  void rename(const std::function<std::string(const std::string&)>& new_name);

  // FP8 checkpoints (transformers' fine-grained FP8 with weight_block_size null, as the Ministral 3
  // Instruct repos ship) store each Linear weight as F8_E4M3 plus a scalar F32
  // "<module>.weight_scale_inv" (compressed-tensors names it "<module>.weight_scale"); the real
  // weight is fp8 * scale, whatever the "_inv" suggests. Sets every FP8 tensor's Tensor::scale.
  // Throws naming the tensor when its scale is missing, not per-tensor, or not a positive number.
  void attach_fp8_scales();
  // Tensors that describe FP8 weights (weight scales; static activation scales, which this
  // engine does not use because it keeps activations in F32) rather than being weights.
  static bool is_fp8_companion(const std::string& name);
  std::string source() const { return source_; }

 private:
  std::map<std::string, Tensor> tensors_;
  std::vector<std::shared_ptr<Storage>> owners_;
  std::string source_;
};

// Maps one weights file and adds its tensors to `store`: a torch.save checkpoint (.pth/.pt, told
// apart by its ZIP signature; formats/pytorch_zip.h) or else a .safetensors file.
void add_weights_file(WeightStore& store, const std::string& path);

}  // namespace edgerun
