// Causal grouped-query attention of a block of new tokens against the KV cache.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace edgerun {

struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;  // usually head_dim^-0.5
};

// One layer's cache: rows of n_kv_heads*head_dim elements per position, stored as F32, F16 or
// BF16 (F16 halves the memory and the bytes read per step at ~1e-3 relative rounding).
struct KVCacheView {
  DType type;
  uint8_t* k;
  uint8_t* v;
};

bool kv_type_supported(DType t);

// Writes n rows of keys and values (F32, [n, kv_dim]) at positions start..start+n-1.
void store_kv(const float* k, const float* v, int64_t n, int64_t start, int64_t kv_dim, const KVCacheView& cache);

// q: [n, n_heads*head_dim] for positions start..start+n-1; the cache already holds positions
// 0..start+n-1. out: [n, n_heads*head_dim]. Query head h reads KV head h / (n_heads / n_kv).
// Scores use one row per (token, head), never an [n × n] matrix.
void attention(const float* q, int64_t n, int64_t start, const KVCacheView& cache, const AttentionShape& s,
               float* out, ThreadPool& pool);

}  // namespace edgerun
