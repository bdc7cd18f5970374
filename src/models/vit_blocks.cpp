#include "models/vit_blocks.h"

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "kernels/vision_ops.h"

namespace edgerun {

void LinearLayer::apply(const float* x, int64_t n, float* y, ThreadPool& pool, GemmEpilogue epilogue) const {
  const float* b = bias.empty() ? nullptr : bias.data();
  if (!packed || n < kGemmMinRows) return linear(x, n, *weight, b, y, pool, epilogue);
  epilogue.bias = b;
  gemm_operand(x, in(), n, *packed, y, out(), pool, epilogue);
}

void LinearLayer::pack(ThreadPool& pool) {
  if (dtype_is_quantized(weight->dtype)) throw Error("'" + weight->name + "' is quantized; only float weights are packed");
  const std::vector<float> w = tensor_to_f32(*weight);
  auto p = std::make_shared<PackedOperand>();
  pack_operand(w.data(), in(), 1, out(), in(), *p, pool);
  packed = std::move(p);
}

LinearLayer load_linear(const WeightStore& w, const std::string& prefix, int64_t out, int64_t in, bool bias_required) {
  LinearLayer l;
  l.weight = &w.get(prefix + ".weight");
  const Tensor& t = *l.weight;
  if (t.shape.size() != 2 || (out >= 0 && t.dim(0) != out) || (in >= 0 && t.dim(1) != in))
    fail(w.source(), "tensor '" + prefix + ".weight' has shape " + t.shape_string() + ", expected [" +
                         (out >= 0 ? std::to_string(out) : "out") + ", " + (in >= 0 ? std::to_string(in) : "in") + "]");
  if (bias_required || w.find(prefix + ".bias")) l.bias = tensor_to_f32(w.get(prefix + ".bias"), t.dim(0));
  return l;
}

void LayerNormLayer::apply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  layernorm(x, n, int64_t(weight.size()), weight.data(), bias.data(), eps, y, pool);
}

LayerNormLayer load_layernorm(const WeightStore& w, const std::string& prefix, int64_t dim, double eps) {
  return {tensor_to_f32(w.get(prefix + ".weight"), dim), tensor_to_f32(w.get(prefix + ".bias"), dim), float(eps)};
}

void gelu_mlp(const LinearLayer& fc1, const LinearLayer& fc2, GeluKind gelu, const float* x, int64_t n, float* out,
              ThreadPool& pool, bool accumulate, const LayerNormLayer* norm) {
  const Activation activation = gelu == GeluKind::kErf ? Activation(gelu_erf) : Activation(gelu_tanh);
  const int64_t in = fc1.in();
  // With both weights packed, chunks of rows go through the norm and both layers on one thread:
  // the normed and hidden rows stay in L2 instead of making round trips through memory. A chunk
  // is one row group of the AMX GEMM, so the weights are read as often as unchunked.
  constexpr int64_t kChunkRows = 256;
  if (fc1.packed && fc2.packed && n >= 2 * kChunkRows) {
    const int64_t chunks = (n + kChunkRows - 1) / kChunkRows;
    pool.parallel_for(chunks, [&](int64_t c0, int64_t c1, int) {
      thread_local ThreadPool serial(1);
      thread_local AlignedVector<float> buffer;
      buffer.resize(size_t(kChunkRows * (fc1.out() + (norm ? in : 0))));
      float *hidden = buffer.data(), *normed = hidden + kChunkRows * fc1.out();
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t r0 = c * kChunkRows, rows = std::min(kChunkRows, n - r0);
        const float* rows_in = x + r0 * in;
        if (norm) {  // before out's rows (maybe x's) are written below
          layernorm(rows_in, rows, in, norm->weight.data(), norm->bias.data(), norm->eps, normed);
          rows_in = normed;
        }
        fc1.apply(rows_in, rows, hidden, serial, {.activation = activation});
        fc2.apply(hidden, rows, out + r0 * fc2.out(), serial, {.accumulate = accumulate});
      }
    }, 1);
    return;
  }
  std::unique_ptr<float[]> normed;  // fully written by the norm
  if (norm) {
    normed.reset(new float[size_t(n * in)]);
    norm->apply(x, n, normed.get(), pool);
    x = normed.get();
  }
  const std::unique_ptr<float[]> hidden(new float[size_t(n * fc1.out())]);  // fully written by fc1
  fc1.apply(x, n, hidden.get(), pool, {.activation = activation});  // GELU on each tile as it lands
  fc2.apply(hidden.get(), n, out, pool, {.accumulate = accumulate});
}

void patch_embed(const Tensor& weight, const float* bias, const float* image, int64_t h, int64_t w, float* tokens,
                 ThreadPool& pool) {
  if (weight.shape.size() != 4 || weight.dim(2) != weight.dim(3))
    fail("patch embedding", "'" + weight.name + "' is not a square convolution kernel");
  const int64_t p = weight.dim(2);
  conv2d(image, weight.dim(1), h, w, weight, bias, {p, p, p, 0, 1}, tokens, pool, MapLayout::kChannelFirst,
         MapLayout::kChannelLast);
}

}  // namespace edgerun
