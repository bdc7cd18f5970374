// The blocked GEMM against the f64 reference (matmul_ref) and its portable micro-kernel, on sizes
// that leave partial panels, partial row tiles and partial k passes; and the packed form with
// strided operands (how attention uses it).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/gemm_amx.h"
#include "kernels/matmul.h"
#include "random_util.h"

namespace edgerun {
namespace {

struct Weight {
  std::vector<uint8_t> bytes;
  Tensor t;
};

Weight make(DType type, int64_t rows, int64_t cols, float scale) {
  const std::vector<float> f = test::gaussian(size_t(rows * cols), 5);
  Weight w;
  w.bytes.resize(size_t(rows * cols) * dtype_size(type));
  for (size_t i = 0; i < f.size(); ++i) {
    if (type == DType::F32) std::memcpy(&w.bytes[i * 4], &f[i], 4);
    else if (type == DType::F8_E4M3) w.bytes[i] = f32_to_f8_e4m3(f[i]);
    else {
      const uint16_t h = type == DType::BF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
      std::memcpy(&w.bytes[i * 2], &h, 2);
    }
  }
  w.t = Tensor{"w", type, {rows, cols}, w.bytes.data(), w.bytes.size(), scale};
  return w;
}

TEST(Gemm, MatchesTheReferenceOnAwkwardSizes) {
  ThreadPool pool(test::max_threads());
  for (DType type : {DType::F32, DType::BF16, DType::F16, DType::F8_E4M3})
    for (int64_t n : {4, 5, 7, 17, 129})
      for (int64_t in : {1, 31, 100, 300})
        for (int64_t out : {1, 33, 100}) {
          const Weight w = make(type, out, in, type == DType::F8_E4M3 ? 0.25f : 1.0f);
          const std::vector<float> x = test::gaussian(size_t(n * in), 9);
          std::vector<float> fast(size_t(n * out)), portable(fast.size()), want(fast.size());
          gemm_f32(x.data(), n, w.t, fast.data(), pool);
          gemm_f32_portable(x.data(), n, w.t, portable.data(), pool);
          matmul_ref(x.data(), n, w.t, want.data());
          const double tol = 2e-6 * std::sqrt(double(in)) * 4;  // |x|,|w| ~ N(0,1): f32 sums of `in` terms
          for (size_t i = 0; i < want.size(); ++i) {
            ASSERT_NEAR(fast[i], want[i], tol * (1 + std::fabs(want[i]))) << dtype_name(type) << " n=" << n << " in=" << in << " out=" << out;
            ASSERT_NEAR(portable[i], want[i], tol * (1 + std::fabs(want[i]))) << dtype_name(type);
          }
        }
}

TEST(Gemm, PackedStridedOperands) {
  ThreadPool pool(test::max_threads());
  // b is a [k, m] slice of a wider buffer used transposed: element (r, c) of the packed operand is
  // b[c * ld + r], the way attention packs V.
  const int64_t n = 13, k = 70, m = 37, ld = 50 + m, ldy = m + 3;
  const std::vector<float> a = test::gaussian(size_t(n * k), 1), b = test::gaussian(size_t(k * ld), 2);
  PackedPanels packed;
  pack_panels(b.data() + 5, 1, ld, m, k, packed, pool);
  std::vector<float> y(size_t(n * ldy), -7.0f);
  gemm_packed(a.data(), k, n, packed, y.data(), ldy, pool);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < m; ++c) {
      double want = 0;
      for (int64_t j = 0; j < k; ++j) want += double(a[size_t(i * k + j)]) * b[size_t(j * ld + 5 + c)];
      ASSERT_NEAR(y[size_t(i * ldy + c)], want, 1e-4) << i << "," << c;
    }
    for (int64_t c = m; c < ldy; ++c) ASSERT_EQ(y[size_t(i * ldy + c)], -7.0f);  // outside the tile: untouched
  }
}

// The right-hand side read where it lies ([in, out] rows ld apart, the way SAM's decoder mixes
// image rows), on both tile orders (a small operand and one over the L2 budget).
TEST(Gemm, RightHandSideReadInPlace) {
  ThreadPool pool(test::max_threads());
  for (int64_t n : {3, 8, 130})
    for (int64_t in : {5, 300, 4500})
      for (int64_t out : {32, 96}) {
        const int64_t ld = out + 16, ldy = out + 3;
        const std::vector<float> a = test::gaussian(size_t(n * in), 3), b = test::gaussian(size_t(in * ld), 4);
        std::vector<float> fast(size_t(n * ldy), -7.0f), portable(fast);
        gemm_in_place(a.data(), in, n, b.data() + 7, ld, in, out, fast.data(), ldy, pool);
        gemm_in_place_portable(a.data(), in, n, b.data() + 7, ld, in, out, portable.data(), ldy, pool);
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t c = 0; c < out; ++c) {
            double want = 0;
            for (int64_t j = 0; j < in; ++j) want += double(a[size_t(i * in + j)]) * b[size_t(j * ld + 7 + c)];
            const double tol = 8e-6 * std::sqrt(double(in)) * (1 + std::fabs(want));
            ASSERT_NEAR(fast[size_t(i * ldy + c)], want, tol) << n << " " << in << " " << out;
            ASSERT_NEAR(portable[size_t(i * ldy + c)], want, tol);
          }
          for (int64_t c = out; c < ldy; ++c) ASSERT_EQ(fast[size_t(i * ldy + c)], -7.0f);
        }
      }
  std::vector<float> a(4 * 8), b(8 * 40), y(4 * 40);
  EXPECT_THROW(gemm_in_place(a.data(), 8, 4, b.data(), 40, 8, 33, y.data(), 40, pool), Error);
}

// The epilogue: accumulation into y (a residual), bias per column and an activation, on the F32 micro-kernel's
// sizes and on sizes the AMX path takes where present, against the reference and the portable kernel.
TEST(Gemm, EpilogueAddsBiasAndAccumulates) {
  ThreadPool one(1), all(test::max_threads());  // one thread: the AMX path's items span every column
  for (ThreadPool* p : {&one, &all})
    for (int64_t n : {5, 300})
      for (int64_t in : {70, 600})
        for (int64_t out : {33, 160}) {
          const Weight w = make(DType::F32, out, in, 1.0f);
          const std::vector<float> x = test::gaussian(size_t(n * in), 11), bias = test::gaussian(size_t(out), 12);
          const std::vector<float> residual = test::gaussian(size_t(n * out), 13);
          std::vector<float> product(residual.size());
          matmul_ref(x.data(), n, w.t, product.data());
          const auto leaky = [](float* v, int64_t m) {
            for (int64_t i = 0; i < m; ++i) v[i] = v[i] > 0 ? v[i] : 0.25f * v[i];
          };
          for (bool accumulate : {false, true})
            for (bool activate : {false, true}) {
              std::vector<float> fast = residual, portable = residual;
              const GemmEpilogue epilogue{bias.data(), accumulate, activate ? +leaky : nullptr};
              gemm_f32(x.data(), n, w.t, fast.data(), *p, epilogue);
              gemm_f32_portable(x.data(), n, w.t, portable.data(), *p, epilogue);
              const double tol = 2e-6 * std::sqrt(double(in)) * 4;
              for (int64_t r = 0; r < n; ++r)
                for (int64_t c = 0; c < out; ++c) {
                  const size_t i = size_t(r * out + c);
                  double expect = double(product[i]) + bias[size_t(c)] + (accumulate ? residual[i] : 0.0);
                  if (activate && expect < 0) expect *= 0.25;
                  ASSERT_NEAR(fast[i], expect, tol * (1 + std::fabs(expect))) << n << " " << in << " " << out << " " << accumulate;
                  ASSERT_NEAR(portable[i], expect, tol * (1 + std::fabs(expect))) << accumulate;
                }
            }
        }
}

// A right-hand side packed once (both forms where AMX is present) for products with few and many rows.
TEST(Gemm, PackedOperandServesSmallAndLargeProducts) {
  ThreadPool pool(test::max_threads());
  const int64_t in = 100, out = 70;
  const std::vector<float> b = test::gaussian(size_t(out * in), 21);  // [out, in] rows
  PackedOperand packed;
  pack_operand(b.data(), in, 1, out, in, packed, pool);
  for (int64_t n : {5, 300}) {
    const std::vector<float> x = test::gaussian(size_t(n * in), 22);
    std::vector<float> y(size_t(n * out));
    gemm_operand(x.data(), in, n, packed, y.data(), out, pool);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < out; ++c) {
        double want = 0;
        for (int64_t k = 0; k < in; ++k) want += double(x[size_t(r * in + k)]) * b[size_t(c * in + k)];
        ASSERT_NEAR(y[size_t(r * out + c)], want, 8e-6 * std::sqrt(double(in)) * (1 + std::fabs(want))) << n;
      }
  }
}

// The three BF16 parts hold every bit of an F32 value (the AMX GEMM's products are exact
// because of it); checked on every machine, AMX or not.
TEST(GemmAmx, ThreeBf16PartsHoldEveryBitOfAFloat) {
  std::vector<float> values = test::gaussian(20000, 6);
  for (float& v : values) v *= std::ldexp(1.0f, int(std::fabs(v) * 40) - 60);  // exponents from ~2^-60 to ~2^100
  for (float v : {0.0f, -0.0f, 1.0f, -1.0f, 1.0f + std::ldexp(1.0f, -23), 3.14159265f, -1e-30f, 1e30f, 16777215.0f})
    values.push_back(v);
  const auto value = [](uint16_t h) { return double(bf16_to_f32(h)); };
  for (float v : values) {
    const Bf16Parts p = split_bf16x3(v);
    ASSERT_EQ(value(p.hi) + value(p.mid) + value(p.lo), double(v)) << v;
    ASSERT_LE(std::fabs(value(p.mid)), std::fabs(double(v)) * std::ldexp(1.0, -7)) << v;
    ASSERT_LE(std::fabs(value(p.lo)), std::fabs(double(v)) * std::ldexp(1.0, -15)) << v;
  }
}

// The AMX path against the f64 reference at the F32 GEMM's tolerance: partial row and column
// blocks, k not a multiple of 32, k over one 512-wide slab (accumulated across slabs), packed,
// strided and in-place right-hand sides. Skipped where the CPU has no AMX.
TEST(GemmAmx, MatchesTheReferenceAtF32Accuracy) {
  if (!amx_available()) GTEST_SKIP() << "no AMX on this CPU";
  ThreadPool pool(test::max_threads());
  for (int64_t n : {1, 33, 300})
    for (int64_t in : {16, 100, 600, 1100})
      for (int64_t out : {32, 130}) {
        const int64_t ld = out + 40, ldx = in + 5, ldy = out + 3;
        const std::vector<float> a = test::gaussian(size_t(n * ldx), 7), b = test::gaussian(size_t(in * ld), 8);
        PackedPanels packed;  // b's [in, out] slice at column 3, transposed into panels
        pack_panels(b.data() + 3, 1, ld, out, in, packed, pool);
        std::vector<float> from_panels(size_t(n * ldy), -7.0f), in_place(from_panels);
        gemm_amx(a.data(), ldx, n, PanelView{packed.data.data(), in * kPanelWidth, kPanelWidth, out, in},
                 from_panels.data(), ldy, pool);
        const bool whole_panels = out % kPanelWidth == 0;
        if (whole_panels) gemm_amx(a.data(), ldx, n, PanelView{b.data() + 3, kPanelWidth, ld, out, in}, in_place.data(), ldy, pool);
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t c = 0; c < out; ++c) {
            double want = 0, magnitude = 0;
            for (int64_t j = 0; j < in; ++j) {
              const double term = double(a[size_t(i * ldx + j)]) * b[size_t(j * ld + 3 + c)];
              want += term;
              magnitude += std::fabs(term);
            }
            // F32 accumulation of `in` terms: a few units of 2^-24 of the terms' magnitude.
            const double tol = 4 * std::ldexp(1.0, -24) * std::sqrt(double(in)) * magnitude + 1e-30;
            ASSERT_NEAR(from_panels[size_t(i * ldy + c)], want, tol) << n << " " << in << " " << out;
            if (whole_panels) ASSERT_NEAR(in_place[size_t(i * ldy + c)], want, tol) << n << " " << in << " " << out;
          }
          for (int64_t c = out; c < ldy; ++c) ASSERT_EQ(from_panels[size_t(i * ldy + c)], -7.0f);  // untouched
        }
      }
}

}  // namespace
}  // namespace edgerun
