#include "kernels/vision_ops.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "kernels/fast_math.h"
#include "kernels/gemm.h"
#include "kernels/gemm_amx.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/simd.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgerun {

std::vector<float> tensor_to_f32(const Tensor& t, int64_t numel) {
  if (numel >= 0 && t.numel() != numel)
    throw Error("tensor '" + t.name + "' has shape " + t.shape_string() + ", expected " +
                std::to_string(numel) + " elements");
  std::vector<float> out(static_cast<size_t>(t.numel()));
  to_f32(t.dtype, t.data, out.data(), t.numel());
  if (t.scale != 1.0f) scale_inplace(out.data(), t.scale, t.numel());
  return out;
}

namespace {

#if defined(__x86_64__)
// nn.LayerNorm per row on AVX-512 for dim a multiple of 16: the sixteen lane sums of each pass are
// combined in double, as below, so both paths round alike.
__attribute__((target("avx512f"))) inline double lane_total(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  double total = 0;
  for (float l : lanes) total += l;
  return total;
}

__attribute__((target("avx512f"))) void layernorm_avx512(const float* x, int64_t n, int64_t dim, const float* weight,
                                                         const float* bias, float eps, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < dim; i += 16) sum = _mm512_add_ps(sum, _mm512_loadu_ps(xr + i));
    const __m512 mean = _mm512_set1_ps(float(lane_total(sum) / double(dim)));
    __m512 sq = _mm512_setzero_ps();
    for (int64_t i = 0; i < dim; i += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + i), mean);
      sq = _mm512_fmadd_ps(d, d, sq);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(float(lane_total(sq) / double(dim)) + eps));
    for (int64_t i = 0; i < dim; i += 16) {
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + i), mean), inv);
      _mm512_storeu_ps(yr + i, _mm512_fmadd_ps(d, _mm512_loadu_ps(weight + i), _mm512_loadu_ps(bias + i)));
    }
  }
}
#endif

}  // namespace

void layernorm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias,
               float eps, float* y) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && dim % 16 == 0) return layernorm_avx512(x, n, dim, weight, bias, eps, y);
#endif
  layernorm_portable(x, n, dim, weight, bias, eps, y);
}

void layernorm_portable(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias,
                        float eps, float* y) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    // Two passes over 16 float lanes (vectorised), the lanes summed in double.
    constexpr int kLanes = 16;
    float lane[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= dim; i += kLanes)
      for (int l = 0; l < kLanes; ++l) lane[l] += xr[i + l];
    double sum = 0;
    for (; i < dim; ++i) sum += xr[i];
    for (float v : lane) sum += v;
    const float mean = float(sum / double(dim));
    float sq[kLanes] = {};
    for (i = 0; i + kLanes <= dim; i += kLanes)
      for (int l = 0; l < kLanes; ++l) sq[l] += (xr[i + l] - mean) * (xr[i + l] - mean);
    double ss = 0;
    for (; i < dim; ++i) ss += double(xr[i] - mean) * double(xr[i] - mean);
    for (float v : sq) ss += v;
    const float inv = 1.0f / std::sqrt(float(ss / double(dim)) + eps);
    for (int64_t i = 0; i < dim; ++i) yr[i] = (xr[i] - mean) * inv * weight[i] + bias[i];
  }
}

void layernorm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias,
               float eps, float* y, ThreadPool& pool) {
  pool.parallel_for(n, [&](int64_t r0, int64_t r1, int) {
    layernorm(x + r0 * dim, r1 - r0, dim, weight, bias, eps, y + r0 * dim);
  }, std::max<int64_t>(1, 4096 / std::max<int64_t>(dim, 1)));
}

void layernorm_channels(const float* x, int64_t channels, int64_t pixels, const float* weight,
                        const float* bias, float eps, float* y) {
  std::vector<double> mean(size_t(pixels), 0.0), var(size_t(pixels), 0.0);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < pixels; ++p) mean[p] += x[c * pixels + p];
  for (int64_t p = 0; p < pixels; ++p) mean[p] /= double(channels);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < pixels; ++p) {
      const double d = x[c * pixels + p] - mean[p];
      var[p] += d * d;
    }
  std::vector<float> inv(static_cast<size_t>(pixels));
  for (int64_t p = 0; p < pixels; ++p) inv[p] = 1.0f / std::sqrt(float(var[p] / double(channels)) + eps);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < pixels; ++p)
      y[c * pixels + p] = (x[c * pixels + p] - float(mean[p])) * inv[p] * weight[c] + bias[c];
}

void transpose(const float* x, int64_t rows, int64_t cols, float* y, ThreadPool& pool) {
  constexpr int64_t kTile = 32;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  pool.parallel_for(row_tiles * col_tiles, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r0 = t / col_tiles * kTile, c0 = t % col_tiles * kTile;
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) y[c * rows + r] = x[r * cols + c];
    }
  });
}

void gelu_erf_portable(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
}

#if defined(__x86_64__)
namespace {
// ½·erf on [0, 4) in 32 pieces of width 1/8, each a degree-4 polynomial in the piece's own
// variable f = 8a − k ∈ [0, 1): interpolated at Chebyshev nodes from std::erf (double) when first
// used. Interpolation error < 1e-8; beyond 4, erf is 1 to within 1.6e-8. The vector code picks
// each lane's coefficients with a two-table (32-entry) permute: no exp, no division, five
// permutes and four FMAs per 16 values.
constexpr int kErfPieces = 32, kErfDegree = 4;
struct ErfPieces {
  alignas(64) float coef[kErfDegree + 1][kErfPieces];  // coef[i][k]: f^i in piece k
};

ErfPieces fit_erf_pieces() {
  constexpr int m = kErfDegree + 1;
  ErfPieces pieces{};
  for (int k = 0; k < kErfPieces; ++k) {
    double a[m][m + 1];  // Vandermonde rows at the nodes, then the values
    for (int j = 0; j < m; ++j) {
      const double f = 0.5 + 0.5 * std::cos((2 * j + 1) * M_PI / (2 * m));
      double power = 1;
      for (int i = 0; i < m; ++i, power *= f) a[j][i] = power;
      a[j][m] = 0.5 * std::erf((k + f) / 8);
    }
    for (int c = 0; c < m; ++c) {  // Gaussian elimination with partial pivoting
      int pivot = c;
      for (int r = c + 1; r < m; ++r)
        if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
      for (int i = 0; i <= m; ++i) std::swap(a[c][i], a[pivot][i]);
      for (int r = 0; r < m; ++r) {
        if (r == c) continue;
        const double factor = a[r][c] / a[c][c];
        for (int i = c; i <= m; ++i) a[r][i] -= factor * a[c][i];
      }
    }
    for (int i = 0; i < m; ++i) pieces.coef[i][k] = float(a[i][m] / a[i][i]);
  }
  return pieces;
}

const ErfPieces& erf_pieces() {
  static const ErfPieces pieces = fit_erf_pieces();
  return pieces;
}

// The coefficient tables as vectors: [i][0] pieces 0-15, [i][1] pieces 16-31.
struct ErfTables {
  __m512 c[kErfDegree + 1][2];
};

// gelu(v) = ½v + |v|·½erf(|v|/√2).
__attribute__((target("avx512f"))) inline __m512 gelu_erf16(__m512 v, const ErfTables& tables) {
  const __m512 abs_v = _mm512_abs_ps(v);
  const __m512 t = _mm512_min_ps(_mm512_mul_ps(abs_v, _mm512_set1_ps(float(8 * M_SQRT1_2))), _mm512_set1_ps(31.99999f));
  const __m512i k = _mm512_cvttps_epi32(t);  // t ≥ 0: truncation is the floor
  const __m512 f = _mm512_sub_ps(t, _mm512_cvtepi32_ps(k));
  __m512 p = _mm512_permutex2var_ps(tables.c[kErfDegree][0], k, tables.c[kErfDegree][1]);
  for (int i = kErfDegree - 1; i >= 0; --i)
    p = _mm512_fmadd_ps(p, f, _mm512_permutex2var_ps(tables.c[i][0], k, tables.c[i][1]));
  return _mm512_fmadd_ps(abs_v, p, _mm512_mul_ps(_mm512_set1_ps(0.5f), v));
}

__attribute__((target("avx512f"))) void gelu_erf_avx512(float* x, int64_t n) {
  const ErfPieces& pieces = erf_pieces();
  ErfTables tables;
  for (int i = 0; i <= kErfDegree; ++i)
    for (int half = 0; half < 2; ++half) tables.c[i][half] = _mm512_load_ps(pieces.coef[i] + 16 * half);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, gelu_erf16(_mm512_loadu_ps(x + i), tables));
  if (i < n) {
    const __mmask16 m = __mmask16((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(x + i, m, gelu_erf16(_mm512_maskz_loadu_ps(m, x + i), tables));
  }
}
}  // namespace
#endif

void gelu_erf(float* x, int64_t n) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return gelu_erf_avx512(x, n);
#endif
  gelu_erf_portable(x, n);
}

namespace {

// An elementwise activation applied in chunks across the pool.
void in_chunks(float* x, int64_t n, ThreadPool& pool, void (*activation)(float*, int64_t)) {
  constexpr int64_t kChunk = 16384;
  pool.parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c0, int64_t c1, int) {
    activation(x + c0 * kChunk, std::min(n, c1 * kChunk) - c0 * kChunk);
  });
}

}  // namespace

void gelu_erf(float* x, int64_t n, ThreadPool& pool) {
  in_chunks(x, n, pool, [](float* p, int64_t m) { gelu_erf(p, m); });
}

void gelu_tanh(float* x, int64_t n, ThreadPool& pool) {
  in_chunks(x, n, pool, [](float* p, int64_t m) { gelu_tanh(p, m); });
}

namespace {

constexpr float kGeluK = 0.7978845608028654f;  // sqrt(2/pi)

// 0.5·v·(1 + tanh(u)) = v·(1 − 1/(e^{2u} + 1)), u = √(2/π)·(v + 0.044715·v³), clamped where
// tanh is ±1 in float.
inline float gelu_tanh_one(float v) {
  float u = kGeluK * (v + 0.044715f * v * v * v);
  u = u < -10.0f ? -10.0f : (u > 10.0f ? 10.0f : u);
  return v * (1.0f - 1.0f / (exp_approx(2.0f * u) + 1.0f));
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) void gelu_tanh_avx512(float* x, int64_t n) {
  int64_t i = 0;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m512 u = _mm512_mul_ps(_mm512_set1_ps(kGeluK),
                             _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), _mm512_mul_ps(v, v)), v, v));
    u = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-10.0f)), _mm512_set1_ps(10.0f));
    const __m512 e = exp_approx16(_mm512_add_ps(u, u));
    _mm512_storeu_ps(x + i, _mm512_mul_ps(v, _mm512_sub_ps(one, _mm512_div_ps(one, _mm512_add_ps(e, one)))));
  }
  for (; i < n; ++i) x[i] = gelu_tanh_one(x[i]);
}
#endif

}  // namespace

void gelu_tanh_portable(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh_one(x[i]);
}

void gelu_tanh(float* x, int64_t n) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return gelu_tanh_avx512(x, n);
#endif
  gelu_tanh_portable(x, n);
}

void linear(const float* x, int64_t n, const Tensor& w, const float* bias, float* y, ThreadPool& pool,
            GemmEpilogue epilogue) {
  epilogue.bias = bias;
  if (n >= kGemmMinRows && !dtype_is_quantized(w.dtype)) return gemm_f32(x, n, w, y, pool, epilogue);
  const int64_t out = w.dim(0);
  std::vector<float> product(epilogue.accumulate ? size_t(n * out) : 0);
  float* dst = epilogue.accumulate ? product.data() : y;
  matmul(x, n, w, dst, pool);
  if (epilogue.accumulate) add_inplace(y, dst, n * out);
  epilogue.accumulate = false;
  finish_tile(epilogue, y, out, n, out, 0);
}

namespace {

Tensor reshaped(const Tensor& t, std::vector<int64_t> shape) {
  Tensor v = t;
  v.shape = std::move(shape);
  return v;
}

void check_conv_weight(const Tensor& weight, int64_t out_ch, int64_t in_per_group, const Conv2dShape& s) {
  if (weight.shape.size() != 4 || weight.dim(1) != in_per_group || weight.dim(2) != s.kernel_h ||
      weight.dim(3) != s.kernel_w || weight.dim(0) != out_ch)
    throw Error("conv weight '" + weight.name + "' has shape " + weight.shape_string() +
                ", expected [" + std::to_string(out_ch) + ", " + std::to_string(in_per_group) + ", " +
                std::to_string(s.kernel_h) + ", " + std::to_string(s.kernel_w) + "]");
}

// Output columns ox whose input column ox·stride − pad + kx lies in [0, w).
struct ValidColumns {
  int64_t begin, end;
};
ValidColumns valid_columns(int64_t kx, int64_t w, int64_t ow, const Conv2dShape& s) {
  const int64_t lo = s.pad - kx, hi = w - 1 + s.pad - kx;  // ox·stride ∈ [lo, hi]
  const int64_t begin = lo <= 0 ? 0 : (lo + s.stride - 1) / s.stride;
  const int64_t end = hi < 0 ? 0 : std::min(ow, hi / s.stride + 1);
  return {begin, std::max(begin, end)};
}

// One output row of one channel: every pixel starts from the bias and adds its taps in (ky, kx)
// order, as the direct definition does, but tap by tap over the whole row so the loops vectorise.
EDGERUN_MULTIVERSION
void depthwise_row(const float* xc, int64_t h, int64_t w, const float* wc, float bias, const Conv2dShape& s, int64_t oy,
                   int64_t ow, float* yr) {
  for (int64_t ox = 0; ox < ow; ++ox) yr[ox] = bias;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
    const int64_t iy = oy * s.stride - s.pad + ky;
    if (iy < 0 || iy >= h) continue;
    const float* xr = xc + iy * w;
    for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
      const float tap = wc[ky * s.kernel_w + kx];
      const ValidColumns cols = valid_columns(kx, w, ow, s);
      const float* src = xr + kx - s.pad;  // src[ox·stride] is the input under tap kx
      if (s.stride == 1)
        for (int64_t ox = cols.begin; ox < cols.end; ++ox) yr[ox] += tap * src[ox];
      else
        for (int64_t ox = cols.begin; ox < cols.end; ++ox) yr[ox] += tap * src[ox * s.stride];
    }
  }
}

void depthwise_conv2d(const float* x, int64_t channels, int64_t h, int64_t w, const Tensor& weight,
                      const float* bias, const Conv2dShape& s, float* y, ThreadPool& pool, Activation activation) {
  check_conv_weight(weight, channels, 1, s);
  const std::vector<float> wf = tensor_to_f32(weight);
  const int64_t oh = conv_output_size(h, s.kernel_h, s.stride, s.pad);
  const int64_t ow = conv_output_size(w, s.kernel_w, s.stride, s.pad);
  pool.parallel_for(channels * oh, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / oh, oy = r % oh;
      depthwise_row(x + c * h * w, h, w, wf.data() + c * s.kernel_h * s.kernel_w, bias ? bias[c] : 0.0f, s, oy, ow,
                    y + r * ow);
      if (activation) activation(y + r * ow, ow);
    }
  }, 8);
}

// The taps of output pixel (oy, ox) that land inside the map: input pixel x[t] (its C channels,
// from rows: rows[iy] is input row iy) against tap weights w[t] ([C], from taps [tap][C]).
// Returns how many (at most kernel_h·kernel_w; x and w hold that many).
int64_t inside_taps(const float* const* rows, int64_t C, int64_t h, int64_t w, const float* taps, const Conv2dShape& s,
                    int64_t oy, int64_t ox, const float** x, const float** weights) {
  int64_t n = 0;
  for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
    const int64_t iy = oy * s.stride - s.pad + ky;
    if (iy < 0 || iy >= h) continue;
    for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
      const int64_t ix = ox * s.stride - s.pad + kx;
      if (ix < 0 || ix >= w) continue;
      x[n] = rows[iy] + ix * C;
      weights[n++] = taps + (ky * s.kernel_w + kx) * C;
    }
  }
  return n;
}

// One output row of a channel-last depthwise convolution: each pixel's C channels at once, input
// row iy at rows[iy] (only the rows the output row reaches are read). tap_x / tap_w: room for
// kernel_h·kernel_w pointers. (The reference of the AVX-512 path below.)
EDGERUN_MULTIVERSION
void depthwise_row_channels_last_portable(const float* const* rows, int64_t C, int64_t h, int64_t w, const float* taps,
                                          const float* bias, const Conv2dShape& s, int64_t oy, int64_t ow, float* yr,
                                          const float** tap_x, const float** tap_w) {
  for (int64_t ox = 0; ox < ow; ++ox) {
    float* yp = yr + ox * C;
    for (int64_t c = 0; c < C; ++c) yp[c] = bias ? bias[c] : 0.0f;
    const int64_t n = inside_taps(rows, C, h, w, taps, s, oy, ox, tap_x, tap_w);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t c = 0; c < C; ++c) yp[c] += tap_w[t][c] * tap_x[t][c];
  }
}

#if defined(__x86_64__)
// NV vectors of channels [c0, c0 + 16·NV) of one output pixel over its n inside taps: the sums
// stay in registers across the taps (the portable loop reads and writes the output once per tap).
template <int NV>
__attribute__((target("avx512f"))) inline void depthwise_pixel_block(const float* const* tap_x, const float* const* tap_w,
                                                                      int64_t n, const float* bias, int64_t c0, float* yp) {
  __m512 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = bias ? _mm512_loadu_ps(bias + c0 + 16 * v) : _mm512_setzero_ps();
  for (int64_t t = 0; t < n; ++t)
    for (int v = 0; v < NV; ++v)
      acc[v] = _mm512_fmadd_ps(_mm512_loadu_ps(tap_w[t] + c0 + 16 * v), _mm512_loadu_ps(tap_x[t] + c0 + 16 * v), acc[v]);
  for (int v = 0; v < NV; ++v) _mm512_storeu_ps(yp + c0 + 16 * v, acc[v]);
}

__attribute__((target("avx512f"))) void depthwise_row_channels_last_avx512(const float* const* rows, int64_t C, int64_t h,
                                                                           int64_t w, const float* taps, const float* bias,
                                                                           const Conv2dShape& s, int64_t oy, int64_t ow,
                                                                           float* yr, const float** tap_x,
                                                                           const float** tap_w) {
  for (int64_t ox = 0; ox < ow; ++ox) {
    float* yp = yr + ox * C;
    const int64_t n = inside_taps(rows, C, h, w, taps, s, oy, ox, tap_x, tap_w);
    int64_t c0 = 0;
    for (; c0 + 64 <= C; c0 += 64) depthwise_pixel_block<4>(tap_x, tap_w, n, bias, c0, yp);
    for (; c0 < C; c0 += 16) depthwise_pixel_block<1>(tap_x, tap_w, n, bias, c0, yp);
  }
}
#endif

// The AVX-512 path where the CPU has it and the channels are whole vectors.
void depthwise_row_channels_last(const float* const* rows, int64_t channels, int64_t h, int64_t w, const float* taps,
                                 const float* bias, const Conv2dShape& s, int64_t oy, int64_t ow, float* yr,
                                 const float** tap_x, const float** tap_w) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && channels % 16 == 0)
    return depthwise_row_channels_last_avx512(rows, channels, h, w, taps, bias, s, oy, ow, yr, tap_x, tap_w);
#endif
  depthwise_row_channels_last_portable(rows, channels, h, w, taps, bias, s, oy, ow, yr, tap_x, tap_w);
}

}  // namespace

namespace {

#if defined(__x86_64__)
// A convolution over a channel-first map with a small receptive field (an RGB stem: 3 channels ×
// 3×3 taps) to a channel-last map, computed directly: each output pixel's 16·V sums take every
// tap's input value broadcast against that tap's weights (taps_w [taps][16·V], tap order
// (c, ky, kx)). Copying 27-wide patches with bounds checks and running a 27-deep GEMM costs
// several times more.
template <int V>
__attribute__((target("avx512f"))) void conv_taps_rows_avx512(const float* x, int64_t h, int64_t w, int64_t channels,
                                                               const float* taps_w, const float* bias, const Conv2dShape& s,
                                                               int64_t ow, float* y, int64_t oy0, int64_t oy1) {
  constexpr int64_t O = V * 16;
  for (int64_t oy = oy0; oy < oy1; ++oy)
    for (int64_t ox = 0; ox < ow; ++ox) {
      __m512 acc[V];
      for (int v = 0; v < V; ++v) acc[v] = bias ? _mm512_loadu_ps(bias + 16 * v) : _mm512_setzero_ps();
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
          const int64_t iy = oy * s.stride - s.pad + ky;
          if (iy < 0 || iy >= h) continue;
          const float* row = x + (c * h + iy) * w;
          const float* tap = taps_w + (c * s.kernel_h + ky) * s.kernel_w * O;
          for (int64_t kx = 0; kx < s.kernel_w; ++kx, tap += O) {
            const int64_t ix = ox * s.stride - s.pad + kx;
            if (ix < 0 || ix >= w) continue;
            const __m512 a = _mm512_set1_ps(row[ix]);
            for (int v = 0; v < V; ++v) acc[v] = _mm512_fmadd_ps(a, _mm512_loadu_ps(tap + 16 * v), acc[v]);
          }
        }
      float* out = y + (oy * ow + ox) * O;
      for (int v = 0; v < V; ++v) _mm512_storeu_ps(out + 16 * v, acc[v]);
    }
}
#endif

// The direct path above where it applies (AVX-512; 16, 32, 48 or 64 outputs; at most 32 taps);
// false when the caller should take the GEMM path.
bool conv_taps_direct(const float* x, int64_t channels, int64_t h, int64_t w, const Tensor& weight, const float* bias,
                      const Conv2dShape& s, int64_t oh, int64_t ow, float* y, ThreadPool& pool, Activation activation) {
#if defined(__x86_64__)
  const int64_t out_ch = weight.dim(0), taps = channels * s.kernel_h * s.kernel_w;
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512 || taps > 32 || out_ch % 16 != 0 || out_ch > 64) return false;
  const std::vector<float> wf = tensor_to_f32(weight);  // [out][c][ky][kx] → [tap][out]
  std::vector<float> taps_w(size_t(taps * out_ch));
  for (int64_t o = 0; o < out_ch; ++o)
    for (int64_t t = 0; t < taps; ++t) taps_w[size_t(t * out_ch + o)] = wf[size_t(o * taps + t)];
  using Rows = void (*)(const float*, int64_t, int64_t, int64_t, const float*, const float*, const Conv2dShape&, int64_t,
                        float*, int64_t, int64_t);
  constexpr Rows kByWidth[] = {conv_taps_rows_avx512<1>, conv_taps_rows_avx512<2>, conv_taps_rows_avx512<3>,
                               conv_taps_rows_avx512<4>};
  const Rows rows = kByWidth[out_ch / 16 - 1];
  pool.parallel_for(oh, [&](int64_t y0, int64_t y1, int) {
    for (int64_t r0 = y0; r0 < y1; r0 += 4) {  // the activation on four rows at a time, still in L2
      const int64_t r1 = std::min(y1, r0 + 4);
      rows(x, h, w, channels, taps_w.data(), bias, s, ow, y, r0, r1);
      if (activation) activation(y + r0 * ow * out_ch, (r1 - r0) * ow * out_ch);
    }
  }, 4);
  return true;
#else
  (void)x, (void)channels, (void)h, (void)w, (void)weight, (void)bias, (void)s, (void)oh, (void)ow, (void)y, (void)pool,
      (void)activation;
  return false;
#endif
}

}  // namespace

void conv2d(const float* x, int64_t channels, int64_t h, int64_t w, const Tensor& weight, const float* bias,
            const Conv2dShape& s, float* y, ThreadPool& pool, MapLayout in, MapLayout out, Activation activation) {
  const bool in_last = in == MapLayout::kChannelLast, out_last = out == MapLayout::kChannelLast;
  if (s.groups == channels && s.groups > 1) {
    if (in != out) throw Error("conv '" + weight.name + "': a depthwise convolution keeps its map's layout");
    if (in_last) return depthwise_conv2d_channels_last(x, channels, h, w, weight, bias, s, y, pool, activation);
    return depthwise_conv2d(x, channels, h, w, weight, bias, s, y, pool, activation);
  }
  if (s.groups != 1) throw Error("conv '" + weight.name + "': groups other than 1 or depthwise are not supported");
  if (weight.shape.size() != 4) throw Error("conv weight '" + weight.name + "' is not 4-D");
  const int64_t out_ch = weight.dim(0);
  check_conv_weight(weight, out_ch, channels, s);
  const int64_t oh = conv_output_size(h, s.kernel_h, s.stride, s.pad);
  const int64_t ow = conv_output_size(w, s.kernel_w, s.stride, s.pad);
  if (oh <= 0 || ow <= 0) throw Error("conv '" + weight.name + "': input smaller than the kernel");
  // A GEMM of cols [pixels, patch] (each output pixel's receptive field) with the weight as
  // [O, patch]. A channel-first input gives patches in the weight's own (c, ky, kx) order; a
  // channel-last one in (ky, kx, c) order — whole runs of C values — with the weight reordered
  // to match. A 1×1 stride-1 convolution needs no patches: x itself is the operand.
  const int64_t taps = s.kernel_h * s.kernel_w, patch = channels * taps, pixels = oh * ow;
  const bool pointwise = taps == 1 && s.stride == 1 && s.pad == 0;
  std::vector<float> reordered;
  Tensor w_rows = reshaped(weight, {out_ch, patch});
  if (in_last && taps > 1) {
    const std::vector<float> wf = tensor_to_f32(weight);
    reordered.resize(wf.size());
    for (int64_t o = 0; o < out_ch; ++o)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t t = 0; t < taps; ++t) reordered[size_t((o * taps + t) * channels + c)] = wf[size_t((o * channels + c) * taps + t)];
    w_rows.dtype = DType::F32;
    w_rows.data = reinterpret_cast<const uint8_t*>(reordered.data());
    w_rows.nbytes = reordered.size() * sizeof(float);
  }
  // One output pixel's receptive field as a row of cols.
  const auto fill_patch = [&](int64_t oy, int64_t ox, float* row) {
    if (in_last) {
      for (int64_t ky = 0; ky < s.kernel_h; ++ky)
        for (int64_t kx = 0; kx < s.kernel_w; ++kx, row += channels) {
          const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
          if (iy >= 0 && iy < h && ix >= 0 && ix < w) std::copy_n(x + (iy * w + ix) * channels, channels, row);
          else std::fill_n(row, channels, 0.0f);
        }
      return;
    }
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
        const int64_t iy = oy * s.stride - s.pad + ky;
        for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
          const int64_t ix = ox * s.stride - s.pad + kx;
          const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
          *row++ = inside ? x[(c * h + iy) * w + ix] : 0.0f;
        }
      }
  };
  if (out_last && !in_last && conv_taps_direct(x, channels, h, w, weight, bias, s, oh, ow, y, pool, activation)) return;
  if (out_last) {
    const GemmEpilogue epilogue{bias, false, activation};  // as each tile lands
    if (pointwise && in_last) {
      // y[pixels, O] = x · Wᵀ: the weight is the packed operand, the activations are read in place.
      gemm_f32(x, pixels, w_rows, y, pool, epilogue);
    } else {
      // y[pixels, O] = cols · Wᵀ a band of output rows at a time: each thread builds its band's
      // cols in a buffer that stays in L2 instead of materialising all of them (tens of MiB).
      const std::vector<float> wf = reordered.empty() ? tensor_to_f32(weight) : std::move(reordered);
      PackedOperand packed;
      pack_operand(wf.data(), patch, 1, out_ch, patch, packed, pool);
      if (!packed.amx.data.empty() && in_last && channels % 32 == 0) {  // AMX reads the patches in place
        conv_amx_packed({x, h, w, channels, s.kernel_h, s.kernel_w, s.stride, s.pad}, packed.amx, y, pool, epilogue);
        return;
      }
      int64_t band = std::max<int64_t>(1, (int64_t(256) << 10) / std::max<int64_t>(1, ow * patch));
      // With AMX (the weight split into BF16 parts once) a band holds at least 256 pixels: every
      // band reads the whole weight.
      if (!packed.amx.data.empty()) band = std::max(band, (256 + ow - 1) / ow);
      pool.parallel_for((oh + band - 1) / band, [&](int64_t b0, int64_t b1, int) {
        thread_local ThreadPool serial(1);
        const std::unique_ptr<float[]> cols(new float[size_t(band * ow * patch)]);  // rows filled before use
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t oy0 = b * band, rows = std::min(band, oh - oy0);
          for (int64_t oy = oy0; oy < oy0 + rows; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) fill_patch(oy, ox, cols.get() + ((oy - oy0) * ow + ox) * patch);
          gemm_operand(cols.get(), patch, rows * ow, packed, y + oy0 * ow * out_ch, out_ch, serial, epilogue);
        }
      }, 1);
    }
    return;
  }
  std::unique_ptr<float[]> cols_buffer;
  const float* cols = x;  // [pixels, patch] row-major, unless pointwise with a channel-first input
  if (!pointwise) {
    cols_buffer.reset(new float[size_t(pixels * patch)]);  // every entry written below
    pool.parallel_for(oh, [&](int64_t y0, int64_t y1, int) {
      for (int64_t oy = y0; oy < y1; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) fill_patch(oy, ox, cols_buffer.get() + (oy * ow + ox) * patch);
    });
    cols = cols_buffer.get();
  }
  // y[O, pixels] = W · colsᵀ: the GEMM writes the channel-first map directly.
  thread_local PackedPanels packed_cols;
  PackedPanels& packed = packed_cols;
  if (pointwise && !in_last) pack_panels(x, 1, h * w, pixels, channels, packed, pool);  // x is colsᵀ
  else pack_panels(cols, patch, 1, pixels, patch, packed, pool);
  const std::vector<float> wf = reordered.empty() ? tensor_to_f32(weight) : std::move(reordered);
  gemm_packed(wf.data(), patch, out_ch, packed, y, pixels, pool);
  pool.parallel_for(out_ch, [&](int64_t o0, int64_t o1, int) {
    for (int64_t o = o0; o < o1; ++o) {
      if (bias) std::for_each(y + o * pixels, y + (o + 1) * pixels, [b = bias[o]](float& v) { v += b; });
      if (activation) activation(y + o * pixels, pixels);
    }
  });
}

void depthwise_conv2d_channels_last(const float* x, int64_t channels, int64_t h, int64_t w, const Tensor& weight,
                                    const float* bias, const Conv2dShape& s, float* y, ThreadPool& pool,
                                    Activation activation) {
  check_conv_weight(weight, channels, 1, s);
  const std::vector<float> by_tap = depthwise_taps(weight);
  const int64_t oh = conv_output_size(h, s.kernel_h, s.stride, s.pad);
  const int64_t ow = conv_output_size(w, s.kernel_w, s.stride, s.pad);
  std::vector<const float*> rows(static_cast<size_t>(h));
  for (int64_t iy = 0; iy < h; ++iy) rows[size_t(iy)] = x + iy * w * channels;
  pool.parallel_for(oh, [&](int64_t y0, int64_t y1, int) {
    depthwise_rows_channels_last(rows.data(), channels, h, w, by_tap.data(), bias, s, y0, y1, y + y0 * ow * channels,
                                 activation);
  });
}

std::vector<float> depthwise_taps(const Tensor& weight) {
  const int64_t channels = weight.dim(0), taps = weight.numel() / channels;
  std::vector<float> by_tap(size_t(taps * channels));  // [tap][C]
  ThreadPool serial(1);
  transpose(tensor_to_f32(weight).data(), channels, taps, by_tap.data(), serial);
  return by_tap;
}

void depthwise_rows_channels_last(const float* const* rows, int64_t channels, int64_t h, int64_t w,
                                  const float* taps, const float* bias, const Conv2dShape& s, int64_t row_begin,
                                  int64_t row_end, float* y, Activation activation) {
  const int64_t ow = conv_output_size(w, s.kernel_w, s.stride, s.pad);
  std::vector<const float*> tap_x(size_t(s.kernel_h * s.kernel_w)), tap_w(tap_x.size());
  for (int64_t oy = row_begin; oy < row_end; ++oy) {
    float* row = y + (oy - row_begin) * ow * channels;
    depthwise_row_channels_last(rows, channels, h, w, taps, bias, s, oy, ow, row, tap_x.data(), tap_w.data());
    if (activation) activation(row, ow * channels);
  }
}

ConvTransposeWeights pack_conv_transpose(const Tensor& weight, ThreadPool& pool) {
  if (weight.shape.size() != 4 || weight.dim(2) != weight.dim(3))
    throw Error("transposed conv weight '" + weight.name + "' has shape " + weight.shape_string() + ", expected [in, out, k, k]");
  ConvTransposeWeights t;
  t.channels = weight.dim(0);
  t.out_channels = weight.dim(1);
  t.k = weight.dim(2);
  const int64_t C = t.channels, O = t.out_channels, k = t.k;
  const std::vector<float> wf = tensor_to_f32(weight);
  std::vector<float> rows(size_t(k * O * C));  // [(kx, o), c] for one ky
  for (int64_t ky = 0; ky < k; ++ky) {
    for (int64_t kx = 0; kx < k; ++kx)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t c = 0; c < C; ++c) rows[size_t((kx * O + o) * C + c)] = wf[size_t(((c * O + o) * k + ky) * k + kx)];
    t.kernel_rows.emplace_back();
    pack_panels(rows.data(), C, 1, k * O, C, t.kernel_rows.back(), pool);
  }
  return t;
}

void conv_transpose2d_nonoverlap(const float* x, int64_t h, int64_t w, const ConvTransposeWeights& t, float* y,
                                 ThreadPool& pool) {
  // Input row iy and kernel row ky fill output row iy·k + ky, laid out [ix][kx][o]: one GEMM of
  // the row's w pixels against kernel row ky, written in place (row stride k·O).
  const int64_t C = t.channels, O = t.out_channels, k = t.k, span = k * O;
  pool.parallel_for(h * k, [&](int64_t i0, int64_t i1, int) {
    thread_local ThreadPool serial(1);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t iy = i / k, ky = i % k;
      gemm_packed(x + iy * w * C, C, w, t.kernel_rows[size_t(ky)], y + (iy * k + ky) * w * span, span, serial);
    }
  });
}

}  // namespace edgerun
