// TinyViT-5M as MobileSAM builds it, top to bottom.
#include "models/tiny_vit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "core/error.h"
#include "kernels/ops.h"

namespace edgerun {

namespace {

std::vector<int64_t> int_list(const json& v, const std::string& where) {
  if (!v.is_array() || v.empty()) fail(where, "must be a non-empty list of integers");
  std::vector<int64_t> out;
  for (const json& x : v) {
    if (!x.is_number_integer() || x.get<int64_t>() <= 0) fail(where, "must hold positive integers");
    out.push_back(x.get<int64_t>());
  }
  return out;
}


}  // namespace

TinyVitConfig TinyVitConfig::from_json(const json& s, const std::string& file) {
  TinyVitConfig c;
  if (!s.is_object()) fail(file, "'tiny_vit' must be an object");
  const auto list = [&](const char* key, std::vector<int64_t>& dst) {
    if (s.contains(key)) dst = int_list(s[key], file + ": tiny_vit." + key);
  };
  list("embed_dims", c.embed_dims);
  list("depths", c.depths);
  list("num_heads", c.num_heads);
  list("window_sizes", c.window_sizes);
  list("patch_merging_strides", c.merge_strides);
  if (s.contains("mlp_ratio")) c.mlp_ratio = s["mlp_ratio"].get<double>();
  if (s.contains("mbconv_expand_ratio")) c.mbconv_expand_ratio = s["mbconv_expand_ratio"].get<double>();
  if (s.contains("layer_norm_eps")) c.layer_norm_eps = s["layer_norm_eps"].get<double>();
  if (s.contains("batch_norm_eps")) c.batch_norm_eps = s["batch_norm_eps"].get<double>();
  if (s.contains("neck_layer_norm2d_eps")) c.neck_eps = s["neck_layer_norm2d_eps"].get<double>();
  if (s.contains("img_size")) c.img_size = s["img_size"].get<int64_t>();
  const size_t n = c.embed_dims.size();
  if (c.depths.size() != n || c.num_heads.size() != n || c.window_sizes.size() != n || c.merge_strides.size() + 1 != n || n < 2)
    fail(file, "tiny_vit: embed_dims, depths, num_heads and window_sizes must have one entry per stage, patch_merging_strides one fewer");
  for (size_t i = 1; i < n; ++i)
    if (c.embed_dims[i] % c.num_heads[i] != 0) fail(file, "tiny_vit: embed_dims[" + std::to_string(i) + "] is not a multiple of num_heads");
  return c;
}

bool looks_like_tiny_vit(const WeightStore& w, const std::string& p) {
  return w.find(p + "patch_embed.seq.0.c.weight") && w.find(p + "layers.0.blocks.0.conv1.c.weight");
}

TinyVitEncoder::ConvBn TinyVitEncoder::conv_bn(const std::string& name, int64_t kernel, int64_t stride, int64_t pad,
                                               bool depthwise) const {
  ConvBn c;
  const Tensor& raw = w_.get(name + ".c.weight");
  if (raw.shape.size() != 4 || raw.dim(2) != kernel || raw.dim(3) != kernel)
    fail(w_.source(), "'" + name + ".c.weight' has shape " + raw.shape_string() + ", expected a " +
                          std::to_string(kernel) + "x" + std::to_string(kernel) + " convolution");
  const int64_t out = raw.dim(0), per_out = raw.numel() / out;
  c.shape = {kernel, kernel, stride, pad, depthwise ? out : 1};
  const std::vector<float> gamma = tensor_to_f32(w_.get(name + ".bn.weight"), out), beta = tensor_to_f32(w_.get(name + ".bn.bias"), out);
  const std::vector<float> mean = tensor_to_f32(w_.get(name + ".bn.running_mean"), out);
  const std::vector<float> var = tensor_to_f32(w_.get(name + ".bn.running_var"), out);
  auto folded = std::make_shared<std::vector<float>>(tensor_to_f32(raw));
  for (int64_t i = 0; i < out; ++i) {
    // PyTorch's eval-mode batch norm is y·α + (β − μ·α) with α = γ/√(σ²+ε); α goes into the
    // weight (conv(x)·α = conv_{W·α}(x)), the rest is the bias.
    const float alpha = gamma[size_t(i)] / std::sqrt(var[size_t(i)] + float(cfg_.batch_norm_eps));
    for (int64_t k = 0; k < per_out; ++k) (*folded)[size_t(i * per_out + k)] *= alpha;
    c.shift.push_back(beta[size_t(i)] - mean[size_t(i)] * alpha);
  }
  c.weight = raw;
  c.weight.dtype = DType::F32;
  c.weight.data = reinterpret_cast<const uint8_t*>(folded->data());
  c.weight.nbytes = folded->size() * sizeof(float);
  c.folded = std::move(folded);
  return c;
}

void TinyVitEncoder::run_conv_bn(const ConvBn& c, const float* x, int64_t channels, int64_t h, int64_t w, float* y,
                                 ThreadPool& pool, bool gelu, MapLayout in) const {
  conv2d(x, channels, h, w, c.weight, c.shift.data(), c.shape, y, pool, in, MapLayout::kChannelLast,
         gelu ? Activation(gelu_erf) : nullptr);
}

TinyVitEncoder::TinyVitEncoder(const TinyVitConfig& config, const WeightStore& weights, const std::string& prefix)
    : cfg_(config), w_(weights), prefix_(prefix) {
  const std::string p = prefix_;
  ThreadPool serial(1);  // for packing weights at load
  stem1_ = conv_bn(p + "patch_embed.seq.0", 3, 2, 1, false);
  stem2_ = conv_bn(p + "patch_embed.seq.2", 3, 2, 1, false);
  if (stem2_.weight.dim(0) != cfg_.embed_dims[0]) fail(w_.source(), "'" + p + "patch_embed.seq.2.c.weight' does not match embed_dims[0]");
  int64_t resolution = cfg_.img_size / 4;
  for (size_t si = 0; si < cfg_.embed_dims.size(); ++si) {
    const std::string sp = p + "layers." + std::to_string(si) + ".";
    Stage s;
    s.dim = cfg_.embed_dims[si];
    s.heads = cfg_.num_heads[si];
    s.window = cfg_.window_sizes[si];
    s.resolution = resolution;
    for (int64_t bi = 0; bi < cfg_.depths[si]; ++bi) {
      const std::string bp = sp + "blocks." + std::to_string(bi) + ".";
      if (si == 0) {
        MbConv m{conv_bn(bp + "conv1", 1, 1, 0, false), conv_bn(bp + "conv2", 3, 1, 1, true), conv_bn(bp + "conv3", 1, 1, 0, false), {}, {}, {}};
        const int64_t hidden = m.expand.weight.dim(0);
        if (m.expand.weight.dim(1) != s.dim || m.depthwise.weight.dim(0) != hidden || m.depthwise.weight.dim(1) != 1 ||
            m.project.weight.dim(0) != s.dim || m.project.weight.dim(1) != hidden)
          fail(w_.source(), "'" + bp + "conv1/2/3' do not chain " + std::to_string(s.dim) + " -> hidden -> " + std::to_string(s.dim) + " channels");
        pack_operand(m.expand.folded->data(), s.dim, 1, hidden, s.dim, m.expand_packed, serial);
        pack_operand(m.project.folded->data(), hidden, 1, s.dim, hidden, m.project_packed, serial);
        m.taps = depthwise_taps(m.depthwise.weight);
        s.mbconvs.push_back(std::move(m));
        continue;
      }
      Block b;
      const int64_t C = s.dim, N = s.window * s.window;
      b.attn_norm = load_layernorm(w_, bp + "attn.norm", C, cfg_.layer_norm_eps);
      b.qkv = load_linear(w_, bp + "attn.qkv", 3 * C, C);
      b.proj = load_linear(w_, bp + "attn.proj", C, C);
      b.mlp_norm = load_layernorm(w_, bp + "mlp.norm", C, cfg_.layer_norm_eps);
      b.fc1 = load_linear(w_, bp + "mlp.fc1", -1, C);
      b.fc2 = load_linear(w_, bp + "mlp.fc2", C, b.fc1.out());
      for (LinearLayer* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2})  // quantized weights keep the matmul path
        if (!dtype_is_quantized(l->weight->dtype)) l->pack(serial);
      b.local_conv = conv_bn(bp + "local_conv", 3, 1, 1, true);
      // The bias table has one entry per distinct (|Δy|, |Δx|) between two window positions,
      // numbered in the order pairs are first met (row-major over both positions).
      std::map<std::pair<int64_t, int64_t>, int64_t> offsets;
      std::vector<int64_t> index(size_t(N * N));
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < N; ++j) {
          const std::pair<int64_t, int64_t> off{std::abs(i / s.window - j / s.window), std::abs(i % s.window - j % s.window)};
          const auto it = offsets.emplace(off, int64_t(offsets.size())).first;
          index[size_t(i * N + j)] = it->second;
        }
      const std::vector<float> table = tensor_to_f32(w_.get(bp + "attn.attention_biases", {s.heads, int64_t(offsets.size())}));
      b.bias.resize(size_t(s.heads * N * N));
      for (int64_t h = 0; h < s.heads; ++h)
        for (int64_t k = 0; k < N * N; ++k) b.bias[size_t(h * N * N + k)] = table[size_t(h * int64_t(offsets.size()) + index[size_t(k)])];
      // A window's padding is zero before the attention's LayerNorm, which maps it to the norm's bias.
      b.pad_qkv.resize(size_t(3 * C));
      b.qkv.apply(b.attn_norm.bias.data(), 1, b.pad_qkv.data(), serial);
      s.blocks.push_back(std::move(b));
    }
    if (si + 1 < cfg_.embed_dims.size()) {
      const int64_t stride = cfg_.merge_strides[si];
      s.merge = {conv_bn(sp + "downsample.conv1", 1, 1, 0, false), conv_bn(sp + "downsample.conv2", 3, stride, 1, true),
                 conv_bn(sp + "downsample.conv3", 1, 1, 0, false)};
      resolution = conv_output_size(resolution, 3, stride, 1);
    }
    s.out_resolution = resolution;
    stages_.push_back(std::move(s));
  }
  if (resolution != 64) fail(w_.source(), "the TinyViT stages end at " + std::to_string(resolution) + "², SAM needs 64²");
  neck_ = SamNeck::load(w_, p + "neck.", cfg_.embed_dims.back(), 256, cfg_.neck_eps);
}

// tokens [H·W, C]: windowed attention (its own LayerNorm inside, zero padding to whole windows
// before it), residual; depthwise local conv; LayerNorm'd MLP, residual.
void TinyVitEncoder::run_block(const Stage& s, const Block& b, std::vector<float>& tokens, BlockScratch& scratch,
                               ThreadPool& pool) const {
  const int64_t C = s.dim, H = s.resolution, P = H * H;
  run_attention(s, b, tokens.data(), scratch, pool);
  // Local conv (depthwise, with its BatchNorm) on the token grid; it replaces the tokens.
  run_conv_bn(b.local_conv, tokens.data(), C, H, H, scratch.conv_out.data(), pool);
  tokens.swap(scratch.conv_out);
  // MLP on the normed tokens, + residual (in place).
  gelu_mlp(b.fc1, b.fc2, GeluKind::kErf, tokens.data(), P, tokens.data(), pool, /*accumulate=*/true, &b.mlp_norm);
}

// The attention half is per token (norm, projections) or per window. On a small grid it runs as
// passes over the whole grid. On a large one (the first attention stage, 128²: its [H·W, 3C]
// projections are 24 MiB) those passes go to memory and back, so it runs tile by tile instead: a
// few windows of one row of windows on one thread — norm, qkv, attention and output projection
// while the tile's rows are in L2 (~1.5 MiB of buffers). Measured both ways: tiles are ~20%
// faster at 128², a few percent slower at 64².
bool TinyVitEncoder::tiled_attention(const Stage& s) {
  constexpr int64_t kTiledAbove = int64_t(16) << 20;  // bytes of the grid's [q, k, v] projections
  return s.resolution * s.resolution * 3 * s.dim * int64_t(sizeof(float)) > kTiledAbove;
}

void TinyVitEncoder::run_attention(const Stage& s, const Block& b, float* tokens, BlockScratch& scratch,
                                   ThreadPool& pool) const {
  const int64_t C = s.dim, H = s.resolution, P = H * H, N = s.window * s.window, hd = C / s.heads;
  const float scale = 1.0f / std::sqrt(float(hd));
  const AttentionBias bias = [&](int64_t head, int64_t row, const float*, float* scores) {
    add_inplace(scores, b.bias.data() + (head * N + row) * N, N);
  };
  const float* pad = b.pad_qkv.data();  // the fused projection holds [q, k, v] head after head
  if (!tiled_attention(s)) {
    float *normed = scratch.normed.get(), *qkv = scratch.qkv.get(), *att = scratch.attended.get();
    b.attn_norm.apply(tokens, P, normed, pool);
    b.qkv.apply(normed, P, qkv, pool);
    windowed_attention({qkv, qkv + hd, qkv + 2 * hd, 3 * C, 3 * hd, pad + hd, pad + 2 * hd}, H, H, s.window, s.heads, hd,
                       scale, att, pool, &bias);
    b.proj.apply(att, P, tokens, pool, {.accumulate = true});  // + residual
    return;
  }
  const int64_t across = (H + s.window - 1) / s.window;  // windows per row of windows
  constexpr int64_t kTileBytes = int64_t(3) << 19;
  const int64_t tile_windows = std::clamp<int64_t>(kTileBytes / (N * 6 * C * int64_t(sizeof(float))), 1, across);
  const int64_t tiles_across = (across + tile_windows - 1) / tile_windows, tile_tokens = N * tile_windows;
  pool.parallel_for(across * tiles_across, [&](int64_t t0, int64_t t1, int) {
    thread_local ThreadPool serial(1);
    thread_local AlignedVector<float> buffer;
    buffer.resize(size_t(6 * tile_tokens * C));  // normed, qkv (3C), attended, residual rows
    float *normed = buffer.data(), *qkv = normed + tile_tokens * C, *att = qkv + 3 * tile_tokens * C;
    float* res = att + tile_tokens * C;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t y0 = t / tiles_across * s.window, x0 = t % tiles_across * tile_windows * s.window;
      const int64_t rows = std::min(s.window, H - y0), cols = std::min(tile_windows * s.window, H - x0), n = rows * cols;
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = tokens + ((y0 + r) * H + x0) * C;
        layernorm(src, cols, C, b.attn_norm.weight.data(), b.attn_norm.bias.data(), b.attn_norm.eps, normed + r * cols * C);
        std::copy_n(src, cols * C, res + r * cols * C);
      }
      b.qkv.apply(normed, n, qkv, serial);
      windowed_attention({qkv, qkv + hd, qkv + 2 * hd, 3 * C, 3 * hd, pad + hd, pad + 2 * hd}, rows, cols, s.window, s.heads,
                         hd, scale, att, serial, &bias);
      b.proj.apply(att, n, res, serial, {.accumulate = true});  // + residual
      for (int64_t r = 0; r < rows; ++r) std::copy_n(res + r * cols * C, cols * C, tokens + ((y0 + r) * H + x0) * C);
    }
  }, 1);
}

// MBConv: 1×1 expand, BN, GELU; depthwise 3×3, BN, GELU; 1×1 project, BN; + x; GELU. At 256²
// pixels the expanded maps would be 64 MiB each, so a pass over them costs more than its
// arithmetic: instead each thread takes a band of rows and walks it a few output rows at a time,
// keeping in an L2-sized ring just the expanded rows the depthwise conv reads (the step's rows and
// one above and below; the two still needed stay where they are for the next step). Every conv
// carries its BatchNorm (folded at load); the 1×1 convs apply shift, residual and GELU as the
// GEMM stores each tile, the depthwise one as each row is finished.
void TinyVitEncoder::run_mbconv(const MbConv& m, const float* x, int64_t C, int64_t H, float* y, ThreadPool& pool) const {
  const int64_t W = H, hidden = m.expand_packed.out(), row_size = W * hidden;
  const auto gelu = static_cast<Activation>(gelu_erf);
  constexpr int64_t kStep = 4, kRing = kStep + 2;  // output rows per step; expanded rows held
  const int64_t bands = std::max<int64_t>(1, std::min<int64_t>(int64_t(pool.size()), H));
  pool.parallel_for(bands, [&](int64_t b0, int64_t b1, int) {
    thread_local ThreadPool serial(1);
    // Fully written before being read: ring rows as they are computed, mid by the depthwise conv.
    const std::unique_ptr<float[]> ring(new float[size_t(kRing * row_size)]), mid(new float[size_t(kStep * row_size)]);
    std::vector<const float*> rows(size_t(H), nullptr);  // expanded row iy at ring slot iy mod kRing
    for (int64_t iy = 0; iy < H; ++iy) rows[size_t(iy)] = ring.get() + iy % kRing * row_size;
    for (int64_t band = b0; band < b1; ++band) {
      const int64_t y_begin = band * H / bands, y_end = (band + 1) * H / bands;
      int64_t have_to = std::max<int64_t>(0, y_begin - 1);  // expanded rows [.., have_to) are in the ring
      for (int64_t y0 = y_begin; y0 < y_end; y0 += kStep) {
        const int64_t y1 = std::min(y_end, y0 + kStep), need_to = std::min(H, y1 + 1);
        // The new rows in runs that do not wrap around the ring (one GEMM each).
        for (int64_t r = have_to; r < need_to;) {
          const int64_t run = std::min(need_to - r, kRing - r % kRing);
          gemm_operand(x + r * W * C, C, run * W, m.expand_packed, ring.get() + r % kRing * row_size, hidden, serial,
                       {m.expand.shift.data(), false, gelu});
          r += run;
        }
        have_to = need_to;
        depthwise_rows_channels_last(rows.data(), hidden, H, W, m.taps.data(), m.depthwise.shift.data(),
                                     m.depthwise.shape, y0, y1, mid.get(), gelu);
        float* out = y + y0 * W * C;  // GELU(x + BN(project(mid))): the residual first, then the GEMM adds to it
        std::copy_n(x + y0 * W * C, (y1 - y0) * W * C, out);
        gemm_operand(mid.get(), hidden, (y1 - y0) * W, m.project_packed, out, C, serial, {m.project.shift.data(), true, gelu});
      }
    }
  }, 1);
}

void TinyVitEncoder::encode(const float* image, float* out, ThreadPool& pool) const {
  // Every map is channel-last ([pixels, C], i.e. token rows) from the first conv on.
  const int64_t in = cfg_.img_size, half = in / 2, quarter = in / 4;
  // Stem: two stride-2 convs (GELU between) → [256², C0].
  const int64_t stem_channels = stem1_.weight.dim(0);
  const std::unique_ptr<float[]> a(new float[size_t(stem_channels * half * half)]);  // fully written
  run_conv_bn(stem1_, image, 3, in, in, a.get(), pool, true, MapLayout::kChannelFirst);
  std::vector<float> x(size_t(cfg_.embed_dims[0] * quarter * quarter));
  run_conv_bn(stem2_, a.get(), stem_channels, half, half, x.data(), pool);

  for (size_t si = 0; si < stages_.size(); ++si) {
    const Stage& s = stages_[si];
    const int64_t H = s.resolution, P = H * H;
    if (si == 0) {
      std::vector<float> y(x.size());
      for (const MbConv& m : s.mbconvs) {
        run_mbconv(m, x.data(), s.dim, H, y.data(), pool);
        x.swap(y);
      }
    } else {
      const int64_t P_C = P * s.dim;
      // Whole-grid buffers (fully written before being read); the tiled attention keeps its own.
      const bool tiled = tiled_attention(s);
      BlockScratch scratch{std::unique_ptr<float[]>(tiled ? nullptr : new float[size_t(P_C)]),
                           std::unique_ptr<float[]>(tiled ? nullptr : new float[size_t(3 * P_C)]),
                           std::unique_ptr<float[]>(tiled ? nullptr : new float[size_t(P_C)]), std::vector<float>(size_t(P_C))};
      for (const Block& b : s.blocks) run_block(s, b, x, scratch, pool);
    }
    if (s.merge.empty()) break;
    // Patch merging: 1×1, GELU, depthwise 3×3 (strided), GELU, 1×1.
    const int64_t D = s.merge[0].weight.dim(0), R = s.out_resolution;
    const std::unique_ptr<float[]> m1(new float[size_t(D * P)]), m2(new float[size_t(D * R * R)]);  // fully written
    run_conv_bn(s.merge[0], x.data(), s.dim, H, H, m1.get(), pool, true);
    run_conv_bn(s.merge[1], m1.get(), D, H, H, m2.get(), pool, true);
    x.resize(size_t(D * R * R));
    run_conv_bn(s.merge[2], m2.get(), D, R, R, x.data(), pool);
  }
  neck_.apply(x.data(), 64, out, pool);
}

std::string TinyVitEncoder::describe() const {
  std::string dims;
  for (int64_t d : cfg_.embed_dims) dims += (dims.empty() ? "" : "/") + std::to_string(d);
  return "MobileSAM TinyViT (dims " + dims + ")";
}

}  // namespace edgerun
