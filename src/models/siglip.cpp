#include "models/siglip.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/vision_ops.h"

namespace edgerun {

SiglipConfig siglip_config_from_hf(const json& v, const std::string& where) {
  if (!v.is_object()) fail(where, "expected a JSON object");
  SiglipConfig c;
  c.hidden_size = json_int(v, "hidden_size", where);
  c.n_layers = json_int(v, "num_hidden_layers", where);
  c.n_heads = json_int(v, "num_attention_heads", where);
  c.intermediate_size = json_int(v, "intermediate_size", where);
  c.patch_size = json_int(v, "patch_size", where);
  c.image_size = json_int(v, "image_size", where);
  c.channels = json_int_or(v, "num_channels", 3, where);
  c.layer_norm_eps = json_number_or(v, "layer_norm_eps", 1e-6, where);
  const std::string act = json_string_or(v, "hidden_act", "gelu_pytorch_tanh", where);
  if (act == "gelu_pytorch_tanh" || act == "gelu_new" || act == "gelu_fast") c.gelu = GeluKind::kTanh;
  else if (act == "gelu") c.gelu = GeluKind::kErf;
  else fail(where + ": field 'hidden_act'", "'" + act + "' is not supported (expected gelu_pytorch_tanh or gelu)");
  const auto positive = [&](int64_t x, const char* field) {
    if (x <= 0 || x > (int64_t(1) << 20)) fail(where + ": field '" + field + "'", "must be a positive size");
  };
  positive(c.hidden_size, "hidden_size");
  positive(c.n_layers, "num_hidden_layers");
  positive(c.n_heads, "num_attention_heads");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.patch_size, "patch_size");
  positive(c.image_size, "image_size");
  if (c.channels != 3) fail(where + ": field 'num_channels'", "only 3-channel (RGB) encoders are supported");
  if (c.hidden_size % c.n_heads != 0) fail(where, "hidden_size is not a multiple of num_attention_heads");
  if (c.image_size < c.patch_size) fail(where, "image_size is smaller than patch_size");
  return c;
}

SiglipEncoder::SiglipEncoder(const SiglipConfig& config, const WeightStore& w, const std::string& prefix) : cfg_(config) {
  const int64_t C = cfg_.hidden_size, F = cfg_.intermediate_size, P = cfg_.n_patches();
  patch_weight_ = &w.get(prefix + "embeddings.patch_embedding.weight", {C, cfg_.channels, cfg_.patch_size, cfg_.patch_size});
  patch_bias_ = tensor_to_f32(w.get(prefix + "embeddings.patch_embedding.bias"), C);
  positions_ = tensor_to_f32(w.get(prefix + "embeddings.position_embedding.weight", {P, C}));
  for (int64_t i = 0; i < cfg_.n_layers; ++i) {
    const std::string p = prefix + "encoder.layers." + std::to_string(i) + ".";
    Layer l;
    l.norm1 = load_layernorm(w, p + "layer_norm1", C, cfg_.layer_norm_eps);
    l.norm2 = load_layernorm(w, p + "layer_norm2", C, cfg_.layer_norm_eps);
    l.q = load_linear(w, p + "self_attn.q_proj", C, C);
    l.k = load_linear(w, p + "self_attn.k_proj", C, C);
    l.v = load_linear(w, p + "self_attn.v_proj", C, C);
    l.out = load_linear(w, p + "self_attn.out_proj", C, C);
    l.fc1 = load_linear(w, p + "mlp.fc1", F, C);
    l.fc2 = load_linear(w, p + "mlp.fc2", C, F);
    layers_.push_back(std::move(l));
  }
  post_norm_ = load_layernorm(w, prefix + "post_layernorm", C, cfg_.layer_norm_eps);
}

void SiglipEncoder::encode(const float* pixels, int64_t tiles, float* out, ThreadPool& pool,
                           const ActivationObserver* observe) const {
  const int64_t C = cfg_.hidden_size, P = cfg_.n_patches(), hd = cfg_.head_dim(), rows = tiles * P;
  const int64_t tile_pixels = 3 * cfg_.image_size * cfg_.image_size;
  const auto seen = [&](const std::string& name, const float* data) {
    if (observe) (*observe)(name, data, rows, C);
  };
  // Every token-wise step runs over the rows of all tiles at once (one weight conversion and
  // packing per layer for the batch); attention stays within each tile. Full square tiles only:
  // the NaViT bucketed position ids reduce to 0..P-1.
  std::vector<float> x(size_t(rows * C)), xn(x.size()), q(x.size()), k(x.size()), v(x.size()), att(x.size()), delta(x.size());
  for (int64_t t = 0; t < tiles; ++t) {
    float* xt = x.data() + t * P * C;
    patch_embed(*patch_weight_, patch_bias_.data(), pixels + t * tile_pixels, cfg_.image_size, cfg_.image_size, xt, pool);
    add_inplace(xt, positions_.data(), P * C);
  }
  seen("vision_embeddings", x.data());
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const auto residual = [&]() {
    pool.parallel_for(rows * C, [&](int64_t i0, int64_t i1, int) { add_inplace(x.data() + i0, delta.data() + i0, i1 - i0); }, 16384);
  };
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    l.norm1.apply(x.data(), rows, xn.data(), pool);
    l.q.apply(xn.data(), rows, q.data(), pool);
    l.k.apply(xn.data(), rows, k.data(), pool);
    l.v.apply(xn.data(), rows, v.data(), pool);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t at = t * P * C;
      attention_full({q.data() + at, C}, {k.data() + at, C}, {v.data() + at, C}, P, P, cfg_.n_heads, hd, scale,
                     att.data() + at, pool);
    }
    l.out.apply(att.data(), rows, delta.data(), pool);
    residual();
    l.norm2.apply(x.data(), rows, xn.data(), pool);
    gelu_mlp(l.fc1, l.fc2, cfg_.gelu, xn.data(), rows, delta.data(), pool);
    residual();
    seen("encoder_layer" + std::to_string(i), x.data());
  }
  post_norm_.apply(x.data(), rows, out, pool);
  seen("post_layernorm", out);
}

}  // namespace edgerun
