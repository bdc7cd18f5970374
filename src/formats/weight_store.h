// Name → tensor view for a loaded checkpoint, keeping the mapped files alive.
#pragma once
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
  std::string source() const { return source_; }

 private:
  std::map<std::string, Tensor> tensors_;
  std::vector<std::shared_ptr<Storage>> owners_;
  std::string source_;
};

}  // namespace edgerun
