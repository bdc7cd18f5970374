// SAM's prompt encoder, two-way-transformer mask decoder and the predictor's post-processing,
// top to bottom (segment_anything/modeling/{prompt_encoder,mask_decoder,transformer}.py and
// predictor.py, as MODELS.md §7.1 describes them).
#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "kernels/gemm.h"
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

// A projection W [H·hd, D] (bias b) folded onto T projected vectors v [T, H·hd]: for token t and
// head h the row scale·W_hᵀ·v_th [D] and the constant scale·b_h·v_th, at index t·H + h
// (token-major) or h·T + t (head-major).
void fold_projection(const float* weight_rows, const float* bias, int64_t D, const float* v, int64_t T, int64_t H,
                     int64_t hd, float scale, bool head_major, std::vector<float>& rows, std::vector<float>& constants) {
  rows.assign(size_t(T * H * D), 0.0f);
  constants.assign(size_t(T * H), 0.0f);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t at = head_major ? h * T + t : t * H + h;
      float* row = rows.data() + at * D;
      for (int64_t j = 0; j < hd; ++j) {
        const int64_t r = h * hd + j;
        const float vj = scale * v[t * H * hd + r];
        const float* w = weight_rows + r * D;
        for (int64_t c = 0; c < D; ++c) row[c] += vj * w[c];
        constants[size_t(at)] += vj * bias[r];
      }
    }
}

}  // namespace

SamPromptDecoder::Attention SamPromptDecoder::attention(const std::string& p, int64_t internal_dim) const {
  const int64_t D = cfg_.prompt_embed_dim;
  // The cross-attentions fold their projections onto the tokens, which reads the weight rows.
  const bool cross = internal_dim != D;
  return {linear(p + ".q_proj", internal_dim, D, cross), linear(p + ".k_proj", internal_dim, D, cross),
          linear(p + ".v_proj", internal_dim, D, cross), linear(p + ".out_proj", D, internal_dim, cross), internal_dim};
}

SamPromptDecoder::Norm SamPromptDecoder::norm(const std::string& p, int64_t dim) const {
  return {f32(w_, p + ".weight", dim), f32(w_, p + ".bias", dim)};
}

SamPromptDecoder::Linear SamPromptDecoder::linear(const std::string& p, int64_t out, int64_t in, bool keep_rows) const {
  const Tensor& weight = out > 0 ? w_.get(p + ".weight", {out, in}) : w_.get(p + ".weight");
  if (weight.shape.size() != 2) fail(w_.source(), "'" + p + ".weight' is not a matrix");
  Linear l;
  const std::vector<float> w = tensor_to_f32(weight);
  ThreadPool serial(1);
  pack_panels(w.data(), weight.dim(1), 1, weight.dim(0), weight.dim(1), l.packed, serial);
  l.bias = f32(w_, p + ".bias", weight.dim(0));
  if (keep_rows) l.rows = w;
  return l;
}

void SamPromptDecoder::Linear::apply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  gemm_packed(x, in(), n, packed, y, out(), pool);
  for (int64_t r = 0; r < n; ++r) add_inplace(y + r * out(), bias.data(), out());
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
    b.lin1 = linear(p + ".mlp.lin1", cfg_.decoder_mlp_dim, D);
    b.lin2 = linear(p + ".mlp.lin2", D, cfg_.decoder_mlp_dim);
    blocks_.push_back(std::move(b));
  }
  final_attn_ = attention("mask_decoder.transformer.final_attn_token_to_image", cross_dim);
  final_norm_ = norm("mask_decoder.transformer.norm_final_attn", D);
  const auto mlp_layers = [&](const std::string& p, int64_t n) {
    std::vector<Linear> layers;
    for (int64_t j = 0; j < n; ++j) layers.push_back(linear(p + ".layers." + std::to_string(j)));
    for (size_t j = 1; j < layers.size(); ++j)
      if (layers[j].in() != layers[j - 1].out()) fail(w_.source(), "'" + p + "' layers do not chain");
    if (layers.front().in() != D) fail(w_.source(), "'" + p + ".layers.0' must take prompt_embed_dim inputs");
    return layers;
  };
  for (int64_t k = 0; k < cfg_.mask_tokens(); ++k)
    hypernetworks_.push_back(mlp_layers("mask_decoder.output_hypernetworks_mlps." + std::to_string(k), 3));
  iou_head_ = mlp_layers("mask_decoder.iou_prediction_head", cfg_.iou_head_depth);
  // Shapes the forward pass relies on, checked now rather than mid-way.
  ThreadPool serial(1);
  upscale1_ = pack_conv_transpose(w_.get("mask_decoder.output_upscaling.0.weight", {D, D / 4, 2, 2}), serial);
  upscale2_ = pack_conv_transpose(w_.get("mask_decoder.output_upscaling.3.weight", {D / 4, D / 8, 2, 2}), serial);
  upscale1_bias_ = f32(w_, "mask_decoder.output_upscaling.0.bias", D / 4);
  upscale2_bias_ = f32(w_, "mask_decoder.output_upscaling.3.bias", D / 8);
  upscale_norm_ = norm("mask_decoder.output_upscaling.1", D / 4);
  w_.get("prompt_encoder.mask_downscaling.0.weight", {cfg_.mask_in_chans / 4, 1, 2, 2});
  w_.get("prompt_encoder.mask_downscaling.3.weight", {cfg_.mask_in_chans, cfg_.mask_in_chans / 4, 2, 2});
  w_.get("prompt_encoder.mask_downscaling.6.weight", {D, cfg_.mask_in_chans, 1, 1});
  if (hypernetworks_[0].back().out() != D / 8) fail(w_.source(), "hypernetwork outputs must have prompt_embed_dim / 8 channels");
  if (iou_head_.back().out() != cfg_.mask_tokens()) fail(w_.source(), "the IoU head must predict one score per mask token");
  dense_pe_ = dense_positional_encoding();
}

void SamPromptDecoder::attend(const Attention& a, const float* q, const float* k, const float* v, int64_t n, float* out,
                              ThreadPool& pool) const {
  const int64_t I = a.internal_dim, heads = cfg_.decoder_heads, hd = I / heads;
  std::vector<float> qp(size_t(n * I)), kp(size_t(n * I)), vp(size_t(n * I)), att(size_t(n * I));
  a.q.apply(q, n, qp.data(), pool);
  a.k.apply(k, n, kp.data(), pool);
  a.v.apply(v, n, vp.data(), pool);
  attention_full({qp.data(), I}, {kp.data(), I}, {vp.data(), I}, n, n, heads, hd, 1.0f / std::sqrt(float(hd)), att.data(), pool);
  a.out.apply(att.data(), n, out, pool);
}

// The projections are folded onto the few tokens instead of applied to the P image rows: for one
// head's projected query q, q·(Wk·x + bk) = (Wkᵀq)·x + q·bk, and Σₚ aₚ(Wv·vₚ + bv) = Wv(Σₚ aₚvₚ) + bv
// because the weights sum to 1. The image side is then read by two GEMMs against T·heads rows,
// under half the work of projecting it to keys and values.
void SamPromptDecoder::tokens_to_image(const Attention& a, const float* tokens, int64_t T, const float* keys,
                                       const float* values, float* out, ThreadPool& pool) const {
  const int64_t D = cfg_.prompt_embed_dim, P = cfg_.image_embedding_size * cfg_.image_embedding_size;
  const int64_t I = a.internal_dim, H = cfg_.decoder_heads, hd = I / H, R = T * H;
  const float scale = 1.0f / std::sqrt(float(hd));
  std::vector<float> q(size_t(T * I));
  a.q.apply(tokens, T, q.data(), pool);
  std::vector<float> folded, offset;  // row t·H + h
  fold_projection(a.k.rows.data(), a.k.bias.data(), D, q.data(), T, H, hd, scale, false, folded, offset);
  PackedPanels packed;
  pack_panels(folded.data(), D, 1, R, D, packed, pool);
  // Fully written: the GEMM writes every score, the transpose every weight.
  const std::unique_ptr<float[]> scores(new float[size_t(P * R)]), weights(new float[size_t(R * P)]);
  gemm_packed(keys, D, P, packed, scores.get(), R, pool);
  pool.parallel_for(R, [&](int64_t r0, int64_t r1, int) {  // a softmax over the positions per (token, head)
    for (int64_t r = r0; r < r1; ++r) {
      float* w = weights.get() + r * P;
      for (int64_t p = 0; p < P; ++p) w[p] = scores[size_t(p * R + r)] + offset[size_t(r)];
      softmax(w, P);
    }
  }, 1);
  std::vector<float> mixed(size_t(R * D));  // Σₚ aₚvₚ per (token, head)
  gemm_in_place(weights.get(), P, R, values, D, P, D, mixed.data(), D, pool);
  std::vector<float> attended(size_t(T * I));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < I; ++r)
      attended[size_t(t * I + r)] = dot_f32(a.v.rows.data() + r * D, mixed.data() + (t * H + r / hd) * D, D) + a.v.bias[size_t(r)];
  a.out.apply(attended.data(), T, out, pool);
}

// Folded the other way: each image query meets the projected key k_th of a token as
// (Wq_hᵀ·k_th)·x + bq_h·k_th, and the value and output projections of the T tokens become one
// [heads·T] → [D] map applied to the attention weights. The output projection's bias is left to
// the caller's residual pass.
void SamPromptDecoder::image_to_tokens(const Attention& a, const float* queries, const float* keys, const float* values,
                                       int64_t T, float* out, ThreadPool& pool) const {
  const int64_t D = cfg_.prompt_embed_dim, P = cfg_.image_embedding_size * cfg_.image_embedding_size;
  const int64_t I = a.internal_dim, H = cfg_.decoder_heads, hd = I / H, R = H * T;
  const float scale = 1.0f / std::sqrt(float(hd));
  std::vector<float> k(size_t(T * I)), v(size_t(T * I));
  a.k.apply(keys, T, k.data(), pool);
  a.v.apply(values, T, v.data(), pool);
  std::vector<float> folded, offset;  // row h·T + t
  fold_projection(a.q.rows.data(), a.q.bias.data(), D, k.data(), T, H, hd, scale, true, folded, offset);
  PackedPanels packed;
  pack_panels(folded.data(), D, 1, R, D, packed, pool);
  const std::unique_ptr<float[]> weights(new float[size_t(P * R)]);  // fully written by the GEMM
  gemm_packed(queries, D, P, packed, weights.get(), R, pool);
  pool.parallel_for(P, [&](int64_t p0, int64_t p1, int) {  // a softmax over the tokens per (position, head)
    for (int64_t p = p0; p < p1; ++p) {
      float* w = weights.get() + p * R;
      for (int64_t i = 0; i < R; ++i) w[i] += offset[size_t(i)];
      softmax_groups(w, H, T);
    }
  }, 256);
  std::vector<float> mix(size_t(D * R));  // [D, heads·T]: Wout_h·v_th for each output channel
  for (int64_t d = 0; d < D; ++d)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t)
        mix[size_t(d * R + h * T + t)] = dot_f32(a.out.rows.data() + d * I + h * hd, v.data() + t * I + h * hd, hd);
  pack_panels(mix.data(), R, 1, D, R, packed, pool);
  gemm_packed(weights.get(), R, P, packed, out, D, pool);
}

// Linear layers with ReLU between them, on one row.
void SamPromptDecoder::mlp(const std::vector<Linear>& layers, const float* x, float* y) const {
  // One row through a few small layers: on this thread, a parallel region would cost more.
  thread_local ThreadPool serial(1);
  std::vector<float> cur(x, x + layers.front().in()), next;
  for (size_t i = 0; i < layers.size(); ++i) {
    next.assign(size_t(layers[i].out()), 0.0f);
    layers[i].apply(cur.data(), 1, next.data(), serial);
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
  side.keys_pe = sum_of(side.keys, dense_pe_, pool);
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
  // The image side [P, D] and it plus the dense PE: the prepared ones enter the first layer, each
  // layer's image-to-token attention updates them (into own buffers).
  const float* keys = prepared->keys.data();
  const float* keys_pe = prepared->keys_pe.data();
  const std::unique_ptr<float[]> updated_keys(new float[size_t(P * D)]), updated_keys_pe(new float[size_t(P * D)]);  // written before read

  const auto plus = [&](const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> s(a.size());
    for (size_t i = 0; i < a.size(); ++i) s[i] = a[i] + b[i];
    return s;
  };
  const auto add_norm = [&](std::vector<float>& x, const std::vector<float>& delta, const Norm& n, int64_t rows) {
    add_inplace(x.data(), delta.data(), rows * D);
    layernorm(x.data(), rows, D, n.weight.data(), n.bias.data(), eps, x.data());
  };
  std::vector<float> tok_delta(size_t(T * D));
  const std::unique_ptr<float[]> img_delta(new float[size_t(P * D)]);  // written by each image-to-token attention
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    if (i == 0) {  // the first layer's self-attention replaces the tokens (no PE, no residual)
      attend(b.self_attn, queries.data(), queries.data(), queries.data(), T, tok_delta.data(), pool);
      queries = tok_delta;
      layernorm(queries.data(), T, D, b.norm1.weight.data(), b.norm1.bias.data(), eps, queries.data());
    } else {
      const std::vector<float> q = plus(queries, token_pe);
      attend(b.self_attn, q.data(), q.data(), queries.data(), T, tok_delta.data(), pool);
      add_norm(queries, tok_delta, b.norm1, T);
    }
    std::vector<float> q = plus(queries, token_pe);
    tokens_to_image(b.token_to_image, q.data(), T, keys_pe, keys, tok_delta.data(), pool);
    add_norm(queries, tok_delta, b.norm2, T);
    std::vector<float> hidden(size_t(T * b.lin1.out()));
    b.lin1.apply(queries.data(), T, hidden.data(), pool);
    for (float& v : hidden) v = std::max(v, 0.0f);  // ReLU
    b.lin2.apply(hidden.data(), T, tok_delta.data(), pool);
    add_norm(queries, tok_delta, b.norm3, T);
    q = plus(queries, token_pe);
    image_to_tokens(b.image_to_token, keys_pe, q.data(), queries.data(), T, img_delta.get(), pool);
    // keys ← LayerNorm(keys + (delta + out_proj bias)) and keys + PE, row by row (in place from
    // the second layer).
    const float* out_bias = b.image_to_token.out.bias.data();
    pool.parallel_for(P, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r) {
        float* k = updated_keys.get() + r * D;
        const float *old = keys + r * D, *delta = img_delta.get() + r * D, *pe = dense_pe_.data() + r * D;
        for (int64_t c = 0; c < D; ++c) k[c] = old[c] + (delta[c] + out_bias[c]);
        layernorm(k, 1, D, b.norm4.weight.data(), b.norm4.bias.data(), eps, k);
        float* kp = updated_keys_pe.get() + r * D;
        for (int64_t c = 0; c < D; ++c) kp[c] = k[c] + pe[c];
      }
    }, 64);
    keys = updated_keys.get();
    keys_pe = updated_keys_pe.get();
  }
  // The final attention is per token, and only the IoU token and the mask tokens to be output are
  // read after it: the prompt's tokens (and unused mask tokens at the end) are left out.
  const int64_t first = prompt.multimask ? 1 : 0;
  out.count = prompt.multimask ? cfg_.num_multimask_outputs : 1;
  const int64_t read_tokens = 1 + first + out.count;
  {
    const std::vector<float> q = plus(queries, token_pe);
    tokens_to_image(final_attn_, q.data(), read_tokens, keys_pe, keys, tok_delta.data(), pool);
    add_norm(queries, tok_delta, final_norm_, read_tokens);
  }

  // Upscale the image side (channel-last throughout, as the keys are) to [256·256, D/8]; each
  // transposed conv's bias is added in the pass that normalises or activates its output.
  const int64_t c1 = D / 4, c2 = D / 8, g1 = 2 * G;
  const std::unique_ptr<float[]> up1(new float[size_t(g1 * g1 * c1)]), up2(new float[size_t(L * L * c2)]);  // fully written
  conv_transpose2d_nonoverlap(keys, G, G, upscale1_, up1.get(), pool);
  pool.parallel_for(g1 * g1, [&](int64_t p0, int64_t p1, int) {  // LayerNorm2d: over each pixel's channels
    float* rows = up1.get() + p0 * c1;
    for (int64_t p = 0; p < p1 - p0; ++p) add_inplace(rows + p * c1, upscale1_bias_.data(), c1);
    layernorm(rows, p1 - p0, c1, upscale_norm_.weight.data(), upscale_norm_.bias.data(), float(cfg_.layer_norm2d_eps), rows);
    gelu_erf(rows, (p1 - p0) * c1);
  }, 256);
  conv_transpose2d_nonoverlap(up1.get(), g1, g1, upscale2_, up2.get(), pool);
  pool.parallel_for(L * L, [&](int64_t p0, int64_t p1, int) {
    float* rows = up2.get() + p0 * c2;
    for (int64_t p = 0; p < p1 - p0; ++p) add_inplace(rows + p * c2, upscale2_bias_.data(), c2);
    gelu_erf(rows, (p1 - p0) * c2);
  }, 512);

  // Each mask's logits: the upscaled map [L·L, c2] times its mask token's hypernetwork output.
  std::vector<float> iou_all(size_t(cfg_.mask_tokens()));
  mlp(iou_head_, queries.data(), iou_all.data());
  std::vector<float> hyper(size_t(out.count * c2));
  for (int64_t m = 0; m < out.count; ++m) {
    mlp(hypernetworks_[size_t(first + m)], queries.data() + (1 + first + m) * D, hyper.data() + m * c2);
    out.iou.push_back(iou_all[size_t(first + m)]);
  }
  PackedPanels packed_hyper;
  pack_panels(hyper.data(), c2, 1, out.count, c2, packed_hyper, pool);
  std::vector<float> logits(size_t(L * L * out.count));  // [pixel, mask]
  gemm_packed(up2.get(), c2, L * L, packed_hyper, logits.data(), out.count, pool);
  out.low_res_logits.resize(size_t(out.count * L * L));
  for (int64_t m = 0; m < out.count; ++m)
    for (int64_t px = 0; px < L * L; ++px) out.low_res_logits[size_t(m * L * L + px)] = logits[size_t(px * out.count + m)];

  // Post-processing: 256 → image_size, crop the padding, → original size, threshold. Only the
  // part of the first resize that survives the crop is computed.
  const int64_t S = cfg_.image_size, rh = g.resized_h, rw = g.resized_w, oh = g.original_h, ow = g.original_w;
  // Fully written by the resizes; an image already at the long side needs no second resize.
  const bool same_size = oh == rh && ow == rw;
  const std::unique_ptr<float[]> cropped(new float[size_t(rh * rw)]), orig(same_size ? nullptr : new float[size_t(oh * ow)]);
  out.height = oh;
  out.width = ow;
  out.masks.resize(size_t(out.count * oh * ow));
  for (int64_t m = 0; m < out.count; ++m) {
    interpolate_bilinear_region(out.low_res_logits.data() + m * L * L, L, L, S, S, rh, rw, cropped.get(), pool);
    if (!same_size) interpolate_bilinear_region(cropped.get(), rh, rw, oh, ow, oh, ow, orig.get(), pool);
    const float* logits = same_size ? cropped.get() : orig.get();
    uint8_t* mask = out.masks.data() + m * oh * ow;
    pool.parallel_for(oh * ow, [&](int64_t i0, int64_t i1, int) {
      for (int64_t i = i0; i < i1; ++i) mask[i] = logits[i] > cfg_.mask_threshold ? 1 : 0;
    }, 65536);
  }
  return out;
}

}  // namespace edgerun
