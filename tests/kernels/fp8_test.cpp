// FP8 E4M3FN: exact decoding of every code, rounding to it, the matmul path that reads FP8 rows
// in place and applies the per-tensor scale, and attaching the scales of a checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/weight_store.h"
#include "kernels/matmul.h"

namespace edgerun {
namespace {

// The value of an E4M3FN code from its definition (torch.float8_e4m3fn): bias 7, subnormals at
// exponent 0, no infinities, S.1111.111 NaN.
double e4m3_reference(uint8_t v) {
  const int sign = v >> 7, exp = (v >> 3) & 15, mant = v & 7;
  if (exp == 15 && mant == 7) return std::nan("");
  const double mag = exp == 0 ? std::ldexp(mant / 8.0, -6) : std::ldexp(1 + mant / 8.0, exp - 7);
  return sign ? -mag : mag;
}

TEST(Fp8, DecodesEveryCodeExactly) {
  for (int v = 0; v < 256; ++v) {
    const double want = e4m3_reference(uint8_t(v));
    const float got = f8_e4m3_to_f32(uint8_t(v));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << v;
    } else {
      EXPECT_EQ(double(got), want) << v;
      EXPECT_EQ(std::signbit(got), (v & 0x80) != 0) << v;  // -0 stays -0
    }
  }
  EXPECT_EQ(f8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(f8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(f8_e4m3_to_f32(0xff)));
}

TEST(Fp8, EncodesToNearestEvenAndSaturates) {
  for (int v = 0; v < 256; ++v) {  // every finite code round-trips
    if ((v & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_f8_e4m3(f8_e4m3_to_f32(uint8_t(v))), uint8_t(v)) << v;
  }
  EXPECT_EQ(f8_e4m3_to_f32(f32_to_f8_e4m3(1.0625f)), 1.0f);   // halfway 1 / 1.125: even mantissa
  EXPECT_EQ(f8_e4m3_to_f32(f32_to_f8_e4m3(1.1875f)), 1.25f);  // halfway 1.125 / 1.25
  EXPECT_EQ(f8_e4m3_to_f32(f32_to_f8_e4m3(1.07f)), 1.125f);
  EXPECT_EQ(f8_e4m3_to_f32(f32_to_f8_e4m3(3 * std::ldexp(1.0f, -11))), std::ldexp(1.0f, -9));  // subnormal
  EXPECT_EQ(f8_e4m3_to_f32(f32_to_f8_e4m3(1e6f)), 448.0f);
  EXPECT_EQ(f8_e4m3_to_f32(f32_to_f8_e4m3(-500.0f)), -448.0f);
  EXPECT_TRUE(std::isnan(f8_e4m3_to_f32(f32_to_f8_e4m3(std::nanf("")))));
}

// An FP8 weight [rows, cols] with a scale, read in place by matmul: equals the F32 matmul of
// fp8 * scale, in the one-token (decode) and many-token (prefill) paths.
TEST(Fp8, MatmulReadsFp8InPlaceAndAppliesTheScale) {
  const int64_t rows = 37, cols = 96;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> code(0, 255);
  std::normal_distribution<float> normal;
  std::vector<uint8_t> q(size_t(rows * cols));
  for (uint8_t& v : q) {
    do v = uint8_t(code(rng));
    while ((v & 0x7f) == 0x7f);  // no NaN weights
  }
  const float scale = 0.0123f;
  std::vector<float> deq(q.size());
  for (size_t i = 0; i < q.size(); ++i) deq[i] = f8_e4m3_to_f32(q[i]) * scale;
  Tensor w{"w", DType::F8_E4M3, {rows, cols}, q.data(), q.size(), scale};
  Tensor ref{"ref", DType::F32, {rows, cols}, reinterpret_cast<const uint8_t*>(deq.data()), deq.size() * 4};
  ThreadPool pool(2);
  for (int64_t n : {1, 5}) {
    std::vector<float> x(size_t(n * cols)), y(size_t(n * rows)), want(y.size());
    for (float& v : x) v = normal(rng);
    matmul(x.data(), n, w, y.data(), pool);
    matmul_ref(x.data(), n, ref, want.data());
    for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << "n " << n << " i " << i;
  }
  std::vector<float> row(static_cast<size_t>(cols));
  tensor_row_to_f32(w, 3, row.data());  // embedding-style lookups see the scale too
  for (int64_t i = 0; i < cols; ++i) EXPECT_EQ(row[size_t(i)], deq[size_t(3 * cols + i)]);
}

// ---------------------------------------------------------------- scales in a checkpoint

struct Store {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<Tensor> tensors;
  void add(const std::string& name, DType t, std::vector<int64_t> shape, std::vector<uint8_t> b) {
    bytes.push_back(std::move(b));
    tensors.push_back(Tensor{name, t, std::move(shape), bytes.back().data(), bytes.back().size()});
  }
  void add_scalar(const std::string& name, float v) {
    std::vector<uint8_t> b(4);
    std::memcpy(b.data(), &v, 4);
    add(name, DType::F32, {}, b);
  }
  WeightStore build() {
    WeightStore w;
    w.add(tensors, nullptr, "model.safetensors");
    return w;
  }
};

TEST(Fp8, ScalesAttachByEitherUpstreamName) {
  Store s;
  s.bytes.reserve(8);
  s.add("a.q_proj.weight", DType::F8_E4M3, {2, 2}, {0x38, 0x40, 0xb8, 0});  // 1, 2, -1, 0
  s.add_scalar("a.q_proj.weight_scale_inv", 0.5f);                        // transformers fine-grained FP8
  s.add_scalar("a.q_proj.activation_scale", 3.0f);
  s.add("b.up_proj.weight", DType::F8_E4M3, {1, 2}, {0x38, 0x38});
  s.add_scalar("b.up_proj.weight_scale", 0.25f);  // compressed-tensors naming
  WeightStore w = s.build();
  w.attach_fp8_scales();
  EXPECT_EQ(w.get("a.q_proj.weight").scale, 0.5f);
  EXPECT_EQ(w.get("b.up_proj.weight").scale, 0.25f);
  EXPECT_EQ(w.get("a.q_proj.activation_scale").scale, 1.0f);
  EXPECT_TRUE(WeightStore::is_fp8_companion("a.q_proj.weight_scale_inv"));
  EXPECT_TRUE(WeightStore::is_fp8_companion("a.q_proj.activation_scale"));
  EXPECT_TRUE(WeightStore::is_fp8_companion("a.q_proj.input_scale"));
  EXPECT_FALSE(WeightStore::is_fp8_companion("a.q_proj.weight"));
}

TEST(Fp8, MissingOrUnsupportedScalesAreRefused) {
  auto error_for = [](Store& s) -> std::string {
    WeightStore w = s.build();
    try {
      w.attach_fp8_scales();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  Store missing;
  missing.bytes.reserve(4);
  missing.add("m.layers.0.mlp.down_proj.weight", DType::F8_E4M3, {1, 2}, {0x38, 0x38});
  EXPECT_EQ(error_for(missing),
            "model.safetensors: FP8 tensor 'm.layers.0.mlp.down_proj.weight' has no scale: expected "
            "'m.layers.0.mlp.down_proj.weight_scale_inv' (or 'm.layers.0.mlp.down_proj.weight_scale') next to it");
  Store block;  // DeepSeek-style 128x128 block scales: [ceil(rows/128), ceil(cols/128)]
  block.bytes.reserve(4);
  block.add("w.weight", DType::F8_E4M3, {1, 2}, {0x38, 0x38});
  block.add("w.weight_scale_inv", DType::F32, {1, 2}, std::vector<uint8_t>(8));
  EXPECT_NE(error_for(block).find("only per-tensor FP8 scales are supported"), std::string::npos);
  Store zero;
  zero.bytes.reserve(4);
  zero.add("w.weight", DType::F8_E4M3, {1, 2}, {0x38, 0x38});
  zero.add_scalar("w.weight_scale_inv", 0.0f);
  EXPECT_NE(error_for(zero).find("expected a positive number"), std::string::npos);
}

}  // namespace
}  // namespace edgerun
