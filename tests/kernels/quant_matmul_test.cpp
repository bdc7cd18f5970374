// Quantized matmul: every kernel variant this CPU has, against
//  (1) the exact math on the same quantized activations (must agree to float rounding), and
//  (2) F32 math on the unquantized activations (differs by activation rounding only; bounded
//      by a 6-sigma estimate of that rounding noise).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/quant.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/matmul.h"
#include "kernels/quant_kernels.h"

#include "random_util.h"

namespace edgerun {
namespace {

using test::gaussian;

struct QWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // dequantized [rows][cols]
  Tensor t;
};

QWeight make_weight(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  QWeight w;
  const std::vector<float> f = gaussian(size_t(rows * cols), seed, 0.05f);
  const size_t rb = dtype_row_bytes(type, cols);
  w.bytes.resize(rb * size_t(rows));
  w.deq.resize(f.size());
  for (int64_t r = 0; r < rows; ++r) {
    quantize_row(type, &f[r * cols], &w.bytes[r * rb], cols);
    dequantize_row(type, &w.bytes[r * rb], &w.deq[r * cols], cols);
  }
  w.t.name = "w";
  w.t.dtype = type;
  w.t.shape = {rows, cols};
  w.t.data = w.bytes.data();
  w.t.nbytes = w.bytes.size();
  return w;
}

using test::max_threads;

// Restores automatic variant selection even when an assertion returns early.
struct VariantGuard {
  ~VariantGuard() { set_quant_variant(""); }
};

TEST(QuantKernels, VariantsListedAndForceable) {
  const std::vector<std::string> names = quant_variant_names();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "scalar");
  VariantGuard guard;
  for (const std::string& n : names) {
    ASSERT_TRUE(set_quant_variant(n)) << n;
    EXPECT_EQ(active_quant_variant().name, n);
  }
  EXPECT_FALSE(set_quant_variant("no-such-variant"));
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_NE(std::find(names.begin(), names.end(), "avx2"), names.end());
  }
  if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi")) {
    EXPECT_NE(std::find(names.begin(), names.end(), "avx512"), names.end());
  }
#endif
  set_quant_variant("");
  EXPECT_EQ(active_quant_variant().name, names.back());
}

// Every variant quantizes activations to exactly the same codes, scales and sums.
TEST(QuantKernels, ActivationQuantizationBitExact) {
  const int64_t k = 2048;
  std::vector<float> x = gaussian(size_t(k), 3);
  x[100] = 40.0f;  // an outlier channel, as real activations have
  for (DType t : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    QuantizedActs want, got;
    want.reset(t, 1, k);
    quantize_acts_ref(x.data(), want, 0);
    for (const std::string& name : quant_variant_names()) {
      VariantGuard guard;
      ASSERT_TRUE(set_quant_variant(name));
      got.reset(t, 1, k);
      active_quant_variant().quantize(x.data(), got, 0);
      SCOPED_TRACE(name + " " + dtype_name(t));
      ASSERT_EQ(std::memcmp(got.q, want.q, size_t(got.ldq)), 0);
      for (int64_t b = 0; b < got.ablocks(); ++b) ASSERT_EQ(got.d[b], want.d[b]) << b;
      for (int64_t g = 0; g < got.groups(); ++g) {
        ASSERT_EQ(got.icorr[g], want.icorr[g]) << g;
        ASSERT_EQ(got.fsum[g], want.fsum[g]) << g;
      }
    }
  }
}

using Param = std::tuple<DType, int64_t /*cols*/, int64_t /*tokens*/>;
class QuantMatmul : public ::testing::TestWithParam<Param> {};

TEST_P(QuantMatmul, AllVariantsMatchReference) {
  const auto [type, cols, n] = GetParam();
  const int64_t rows = cols >= 8192 ? 19 : 35;  // partial 16-row strips on purpose
  QWeight w = make_weight(type, rows, cols, 7);
  const std::vector<float> x = gaussian(size_t(n * cols), 11);

  // Exact math on the reference-quantized activations, plus the noise bound vs F32 math.
  QuantizedActs qa;
  qa.reset(type, n, cols);
  for (int64_t t = 0; t < n; ++t) quantize_acts_ref(&x[t * cols], qa, t);
  std::vector<double> exact(size_t(n * rows)), l1(size_t(n * rows)), sigma(size_t(n * rows));
  std::vector<float> xhat(static_cast<size_t>(cols));
  for (int64_t t = 0; t < n; ++t) {
    const float* d = qa.d + t * qa.ablocks();
    for (int64_t i = 0; i < cols; ++i) xhat[i] = d[i / qa.ablock] * qa.q[t * qa.ldq + i];
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0, a = 0, v = 0;
      for (int64_t i = 0; i < cols; ++i) {
        const double wv = w.deq[r * cols + i], dx = d[i / qa.ablock];
        s += wv * xhat[i];
        a += std::fabs(wv * xhat[i]);
        v += wv * wv * dx * dx / 12;  // rounding error of each activation is uniform in ±dx/2
      }
      exact[t * rows + r] = s;
      l1[t * rows + r] = a;
      sigma[t * rows + r] = std::sqrt(v);
    }
  }
  std::vector<float> f32(size_t(n * rows));
  matmul_ref(x.data(), n, w.t, f32.data());

  for (const std::string& name : quant_variant_names()) {
    for (int threads = 1; threads <= max_threads(); ++threads) {
      VariantGuard guard;
      ASSERT_TRUE(set_quant_variant(name));
      ThreadPool pool(threads);
      std::vector<float> y(size_t(n * rows), NAN);
      matmul(x.data(), n, w.t, y.data(), pool);
      SCOPED_TRACE(name + " threads=" + std::to_string(threads));
      for (int64_t i = 0; i < n * rows; ++i) {
        // Float rounding of per-group scale products and the f32 accumulation: a few ulp of
        // the sum of magnitudes.
        ASSERT_NEAR(y[i], exact[i], 2e-6 * l1[i] + 1e-6) << "t=" << i / rows << " r=" << i % rows;
        ASSERT_NEAR(y[i], f32[i], 6 * sigma[i] + 2e-6 * l1[i] + 1e-6) << "t=" << i / rows << " r=" << i % rows;
      }
    }
  }
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(dtype_name(std::get<0>(info.param))) + "_k" + std::to_string(std::get<1>(info.param)) + "_n" +
         std::to_string(std::get<2>(info.param));
}

INSTANTIATE_TEST_SUITE_P(QuantBlocks32, QuantMatmul,
                         ::testing::Combine(::testing::Values(DType::Q4_0, DType::Q8_0),
                                            ::testing::Values(96, 256, 2048, 11008),
                                            ::testing::Values(1, 3, 7, 33, 257)),
                         param_name);
INSTANTIATE_TEST_SUITE_P(QuantKQuants, QuantMatmul,
                         ::testing::Combine(::testing::Values(DType::Q4_K, DType::Q6_K),
                                            ::testing::Values(256, 2048, 11008),
                                            ::testing::Values(1, 3, 7, 33, 257)),
                         param_name);

// Quantized activations reused across weights give the same result as matmul() itself.
TEST(QuantKernels, PreparedActivationsReusable) {
  const int64_t cols = 512, n = 9;
  QWeight w1 = make_weight(DType::Q4_K, 40, cols, 1), w2 = make_weight(DType::Q4_K, 24, cols, 2);
  const std::vector<float> x = gaussian(size_t(n * cols), 4);
  ThreadPool pool(max_threads());
  QuantizedActs a;
  quantize_acts(x.data(), n, cols, DType::Q4_K, a, pool);
  for (QWeight* w : {&w1, &w2}) {
    const int64_t rows = w->t.shape[0];
    std::vector<float> y1(size_t(n * rows)), y2(size_t(n * rows));
    matmul_quantized(a, QuantWeights{DType::Q4_K, w->t.data, w->t.row_bytes(), rows, cols}, y1.data(), pool);
    matmul(x.data(), n, w->t, y2.data(), pool);
    EXPECT_EQ(y1, y2);
  }
}

// q/k/v-style fused matmuls: one quantization of x and (for decode) one parallel region whose
// chunks cross from one weight into the next; must equal separate matmuls exactly. The weights
// are large enough that every thread of the pool takes chunks.
TEST(QuantKernels, SharedInputMatchesSeparateMatmuls) {
  const int64_t cols = 256;
  for (DType second : {DType::Q4_0, DType::F32}) {  // F32: mixed types fall back to separate calls
    QWeight a = make_weight(DType::Q4_0, 1024, cols, 11), c = make_weight(DType::Q4_0, 768, cols, 13);
    QWeight b = make_weight(second == DType::F32 ? DType::Q4_0 : second, 512, cols, 12);
    std::vector<float> b_f32;
    if (second == DType::F32) {  // same values, stored as F32
      b_f32 = b.deq;
      b.t.dtype = DType::F32;
      b.t.data = reinterpret_cast<const uint8_t*>(b_f32.data());
      b.t.nbytes = b_f32.size() * 4;
    }
    for (int threads = 1; threads <= max_threads(); ++threads) {
      ThreadPool pool(threads);
      for (int64_t n : {1, 2, 3, 9}) {
        const std::vector<float> x = gaussian(size_t(n * cols), uint32_t(20 + n));
        std::vector<float> ya(size_t(n * 1024)), yb(size_t(n * 512)), yc(size_t(n * 768));
        matmul_shared_input(x.data(), n, {{&a.t, ya.data()}, {&b.t, yb.data()}, {&c.t, yc.data()}}, pool);
        for (auto [w, y] : {std::pair{&a, &ya}, std::pair{&b, &yb}, std::pair{&c, &yc}}) {
          std::vector<float> ref(y->size());
          matmul(x.data(), n, w->t, ref.data(), pool);
          EXPECT_EQ(*y, ref) << "threads " << threads << " n " << n << " rows " << w->t.shape[0];
        }
      }
    }
  }
}

}  // namespace
}  // namespace edgerun
