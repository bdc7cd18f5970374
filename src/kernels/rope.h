// Rotary position embeddings. The table (inverse frequencies and the attention factor that
// scales cos and sin) is computed once per model from its RoPE parameters; application works
// in either pairing: HF "rotate-half" (j, j+d/2) or GGUF/llama.cpp "interleaved" (2j, 2j+1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace edgerun {

struct RopeParams {
  std::string type = "default";  // default | linear | llama3 | yarn
  double theta = 10000.0;
  int64_t rotary_dim = 0;        // usually head_dim
  double factor = 1.0;
  int64_t original_context = 0;  // original_max_position_embeddings
  int64_t max_position = 0;      // max_position_embeddings (YaRN recomputes factor from it)
  double beta_fast = 32.0, beta_slow = 1.0;    // yarn
  double mscale = 0.0, mscale_all_dim = 0.0;   // yarn (0 = absent)
  double attention_factor = 0.0;               // yarn explicit override (0 = derive)
  bool truncate = true;                        // yarn
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
};

struct RopeTable {
  std::vector<float> inv_freq;  // rotary_dim / 2 entries
  float attention_factor = 1.0f;
  bool interleaved = false;
  double position_scale = 1.0;  // linear scaling divides positions by the factor
};

// Ministral 3's position-dependent query scale (transformers' "llama 4 attention scaling",
// llama.cpp's attention temperature): q *= 1 + beta * ln(1 + floor(pos / interval)), applied
// to the queries only, after RoPE. beta 0 turns it off.
struct QueryTemperature {
  double beta = 0.0;
  int64_t interval = 0;  // original_max_position_embeddings
  bool enabled() const { return beta != 0.0; }
  float factor(int64_t pos) const;
};

// The rope types make_rope_table accepts.
bool rope_type_supported(const std::string& type);

// Throws Error for unknown types or inconsistent parameters (`where` names the config).
RopeTable make_rope_table(const RopeParams& p, bool interleaved, const std::string& where);

// Rotates n_heads vectors of length head_dim (stored contiguously) for position `pos`.
void apply_rope(const RopeTable& t, float* x, int64_t n_heads, int64_t head_dim, int64_t pos);

}  // namespace edgerun
