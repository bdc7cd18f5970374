// The shared ViT blocks: a Linear layer packed at load, and the GELU MLP with it (whole, and in row
// chunks through both layers; with a LayerNorm first, in place), against a double-precision
// definition.
#include "models/vit_blocks.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/vision_ops.h"
#include "random_util.h"

namespace edgerun {
namespace {

// out (+)= GELU(x·W1ᵀ + b1)·W2ᵀ + b2 in double.
std::vector<double> mlp_reference(const std::vector<float>& x, int64_t n, int64_t in, int64_t hidden,
                                  const std::vector<float>& w1, const std::vector<float>& b1, const std::vector<float>& w2,
                                  const std::vector<float>& b2, const std::vector<float>& start) {
  std::vector<double> y(start.begin(), start.end()), h(static_cast<size_t>(hidden));
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < hidden; ++j) {
      double a = b1[size_t(j)];
      for (int64_t k = 0; k < in; ++k) a += double(x[size_t(r * in + k)]) * w1[size_t(j * in + k)];
      h[size_t(j)] = 0.5 * a * (1 + std::erf(a / std::sqrt(2.0)));
    }
    for (int64_t o = 0; o < in; ++o) {
      double a = b2[size_t(o)];
      for (int64_t j = 0; j < hidden; ++j) a += h[size_t(j)] * w2[size_t(o * hidden + j)];
      y[size_t(r * in + o)] += a;
    }
  }
  return y;
}

TEST(VitBlocks, PackedGeluMlpMatchesTheDefinitionWholeAndInRowChunks) {
  ThreadPool pool(test::max_threads());
  const int64_t in = 96, hidden = 160;
  const auto w1 = test::gaussian(size_t(hidden * in), 1, 0.1f), w2 = test::gaussian(size_t(in * hidden), 2, 0.1f);
  const auto b1 = test::gaussian(size_t(hidden), 3), b2 = test::gaussian(size_t(in), 4);
  const Tensor t1 = test::f32_tensor(w1, {hidden, in}), t2 = test::f32_tensor(w2, {in, hidden});
  LinearLayer plain1{&t1, b1, nullptr}, plain2{&t2, b2, nullptr};
  LinearLayer packed1 = plain1, packed2 = plain2;
  packed1.pack(pool);
  packed2.pack(pool);
  // Runs the MLP unpacked and packed on y (starting from `start`) and compares with `ref`.
  const auto check = [&](const float* x, int64_t n, std::vector<float> start, const std::vector<double>& ref,
                         const LayerNormLayer* norm, double tolerance, const char* what) {
    for (const bool packed : {false, true}) {
      std::vector<float> y = start;
      gelu_mlp(packed ? packed1 : plain1, packed ? packed2 : plain2, GeluKind::kErf, x ? x : y.data(), n, y.data(), pool,
               /*accumulate=*/true, norm);
      double err = 0;
      for (size_t i = 0; i < y.size(); ++i) err = std::max(err, std::fabs(y[i] - ref[i]));
      EXPECT_LT(err, tolerance) << n << " rows, " << what << ", packed " << packed;
    }
  };
  // 100 rows: one call per layer; 700 rows: chunks of 256 through both layers (the last short).
  for (const int64_t n : {100, 700}) {
    const auto x = test::gaussian(size_t(n * in), 5);
    const auto start = test::gaussian(size_t(n * in), 6);
    check(x.data(), n, start, mlp_reference(x, n, in, hidden, w1, b1, w2, b2, start), nullptr, 2e-5, "added to a residual");
    // With a LayerNorm first, in place on the residual stream (out is x): x + MLP(LN(x)).
    LayerNormLayer norm{test::gaussian(size_t(in), 7), test::gaussian(size_t(in), 8), 1e-5f};
    std::vector<float> normed(x.size());
    for (int64_t r = 0; r < n; ++r) {
      double mean = 0, var = 0;
      for (int64_t k = 0; k < in; ++k) mean += x[size_t(r * in + k)];
      mean /= double(in);
      for (int64_t k = 0; k < in; ++k) var += (x[size_t(r * in + k)] - mean) * (x[size_t(r * in + k)] - mean);
      var /= double(in);
      for (int64_t k = 0; k < in; ++k)
        normed[size_t(r * in + k)] = float((x[size_t(r * in + k)] - mean) / std::sqrt(var + 1e-5) * norm.weight[size_t(k)] +
                                           norm.bias[size_t(k)]);
    }
    check(nullptr, n, x, mlp_reference(normed, n, in, hidden, w1, b1, w2, b2, x), &norm, 2e-5, "normed in place");
  }
}

}  // namespace
}  // namespace edgerun
