// Reading a golden case's expected.safetensors (F32 / I32 tensors by name) and running a model
// over a token list, shared by the model golden tests.
#pragma once
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "models/llama.h"

namespace edgerun::test {

struct Expected {
  SafetensorsFile file;
  const Tensor& get(const std::string& name) const {
    for (const Tensor& t : file.tensors)
      if (t.name == name) return t;
    throw std::runtime_error("expected.safetensors has no " + name);
  }
  std::vector<float> floats(const std::string& name) const {
    const Tensor& t = get(name);
    std::vector<float> v(static_cast<size_t>(t.numel()));
    std::memcpy(v.data(), t.data, v.size() * 4);
    return v;
  }
  std::vector<int32_t> ints(const std::string& name) const {
    const Tensor& t = get(name);
    std::vector<int32_t> v(static_cast<size_t>(t.numel()));
    if (t.dtype == DType::I64) {
      for (size_t i = 0; i < v.size(); ++i) {
        int64_t x;
        std::memcpy(&x, t.data + i * 8, 8);
        v[i] = int32_t(x);
      }
    } else {
      std::memcpy(v.data(), t.data, v.size() * 4);
    }
    return v;
  }
};

// max|got − want| / max|want| (the goldens' "rel_to_max"); +inf on a size mismatch.
inline double rel_to_max(const float* got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}
inline double rel_to_max(const std::vector<float>& got, const std::vector<float>& want) {
  return got.size() == want.size() ? rel_to_max(got.data(), want) : INFINITY;
}

// Logits [ids.size(), vocab] at every position, F32 KV cache (the model's numbers, not the cache's).
inline std::vector<float> logits_at_every_position(const LlamaModel& model, const std::vector<int32_t>& ids,
                                                   int threads = 2) {
  ThreadPool pool(threads);
  LlamaState state = model.new_state(int64_t(ids.size()), DType::F32);
  std::vector<float> logits(ids.size() * size_t(model.config().vocab_size));
  model.forward(ids.data(), int64_t(ids.size()), state, pool, logits.data(), true);
  return logits;
}

}  // namespace edgerun::test
