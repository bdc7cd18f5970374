// The Llama-family decoder: SmolLM2 (llama), SmolLM3 (NoPE layers), Llama 2/3, Mistral-style
// checkpoints and Ministral 3 (YaRN + query temperature; also the text decoder of the Mistral3
// vision-language checkpoints), from Hugging Face safetensors or GGUF. Pre-norm blocks of
// RMSNorm → GQA attention with RoPE → RMSNorm → SwiGLU MLP; final RMSNorm and the (possibly
// tied) LM head. MODELS.md §2–5.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"
#include "formats/json_file.h"
#include "formats/weight_store.h"
#include "kernels/rope.h"

namespace edgerun {

class GgufFile;

struct LlamaConfig {
  std::string architecture;  // as named by the file: "LlamaForCausalLM", "smollm3", ...
  std::string model_type;    // HF text model_type ("llama", "ministral3", ...) or the GGUF arch
  int64_t vocab_size = 0, hidden_size = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t intermediate_size = 0, max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  RopeParams rope;
  QueryTemperature query_temperature;  // Ministral 3 (off for the others)
  std::vector<bool> layer_uses_rope;  // false = NoPE layer (SmolLM3)
  bool tie_word_embeddings = false;
  bool rope_interleaved = false;      // GGUF llama-family files pair (2j, 2j+1)
  bool gguf_names = false;            // tensor names: GGUF (blk.N.attn_q) vs HF (model.layers.N...)
  // HF names: where the decoder's tensors live. "model." for *ForCausalLM; Mistral3 vision-language
  // checkpoints nest them under "model.language_model." (older transformers: "language_model.model.").
  std::string hf_prefix = "model.";
  std::string hf_lm_head = "lm_head.weight";
  bool vision_language = false;       // a Mistral3ForConditionalGeneration checkpoint (text part used)
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }
};

// From a parsed config.json (`file` names it in errors). Throws for unknown architectures and
// missing or inconsistent fields.
LlamaConfig llama_config_from_hf(const json& config, const std::string& file);
// From GGUF metadata (general.architecture llama | smollm3 | mistral | mistral3).
LlamaConfig llama_config_from_gguf(const GgufFile& gguf);

// Vision-language checkpoints: picks the HF prefix the decoder's tensors use in `weights` (the
// layout changed between transformers versions). A no-op for other checkpoints.
void locate_text_decoder(LlamaConfig& config, const WeightStore& weights);
// Tensors of a vision tower or multimodal projector, which the text decoder does not use.
bool is_vision_tensor(const std::string& name);

// The KV cache of one sequence. Allocated untouched: every entry is written before it is read,
// so pages are faulted in as the sequence grows rather than all at start-up.
struct LlamaState {
  int64_t context = 0;  // capacity in tokens
  int64_t n_past = 0;   // tokens already in the cache
  DType kv_type = DType::F16;
  std::unique_ptr<uint8_t[]> k, v;  // [layer][context][kv_dim] in kv_type
};

// One sequence's share of a batched forward pass: `n` tokens appended to `state` at its n_past;
// logits [n, vocab] when all_logits, else the last position's [vocab]; none when logits is null.
struct SequenceChunk {
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  LlamaState* state = nullptr;
  float* logits = nullptr;
  bool all_logits = false;
  // [n, hidden]: the input rows instead of the tokens' embeddings (a vision-language prompt with
  // image features merged in); the tokens are still checked. Null: look the tokens up.
  const float* embeddings = nullptr;
};

class LlamaModel {
 public:
  // Binds every weight by name, checking shapes, before anything is computed.
  LlamaModel(LlamaConfig config, const WeightStore& weights);

  const LlamaConfig& config() const { return cfg_; }
  // A cache for `context` tokens in F32, F16 (default) or BF16. Throws for other types.
  LlamaState new_state(int64_t context, DType kv_type = DType::F16) const;

  // Runs `n` tokens at positions state.n_past.. and appends them to the cache. Writes logits
  // [n, vocab] when all_logits, else only the last position's [vocab]. Throws if the tokens do
  // not fit in the context or an id is outside the vocabulary.
  void forward(const int32_t* tokens, int64_t n, LlamaState& state, ThreadPool& pool,
               float* logits, bool all_logits, const float* embeddings = nullptr) const;
  // The token embedding rows [n, hidden] (what forward starts from).
  void embed_tokens(const int32_t* tokens, int64_t n, float* out) const;
  // Several sequences in one pass (the server's concurrent requests): every weight is read once
  // for all of their tokens, and each attends only to its own cache. States must be distinct;
  // at most max_batch_tokens() tokens in all.
  void forward_batch(const std::vector<SequenceChunk>& chunks, ThreadPool& pool) const;
  int64_t max_batch_tokens() const;

  // Bytes of weights the model reads (for `info` and memory estimates).
  size_t weight_bytes() const;

 private:
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;  // small; kept as F32 copies
    const Tensor *wq, *wk, *wv, *wo, *w_gate, *w_up, *w_down;
  };
  void check_chunk(const SequenceChunk& c) const;
  void run_batch(const std::vector<SequenceChunk>& chunks, ThreadPool& pool) const;

  LlamaConfig cfg_;
  RopeTable rope_;
  const Tensor* embed_ = nullptr;
  const Tensor* lm_head_ = nullptr;
  std::vector<float> final_norm_;
  std::vector<Layer> layers_;
};

}  // namespace edgerun
