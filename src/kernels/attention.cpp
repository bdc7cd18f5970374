#include "kernels/attention.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/simd.h"

namespace edgerun {

namespace {

EDGERUN_MULTIVERSION
void f32_to_half_row(DType type, const float* src, uint16_t* dst, int64_t n) {
  if (type == DType::BF16)
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
}

// o += w * v (the value-weighted sum of attention).
EDGERUN_MULTIVERSION
void axpy_f32(const float* v, float w, float* o, int64_t n) {
  for (int64_t d = 0; d < n; ++d) o[d] += w * v[d];
}

}  // namespace

bool kv_type_supported(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

void store_kv(const float* k, const float* v, int64_t n, int64_t start, int64_t kv_dim, const KVCacheView& c) {
  const size_t row = size_t(kv_dim) * dtype_size(c.type);
  for (int64_t t = 0; t < n; ++t) {
    uint8_t* kd = c.k + size_t(start + t) * row;
    uint8_t* vd = c.v + size_t(start + t) * row;
    if (c.type == DType::F32) {
      std::memcpy(kd, k + t * kv_dim, row);
      std::memcpy(vd, v + t * kv_dim, row);
    } else {
      f32_to_half_row(c.type, k + t * kv_dim, reinterpret_cast<uint16_t*>(kd), kv_dim);
      f32_to_half_row(c.type, v + t * kv_dim, reinterpret_cast<uint16_t*>(vd), kv_dim);
    }
  }
}

void attention(const float* q, int64_t n, int64_t start, const KVCacheView& c, const AttentionShape& s,
               float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim, kv_dim = s.n_kv_heads * hd, q_dim = s.n_heads * hd;
  const int64_t group = s.n_heads / s.n_kv_heads, len_max = start + n;
  const size_t elem = dtype_size(c.type), row = size_t(kv_dim) * elem;
  // Half-precision caches are widened once per call into [kv_head][position][head_dim] F32
  // (vectorised), so the score and sum loops below run on F32 for every query head of the group
  // instead of converting each key once per query head.
  std::vector<float> kf, vf;
  const float* K = reinterpret_cast<const float*>(c.k);
  const float* V = reinterpret_cast<const float*>(c.v);
  int64_t pos_stride = kv_dim, head_stride = hd;
  if (c.type != DType::F32) {
    kf.resize(size_t(s.n_kv_heads * len_max * hd));
    vf.resize(kf.size());
    pool.parallel_for(s.n_kv_heads * len_max, [&](int64_t j0, int64_t j1, int) {
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t h = j / len_max, p = j % len_max;
        to_f32(c.type, c.k + size_t(p) * row + size_t(h * hd) * elem, &kf[size_t(j * hd)], hd);
        to_f32(c.type, c.v + size_t(p) * row + size_t(h * hd) * elem, &vf[size_t(j * hd)], hd);
      }
    }, 64);
    K = kf.data();
    V = vf.data();
    pos_stride = hd;
    head_stride = len_max * hd;
  }
  pool.parallel_for(n * s.n_heads, [&](int64_t j0, int64_t j1, int) {
    std::vector<float> scores(static_cast<size_t>(len_max));
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t t = j / s.n_heads, h = j % s.n_heads, kvh = h / group;
      const int64_t len = start + t + 1;  // causal: keys 0..pos
      const float* qv = q + t * q_dim + h * hd;
      const float* k = K + kvh * head_stride;
      for (int64_t p = 0; p < len; ++p) scores[p] = dot_f32(qv, k + p * pos_stride, hd) * s.scale;
      softmax(scores.data(), len);
      float* o = out + t * q_dim + h * hd;
      std::fill(o, o + hd, 0.0f);
      const float* v = V + kvh * head_stride;
      for (int64_t p = 0; p < len; ++p) axpy_f32(v + p * pos_stride, scores[p], o, hd);
    }
  });
}

}  // namespace edgerun
