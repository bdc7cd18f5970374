#include "formats/weight_store.h"

#include "core/error.h"

namespace edgerun {

void WeightStore::add(const std::vector<Tensor>& tensors, std::shared_ptr<Storage> owner,
                      const std::string& source) {
  if (source_.empty()) source_ = source;
  for (const Tensor& t : tensors) {
    if (!tensors_.emplace(t.name, t).second) fail(source, "duplicate tensor '" + t.name + "'");
  }
  owners_.push_back(std::move(owner));
}

const Tensor* WeightStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const Tensor& WeightStore::get(const std::string& name) const {
  const Tensor* t = find(name);
  if (!t) fail(source_, "missing tensor '" + name + "'");
  return *t;
}

const Tensor& WeightStore::get(const std::string& name, const std::vector<int64_t>& shape) const {
  const Tensor& t = get(name);
  if (t.shape != shape) {
    Tensor want;
    want.shape = shape;
    fail(source_, "tensor '" + name + "' has shape " + t.shape_string() + ", expected " +
                      want.shape_string());
  }
  return t;
}

}  // namespace edgerun
