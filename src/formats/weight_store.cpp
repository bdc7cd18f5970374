#include "formats/weight_store.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "formats/pytorch_zip.h"
#include "formats/safetensors.h"

namespace edgerun {

void WeightStore::add(const std::vector<Tensor>& tensors, std::shared_ptr<Storage> owner,
                      const std::string& source) {
  if (source_.empty()) source_ = source;
  for (const Tensor& t : tensors) {
    if (!tensors_.emplace(t.name, t).second) fail(source, "duplicate tensor '" + t.name + "'");
  }
  owners_.push_back(std::move(owner));
}

void WeightStore::rename(const std::function<std::string(const std::string&)>& new_name) {
  std::map<std::string, Tensor> renamed;
  for (auto& [name, t] : tensors_) {
    const std::string n = new_name(name);
    if (n.empty()) continue;
    Tensor moved = t;
    moved.name = n;
    if (!renamed.emplace(n, std::move(moved)).second) fail(source_, "tensors '" + name + "' and another both map to '" + n + "'");
  }
  tensors_ = std::move(renamed);
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

namespace {

const char* const kWeightScaleSuffixes[] = {"weight_scale_inv", "weight_scale"};
// Everything that may sit next to an FP8 weight: its scale, and the static activation scale.
const char* const kCompanionSuffixes[] = {".weight_scale_inv", ".weight_scale", ".activation_scale", ".input_scale"};

// The value of a one-element F32 / BF16 / F16 scale tensor.
float scalar_value(const Tensor& t, const std::string& source) {
  if (t.numel() != 1)
    fail(source, "scale tensor '" + t.name + "' has shape " + t.shape_string() +
                     ": only per-tensor FP8 scales are supported (not block-wise or per-channel)");
  float v;
  switch (t.dtype) {
    case DType::F32: std::memcpy(&v, t.data, 4); break;
    case DType::BF16: case DType::F16: {
      uint16_t h;
      std::memcpy(&h, t.data, 2);
      v = t.dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
      break;
    }
    default: fail(source, "scale tensor '" + t.name + "' has type " + dtype_name(t.dtype) + " (expected F32, BF16 or F16)");
  }
  if (!std::isfinite(v) || v <= 0) fail(source, "scale tensor '" + t.name + "' is " + std::to_string(v) + " (expected a positive number)");
  return v;
}

}  // namespace

void WeightStore::attach_fp8_scales() {
  for (auto& [name, t] : tensors_) {
    if (t.dtype != DType::F8_E4M3) continue;
    const std::string stem = name.ends_with(".weight") ? name.substr(0, name.size() - 6) : name + ".";
    const Tensor* scale = nullptr;
    for (const char* suffix : kWeightScaleSuffixes)
      if (!scale) scale = find(stem + suffix);
    if (!scale)
      fail(source_, "FP8 tensor '" + name + "' has no scale: expected '" + stem + "weight_scale_inv' (or '" + stem +
                        "weight_scale') next to it");
    t.scale = scalar_value(*scale, source_);
  }
}

bool WeightStore::is_fp8_companion(const std::string& name) {
  for (const char* suffix : kCompanionSuffixes)
    if (name.ends_with(suffix)) return true;
  return false;
}

void add_weights_file(WeightStore& store, const std::string& path) {
  std::shared_ptr<Storage> file = Storage::map_file(path);
  const bool is_zip = file->size() >= 4 && std::memcmp(file->data(), "PK\x03\x04", 4) == 0;
  if (is_zip) {
    PytorchCheckpoint checkpoint = parse_pytorch_checkpoint(std::move(file));
    store.add(checkpoint.tensors, checkpoint.storage, path);
  } else {
    SafetensorsFile safetensors = parse_safetensors(std::move(file));
    store.add(safetensors.tensors, safetensors.storage, path);
  }
}

}  // namespace edgerun
