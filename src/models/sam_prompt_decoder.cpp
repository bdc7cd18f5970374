// SAM's prompt encoder, two-way-transformer mask decoder and the predictor's post-processing,
// top to bottom (segment_anything/modeling/{prompt_encoder,mask_decoder,transformer}.py and
// predictor.py, as MODELS.md §7.1 describes them).
#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/vision_ops.h"
#include "media/image.h"
#include "models/sam.h"

namespace edgerun {

namespace {

// a + b elementwise, in parallel (image-side sums are a million values).
std::vector<float> sum_of(const std::vector<float>& a, const std::vector<float>& b, ThreadPool& pool) {
  std::vector<float> s(a.size());
  pool.parallel_for(int64_t(a.size()), [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) s[size_t(i)] = a[size_t(i)] + b[size_t(i)];
  }, 16384);
  return s;
}

}  // namespace

SamConfig sam_config_from_json(const json& c, const std::string& file) {
  SamConfig s;
  const auto get_int = [&](const char* key, int64_t& out) {
    if (!c.contains(key)) return;
    if (!c[key].is_number_integer() || c[key].get<int64_t>() <= 0) fail(file, std::string("'") + key + "' must be a positive integer");
    out = c[key].get<int64_t>();
  };
  get_int("prompt_embed_dim", s.prompt_embed_dim);
  get_int("image_size", s.image_size);
  get_int("image_embedding_size", s.image_embedding_size);
  get_int("mask_in_chans", s.mask_in_chans);
  get_int("decoder_transformer_depth", s.decoder_depth);
  get_int("decoder_mlp_dim", s.decoder_mlp_dim);
  get_int("decoder_num_heads", s.decoder_heads);
  get_int("decoder_attention_downsample_rate", s.attention_downsample);
  get_int("num_multimask_outputs", s.num_multimask_outputs);
  get_int("iou_head_depth", s.iou_head_depth);
  get_int("iou_head_hidden_dim", s.iou_head_hidden_dim);
  if (c.contains("decoder_layer_norm_eps")) s.decoder_layer_norm_eps = c["decoder_layer_norm_eps"].get<double>();
  if (c.contains("neck_layer_norm2d_eps")) s.layer_norm2d_eps = c["neck_layer_norm2d_eps"].get<double>();
  if (c.contains("mask_threshold")) s.mask_threshold = c["mask_threshold"].get<float>();
  for (const char* key : {"pixel_mean", "pixel_std"}) {
    if (!c.contains(key)) continue;
    if (!c[key].is_array() || c[key].size() != 3) fail(file, std::string("'") + key + "' must hold 3 numbers");
    auto& dst = std::string(key) == "pixel_mean" ? s.pixel_mean : s.pixel_std;
    for (int i = 0; i < 3; ++i) dst[size_t(i)] = c[key][size_t(i)].get<float>();
  }
  if (s.prompt_embed_dim % s.decoder_heads != 0 || (s.prompt_embed_dim / s.attention_downsample) % s.decoder_heads != 0)
    fail(file, "'prompt_embed_dim' must split evenly over 'decoder_num_heads'");
  return s;
}

SamImageGeometry sam_geometry(int64_t height, int64_t width, int64_t long_side) {
  if (height <= 0 || width <= 0) fail("image", "has no pixels");
  const double scale = double(long_side) / double(std::max(height, width));
  return {height, width, int64_t(double(height) * scale + 0.5), int64_t(double(width) * scale + 0.5)};
}

namespace {

constexpr float kTwoPi = float(2.0 * M_PI);

std::vector<float> f32(const WeightStore& w, const std::string& name, int64_t numel) {
  return tensor_to_f32(w.get(name), numel);
}

}  // namespace

SamPromptDecoder::Attention SamPromptDecoder::attention(const std::string& p, int64_t internal_dim) const {
  const int64_t D = cfg_.prompt_embed_dim;
  Attention a;
  a.internal_dim = internal_dim;
  a.q = &w_.get(p + ".q_proj.weight", {internal_dim, D});
  a.k = &w_.get(p + ".k_proj.weight", {internal_dim, D});
  a.v = &w_.get(p + ".v_proj.weight", {internal_dim, D});
  a.out = &w_.get(p + ".out_proj.weight", {D, internal_dim});
  a.q_bias = f32(w_, p + ".q_proj.bias", internal_dim);
  a.k_bias = f32(w_, p + ".k_proj.bias", internal_dim);
  a.v_bias = f32(w_, p + ".v_proj.bias", internal_dim);
  a.out_bias = f32(w_, p + ".out_proj.bias", D);
  return a;
}

SamPromptDecoder::Norm SamPromptDecoder::norm(const std::string& p, int64_t dim) const {
  return {f32(w_, p + ".weight", dim), f32(w_, p + ".bias", dim)};
}

SamPromptDecoder::Linear SamPromptDecoder::linear(const std::string& p) const {
  const Tensor& weight = w_.get(p + ".weight");
  if (weight.shape.size() != 2) fail(w_.source(), "'" + p + ".weight' is not a matrix");
  return {&weight, f32(w_, p + ".bias", weight.dim(0))};
}

SamPromptDecoder::SamPromptDecoder(const SamConfig& config, const WeightStore& weights) : cfg_(config), w_(weights) {
  const int64_t D = cfg_.prompt_embed_dim;
  gaussian_ = f32(w_, "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", 2 * (D / 2));
  for (int i = 0; i < 4; ++i) point_embeddings_.push_back(f32(w_, "prompt_encoder.point_embeddings." + std::to_string(i) + ".weight", D));
  not_a_point_ = f32(w_, "prompt_encoder.not_a_point_embed.weight", D);
  no_mask_ = f32(w_, "prompt_encoder.no_mask_embed.weight", D);
  iou_token_ = f32(w_, "mask_decoder.iou_token.weight", D);
  mask_tokens_ = f32(w_, "mask_decoder.mask_tokens.weight", cfg_.mask_tokens() * D);
  const int64_t cross_dim = D / cfg_.attention_downsample;
  for (int64_t i = 0; i < cfg_.decoder_depth; ++i) {
    const std::string p = "mask_decoder.transformer.layers." + std::to_string(i);
    Block b;
    b.self_attn = attention(p + ".self_attn", D);
    b.token_to_image = attention(p + ".cross_attn_token_to_image", cross_dim);
    b.image_to_token = attention(p + ".cross_attn_image_to_token", cross_dim);
    b.norm1 = norm(p + ".norm1", D);
    b.norm2 = norm(p + ".norm2", D);
    b.norm3 = norm(p + ".norm3", D);
    b.norm4 = norm(p + ".norm4", D);
    b.lin1 = linear(p + ".mlp.lin1");
    b.lin2 = linear(p + ".mlp.lin2");
    blocks_.push_back(std::move(b));
  }
  final_attn_ = attention("mask_decoder.transformer.final_attn_token_to_image", cross_dim);
  final_norm_ = norm("mask_decoder.transformer.norm_final_attn", D);
  const auto mlp_layers = [&](const std::string& p, int64_t n) {
    std::vector<Linear> layers;
    for (int64_t j = 0; j < n; ++j) layers.push_back(linear(p + ".layers." + std::to_string(j)));
    return layers;
  };
  for (int64_t k = 0; k < cfg_.mask_tokens(); ++k)
    hypernetworks_.push_back(mlp_layers("mask_decoder.output_hypernetworks_mlps." + std::to_string(k), 3));
  iou_head_ = mlp_layers("mask_decoder.iou_prediction_head", cfg_.iou_head_depth);
  // Shapes the forward pass relies on, checked now rather than mid-way.
  w_.get("mask_decoder.output_upscaling.0.weight", {D, D / 4, 2, 2});
  w_.get("mask_decoder.output_upscaling.3.weight", {D / 4, D / 8, 2, 2});
  w_.get("prompt_encoder.mask_downscaling.0.weight", {cfg_.mask_in_chans / 4, 1, 2, 2});
  w_.get("prompt_encoder.mask_downscaling.3.weight", {cfg_.mask_in_chans, cfg_.mask_in_chans / 4, 2, 2});
  w_.get("prompt_encoder.mask_downscaling.6.weight", {D, cfg_.mask_in_chans, 1, 1});
  if (hypernetworks_[0].back().weight->dim(0) != D / 8) fail(w_.source(), "hypernetwork outputs must have prompt_embed_dim / 8 channels");
  if (iou_head_.back().weight->dim(0) != cfg_.mask_tokens()) fail(w_.source(), "the IoU head must predict one score per mask token");
  dense_pe_ = dense_positional_encoding();
}

// q [nq, D] attends to k/v [nk, D] through the projections (internal width internal_dim).
void SamPromptDecoder::attend(const Attention& a, const float* q, int64_t nq, const float* k, const float* v, int64_t nk,
                              float* out, ThreadPool& pool) const {
  const int64_t I = a.internal_dim;
  // Every element of these is written by the projections.
  const std::unique_ptr<float[]> kp(new float[size_t(nk * I)]), vp(new float[size_t(nk * I)]);
  edgerun::linear(k, nk, *a.k, a.k_bias.data(), kp.get(), pool);
  edgerun::linear(v, nk, *a.v, a.v_bias.data(), vp.get(), pool);
  attend_projected(a, q, nq, kp.get(), vp.get(), nk, out, pool);
}

void SamPromptDecoder::attend_projected(const Attention& a, const float* q, int64_t nq, const float* kp, const float* vp,
                                        int64_t nk, float* out, ThreadPool& pool) const {
  const int64_t I = a.internal_dim, heads = cfg_.decoder_heads, hd = I / heads;
  // Every element of these is written by the projection / the attention.
  const std::unique_ptr<float[]> qp(new float[size_t(nq * I)]), att(new float[size_t(nq * I)]);
  edgerun::linear(q, nq, *a.q, a.q_bias.data(), qp.get(), pool);
  attention_full({qp.get(), I}, {kp, I}, {vp, I}, nq, nk, heads, hd, 1.0f / std::sqrt(float(hd)), att.get(), pool);
  edgerun::linear(att.get(), nq, *a.out, a.out_bias.data(), out, pool);
}

// Linear layers with ReLU between them, on one row.
void SamPromptDecoder::mlp(const std::vector<Linear>& layers, const float* x, float* y, ThreadPool& pool) const {
  std::vector<float> cur(x, x + layers.front().weight->dim(1)), next;
  for (size_t i = 0; i < layers.size(); ++i) {
    next.assign(size_t(layers[i].weight->dim(0)), 0.0f);
    edgerun::linear(cur.data(), 1, *layers[i].weight, layers[i].bias.data(), next.data(), pool);
    if (i + 1 < layers.size())
      for (float& v : next) v = std::max(v, 0.0f);
    cur.swap(next);
  }
  std::copy(cur.begin(), cur.end(), y);
}

// Random Fourier features of a point given in [0, 1]²: [sin(2π·v), cos(2π·v)], v = (2u − 1)·G.
std::vector<float> SamPromptDecoder::positional_encoding(float x, float y) const {
  const int64_t half = cfg_.prompt_embed_dim / 2;
  const float cx = 2.0f * x - 1.0f, cy = 2.0f * y - 1.0f;
  std::vector<float> pe(size_t(2 * half));
  for (int64_t j = 0; j < half; ++j) {
    const float v = kTwoPi * (cx * gaussian_[size_t(j)] + cy * gaussian_[size_t(half + j)]);
    pe[size_t(j)] = std::sin(v);
    pe[size_t(half + j)] = std::cos(v);
  }
  return pe;
}

std::vector<float> SamPromptDecoder::dense_positional_encoding() const {
  const int64_t G = cfg_.image_embedding_size, D = cfg_.prompt_embed_dim;
  std::vector<float> pe(size_t(G * G * D));  // [pixel, channel]
  for (int64_t i = 0; i < G; ++i)
    for (int64_t j = 0; j < G; ++j) {
      const std::vector<float> p = positional_encoding((float(j) + 0.5f) / float(G), (float(i) + 0.5f) / float(G));
      std::copy(p.begin(), p.end(), pe.begin() + (i * G + j) * D);
    }
  return pe;
}

std::vector<float> SamPromptDecoder::sparse_embeddings(const SamImageGeometry& g, const SamPrompt& p, int64_t& n) const {
  const int64_t D = cfg_.prompt_embed_dim;
  const float size = float(cfg_.image_size);
  // The predictor's transform to the resized frame (in double, as numpy), then pixel centres.
  const double sx = double(g.resized_w) / double(g.original_w), sy = double(g.resized_h) / double(g.original_h);
  std::vector<float> out;
  const auto add = [&](float x, float y, const float* extra, bool zero_pe) {
    std::vector<float> pe = zero_pe ? std::vector<float>(size_t(D), 0.0f) : positional_encoding(x / size, y / size);
    for (int64_t c = 0; c < D; ++c) pe[size_t(c)] += extra[c];
    out.insert(out.end(), pe.begin(), pe.end());
  };
  for (size_t i = 0; i < p.points.size(); ++i) {
    const int label = p.labels.at(i);
    if (label != 0 && label != 1) fail("point " + std::to_string(i), "label must be 1 (foreground) or 0 (background)");
    add(float(double(p.points[i][0]) * sx) + 0.5f, float(double(p.points[i][1]) * sy) + 0.5f,
        point_embeddings_[size_t(label)].data(), false);
  }
  if (!p.points.empty() && !p.box) add(0.0f, 0.0f, not_a_point_.data(), true);  // padding point
  if (p.box) {
    const auto& b = *p.box;
    add(float(double(b[0]) * sx) + 0.5f, float(double(b[1]) * sy) + 0.5f, point_embeddings_[2].data(), false);
    add(float(double(b[2]) * sx) + 0.5f, float(double(b[3]) * sy) + 0.5f, point_embeddings_[3].data(), false);
  }
  n = int64_t(out.size()) / D;
  return out;
}

// [pixel, channel]: the mask prompt through the downscaling convs, or no_mask_embed everywhere.
std::vector<float> SamPromptDecoder::dense_embeddings(const SamPrompt& p, ThreadPool& pool) const {
  const int64_t G = cfg_.image_embedding_size, D = cfg_.prompt_embed_dim, L = cfg_.low_res_size();
  std::vector<float> dense(size_t(G * G * D));
  if (p.mask_input.empty()) {
    for (int64_t px = 0; px < G * G; ++px) std::copy(no_mask_.begin(), no_mask_.end(), dense.begin() + px * D);
    return dense;
  }
  if (int64_t(p.mask_input.size()) != L * L)
    fail("mask_input", "must be [1, 1, " + std::to_string(L) + ", " + std::to_string(L) + "] low-res logits");
  const int64_t c1 = cfg_.mask_in_chans / 4, c2 = cfg_.mask_in_chans, h1 = L / 2;
  const float eps = float(cfg_.layer_norm2d_eps);
  const auto conv = [&](int idx, const float* x, int64_t ch, int64_t h, int64_t k, float* y) {
    const std::string p2 = "prompt_encoder.mask_downscaling." + std::to_string(idx);
    const Tensor& wt = w_.get(p2 + ".weight");
    const std::vector<float> b = tensor_to_f32(w_.get(p2 + ".bias"), wt.dim(0));
    conv2d(x, ch, h, h, wt, b.data(), {k, k, k, 0, 1}, y, pool);
  };
  const auto norm_gelu = [&](int idx, float* x, int64_t ch, int64_t pixels) {
    const Norm n = norm("prompt_encoder.mask_downscaling." + std::to_string(idx), ch);
    layernorm_channels(x, ch, pixels, n.weight.data(), n.bias.data(), eps, x);
    gelu_erf(x, ch * pixels);
  };
  std::vector<float> a(size_t(c1 * h1 * h1)), b(size_t(c2 * G * G)), c(size_t(D * G * G));
  conv(0, p.mask_input.data(), 1, L, 2, a.data());
  norm_gelu(1, a.data(), c1, h1 * h1);
  conv(3, a.data(), c1, h1, 2, b.data());
  norm_gelu(4, b.data(), c2, G * G);
  conv(6, b.data(), c2, G, 1, c.data());
  for (int64_t ch = 0; ch < D; ++ch)
    for (int64_t px = 0; px < G * G; ++px) dense[size_t(px * D + ch)] = c[size_t(ch * G * G + px)];
  return dense;
}

SamPromptDecoder::ImageSide SamPromptDecoder::image_side(const float* image_embedding, const SamPrompt& prompt,
                                                         ThreadPool& pool) const {
  const int64_t D = cfg_.prompt_embed_dim, G = cfg_.image_embedding_size, P = G * G;
  // Image side as [pixel, channel]: embedding + dense prompt; positions from the dense PE.
  ImageSide side;
  side.keys = dense_embeddings(prompt, pool);
  constexpr int64_t kTile = 32;  // + the embedding, transposed a tile of pixels at a time
  pool.parallel_for(P / kTile + (P % kTile != 0), [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t c = 0; c < D; ++c)
        for (int64_t px = t * kTile; px < std::min(P, (t + 1) * kTile); ++px)
          side.keys[size_t(px * D + c)] += image_embedding[c * P + px];
  });
  const std::vector<float> k = sum_of(side.keys, dense_pe_, pool);
  const Attention& a = blocks_.front().token_to_image;
  side.first_keys.resize(size_t(P * a.internal_dim));
  side.first_values.resize(size_t(P * a.internal_dim));
  edgerun::linear(k.data(), P, *a.k, a.k_bias.data(), side.first_keys.data(), pool);
  edgerun::linear(side.keys.data(), P, *a.v, a.v_bias.data(), side.first_values.data(), pool);
  return side;
}

SamPromptDecoder::ImageSide SamPromptDecoder::prepare(const float* image_embedding, ThreadPool& pool) const {
  return image_side(image_embedding, SamPrompt{}, pool);
}

SamPrediction SamPromptDecoder::predict(const float* image_embedding, const SamImageGeometry& g, const SamPrompt& prompt,
                                        ThreadPool& pool, const ImageSide* prepared) const {
  const int64_t D = cfg_.prompt_embed_dim, G = cfg_.image_embedding_size, P = G * G, L = cfg_.low_res_size();
  const float eps = float(cfg_.decoder_layer_norm_eps);
  if (prompt.labels.size() != prompt.points.size()) fail("points", "every point needs a label");
  SamPrediction out;
  int64_t n_sparse = 0;
  out.sparse_embeddings = sparse_embeddings(g, prompt, n_sparse);

  // Tokens: the IoU token, the mask tokens, then the prompt; their first value is also their PE.
  const int64_t T = 1 + cfg_.mask_tokens() + n_sparse;
  std::vector<float> token_pe;
  token_pe.insert(token_pe.end(), iou_token_.begin(), iou_token_.end());
  token_pe.insert(token_pe.end(), mask_tokens_.begin(), mask_tokens_.end());
  token_pe.insert(token_pe.end(), out.sparse_embeddings.begin(), out.sparse_embeddings.end());
  std::vector<float> queries = token_pe;

  // A mask prompt changes the dense embedding, so the prepared image side does not apply.
  ImageSide own;
  if (!prepared || !prompt.mask_input.empty()) {
    own = image_side(image_embedding, prompt, pool);
    prepared = &own;
  }
  std::vector<float> keys = prepared->keys;
  const std::vector<float>& key_pe = dense_pe_;

  const auto plus = [&](const std::vector<float>& a, const std::vector<float>& b) { return sum_of(a, b, pool); };
  const auto add_norm = [&](std::vector<float>& x, const std::vector<float>& delta, const Norm& n, int64_t rows) {
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
      add_inplace(x.data() + r0 * D, delta.data() + r0 * D, (r1 - r0) * D);
      layernorm(x.data() + r0 * D, r1 - r0, D, n.weight.data(), n.bias.data(), eps, x.data() + r0 * D);
    }, 16);
  };
  std::vector<float> tok_delta(size_t(T * D)), img_delta(size_t(P * D));
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    if (i == 0) {  // the first layer's self-attention replaces the tokens (no PE, no residual)
      attend(b.self_attn, queries.data(), T, queries.data(), queries.data(), T, tok_delta.data(), pool);
      queries = tok_delta;
      layernorm(queries.data(), T, D, b.norm1.weight.data(), b.norm1.bias.data(), eps, queries.data());
    } else {
      const std::vector<float> q = plus(queries, token_pe);
      attend(b.self_attn, q.data(), T, q.data(), queries.data(), T, tok_delta.data(), pool);
      add_norm(queries, tok_delta, b.norm1, T);
    }
    std::vector<float> q = plus(queries, token_pe);
    const std::vector<float> k = plus(keys, key_pe);
    if (i == 0)
      attend_projected(b.token_to_image, q.data(), T, prepared->first_keys.data(), prepared->first_values.data(), P,
                       tok_delta.data(), pool);
    else
      attend(b.token_to_image, q.data(), T, k.data(), keys.data(), P, tok_delta.data(), pool);
    add_norm(queries, tok_delta, b.norm2, T);
    std::vector<float> hidden(size_t(T * b.lin1.weight->dim(0)));
    edgerun::linear(queries.data(), T, *b.lin1.weight, b.lin1.bias.data(), hidden.data(), pool);
    for (float& v : hidden) v = std::max(v, 0.0f);  // ReLU
    edgerun::linear(hidden.data(), T, *b.lin2.weight, b.lin2.bias.data(), tok_delta.data(), pool);
    add_norm(queries, tok_delta, b.norm3, T);
    q = plus(queries, token_pe);
    attend(b.image_to_token, k.data(), P, q.data(), queries.data(), T, img_delta.data(), pool);
    add_norm(keys, img_delta, b.norm4, P);
  }
  {
    const std::vector<float> q = plus(queries, token_pe), k = plus(keys, key_pe);
    attend(final_attn_, q.data(), T, k.data(), keys.data(), P, tok_delta.data(), pool);
    add_norm(queries, tok_delta, final_norm_, T);
  }

  // Upscale the image side (channel-last throughout, as the keys are) to [256·256, D/8] and
  // read each mask token's hyper-weights off it.
  const int64_t c1 = D / 4, c2 = D / 8, g1 = 2 * G;
  const std::unique_ptr<float[]> up1(new float[size_t(g1 * g1 * c1)]), up2(new float[size_t(L * L * c2)]);  // fully written
  const std::vector<float> b0 = f32(w_, "mask_decoder.output_upscaling.0.bias", c1);
  const std::vector<float> b3 = f32(w_, "mask_decoder.output_upscaling.3.bias", c2);
  const Norm n1 = norm("mask_decoder.output_upscaling.1", c1);
  conv_transpose2d_nonoverlap(keys.data(), D, G, G, w_.get("mask_decoder.output_upscaling.0.weight"), b0.data(), up1.get(), pool);
  // LayerNorm2d over the channels of each pixel: a row LayerNorm in this layout.
  layernorm(up1.get(), g1 * g1, c1, n1.weight.data(), n1.bias.data(), float(cfg_.layer_norm2d_eps), up1.get(), pool);
  gelu_erf(up1.get(), g1 * g1 * c1, pool);
  conv_transpose2d_nonoverlap(up1.get(), c1, g1, g1, w_.get("mask_decoder.output_upscaling.3.weight"), b3.data(), up2.get(), pool);
  gelu_erf(up2.get(), L * L * c2, pool);

  std::vector<float> iou_all(size_t(cfg_.mask_tokens()));
  mlp(iou_head_, queries.data(), iou_all.data(), pool);
  const int64_t first = prompt.multimask ? 1 : 0;
  out.count = prompt.multimask ? cfg_.num_multimask_outputs : 1;
  out.low_res_logits.assign(size_t(out.count * L * L), 0.0f);
  for (int64_t m = 0; m < out.count; ++m) {
    std::vector<float> hyper(static_cast<size_t>(c2));
    mlp(hypernetworks_[size_t(first + m)], queries.data() + (1 + first + m) * D, hyper.data(), pool);
    float* dst = out.low_res_logits.data() + m * L * L;
    pool.parallel_for(L * L, [&](int64_t p0, int64_t p1, int) {
      for (int64_t px = p0; px < p1; ++px) {
        float acc = 0.0f;  // channel order, as the reference's sum over the hypernetwork's outputs
        for (int64_t c = 0; c < c2; ++c) acc += hyper[size_t(c)] * up2[size_t(px * c2 + c)];
        dst[px] = acc;
      }
    }, 1024);
    out.iou.push_back(iou_all[size_t(first + m)]);
  }

  // Post-processing: 256 → image_size, crop the padding, → original size, threshold. Only the
  // part of the first resize that survives the crop is computed.
  const int64_t S = cfg_.image_size, rh = g.resized_h, rw = g.resized_w, oh = g.original_h, ow = g.original_w;
  const std::unique_ptr<float[]> cropped(new float[size_t(rh * rw)]), orig(new float[size_t(oh * ow)]);  // fully written
  out.height = oh;
  out.width = ow;
  out.masks.resize(size_t(out.count * oh * ow));
  for (int64_t m = 0; m < out.count; ++m) {
    interpolate_bilinear_region(out.low_res_logits.data() + m * L * L, L, L, S, S, rh, rw, cropped.get(), pool);
    interpolate_bilinear_region(cropped.get(), rh, rw, oh, ow, oh, ow, orig.get(), pool);
    uint8_t* mask = out.masks.data() + m * oh * ow;
    for (int64_t i = 0; i < oh * ow; ++i) mask[i] = orig[size_t(i)] > cfg_.mask_threshold ? 1 : 0;
  }
  return out;
}

}  // namespace edgerun
