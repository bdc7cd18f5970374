// Bidirectional attention for the vision encoders (SigLIP, SAM's ViT and mask decoder, TinyViT):
// over all positions, or within windows of a grid.
#pragma once
#include <cstdint>
#include <functional>

#include "core/thread_pool.h"

namespace edgerun {

// Rows of one operand of attention: head h of row r is data[r·stride + h·head_dim ...].
struct AttentionRows {
  const float* data;
  int64_t stride;
};
// Called with one row of raw scores (q·k·scale, length nk) before the softmax, to add a bias
// (SAM's decomposed relative positions, TinyViT's bias table); head and query row say which, q
// is that row's (unscaled) query for the head.
using AttentionBias = std::function<void(int64_t head, int64_t q_row, const float* q, float* scores)>;
// Bidirectional multi-head attention: out[nq, heads·head_dim] = softmax(q·kᵀ·scale + bias)·v.
void attention_full(AttentionRows q, AttentionRows k, AttentionRows v, int64_t nq, int64_t nk,
                    int64_t heads, int64_t head_dim, float scale, float* out, ThreadPool& pool,
                    const AttentionBias* bias = nullptr);

// Windowed attention (SAM's ViT, TinyViT): the height × width grid is cut into window × window
// squares, padded at the bottom and right to whole windows, and each window attends within
// itself. Head h of token t's query is q[t·stride + h·head_stride …] (likewise k, v); a padding
// token's key and value are pad_k / pad_v (with the same head layout): padding takes part as
// keys only (its outputs would be dropped, so they are not computed). Rows of the bias callback
// count within the whole window. Windows are independent tasks, each computed serially.
// out: [height·width, heads·head_dim].
struct WindowedQkv {
  const float *q, *k, *v;
  int64_t stride, head_stride;
  const float *pad_k, *pad_v;
};
void windowed_attention(const WindowedQkv& in, int64_t height, int64_t width, int64_t window, int64_t heads,
                        int64_t head_dim, float scale, float* out, ThreadPool& pool, const AttentionBias* bias = nullptr);

}  // namespace edgerun
