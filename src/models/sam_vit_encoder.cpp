// SAM's ViT image encoder, top to bottom (segment_anything/modeling/image_encoder.py, MODELS.md
// §7.1): patch embedding + absolute positions, blocks of windowed or global attention with
// decomposed relative positions, and the neck down to 256 channels.
#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/vision_ops.h"
#include "models/sam.h"

namespace edgerun {

SamVitConfig sam_vit_config_from_weights(const WeightStore& w, const std::string& p) {
  SamVitConfig c;
  const Tensor& patch = w.get(p + "patch_embed.proj.weight");
  if (patch.shape.size() != 4 || patch.dim(1) != 3 || patch.dim(2) != patch.dim(3))
    fail(w.source(), "'" + p + "patch_embed.proj.weight' is not a square 3-channel patch convolution");
  c.embed_dim = patch.dim(0);
  c.patch = patch.dim(2);
  c.grid = 1024 / c.patch;
  while (w.find(p + "blocks." + std::to_string(c.depth) + ".attn.qkv.weight")) ++c.depth;
  if (c.depth == 0) fail(w.source(), "no '" + p + "blocks.N' tensors: not a SAM ViT image encoder");
  for (int64_t i = 0; i < c.depth; ++i) {
    const Tensor& rel = w.get(p + "blocks." + std::to_string(i) + ".attn.rel_pos_h");
    if (rel.shape.size() != 2) fail(w.source(), "'" + rel.name + "' is not a table");
    if (i == 0) c.head_dim = rel.dim(1);
    if (rel.dim(1) != c.head_dim) fail(w.source(), "'" + rel.name + "' has another head size than block 0");
    const bool global = rel.dim(0) == 2 * c.grid - 1;
    if (!global) c.window = (rel.dim(0) + 1) / 2;
    c.global.push_back(global);
  }
  if (c.head_dim <= 0 || c.embed_dim % c.head_dim != 0) fail(w.source(), "the embed width is not a multiple of the head size");
  c.heads = c.embed_dim / c.head_dim;
  c.out_chans = w.get(p + "neck.0.weight").dim(0);
  return c;
}

SamVitEncoder::SamVitEncoder(const SamVitConfig& config, const WeightStore& weights, const std::string& prefix)
    : cfg_(config), w_(weights), prefix_(prefix) {
  const int64_t C = cfg_.embed_dim, G = cfg_.grid;
  if (G > 128 || cfg_.window > G) fail(w_.source(), "unsupported SAM encoder grid " + std::to_string(G));
  w_.get(prefix_ + "patch_embed.proj.weight", {C, 3, cfg_.patch, cfg_.patch});
  patch_bias_ = tensor_to_f32(w_.get(prefix_ + "patch_embed.proj.bias"), C);
  pos_embed_ = tensor_to_f32(w_.get(prefix_ + "pos_embed", {1, G, G, C}));
  for (int64_t i = 0; i < cfg_.depth; ++i) {
    const std::string p = prefix_ + "blocks." + std::to_string(i) + ".";
    const int64_t side = cfg_.global[size_t(i)] ? G : cfg_.window;
    Block b;
    b.qkv = &w_.get(p + "attn.qkv.weight", {3 * C, C});
    b.proj = &w_.get(p + "attn.proj.weight", {C, C});
    b.lin1 = load_linear(w_, p + "mlp.lin1", -1, C);
    b.lin2 = load_linear(w_, p + "mlp.lin2", C, b.lin1.out());
    b.norm1_w = tensor_to_f32(w_.get(p + "norm1.weight"), C);
    b.norm1_b = tensor_to_f32(w_.get(p + "norm1.bias"), C);
    b.norm2_w = tensor_to_f32(w_.get(p + "norm2.weight"), C);
    b.norm2_b = tensor_to_f32(w_.get(p + "norm2.bias"), C);
    b.qkv_b = tensor_to_f32(w_.get(p + "attn.qkv.bias"), 3 * C);
    b.proj_b = tensor_to_f32(w_.get(p + "attn.proj.bias"), C);
    b.rel_h = tensor_to_f32(w_.get(p + "attn.rel_pos_h", {2 * side - 1, cfg_.head_dim}));
    b.rel_w = tensor_to_f32(w_.get(p + "attn.rel_pos_w", {2 * side - 1, cfg_.head_dim}));
    blocks_.push_back(std::move(b));
  }
  neck_ = SamNeck::load(w_, prefix_ + "neck.", C, cfg_.out_chans, cfg_.neck_eps);
}

namespace {

// SAM's decomposed relative positions inside a side × side square (a window or the whole grid):
// q·Rh[qh−kh] + q·Rw[qw−kw], with the unscaled q.
AttentionBias relative_position_bias(const std::vector<float>& table_h, const std::vector<float>& table_w, int64_t side,
                                     int64_t hd) {
  return [&table_h, &table_w, side, hd](int64_t, int64_t row, const float* q, float* scores) {
    const int64_t qh = row / side, qw = row % side;
    float rel_h[128], rel_w[128];  // side ≤ 64
    for (int64_t k = 0; k < side; ++k) {
      rel_h[k] = dot_f32(q, table_h.data() + (qh - k + side - 1) * hd, hd);
      rel_w[k] = dot_f32(q, table_w.data() + (qw - k + side - 1) * hd, hd);
    }
    for (int64_t kh = 0; kh < side; ++kh)
      for (int64_t kw = 0; kw < side; ++kw) scores[kh * side + kw] += rel_h[kh] + rel_w[kw];
  };
}

}  // namespace

// x: [G², C] (LayerNorm'd tokens) → out [G², C] += the result of qkv, attention (global, or in windows of
// S × S over the grid zero-padded to a multiple of S: padded tokens take part as keys, as in the
// reference, with the projections of a zero token, i.e. the qkv bias) and the projection.
void SamVitEncoder::attend(const Block& b, bool global, const float* x, float* out, ThreadPool& pool) const {
  const int64_t C = cfg_.embed_dim, hd = cfg_.head_dim, G = cfg_.grid, n = G * G;
  const float scale = 1.0f / std::sqrt(float(hd));
  const std::unique_ptr<float[]> qkv(new float[size_t(n * 3 * C)]), att(new float[size_t(n * C)]);  // fully written
  linear(x, n, *b.qkv, b.qkv_b.data(), qkv.get(), pool);
  const float* q = qkv.get();
  if (global) {
    const AttentionBias rel_pos = relative_position_bias(b.rel_h, b.rel_w, G, hd);
    attention_full({q, 3 * C}, {q + C, 3 * C}, {q + 2 * C, 3 * C}, n, n, cfg_.heads, hd, scale, att.get(), pool, &rel_pos);
  } else {
    const AttentionBias rel_pos = relative_position_bias(b.rel_h, b.rel_w, cfg_.window, hd);
    const float* pad = b.qkv_b.data();
    windowed_attention({q, q + C, q + 2 * C, 3 * C, hd, pad + C, pad + 2 * C}, G, G, cfg_.window, cfg_.heads, hd, scale,
                       att.get(), pool, &rel_pos);
  }
  linear(att.get(), n, *b.proj, b.proj_b.data(), out, pool, {.accumulate = true});
}

void SamVitEncoder::encode(const float* image, float* out, ThreadPool& pool) const {
  const int64_t C = cfg_.embed_dim, G = cfg_.grid, P = G * G;
  const float eps = float(cfg_.eps);
  // Patch embedding → tokens [P, C] + absolute positions.
  std::vector<float> x(size_t(P * C)), xn(size_t(P * C));
  patch_embed(w_.get(prefix_ + "patch_embed.proj.weight"), patch_bias_.data(), image, G * cfg_.patch, G * cfg_.patch,
              x.data(), pool);
  add_inplace(x.data(), pos_embed_.data(), P * C);

  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    layernorm(x.data(), P, C, b.norm1_w.data(), b.norm1_b.data(), eps, xn.data(), pool);
    attend(b, cfg_.global[i], xn.data(), x.data(), pool);  // + residual
    // MLP.
    layernorm(x.data(), P, C, b.norm2_w.data(), b.norm2_b.data(), eps, xn.data(), pool);
    gelu_mlp(b.lin1, b.lin2, GeluKind::kErf, xn.data(), P, x.data(), pool, /*accumulate=*/true);  // + residual
  }

  neck_.apply(x.data(), G, out, pool);
}

SamNeck SamNeck::load(const WeightStore& w, const std::string& prefix, int64_t in_channels, int64_t out_channels, double eps) {
  SamNeck n;
  n.conv1 = &w.get(prefix + "0.weight", {out_channels, in_channels, 1, 1});
  n.conv2 = &w.get(prefix + "2.weight", {out_channels, out_channels, 3, 3});
  n.norm1_w = tensor_to_f32(w.get(prefix + "1.weight"), out_channels);
  n.norm1_b = tensor_to_f32(w.get(prefix + "1.bias"), out_channels);
  n.norm2_w = tensor_to_f32(w.get(prefix + "3.weight"), out_channels);
  n.norm2_b = tensor_to_f32(w.get(prefix + "3.bias"), out_channels);
  n.eps = float(eps);
  return n;
}

void SamNeck::apply(const float* tokens, int64_t grid, float* out, ThreadPool& pool) const {
  const int64_t C = conv1->dim(1), O = conv1->dim(0), P = grid * grid;
  const std::unique_ptr<float[]> mid(new float[size_t(P * O)]);  // fully written by the conv
  conv2d(tokens, C, grid, grid, *conv1, nullptr, {1, 1, 1, 0, 1}, mid.get(), pool, MapLayout::kChannelLast,
         MapLayout::kChannelLast);
  // LayerNorm2d normalises each pixel over its channels: a row LayerNorm of the channel-last map.
  layernorm(mid.get(), P, O, norm1_w.data(), norm1_b.data(), eps, mid.get(), pool);
  // The 3×3 conv channel-last too (patches against the packed weight, a band of rows at a time)
  // and its LayerNorm2d per row; only the finished embedding is turned channel-first.
  const std::unique_ptr<float[]> mid2(new float[size_t(P * O)]);  // fully written by the conv
  conv2d(mid.get(), O, grid, grid, *conv2, nullptr, {3, 3, 1, 1, 1}, mid2.get(), pool, MapLayout::kChannelLast,
         MapLayout::kChannelLast);
  layernorm(mid2.get(), P, O, norm2_w.data(), norm2_b.data(), eps, mid2.get(), pool);
  transpose(mid2.get(), P, O, out, pool);
}

std::string SamVitEncoder::describe() const {
  int globals = 0;
  for (bool g : cfg_.global) globals += g;
  return "SAM ViT (embed " + std::to_string(cfg_.embed_dim) + ", depth " + std::to_string(cfg_.depth) + ", " +
         std::to_string(cfg_.heads) + " heads, " + std::to_string(globals) + " global blocks)";
}

std::vector<float> sam_preprocess(const uint8_t* rgb, int64_t height, int64_t width, const SamConfig& config,
                                  ThreadPool& pool) {
  const int64_t S = config.image_size;
  if (height > S || width > S) fail("image", "larger than the encoder input after resizing");
  std::vector<float> out(size_t(3 * S * S));  // every entry written below
  pool.parallel_for(3 * S, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / S, y = r % S;
      float* dst = out.data() + r * S;
      const int64_t valid = y < height ? width : 0;
      for (int64_t x = 0; x < valid; ++x)
        dst[x] = (float(rgb[(y * width + x) * 3 + c]) - config.pixel_mean[size_t(c)]) / config.pixel_std[size_t(c)];
      std::fill(dst + valid, dst + S, 0.0f);
    }
  }, 16);
  return out;
}

}  // namespace edgerun
