// The vision building blocks against direct double-precision definitions.
#include "kernels/vision_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "core/dtype.h"
#include "random_util.h"

namespace edgerun {
namespace {

using test::f32_tensor;

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

TEST(VisionOps, LayerNormRowsAndChannels) {
  for (const int64_t dim : {37, 128}) {  // 128: whole vectors, the AVX-512 path where present
  const int64_t n = 5;
  auto x = test::gaussian(n * dim, 1, 3.0f);
  for (auto& v : x) v += 2.0f;  // a mean far from 0 checks the centring
  const auto w = test::gaussian(dim, 2), b = test::gaussian(dim, 3);
  std::vector<float> y(x.size());
  layernorm(x.data(), n, dim, w.data(), b.data(), 1e-6f, y.data());
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < n; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < dim; ++i) mean += x[r * dim + i];
    mean /= dim;
    for (int64_t i = 0; i < dim; ++i) var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
    var /= dim;
    for (int64_t i = 0; i < dim; ++i) ref[r * dim + i] = (x[r * dim + i] - mean) / std::sqrt(var + 1e-6) * w[i] + b[i];
  }
  EXPECT_LT(max_abs_diff(y, ref), 2e-5);

  // Channel-first: the same numbers laid out [dim, n] must give the transposed result.
  std::vector<float> xc(x.size()), yc(x.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < dim; ++i) xc[i * n + r] = x[r * dim + i];
  layernorm_channels(xc.data(), dim, n, w.data(), b.data(), 1e-6f, yc.data());
  std::vector<double> refc(x.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < dim; ++i) refc[i * n + r] = ref[r * dim + i];
  EXPECT_LT(max_abs_diff(yc, refc), 2e-5);
  }
}

TEST(VisionOps, SimdGeluErfMatchesLibm) {
  std::vector<float> x = test::gaussian(1005, 4);
  for (float& v : x) v *= 4;
  for (float v : {0.0f, -0.0f, 1e-6f, -1e-6f, 9.5f, -9.5f, 30.0f, -30.0f}) x.push_back(v);
  std::vector<float> a = x, b = x;
  gelu_erf(a.data(), int64_t(a.size()));
  gelu_erf_portable(b.data(), int64_t(b.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(a[i], b[i], 2e-7 * (1 + std::fabs(x[i]))) << x[i];
}

TEST(VisionOps, SimdGeluTanhMatchesThePortableLoopAndTheDefinition) {
  std::vector<float> x = test::gaussian(1003, 3);
  for (float& v : x) v *= 4;
  x.push_back(-30.0f);
  x.push_back(30.0f);
  std::vector<float> a = x, b = x;
  gelu_tanh(a.data(), int64_t(a.size()));
  gelu_tanh_portable(b.data(), int64_t(b.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], want = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    ASSERT_NEAR(a[i], b[i], 1e-6 * (1 + std::fabs(b[i]))) << x[i];
    ASSERT_NEAR(a[i], want, 2e-6 * (1 + std::fabs(want))) << x[i];
  }
}

TEST(VisionOps, GeluVariants) {
  auto x = test::gaussian(200, 4, 3.0f);
  auto e = x, t = x;
  gelu_erf(e.data(), int64_t(e.size()));
  gelu_tanh(t.data(), int64_t(t.size()));
  std::vector<double> re(x.size()), rt(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    re[i] = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    rt[i] = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  }
  EXPECT_LT(max_abs_diff(e, re), 1e-5);
  EXPECT_LT(max_abs_diff(t, rt), 1e-5);
}

// [C, P] → [P, C] and back.
std::vector<float> channels_last(const std::vector<float>& x, int64_t channels, int64_t pixels) {
  std::vector<float> y(x.size());
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < pixels; ++p) y[size_t(p * channels + c)] = x[size_t(c * pixels + p)];
  return y;
}
std::vector<float> channels_first(const std::vector<float>& x, int64_t channels, int64_t pixels) {
  std::vector<float> y(x.size());
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < pixels; ++p) y[size_t(c * pixels + p)] = x[size_t(p * channels + c)];
  return y;
}

std::vector<double> conv_ref(const std::vector<float>& x, int64_t c, int64_t h, int64_t w,
                             const std::vector<float>& wt, int64_t o, const std::vector<float>& bias,
                             const Conv2dShape& s) {
  const int64_t oh = conv_output_size(h, s.kernel_h, s.stride, s.pad);
  const int64_t ow = conv_output_size(w, s.kernel_w, s.stride, s.pad);
  const int64_t cpg = c / s.groups, opg = o / s.groups;
  std::vector<double> y(size_t(o * oh * ow));
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        double acc = bias[oc];
        const int64_t g = oc / opg;
        for (int64_t ic = 0; ic < cpg; ++ic)
          for (int64_t ky = 0; ky < s.kernel_h; ++ky)
            for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
              const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += double(x[((g * cpg + ic) * h + iy) * w + ix]) *
                     wt[((oc * cpg + ic) * s.kernel_h + ky) * s.kernel_w + kx];
            }
        y[(oc * oh + oy) * ow + ox] = acc;
      }
  return y;
}

TEST(VisionOps, Conv2dMatchesDirectDefinition) {
  ThreadPool pool(2);
  struct Case { int64_t c, o, h, w; Conv2dShape s; };
  const Case cases[] = {
      {3, 8, 17, 13, {3, 3, 1, 1, 1}},    // same-size 3×3
      {4, 6, 16, 16, {4, 4, 4, 0, 1}},    // patch embedding (stride = kernel)
      {5, 7, 9, 11, {1, 1, 1, 0, 1}},     // pointwise
      {6, 6, 10, 9, {3, 3, 2, 1, 6}},     // depthwise, strided
      {3, 4, 8, 8, {2, 3, 2, 0, 1}},      // non-square kernel
      {16, 64, 23, 21, {3, 3, 1, 1, 1}},  // 144-deep patches, 64 outputs: the AMX GEMM where present
      {3, 32, 37, 41, {3, 3, 2, 1, 1}},   // an RGB stem (27 taps, 32 outputs): direct where AVX-512 is
      // Channels in whole chunks of 32 from a channel-last map: with AMX the patches are read in
      // place (TinyViT's second stem conv; a neck-like 3×3).
      {32, 64, 19, 17, {3, 3, 2, 1, 1}}, {64, 96, 9, 11, {3, 3, 1, 1, 1}},
  };
  for (const Case& cs : cases) {
    const auto x = test::gaussian(size_t(cs.c * cs.h * cs.w), 5);
    const auto wt = test::gaussian(size_t(cs.o * (cs.c / cs.s.groups) * cs.s.kernel_h * cs.s.kernel_w), 6);
    const auto bias = test::gaussian(size_t(cs.o), 7);
    const Tensor wtensor = f32_tensor(wt, {cs.o, cs.c / cs.s.groups, cs.s.kernel_h, cs.s.kernel_w});
    const auto ref = conv_ref(x, cs.c, cs.h, cs.w, wt, cs.o, bias, cs.s);
    std::vector<float> y(ref.size());
    conv2d(x.data(), cs.c, cs.h, cs.w, wtensor, bias.data(), cs.s, y.data(), pool);
    EXPECT_LT(max_abs_diff(y, ref), 1e-4) << "c=" << cs.c << " k=" << cs.s.kernel_h << " groups=" << cs.s.groups;
    // Every pair of layouts (a depthwise convolution keeps its layout), each also with GELU as
    // the activation.
    const int64_t oh = conv_output_size(cs.h, cs.s.kernel_h, cs.s.stride, cs.s.pad);
    const int64_t ow = conv_output_size(cs.w, cs.s.kernel_w, cs.s.stride, cs.s.pad);
    const auto x_last = channels_last(x, cs.c, cs.h * cs.w);
    std::vector<double> ref_gelu(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) ref_gelu[i] = 0.5 * ref[i] * (1.0 + std::erf(ref[i] / std::sqrt(2.0)));
    for (const auto& [in, out] : {std::pair{MapLayout::kChannelFirst, MapLayout::kChannelFirst},
                                  std::pair{MapLayout::kChannelLast, MapLayout::kChannelLast},
                                  std::pair{MapLayout::kChannelFirst, MapLayout::kChannelLast},
                                  std::pair{MapLayout::kChannelLast, MapLayout::kChannelFirst}}) {
      if (cs.s.groups > 1 && in != out) continue;
      for (const Activation activation : {Activation(nullptr), Activation(gelu_erf)}) {
        std::vector<float> yl(ref.size());
        conv2d(in == MapLayout::kChannelLast ? x_last.data() : x.data(), cs.c, cs.h, cs.w, wtensor, bias.data(), cs.s,
               yl.data(), pool, in, out, activation);
        const auto y_first = out == MapLayout::kChannelLast ? channels_first(yl, cs.o, oh * ow) : yl;
        EXPECT_LT(max_abs_diff(y_first, activation ? ref_gelu : ref), 1e-4)
            << "c=" << cs.c << " k=" << cs.s.kernel_h << " in_last=" << (in == MapLayout::kChannelLast)
            << " out_last=" << (out == MapLayout::kChannelLast) << " gelu=" << (activation != nullptr);
      }
    }
  }
}

TEST(VisionOps, Conv2dRejectsWrongWeightShape) {
  ThreadPool pool(1);
  const auto wt = test::gaussian(8 * 3 * 3 * 3, 1);
  const Tensor w = f32_tensor(wt, {8, 3, 3, 3}, "encoder.conv.weight");
  std::vector<float> x(4 * 5 * 5), y(8 * 5 * 5);
  try {
    conv2d(x.data(), 4, 5, 5, w, nullptr, {3, 3, 1, 1, 1}, y.data(), pool);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("encoder.conv.weight"), std::string::npos) << e.what();
  }
}

// Channel-last in and out: x [h, w, c] → y [h·k, w·k, o]; k·o not a multiple of the GEMM's panel.
TEST(VisionOps, TransposedConvMatchesDirectDefinition) {
  ThreadPool pool(2);
  const int64_t c = 6, o = 5, k = 3, h = 5, w = 3;
  const auto x = test::gaussian(size_t(c * h * w), 8);
  const auto wt = test::gaussian(size_t(c * o * k * k), 9);
  std::vector<double> ref(size_t(o * h * k * w * k));
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t oy = 0; oy < h * k; ++oy)
      for (int64_t ox = 0; ox < w * k; ++ox) {
        double acc = 0.0;
        for (int64_t ic = 0; ic < c; ++ic)
          acc += double(x[((oy / k) * w + ox / k) * c + ic]) * wt[((ic * o + oc) * k + oy % k) * k + ox % k];
        ref[(oy * w * k + ox) * o + oc] = acc;
      }
  std::vector<float> y(ref.size());
  conv_transpose2d_nonoverlap(x.data(), h, w, pack_conv_transpose(f32_tensor(wt, {c, o, k, k}), pool), y.data(), pool);
  EXPECT_LT(max_abs_diff(y, ref), 1e-4);
}

TEST(VisionOps, LinearWithF16WeightAndBias) {
  ThreadPool pool(2);
  const int64_t n = 3, in = 40, out = 9;
  const auto x = test::gaussian(size_t(n * in), 11), wf = test::gaussian(size_t(out * in), 12),
             bias = test::gaussian(size_t(out), 13);
  std::vector<uint16_t> wh(wf.size());
  for (size_t i = 0; i < wf.size(); ++i) wh[i] = f32_to_f16(wf[i]);
  Tensor w;
  w.name = "proj.weight";
  w.dtype = DType::F16;
  w.shape = {out, in};
  w.data = reinterpret_cast<const uint8_t*>(wh.data());
  w.nbytes = wh.size() * 2;
  std::vector<float> y(size_t(n * out));
  linear(x.data(), n, w, bias.data(), y.data(), pool);
  std::vector<double> ref(y.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias[o];
      for (int64_t i = 0; i < in; ++i) acc += double(x[r * in + i]) * f16_to_f32(wh[o * in + i]);
      ref[r * out + o] = acc;
    }
  EXPECT_LT(max_abs_diff(y, ref), 1e-4);
}

// Few queries or few keys (row by row; (7, 300) is SAM's token-to-image shape), small windows
// (one head per task), and more queries than one block of 256 (nq, nk, head size).
class AttentionFull : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};
INSTANTIATE_TEST_SUITE_P(VisionOps, AttentionFull,
                         ::testing::Values(std::make_tuple(2, 11, 8), std::make_tuple(7, 11, 8), std::make_tuple(7, 300, 8),
                                           std::make_tuple(300, 45, 8),
                                           std::make_tuple(300, 260, 8),    // the per-head GEMM path
                                           std::make_tuple(300, 260, 64)));  // values in place; AMX where present

TEST_P(AttentionFull, WithStridesAndBiasMatchesTheDefinition) {
  ThreadPool pool(2);
  const auto [nq, nk, hd] = GetParam();
  const int64_t heads = 3, dim = heads * hd;
  // q/k/v interleaved in one [n, 3·dim] buffer as a fused qkv projection writes them.
  const auto qkv_q = test::gaussian(size_t(nq * 3 * dim), 14);
  const auto qkv_k = test::gaussian(size_t(nk * 3 * dim), 15);
  const float scale = 1.0f / std::sqrt(float(hd));
  // The bias depends on the head, the row and the row's query (as SAM's relative positions do).
  const AttentionBias bias = [&](int64_t h, int64_t r, const float* q, float* s) {
    for (int64_t j = 0; j < nk; ++j) s[j] += 0.1f * float(h + 1) * float((r * 3 + j) % 5) + 0.05f * q[1];
  };
  std::vector<float> out(size_t(nq * dim));
  attention_full({qkv_q.data(), 3 * dim}, {qkv_k.data() + dim, 3 * dim}, {qkv_k.data() + 2 * dim, 3 * dim},
                 nq, nk, heads, hd, scale, out.data(), pool, &bias);
  std::vector<double> ref(out.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t r = 0; r < nq; ++r) {
      std::vector<double> s(static_cast<size_t>(nk));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < nk; ++j) {
        double d = 0;
        for (int64_t e = 0; e < hd; ++e) d += double(qkv_q[r * 3 * dim + h * hd + e]) * qkv_k[j * 3 * dim + dim + h * hd + e];
        s[j] = d * scale + 0.1 * (h + 1) * ((r * 3 + j) % 5) + 0.05 * qkv_q[r * 3 * dim + h * hd + 1];
        mx = std::max(mx, s[j]);
      }
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (int64_t e = 0; e < hd; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < nk; ++j) acc += s[j] / sum * qkv_k[j * 3 * dim + 2 * dim + h * hd + e];
        ref[r * dim + h * hd + e] = acc;
      }
    }
  EXPECT_LT(max_abs_diff(out, ref), 2e-5);
}

}  // namespace
}  // namespace edgerun

namespace edgerun {
namespace {

TEST(VisionOps, TransposeOfAMapWithPartialTiles) {
  ThreadPool pool(test::max_threads());
  const int64_t rows = 70, cols = 45;
  const auto x = test::gaussian(size_t(rows * cols), 41);
  std::vector<float> y(x.size(), -1.0f);
  transpose(x.data(), rows, cols, y.data(), pool);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(y[size_t(c * rows + r)], x[size_t(r * cols + c)]) << r << "," << c;
}

// Windowed attention against windows cut out by hand: grids of 10 to 30 in windows of 4 to 17
// (the bottom and right padded to whole windows), heads interleaved [q k v] per head as TinyViT's
// fused projection writes them.
TEST(VisionOps, WindowedAttentionMatchesPerWindowDefinition) {
  ThreadPool pool(test::max_threads());
  struct Case { int64_t height, width, S, heads, hd; };
  // Head size 8 goes through the gathered windows row by row; 7×7 and 14×14 windows with heads of
  // 16-64 through the fused kernel (edge windows with 6 of 7 or 2 of 14 rows inside, a band of
  // 3 rows as TinyViT's tiles have); 17×17 ones (289 positions) through the gathered windows and
  // the GEMMs.
  for (const Case cs : {Case{10, 10, 4, 2, 8}, Case{20, 20, 7, 3, 16}, Case{14, 14, 7, 2, 32}, Case{3, 23, 7, 2, 32},
                        Case{30, 30, 14, 2, 32}, Case{30, 30, 14, 1, 64}, Case{20, 20, 17, 2, 16}}) {
  const int64_t height = cs.height, width = cs.width, S = cs.S, heads = cs.heads, hd = cs.hd, C = heads * hd;
  const int64_t down = (height + S - 1) / S, across = (width + S - 1) / S, N = S * S;
  const auto qkv = test::gaussian(size_t(height * width * 3 * C), 31);
  const auto pad = test::gaussian(size_t(3 * C), 32);
  const float scale = 0.3f;
  const AttentionBias bias = [&](int64_t h, int64_t r, const float* q, float* s) {
    for (int64_t j = 0; j < N; ++j) s[j] += 0.2f * float((h + r + j) % 3) + 0.1f * q[0];
  };
  std::vector<float> out(size_t(height * width * C), -7.0f);
  windowed_attention({qkv.data(), qkv.data() + hd, qkv.data() + 2 * hd, 3 * C, 3 * hd, pad.data() + hd, pad.data() + 2 * hd},
                     height, width, S, heads, hd, scale, out.data(), pool, &bias);
  std::vector<double> ref(out.size());
  // Row t of window (wy, wx), part 0/1/2 (q/k/v), head h: the token's or the padding's.
  const auto at = [&](int64_t wy, int64_t wx, int64_t t, int part, int64_t h) {
    const int64_t y = wy * S + t / S, x = wx * S + t % S;
    const float* row = y < height && x < width ? qkv.data() + (y * width + x) * 3 * C : pad.data();
    return row + h * 3 * hd + part * hd;
  };
  for (int64_t wy = 0; wy < down; ++wy)
    for (int64_t wx = 0; wx < across; ++wx)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t r = 0; r < N; ++r) {
          const int64_t y = wy * S + r / S, x = wx * S + r % S;
          if (y >= height || x >= width) continue;
          std::vector<double> s(static_cast<size_t>(N));
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j < N; ++j) {
            double d = 0;
            for (int64_t e = 0; e < hd; ++e) d += double(at(wy, wx, r, 0, h)[e]) * at(wy, wx, j, 1, h)[e];
            s[size_t(j)] = d * scale + 0.2 * ((h + r + j) % 3) + 0.1 * at(wy, wx, r, 0, h)[0];
            mx = std::max(mx, s[size_t(j)]);
          }
          for (auto& v : s) sum += (v = std::exp(v - mx));
          for (int64_t e = 0; e < hd; ++e) {
            double acc = 0;
            for (int64_t j = 0; j < N; ++j) acc += s[size_t(j)] / sum * at(wy, wx, j, 2, h)[e];
            ref[size_t((y * width + x) * C + h * hd + e)] = acc;
          }
        }
  EXPECT_LT(max_abs_diff(out, ref), 2e-5) << height << "x" << width << ", window " << S;
  }
}

// Depthwise convolutions, channel-first (vectorised rows) and channel-last, against the direct
// definition, including strides and maps narrower than the kernel's reach.
TEST(VisionOps, DepthwiseConvolutionsMatchDirectDefinition) {
  ThreadPool pool(test::max_threads());
  struct Case { int64_t c, h, w; Conv2dShape s; };
  const Case cases[] = {
      {16, 9, 13, {3, 3, 1, 1, 16}}, {5, 8, 7, {3, 3, 2, 1, 5}}, {3, 2, 1, {3, 3, 1, 1, 3}}, {4, 6, 6, {5, 5, 1, 2, 4}},
      // Whole vectors of channels (the AVX-512 path): 64 + 64 + 16 + 16, strided; 4 × 64.
      {160, 7, 9, {3, 3, 2, 1, 160}}, {256, 5, 6, {3, 3, 1, 1, 256}},
  };
  for (const Case& cs : cases) {
    const auto x = test::gaussian(size_t(cs.c * cs.h * cs.w), 41);
    const auto wt = test::gaussian(size_t(cs.c * cs.s.kernel_h * cs.s.kernel_w), 42);
    const auto bias = test::gaussian(size_t(cs.c), 43);
    const Tensor w = f32_tensor(wt, {cs.c, 1, cs.s.kernel_h, cs.s.kernel_w});
    const auto ref = conv_ref(x, cs.c, cs.h, cs.w, wt, cs.c, bias, cs.s);
    std::vector<float> y(ref.size());
    conv2d(x.data(), cs.c, cs.h, cs.w, w, bias.data(), cs.s, y.data(), pool);
    EXPECT_LT(max_abs_diff(y, ref), 1e-5) << "channel-first c=" << cs.c;
    // Channel-last: the same map as [H, W, C].
    const int64_t oh = conv_output_size(cs.h, cs.s.kernel_h, cs.s.stride, cs.s.pad);
    const int64_t ow = conv_output_size(cs.w, cs.s.kernel_w, cs.s.stride, cs.s.pad);
    const auto xl = channels_last(x, cs.c, cs.h * cs.w);
    std::vector<float> yl(ref.size());
    depthwise_conv2d_channels_last(xl.data(), cs.c, cs.h, cs.w, w, bias.data(), cs.s, yl.data(), pool);
    EXPECT_LT(max_abs_diff(channels_first(yl, cs.c, oh * ow), ref), 1e-5) << "channel-last c=" << cs.c;
  }
}

}  // namespace
}  // namespace edgerun
