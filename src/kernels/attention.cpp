#include "kernels/attention.h"

#include <algorithm>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace edgerun {

void attention(const float* q, int64_t n, int64_t start, const float* k_cache, const float* v_cache,
               const AttentionShape& s, float* out, ThreadPool& pool) {
  const int64_t hd = s.head_dim, kv_dim = s.n_kv_heads * hd, q_dim = s.n_heads * hd;
  const int64_t group = s.n_heads / s.n_kv_heads;
  pool.parallel_for(n * s.n_heads, [&](int64_t j0, int64_t j1, int) {
    std::vector<float> scores(static_cast<size_t>(start + n));
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t t = j / s.n_heads, h = j % s.n_heads, kvh = h / group;
      const int64_t len = start + t + 1;  // causal: keys 0..pos
      const float* qv = q + t * q_dim + h * hd;
      for (int64_t p = 0; p < len; ++p) scores[p] = dot_f32(qv, k_cache + p * kv_dim + kvh * hd, hd) * s.scale;
      softmax(scores.data(), len);
      float* o = out + t * q_dim + h * hd;
      std::fill(o, o + hd, 0.0f);
      for (int64_t p = 0; p < len; ++p) {
        const float w = scores[p];
        const float* vv = v_cache + p * kv_dim + kvh * hd;
        for (int64_t d = 0; d < hd; ++d) o[d] += w * vv[d];
      }
    }
  });
}

}  // namespace edgerun
