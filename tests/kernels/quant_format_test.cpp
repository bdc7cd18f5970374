// Block formats: decoding hand-built blocks bit for bit (following MODELS.md §1.3 as written),
// and quantize -> dequantize round trips with error bounds measured on Gaussian data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/quant.h"
#include "core/tensor.h"
#include "kernels/matmul.h"

#include "random_util.h"

namespace edgerun {
namespace {

using test::gaussian;

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(dtype_row_bytes(t, int64_t(x.size())));
  quantize_row(t, x.data(), q.data(), int64_t(x.size()));
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), int64_t(x.size()));
  return y;
}

double rel_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += double(x[i] - y[i]) * (x[i] - y[i]);
    s += double(x[i]) * x[i];
  }
  return std::sqrt(e / s);
}

TEST(QuantFormat, DecodesHandBuiltQ8_0) {
  BlockQ8_0 b;
  b.d = f32_to_f16(0.5f);
  for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(j * 8 - 128);
  float y[32];
  dequantize_row(DType::Q8_0, &b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * float(j * 8 - 128)) << j;
}

TEST(QuantFormat, DecodesHandBuiltQ4_0) {
  BlockQ4_0 b;
  b.d = f32_to_f16(-0.25f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  float y[32];
  dequantize_row(DType::Q4_0, &b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], -0.25f * float(j - 8)) << j;           // low nibbles: first half
    EXPECT_EQ(y[j + 16], -0.25f * float(7 - j)) << j;      // high nibbles: second half
  }
}

TEST(QuantFormat, DecodesHandBuiltQ4_K) {
  // Scales and mins above 15 exercise the two high bits stored in bytes 0..7.
  const int sc[8] = {1, 17, 33, 63, 5, 40, 62, 16}, mn[8] = {0, 63, 2, 31, 47, 9, 60, 32};
  BlockQ4_K b;
  b.d = f32_to_f16(0.5f);
  b.dmin = f32_to_f16(0.125f);
  for (int j = 0; j < 4; ++j) {
    b.scales[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = uint8_t((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  for (int i = 0; i < 128; ++i) b.qs[i] = uint8_t((i * 7) & 0xff);
  float y[256];
  dequantize_row(DType::Q4_K, &b, y, 256);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int q = b.qs[32 * c + l];
      EXPECT_EQ(y[64 * c + l], 0.5f * float(sc[2 * c]) * float(q & 15) - 0.125f * float(mn[2 * c]));
      EXPECT_EQ(y[64 * c + 32 + l], 0.5f * float(sc[2 * c + 1]) * float(q >> 4) - 0.125f * float(mn[2 * c + 1]));
    }
}

TEST(QuantFormat, DecodesHandBuiltQ6_K) {
  BlockQ6_K b;
  for (int i = 0; i < 128; ++i) b.ql[i] = uint8_t((i * 37 + 11) & 0xff);
  for (int i = 0; i < 64; ++i) b.qh[i] = uint8_t((i * 53 + 7) & 0xff);
  for (int i = 0; i < 16; ++i) b.scales[i] = int8_t(i * 17 - 128);
  b.d = f32_to_f16(0.0625f);
  float y[256];
  dequantize_row(DType::Q6_K, &b, y, 256);
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* ql = b.ql + 64 * h;
      const uint8_t* qh = b.qh + 32 * h;
      const int8_t* s = b.scales + 8 * h;
      const int is = l / 16;
      const int q[4] = {(ql[l] & 15) | ((qh[l] & 3) << 4), (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4),
                        (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4), (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
      for (int j = 0; j < 4; ++j)
        EXPECT_EQ(y[128 * h + 32 * j + l], 0.0625f * float(s[is + 2 * j]) * float(q[j] - 32)) << h << " " << l << " " << j;
    }
}

TEST(QuantFormat, PlainTypesPassThrough) {
  const std::vector<float> x = gaussian(64, 1);
  EXPECT_EQ(round_trip(DType::F32, x), x);
  const std::vector<float> h = round_trip(DType::F16, x), b = round_trip(DType::BF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], f16_to_f32(f32_to_f16(x[i])));
    EXPECT_EQ(b[i], bf16_to_f32(f32_to_bf16(x[i])));
  }
}

// Measured on 64K Gaussian values (seeded): Q8_0 0.0054, Q4_0 0.0859, Q4_K 0.0718, Q6_K 0.0177.
// The bounds leave ~10% headroom so a regression in the scale search shows up.
TEST(QuantFormat, GaussianRoundTripErrors) {
  const std::vector<float> x = gaussian(1 << 16, 42);
  const struct { DType t; double bound; } cases[] = {
      {DType::Q8_0, 0.0060}, {DType::Q4_0, 0.095}, {DType::Q4_K, 0.079}, {DType::Q6_K, 0.0195}};
  for (const auto& c : cases) {
    const double e = rel_rmse(x, round_trip(c.t, x));
    EXPECT_LT(e, c.bound) << dtype_name(c.t);
    std::printf("  %s relative RMSE %.5f\n", dtype_name(c.t), e);
  }
}

// The K-quant searches must beat the naive min/max (resp. max-magnitude) mapping they start from.
TEST(QuantFormat, KQuantsBeatPlainFourBit) {
  const std::vector<float> x = gaussian(1 << 14, 7);
  EXPECT_LT(rel_rmse(x, round_trip(DType::Q4_K, x)), rel_rmse(x, round_trip(DType::Q4_0, x)));
  EXPECT_LT(rel_rmse(x, round_trip(DType::Q6_K, x)), rel_rmse(x, round_trip(DType::Q4_K, x)) / 3);
}

TEST(QuantFormat, Q4_0ExtremeMapsToMinusEight) {
  std::vector<float> x(32, 0.1f);
  x[5] = -3.0f;
  BlockQ4_0 b;
  quantize_row(DType::Q4_0, x.data(), &b, 32);
  EXPECT_EQ(b.qs[5] & 15, 0);  // -8 after the offset
  std::vector<float> y(32);
  dequantize_row(DType::Q4_0, &b, y.data(), 32);
  EXPECT_NEAR(y[5], -3.0f, 3.0f * 1e-3f);  // exact up to the f16 scale
  x[5] = 3.0f;                              // positive extreme: d is negative, still exact
  quantize_row(DType::Q4_0, x.data(), &b, 32);
  dequantize_row(DType::Q4_0, &b, y.data(), 32);
  EXPECT_NEAR(y[5], 3.0f, 3.0f * 1e-3f);
}

TEST(QuantFormat, ZerosStayZero) {
  const std::vector<float> x(512, 0.0f);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K})
    for (float v : round_trip(t, x)) ASSERT_EQ(v, 0.0f) << dtype_name(t);
}

TEST(QuantFormat, ScaleInvariantAndOffsetRobust) {
  // Q4_K has per-sub-block mins, so a constant offset costs little; Q4_0 pays for it.
  std::vector<float> x = gaussian(4096, 9);
  for (float& v : x) v = v * 1e-3f + 5e-3f;
  EXPECT_LT(rel_rmse(x, round_trip(DType::Q4_K, x)), 0.03);
  EXPECT_LT(rel_rmse(x, round_trip(DType::Q6_K, x)), 0.0125);
  EXPECT_LT(rel_rmse(x, round_trip(DType::Q8_0, x)), 0.005);
}

TEST(QuantFormat, Q8_KBlocksAndSums) {
  const std::vector<float> x = gaussian(512, 3);
  BlockQ8_K b[2];
  quantize_row_q8_k(x.data(), b, 512);
  for (int i = 0; i < 2; ++i) {
    int amax = 0;
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int j = 0; j < 16; ++j) s += b[i].qs[16 * g + j];
      EXPECT_EQ(b[i].bsums[g], s);
    }
    for (int j = 0; j < 256; ++j) {
      amax = std::max(amax, std::abs(int(b[i].qs[j])));
      EXPECT_NEAR(b[i].d * b[i].qs[j], x[256 * i + j], std::fabs(b[i].d) * 0.5f + 1e-7f);
    }
    EXPECT_EQ(amax, 127);
  }
}

TEST(QuantFormat, RejectsPartialBlocks) {
  std::vector<float> x(48);
  std::vector<uint8_t> q(1024);
  EXPECT_THROW(quantize_row(DType::Q4_0, x.data(), q.data(), 48), Error);
  EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), q.data(), 128), Error);
  EXPECT_THROW(dequantize_row(DType::Q6_K, q.data(), x.data(), 32), Error);
}

// Embedding lookups of quantized token tables go through tensor_row_to_f32.
TEST(QuantFormat, TensorRowToF32Dequantizes) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t rows = 3, cols = 512;
    const std::vector<float> x = gaussian(size_t(rows * cols), 5);
    const size_t rb = dtype_row_bytes(t, cols);
    std::vector<uint8_t> q(rb * rows);
    for (int64_t r = 0; r < rows; ++r) quantize_row(t, &x[r * cols], &q[r * rb], cols);
    Tensor tensor;
    tensor.dtype = t;
    tensor.shape = {rows, cols};
    tensor.data = q.data();
    tensor.nbytes = q.size();
    std::vector<float> got(static_cast<size_t>(cols)), want(static_cast<size_t>(cols));
    tensor_row_to_f32(tensor, 2, got.data());
    dequantize_row(t, &q[2 * rb], want.data(), cols);
    EXPECT_EQ(got, want) << dtype_name(t);
  }
}

}  // namespace
}  // namespace edgerun

namespace edgerun {
namespace {

// The vectorised F16 row conversion (vcvtph2ps on x86) must agree with the scalar one on every
// bit pattern; NaNs only need to stay NaNs of the same sign (the hardware quiets signalling ones).
TEST(QuantFormat, F16RowConversionMatchesScalarOnAllPatterns) {
  std::vector<uint16_t> h(65536);
  for (uint32_t i = 0; i < 65536; ++i) h[i] = uint16_t(i);
  std::vector<float> got(65536);
  to_f32(DType::F16, h.data(), got.data(), 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    const float want = f16_to_f32(uint16_t(i));
    uint32_t a, b;
    std::memcpy(&a, &got[i], 4);
    std::memcpy(&b, &want, 4);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got[i])) << std::hex << i;
      ASSERT_EQ(a >> 31, b >> 31) << std::hex << i;
    } else {
      ASSERT_EQ(a, b) << std::hex << i;
    }
  }
}

}  // namespace
}  // namespace edgerun
