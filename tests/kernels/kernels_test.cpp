// Each fast kernel against its plain reference, on random inputs with odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/fast_math.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/rope.h"

#include "random_util.h"

namespace edgerun {
namespace {

using test::gaussian;

struct WeightBuffer {
  std::vector<uint8_t> bytes;
  Tensor t;
};

WeightBuffer make_weight(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  const std::vector<float> f = gaussian(size_t(rows * cols), seed);
  WeightBuffer w;
  w.bytes.resize(size_t(rows * cols) * dtype_size(type));
  for (size_t i = 0; i < f.size(); ++i) {
    if (type == DType::F32) std::memcpy(&w.bytes[i * 4], &f[i], 4);
    else {
      const uint16_t h = type == DType::BF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
      std::memcpy(&w.bytes[i * 2], &h, 2);
    }
  }
  w.t.name = "w";
  w.t.dtype = type;
  w.t.shape = {rows, cols};
  w.t.data = w.bytes.data();
  w.t.nbytes = w.bytes.size();
  return w;
}

TEST(Kernels, FastExpIsAccurateOverTheFloatRange) {
  double worst = 0;
  for (float x = -87.0f; x < 88.5f; x += 0.001953125f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::fabs(double(exp_approx(x)) - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7);
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
  EXPECT_GT(exp_approx(-200.0f), 0.0f);  // clamped, not a denormal trap or NaN
  EXPECT_FALSE(std::isinf(exp_approx(200.0f)));
}

TEST(Kernels, SimdSoftmaxMatchesThePortableLoop) {
  for (int64_t n : {1, 5, 16, 17, 100, 4096}) {
    std::vector<float> a = gaussian(size_t(n), uint32_t(n)), b = a;
    for (float& v : a) v *= 8;  // a wide spread of scores
    b = a;
    softmax(a.data(), n);
    softmax_portable(b.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[size_t(i)], b[size_t(i)], 1e-6f * (1 + b[size_t(i)])) << n;
  }
}

// Rows four at a time and the rest one by one (7 rows), on lengths with and without a partial vector.
TEST(Kernels, RowSoftmaxIsASoftmaxPerRow) {
  for (int64_t n : {1, 16, 49, 196})
    for (int64_t rows : {1, 4, 7}) {
      std::vector<float> a = gaussian(size_t(n * rows), uint32_t(3 * n + rows)), b;
      for (float& v : a) v *= 8;
      b = a;
      softmax_rows(a.data(), rows, n);
      for (int64_t r = 0; r < rows; ++r) softmax_portable(b.data() + r * n, n);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6f * (1 + b[i])) << n << " x " << rows;
      // Rows n + 64 apart: the values between them are left alone.
      const int64_t stride = n + 64;
      std::vector<float> c = gaussian(size_t(stride * rows), uint32_t(5 * n + rows)), d = c;
      softmax_rows(c.data(), rows, n, stride);
      for (int64_t r = 0; r < rows; ++r) softmax_portable(d.data() + r * stride, n);
      for (size_t i = 0; i < c.size(); ++i) ASSERT_NEAR(c[i], d[i], 1e-6f * (1 + std::fabs(d[i]))) << n << " x " << rows;
    }
}

TEST(Kernels, GroupedSoftmaxIsASoftmaxPerRun) {
  for (int64_t n : {1, 7, 9, 40})
    for (int64_t groups : {1, 3, 56}) {
      std::vector<float> a = gaussian(size_t(n * groups), uint32_t(n + groups)), b;
      for (float& v : a) v *= 8;
      b = a;
      softmax_groups(a.data(), groups, n);
      for (int64_t g = 0; g < groups; ++g) softmax_portable(b.data() + g * n, n);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6f * (1 + b[i])) << n << " x " << groups;
    }
}

TEST(Kernels, HalfPrecisionConversionsRoundTrip) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333333f}) {
    EXPECT_EQ(f16_to_f32(f32_to_f16(f)), f16_to_f32(f32_to_f16(f16_to_f32(f32_to_f16(f)))));
    EXPECT_NEAR(f16_to_f32(f32_to_f16(f)), f, std::fabs(f) * 1e-3 + 6e-8) << f;
    EXPECT_NEAR(bf16_to_f32(f32_to_bf16(f)), f, std::fabs(f) * 8e-3) << f;
  }
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  // Every f16 bit pattern survives f16 → f32 → f16 (NaNs stay NaN).
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << h;
  }
}

class MatmulTest : public ::testing::TestWithParam<std::tuple<DType, int64_t, int64_t, int64_t, int>> {};

TEST_P(MatmulTest, MatchesReference) {
  const auto [type, n, rows, cols, threads] = GetParam();
  WeightBuffer w = make_weight(type, rows, cols, 7);
  const std::vector<float> x = gaussian(size_t(n * cols), 11);
  std::vector<float> got(static_cast<size_t>(n * rows)), want(size_t(n * rows));
  ThreadPool pool(threads);
  matmul(x.data(), n, w.t, got.data(), pool);
  matmul_ref(x.data(), n, w.t, want.data());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4 * std::sqrt(double(cols)) + 1e-5 * std::fabs(want[i])) << i;
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, MatmulTest,
    ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16), ::testing::Values(1, 3, 9),
                       ::testing::Values(1, 37), ::testing::Values(5, 64, 131), ::testing::Values(1, 3)));

TEST(Kernels, MatmulRejectsUnsupportedWeights) {
  WeightBuffer w = make_weight(DType::F32, 4, 4, 1);
  w.t.dtype = DType::I32;
  std::vector<float> x(4), y(4);
  ThreadPool pool(1);
  EXPECT_THROW(matmul(x.data(), 1, w.t, y.data(), pool), Error);
}

TEST(Kernels, RmsnormMatchesDefinition) {
  const std::vector<float> x = gaussian(77, 3), w = gaussian(77, 4);
  std::vector<float> y(77);
  rmsnorm(x.data(), w.data(), 1e-5f, 77, y.data());
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  const double scale = 1.0 / std::sqrt(ss / 77 + 1e-5);
  for (int i = 0; i < 77; ++i) EXPECT_NEAR(y[i], w[i] * x[i] * scale, 1e-5);
}

TEST(Kernels, SoftmaxAndSilu) {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f};
  softmax(x.data(), 3);
  const double e = std::exp(1.0), s = 1 + e + std::exp(-1.0);
  EXPECT_NEAR(x[0], 1 / s, 1e-6);
  EXPECT_NEAR(x[1], e / s, 1e-6);
  std::vector<float> g = {-2.0f, 0.5f}, u = {3.0f, -1.0f};
  silu_mul(g.data(), u.data(), 2);
  EXPECT_NEAR(g[0], -2.0 / (1 + std::exp(2.0)) * 3, 1e-6);
  EXPECT_NEAR(g[1], 0.5 / (1 + std::exp(-0.5)) * -1, 1e-6);
}

// Rotate-half and interleaved pairings are the same rotation on permuted coordinates.
TEST(Kernels, RopePairingsAgreeUnderPermutation) {
  RopeParams p;
  p.theta = 10000;
  p.rotary_dim = 16;
  const RopeTable half = make_rope_table(p, false, "test"), inter = make_rope_table(p, true, "test");
  std::vector<float> a = gaussian(32, 5), b(32);
  for (int h = 0; h < 2; ++h)  // b: interleaved layout of a
    for (int j = 0; j < 8; ++j) {
      b[h * 16 + 2 * j] = a[h * 16 + j];
      b[h * 16 + 2 * j + 1] = a[h * 16 + j + 8];
    }
  apply_rope(half, a.data(), 2, 16, 37);
  apply_rope(inter, b.data(), 2, 16, 37);
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < 8; ++j) {
      EXPECT_NEAR(b[h * 16 + 2 * j], a[h * 16 + j], 1e-5);
      EXPECT_NEAR(b[h * 16 + 2 * j + 1], a[h * 16 + j + 8], 1e-5);
    }
  // Position 0 is the identity; the norm of each pair is preserved elsewhere.
  std::vector<float> c = gaussian(16, 6), c0 = c;
  apply_rope(half, c.data(), 1, 16, 0);
  for (int i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(c[i], c0[i]);
}

TEST(Kernels, RopeYarnMatchesHfFormula) {
  // Values from HF _compute_yarn_parameters for d=128, theta=1e6, factor 16, L0 16384.
  RopeParams p;
  p.type = "yarn";
  p.theta = 1e6;
  p.rotary_dim = 128;
  p.factor = 16;
  p.original_context = 16384;
  const RopeTable t = make_rope_table(p, false, "test");
  EXPECT_NEAR(t.attention_factor, 0.1 * std::log(16.0) + 1, 1e-6);
  EXPECT_FLOAT_EQ(t.inv_freq[0], 1.0f);                                   // fully extrapolated
  EXPECT_NEAR(t.inv_freq[63], std::pow(1e6, -126.0 / 128) / 16, 1e-12);   // fully interpolated
  p.type = "dynamic";
  EXPECT_THROW(make_rope_table(p, false, "cfg"), Error);
}

TEST(Kernels, DotF32MatchesDoubleReference) {
  for (int64_t n : {0, 1, 15, 16, 17, 31, 32, 33, 64, 127, 128, 130, 1000}) {
    const std::vector<float> a = gaussian(size_t(n), uint32_t(n + 1)), b = gaussian(size_t(n), uint32_t(n + 2));
    double want = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) want += double(a[i]) * b[i], mag += std::fabs(double(a[i]) * b[i]);
    EXPECT_NEAR(dot_f32(a.data(), b.data(), n), want, 1e-6 * mag + 1e-7) << "n " << n;
  }
}

// Tiled attention against a direct double-precision softmax over every key, for tiles and key
// blocks that end mid-way, several tiles per KV head, GQA groups of 1 and 4, and every cache
// type (the reference reads the cache's own rounded keys/values, so the bound stays tight).
TEST(Kernels, AttentionMatchesNaive) {
  struct Case { int64_t n_heads, n_kv, hd, start, n; DType type; };
  const Case cases[] = {{4, 2, 8, 3, 5, DType::F32},   {4, 1, 64, 0, 1, DType::F32},
                        {8, 2, 32, 100, 70, DType::F32}, {2, 2, 64, 0, 130, DType::F32},
                        {4, 1, 64, 60, 1, DType::F16},   {8, 2, 32, 7, 40, DType::BF16},
                        {8, 2, 64, 65, 20, DType::Q8_0}};
  for (const Case& c : cases) {
    const int64_t total = c.start + c.n, kv_dim = c.n_kv * c.hd, group = c.n_heads / c.n_kv;
    const std::vector<float> q = gaussian(size_t(c.n * c.n_heads * c.hd), 1),
                             k = gaussian(size_t(total * kv_dim), 2), v = gaussian(size_t(total * kv_dim), 3);
    std::vector<uint8_t> kc(kv_row_bytes(c.type, kv_dim) * size_t(total)), vc(kc.size());
    const KVCacheView cache{c.type, kc.data(), vc.data()};
    store_kv(k.data(), v.data(), total, 0, kv_dim, cache);
    std::vector<float> kr(k.size()), vr(v.size());  // what the cache holds
    to_f32(c.type, kc.data(), kr.data(), int64_t(kr.size()));
    to_f32(c.type, vc.data(), vr.data(), int64_t(vr.size()));
    for (int threads : {1, 2}) {
      std::vector<float> out(q.size());
      ThreadPool pool(threads);
      attention(q.data(), c.n, c.start, cache, {c.n_heads, c.n_kv, c.hd, 0.3f}, out.data(), pool);
      double worst = 0;
      for (int64_t t = 0; t < c.n; ++t)
        for (int64_t h = 0; h < c.n_heads; ++h) {
          const int64_t kvh = h / group, len = c.start + t + 1;
          std::vector<double> s(static_cast<size_t>(len));
          double mx = -1e30, sum = 0;
          for (int64_t p = 0; p < len; ++p) {
            double d = 0;
            for (int64_t i = 0; i < c.hd; ++i)
              d += double(q[(t * c.n_heads + h) * c.hd + i]) * kr[(p * c.n_kv + kvh) * c.hd + i];
            s[p] = d * 0.3;
            mx = std::max(mx, s[p]);
          }
          for (double& x : s) sum += x = std::exp(x - mx);
          for (int64_t i = 0; i < c.hd; ++i) {
            double o = 0;
            for (int64_t p = 0; p < len; ++p) o += s[p] / sum * vr[(p * c.n_kv + kvh) * c.hd + i];
            worst = std::max(worst, std::fabs(out[(t * c.n_heads + h) * c.hd + i] - o));
          }
        }
      EXPECT_LT(worst, 2e-5) << dtype_name(c.type) << " n " << c.n << " start " << c.start << " threads " << threads;
    }
  }
}

TEST(Kernels, HalfPrecisionKvCacheRoundTrips) {
  const std::vector<float> k = gaussian(3 * 16, 8), v = gaussian(3 * 16, 9);
  for (DType t : {DType::F16, DType::BF16}) {
    std::vector<uint16_t> kc(64), vc(64);
    const KVCacheView cache{t, reinterpret_cast<uint8_t*>(kc.data()), reinterpret_cast<uint8_t*>(vc.data())};
    store_kv(k.data(), v.data(), 3, 1, 16, cache);  // positions 1..3
    for (int i = 0; i < 48; ++i) {
      const float kk = t == DType::F16 ? f16_to_f32(kc[16 + i]) : bf16_to_f32(kc[16 + i]);
      const float vv = t == DType::F16 ? f16_to_f32(vc[16 + i]) : bf16_to_f32(vc[16 + i]);
      EXPECT_NEAR(kk, k[i], std::fabs(k[i]) * (t == DType::F16 ? 1e-3 : 8e-3));
      EXPECT_NEAR(vv, v[i], std::fabs(v[i]) * (t == DType::F16 ? 1e-3 : 8e-3));
    }
  }
  EXPECT_FALSE(kv_type_supported(DType::I32));
  EXPECT_TRUE(kv_type_supported(DType::Q8_0));
}

TEST(Kernels, ThreadPoolCoversRangeOnceInGrains) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 7, 100, 1001}) {
    std::vector<int> hits(size_t(n), 0);
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
      EXPECT_EQ(b % 4, 0);
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    }, 4);
    for (int h : hits) ASSERT_EQ(h, 1);
  }
}

}  // namespace
}  // namespace edgerun
