// Causal grouped-query attention of a block of new tokens against the KV cache.
#pragma once
#include <cstdint>

#include "core/thread_pool.h"

namespace edgerun {

struct AttentionShape {
  int64_t n_heads, n_kv_heads, head_dim;
  float scale;  // usually head_dim^-0.5
};

// q: [n, n_heads*head_dim] for positions start..start+n-1. k_cache/v_cache: [>= start+n, n_kv*hd]
// already holding the keys/values of positions 0..start+n-1. out: [n, n_heads*head_dim].
// Query head h reads KV head h / (n_heads / n_kv_heads). Scores use one row per (token, head),
// never an [n × n] matrix.
void attention(const float* q, int64_t n, int64_t start, const float* k_cache, const float* v_cache,
               const AttentionShape& s, float* out, ThreadPool& pool);

}  // namespace edgerun
