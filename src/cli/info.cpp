// `edgerun info MODEL`: what the model is and what it will cost to run.
#include <cstdio>
#include <map>

#include "cli/common.h"
#include "kernels/attention.h"

namespace edgerun::cli {

int run_info(const std::string& model_path) {
  const LoadedModel m = open_model(model_path, LoadOptions{true, false});
  const LlamaConfig& c = m.config;
  std::map<std::string, int64_t> dtype_counts;
  int64_t params = 0;
  size_t bytes = 0;
  for (const auto& [name, t] : m.weights->all()) {
    dtype_counts[dtype_name(t.dtype)] += 1;
    params += t.numel();
    bytes += t.nbytes;
  }
  const int64_t ctx = m.default_context();
  // The default cache type of run/chat/serve (F16).
  const double kv_bytes = 2.0 * double(c.n_layers) * double(ctx) * double(kv_row_bytes(DType::F16, c.kv_dim()));
  // Activations of a 256-token prefill chunk plus one row of logits (rough upper bound).
  const double act_bytes = 4.0 * 256 * double(2 * c.hidden_size + 2 * c.q_dim() + 2 * c.kv_dim() +
                                               2 * c.intermediate_size) + 4.0 * double(c.vocab_size);
  std::printf("model:            %s (%s)\n", model_path.empty() ? kDefaultModelName : model_path.c_str(), m.format.c_str());
  std::printf("architecture:     %s\n", c.architecture.c_str());
  std::printf("vocab size:       %lld\n", (long long)c.vocab_size);
  std::printf("hidden size:      %lld\n", (long long)c.hidden_size);
  std::printf("layers:           %lld\n", (long long)c.n_layers);
  std::printf("attention heads:  %lld (key/value heads %lld, head dim %lld)\n", (long long)c.n_heads,
              (long long)c.n_kv_heads, (long long)c.head_dim);
  std::printf("feed-forward:     %lld\n", (long long)c.intermediate_size);
  std::printf("context length:   %lld\n", (long long)c.max_position_embeddings);
  std::printf("rms norm eps:     %g\n", c.rms_norm_eps);
  std::printf("rope:             theta %g, %s%s, pairs %s\n", c.rope.theta, c.rope.type.c_str(),
              c.rope.type == "default" ? "" : (", factor " + std::to_string(c.rope.factor)).c_str(),
              c.rope_interleaved ? "interleaved" : "rotate-half");
  if (c.query_temperature.enabled())
    std::printf("query scale:      1 + %g ln(1 + floor(pos / %lld)) after RoPE\n", c.query_temperature.beta,
                (long long)c.query_temperature.interval);
  int64_t nope = 0;
  for (bool r : c.layer_uses_rope) nope += r ? 0 : 1;
  if (nope) {
    std::printf("NoPE layers:     ");
    for (size_t i = 0; i < c.layer_uses_rope.size(); ++i)
      if (!c.layer_uses_rope[i]) std::printf(" %zu", i);
    std::printf("\n");
  }
  std::printf("tied embeddings:  %s\n", c.tie_word_embeddings ? "yes" : "no");
  std::printf("tensors:          %zu\n", m.weights->all().size());
  std::printf("dtypes:          ");
  for (const auto& [name, n] : dtype_counts) std::printf(" %s×%lld", name.c_str(), (long long)n);
  std::printf("\n");
  std::printf("parameters:       %lld (%.3f B)\n", (long long)params, double(params) / 1e9);
  std::printf("weights:          %s (memory-mapped)\n", format_bytes(double(bytes)).c_str());
  std::printf("KV cache (F16):   %s at a %lld-token context\n", format_bytes(kv_bytes).c_str(), (long long)ctx);
  std::printf("memory needed:    %s (weights + KV cache + activations)\n",
              format_bytes(double(bytes) + kv_bytes + act_bytes).c_str());
  return 0;
}

}  // namespace edgerun::cli
