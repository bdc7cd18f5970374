// Causal grouped-query attention of a block of new tokens against the KV cache.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/thread_pool.h"

namespace edgerun {

struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;  // usually head_dim^-0.5
};

// One layer's cache: rows of n_kv_heads*head_dim elements per position, stored as F32, F16,
// BF16 or Q8_0 (F16 halves the memory and the bytes read per step at ~1e-3 relative rounding;
// Q8_0 — blocks of 32 within a head, so head_dim must be a multiple of 32 — nearly halves it again).
struct KVCacheView {
  DType type;
  uint8_t* k;
  uint8_t* v;
};

bool kv_type_supported(DType t);
// Bytes of one position's keys (or values) in a cache of type t.
size_t kv_row_bytes(DType t, int64_t kv_dim);

// Writes n rows of keys and values (F32, [n, kv_dim]) at positions start..start+n-1.
void store_kv(const float* k, const float* v, int64_t n, int64_t start, int64_t kv_dim, const KVCacheView& cache);

// q: [n, n_heads*head_dim] for positions start..start+n-1; the cache already holds positions
// 0..start+n-1. out: [n, n_heads*head_dim]. Query head h reads KV head h / (n_heads / n_kv).
// Tiled with an online softmax (flash-attention style): scores exist only for one block of 64
// keys against one tile of query rows at a time, never as an [n × positions] matrix.
void attention(const float* q, int64_t n, int64_t start, const KVCacheView& cache, const AttentionShape& s,
               float* out, ThreadPool& pool);

}  // namespace edgerun
