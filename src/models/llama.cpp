// The Llama-family forward pass, top to bottom. Weights are views into the mapped checkpoint;
// only the tiny norm vectors are converted to F32 copies.
#include "models/llama.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace edgerun {

namespace {

// Tensor names in the two layouts. HF: <prefix>layers.N.self_attn.q_proj.weight with prefix
// "model." (or "model.language_model." inside a vision-language checkpoint); GGUF: blk.N.attn_q.weight.
struct Names {
  const LlamaConfig& cfg;
  bool gguf() const { return cfg.gguf_names; }
  std::string embed() const { return gguf() ? "token_embd.weight" : cfg.hf_prefix + "embed_tokens.weight"; }
  std::string norm() const { return gguf() ? "output_norm.weight" : cfg.hf_prefix + "norm.weight"; }
  std::string head() const { return gguf() ? "output.weight" : cfg.hf_lm_head; }
  std::string layer(int64_t i, const char* hf, const char* gg) const {
    return gguf() ? "blk." + std::to_string(i) + "." + gg + ".weight"
                  : cfg.hf_prefix + "layers." + std::to_string(i) + "." + hf + ".weight";
  }
};

// Processing the prompt in chunks bounds the activation memory for long prompts: a chunk's
// activations (x, norms, q/k/v, attention output, gate, up: F32 rows) stay within this budget,
// between 256 and 2048 tokens. Bigger chunks convert each F16/BF16 weight fewer times per prompt;
// a 3B model gets 512, SmolVLM-256M's decoder 2048.
constexpr int64_t kChunkActivationBytes = int64_t(64) << 20;
constexpr int64_t kMinChunk = 256, kMaxChunk = 2048;

std::vector<float> norm_weights(const WeightStore& w, const std::string& name, int64_t n) {
  const Tensor& t = w.get(name, {n});
  std::vector<float> out(static_cast<size_t>(n));
  to_f32(t.dtype, t.data, out.data(), n);
  return out;
}

const Tensor* matrix(const WeightStore& w, const std::string& name, int64_t rows, int64_t cols) {
  const Tensor& t = w.get(name, {rows, cols});
  switch (t.dtype) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::F8_E4M3:
    case DType::Q8_0: case DType::Q4_0: case DType::Q4_K: case DType::Q6_K:
      break;
    default:
      fail(w.source(), "tensor '" + name + "' has type " + dtype_name(t.dtype) +
                           ", which the matmul kernels do not support (F32, F16, BF16, F8_E4M3, Q8_0, Q4_0, Q4_K, Q6_K)");
  }
  return &t;
}

}  // namespace

LlamaModel::LlamaModel(LlamaConfig config, const WeightStore& w) : cfg_(std::move(config)) {
  const Names names{cfg_};
  const int64_t H = cfg_.hidden_size;
  rope_ = make_rope_table(cfg_.rope, cfg_.rope_interleaved, w.source());
  // GGUF stores frequency-dependent RoPE scaling (Llama 3.1 style) as per-pair divisors.
  if (const Tensor* freqs = cfg_.gguf_names ? w.find("rope_freqs.weight") : nullptr) {
    const int64_t half = int64_t(rope_.inv_freq.size());
    if (freqs->shape != std::vector<int64_t>{half} || freqs->dtype != DType::F32)
      fail(w.source(), "tensor 'rope_freqs.weight' must be F32 [" + std::to_string(half) + "], got " +
                           dtype_name(freqs->dtype) + " " + freqs->shape_string());
    std::vector<float> f(static_cast<size_t>(half));
    to_f32(DType::F32, freqs->data, f.data(), half);
    for (int64_t i = 0; i < half; ++i) rope_.inv_freq[size_t(i)] /= f[size_t(i)];
  }
  embed_ = matrix(w, names.embed(), cfg_.vocab_size, H);
  if (w.find(names.head())) lm_head_ = matrix(w, names.head(), cfg_.vocab_size, H);
  else if (cfg_.tie_word_embeddings || cfg_.gguf_names) lm_head_ = embed_;  // GGUF omits output when tied
  else fail(w.source(), "missing tensor '" + names.head() + "' (and tie_word_embeddings is false)");
  final_norm_ = norm_weights(w, names.norm(), H);
  for (int64_t i = 0; i < cfg_.n_layers; ++i) {
    Layer L;
    L.attn_norm = norm_weights(w, names.layer(i, "input_layernorm", "attn_norm"), H);
    L.ffn_norm = norm_weights(w, names.layer(i, "post_attention_layernorm", "ffn_norm"), H);
    L.wq = matrix(w, names.layer(i, "self_attn.q_proj", "attn_q"), cfg_.q_dim(), H);
    L.wk = matrix(w, names.layer(i, "self_attn.k_proj", "attn_k"), cfg_.kv_dim(), H);
    L.wv = matrix(w, names.layer(i, "self_attn.v_proj", "attn_v"), cfg_.kv_dim(), H);
    L.wo = matrix(w, names.layer(i, "self_attn.o_proj", "attn_output"), H, cfg_.q_dim());
    L.w_gate = matrix(w, names.layer(i, "mlp.gate_proj", "ffn_gate"), cfg_.intermediate_size, H);
    L.w_up = matrix(w, names.layer(i, "mlp.up_proj", "ffn_up"), cfg_.intermediate_size, H);
    L.w_down = matrix(w, names.layer(i, "mlp.down_proj", "ffn_down"), H, cfg_.intermediate_size);
    layers_.push_back(std::move(L));
  }
}

size_t LlamaModel::weight_bytes() const {
  size_t total = embed_->nbytes + (lm_head_ != embed_ ? lm_head_->nbytes : 0) + final_norm_.size() * 4;
  for (const Layer& L : layers_)
    for (const Tensor* t : {L.wq, L.wk, L.wv, L.wo, L.w_gate, L.w_up, L.w_down}) total += t->nbytes;
  return total + layers_.size() * 2 * size_t(cfg_.hidden_size) * 4;
}

LlamaState LlamaModel::new_state(int64_t context, DType kv_type) const {
  if (!kv_type_supported(kv_type)) fail("--cache-type", std::string("KV cache type ") + dtype_name(kv_type) + " is not supported (f32, f16, bf16, q8_0)");
  if (kv_type == DType::Q8_0 && cfg_.head_dim % 32 != 0)
    fail("--cache-type", "a q8_0 KV cache needs a head size that is a multiple of 32, this model's is " + std::to_string(cfg_.head_dim));
  if (context <= 0) fail("--ctx", "context must be at least one token");
  LlamaState s;
  s.context = context;
  s.kv_type = kv_type;
  const size_t n = size_t(cfg_.n_layers) * size_t(context) * kv_row_bytes(kv_type, cfg_.kv_dim());
  s.k.reset(new uint8_t[n]);
  s.v.reset(new uint8_t[n]);
  return s;
}

int64_t LlamaModel::max_batch_tokens() const {
  const int64_t bytes_per_token = 4 * (2 * cfg_.hidden_size + 2 * cfg_.q_dim() + 2 * cfg_.kv_dim() + 2 * cfg_.intermediate_size);
  return std::clamp(kChunkActivationBytes / bytes_per_token, kMinChunk, kMaxChunk);
}

void LlamaModel::check_chunk(const SequenceChunk& c) const {
  if (c.n <= 0) fail("forward", "no tokens to process");
  if (c.state && c.state->n_past + c.n > c.state->context)
    fail("context", std::to_string(c.state->n_past + c.n) + " tokens do not fit in the context of " +
                        std::to_string(c.state->context) + " tokens");
  for (int64_t i = 0; i < c.n; ++i)
    if (c.tokens[i] < 0 || c.tokens[i] >= cfg_.vocab_size)
      fail("input", "token id " + std::to_string(c.tokens[i]) + " is outside the vocabulary (size " +
                        std::to_string(cfg_.vocab_size) + ")");
}

void LlamaModel::embed_tokens(const int32_t* tokens, int64_t n, float* out) const {
  check_chunk({tokens, n, nullptr, nullptr, false});
  for (int64_t t = 0; t < n; ++t) tensor_row_to_f32(*embed_, tokens[t], out + t * cfg_.hidden_size);
}

void LlamaModel::forward(const int32_t* tokens, int64_t n, LlamaState& state, ThreadPool& pool,
                         float* logits, bool all_logits, const float* embeddings) const {
  check_chunk({tokens, n, &state, logits, all_logits});
  const int64_t chunk = max_batch_tokens();
  for (int64_t done = 0; done < n; done += chunk) {
    const int64_t m = std::min(chunk, n - done);
    const bool last_chunk = done + m == n;
    float* out = all_logits ? logits + done * cfg_.vocab_size : last_chunk ? logits : nullptr;
    run_batch({{tokens + done, m, &state, out, all_logits, embeddings ? embeddings + done * cfg_.hidden_size : nullptr}}, pool);
  }
}

void LlamaModel::forward_batch(const std::vector<SequenceChunk>& chunks, ThreadPool& pool) const {
  int64_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    check_chunk(chunks[i]);
    total += chunks[i].n;
    for (size_t j = 0; j < i; ++j)
      if (chunks[j].state == chunks[i].state) fail("forward", "a batch holds the same sequence twice");
  }
  if (total > max_batch_tokens())
    fail("forward", "a batch of " + std::to_string(total) + " tokens is over the limit of " + std::to_string(max_batch_tokens()));
  if (total > 0) run_batch(chunks, pool);
}

// The forward pass over the rows of all chunks together: norms, projections and the MLP see one
// [rows, hidden] matrix; positions, the KV cache and attention are per chunk.
void LlamaModel::run_batch(const std::vector<SequenceChunk>& chunks, ThreadPool& pool) const {
  const int64_t H = cfg_.hidden_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.intermediate_size;
  int64_t n = 0;
  std::vector<int64_t> first_row, position;  // per chunk; per row
  for (const SequenceChunk& c : chunks) {
    first_row.push_back(n);
    for (int64_t t = 0; t < c.n; ++t) position.push_back(c.state->n_past + t);
    n += c.n;
  }
  std::vector<float> x(size_t(n * H)), xn(size_t(n * H)), q(size_t(n * Q)), k(size_t(n * KV)),
      v(size_t(n * KV)), att(size_t(n * Q)), gate(size_t(n * F)), up(size_t(n * F));
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (chunks[c].embeddings) std::copy_n(chunks[c].embeddings, chunks[c].n * H, &x[first_row[c] * H]);
    else embed_tokens(chunks[c].tokens, chunks[c].n, &x[first_row[c] * H]);
  }
  const AttentionShape shape{cfg_.n_heads, cfg_.n_kv_heads, cfg_.head_dim, float(1.0 / std::sqrt(double(cfg_.head_dim)))};
  // Row-wise steps (norms, SwiGLU, residuals) split across the pool for prompt chunks; a
  // decode step's single row stays on the calling thread.
  const auto rows_parallel = [&](int64_t rows, const auto& per_row) {
    if (rows < 16) {
      for (int64_t t = 0; t < rows; ++t) per_row(t);
      return;
    }
    pool.parallel_for(rows, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) per_row(t);
    }, 8);
  };

  for (int64_t l = 0; l < cfg_.n_layers; ++l) {
    const Layer& L = layers_[size_t(l)];
    // Attention block.
    rows_parallel(n, [&](int64_t t) { rmsnorm(&x[t * H], L.attn_norm.data(), float(cfg_.rms_norm_eps), H, &xn[t * H]); });
    matmul_shared_input(xn.data(), n, {{L.wq, q.data()}, {L.wk, k.data()}, {L.wv, v.data()}}, pool);
    if (cfg_.layer_uses_rope[size_t(l)]) {
      for (int64_t t = 0; t < n; ++t) {
        apply_rope(rope_, &q[t * Q], cfg_.n_heads, cfg_.head_dim, position[t]);
        apply_rope(rope_, &k[t * KV], cfg_.n_kv_heads, cfg_.head_dim, position[t]);
      }
    }
    if (cfg_.query_temperature.enabled())  // after RoPE, queries only (keys go to the cache as they are)
      for (int64_t t = 0; t < n; ++t) scale_inplace(&q[t * Q], cfg_.query_temperature.factor(position[t]), Q);
    for (size_t c = 0; c < chunks.size(); ++c) {
      const LlamaState& state = *chunks[c].state;
      const size_t layer_bytes = size_t(state.context) * kv_row_bytes(state.kv_type, KV);
      const KVCacheView cache{state.kv_type, state.k.get() + size_t(l) * layer_bytes, state.v.get() + size_t(l) * layer_bytes};
      const int64_t r = first_row[c];
      store_kv(&k[r * KV], &v[r * KV], chunks[c].n, state.n_past, KV, cache);
      attention(&q[r * Q], chunks[c].n, state.n_past, cache, shape, &att[r * Q], pool);
    }
    matmul(att.data(), n, *L.wo, xn.data(), pool);
    rows_parallel(n, [&](int64_t t) { add_inplace(&x[t * H], &xn[t * H], H); });
    // MLP block (SwiGLU).
    rows_parallel(n, [&](int64_t t) { rmsnorm(&x[t * H], L.ffn_norm.data(), float(cfg_.rms_norm_eps), H, &xn[t * H]); });
    matmul_shared_input(xn.data(), n, {{L.w_gate, gate.data()}, {L.w_up, up.data()}}, pool);
    rows_parallel(n, [&](int64_t t) { silu_mul(&gate[t * F], &up[t * F], F); });
    matmul(gate.data(), n, *L.w_down, xn.data(), pool);
    rows_parallel(n, [&](int64_t t) { add_inplace(&x[t * H], &xn[t * H], H); });
  }
  for (const SequenceChunk& c : chunks) c.state->n_past += c.n;

  // Final norm and LM head for the rows whose logits are wanted, in one matmul.
  std::vector<int64_t> rows;
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (!chunks[c].logits) continue;
    for (int64_t t = chunks[c].all_logits ? 0 : chunks[c].n - 1; t < chunks[c].n; ++t) rows.push_back(first_row[c] + t);
  }
  if (rows.empty()) return;
  for (size_t i = 0; i < rows.size(); ++i)
    rmsnorm(&x[rows[i] * H], final_norm_.data(), float(cfg_.rms_norm_eps), H, &xn[int64_t(i) * H]);
  const int64_t V = cfg_.vocab_size;
  if (chunks.size() == 1) return matmul(xn.data(), int64_t(rows.size()), *lm_head_, chunks[0].logits, pool);
  std::vector<float> all(rows.size() * size_t(V));
  matmul(xn.data(), int64_t(rows.size()), *lm_head_, all.data(), pool);
  size_t i = 0;
  for (const SequenceChunk& c : chunks) {
    if (!c.logits) continue;
    const int64_t count = c.all_logits ? c.n : 1;
    std::copy(all.begin() + long(i) * V, all.begin() + long(i + size_t(count)) * V, c.logits);
    i += size_t(count);
  }
}

}  // namespace edgerun
