// Reading a LlamaConfig from Hugging Face config.json or GGUF metadata.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "formats/gguf.h"
#include "models/llama.h"

namespace edgerun {

namespace {

const char* const kHfModelTypes[] = {"llama", "smollm3", "mistral", "ministral3"};
const char* const kGgufArchitectures[] = {"llama", "smollm3", "mistral", "mistral3"};

template <size_t N>
bool one_of(const std::string& s, const char* const (&names)[N]) {
  return std::find(std::begin(names), std::end(names), s) != std::end(names);
}

// architectures[0] when the config names one.
std::string first_architecture(const json& c, const std::string& fallback) {
  const auto it = c.find("architectures");
  if (it != c.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) return (*it)[0].get<std::string>();
  return fallback;
}

std::vector<int32_t> id_list(const json& v, const std::string& where) {
  std::vector<int32_t> ids;
  if (v.is_null()) return ids;
  if (v.is_number_integer()) return {v.get<int32_t>()};
  if (!v.is_array()) fail(where, "expected an integer or a list of integers");
  for (const json& x : v) {
    if (!x.is_number_integer()) fail(where, "expected a list of integers");
    ids.push_back(x.get<int32_t>());
  }
  return ids;
}

void read_hf_rope(const json& c, const std::string& file, LlamaConfig& cfg) {
  // transformers v5 puts everything in rope_parameters; older files use rope_theta + rope_scaling.
  json scaling = json::object();
  std::string field = "rope_scaling";
  if (c.contains("rope_parameters") && c["rope_parameters"].is_object()) scaling = c["rope_parameters"], field = "rope_parameters";
  else if (c.contains("rope_scaling") && c["rope_scaling"].is_object()) scaling = c["rope_scaling"];
  const std::string where = file + ": " + field;
  cfg.rope.theta = json_number_or(scaling, "rope_theta", json_number_or(c, "rope_theta", 10000.0, file), where);
  std::string type = json_string_or(scaling, "rope_type", json_string_or(scaling, "type", "default", where), where);
  if (!rope_type_supported(type))
    fail(file + ": field '" + field + ".rope_type'",
         "rope type '" + type + "' is not supported (supported: default, linear, llama3, yarn)");
  cfg.rope.type = type;
  cfg.rope.factor = json_number_or(scaling, "factor", 1.0, where);
  cfg.rope.original_context = json_int_or(scaling, "original_max_position_embeddings", 0, where);
  cfg.rope.beta_fast = json_number_or(scaling, "beta_fast", 32.0, where);
  cfg.rope.beta_slow = json_number_or(scaling, "beta_slow", 1.0, where);
  cfg.rope.mscale = json_number_or(scaling, "mscale", 0.0, where);
  cfg.rope.mscale_all_dim = json_number_or(scaling, "mscale_all_dim", 0.0, where);
  cfg.rope.attention_factor = json_number_or(scaling, "attention_factor", 0.0, where);
  cfg.rope.truncate = json_bool_or(scaling, "truncate", true, where);
  cfg.rope.low_freq_factor = json_number_or(scaling, "low_freq_factor", 1.0, where);
  cfg.rope.high_freq_factor = json_number_or(scaling, "high_freq_factor", 4.0, where);
  // YaRN recomputes the factor from the context lengths only when the original length is given.
  if (type == "yarn" && cfg.rope.original_context > 0) cfg.rope.max_position = cfg.max_position_embeddings;
  cfg.rope.rotary_dim = cfg.head_dim;
  // Ministral 3 keeps its query temperature next to the YaRN parameters (modeling_ministral3).
  cfg.query_temperature.beta = json_number_or(scaling, "llama_4_scaling_beta", 0.0, where);
  if (cfg.query_temperature.enabled()) {
    cfg.query_temperature.interval = cfg.rope.original_context;
    if (cfg.query_temperature.interval <= 0)
      fail(file + ": field '" + field + ".original_max_position_embeddings'",
           "llama_4_scaling_beta needs a positive original_max_position_embeddings");
  }
}

void check_shape(const LlamaConfig& cfg, const std::string& where) {
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0) fail(where, std::string("field '") + name + "' must be positive, got " + std::to_string(v));
  };
  positive(cfg.vocab_size, "vocab_size");
  positive(cfg.hidden_size, "hidden_size");
  positive(cfg.n_layers, "num_hidden_layers");
  positive(cfg.n_heads, "num_attention_heads");
  positive(cfg.n_kv_heads, "num_key_value_heads");
  positive(cfg.head_dim, "head_dim");
  positive(cfg.intermediate_size, "intermediate_size");
  if (cfg.n_heads % cfg.n_kv_heads != 0)
    fail(where, "num_attention_heads (" + std::to_string(cfg.n_heads) +
                    ") is not a multiple of num_key_value_heads (" + std::to_string(cfg.n_kv_heads) + ")");
  if (!(cfg.rms_norm_eps > 0)) fail(where, "rms_norm_eps must be positive");
  if (cfg.layer_uses_rope.size() != size_t(cfg.n_layers))
    fail(where, "no_rope_layers has " + std::to_string(cfg.layer_uses_rope.size()) + " entries for " +
                    std::to_string(cfg.n_layers) + " layers");
}

// The decoder's own config: a flat *ForCausalLM config.json, or a VLM's text_config.
LlamaConfig read_text_config(const json& c, const std::string& file) {
  if (!c.is_object()) fail(file, "expected a JSON object");
  LlamaConfig cfg;
  const std::string model_type = json_string(c, "model_type", file);
  if (!one_of(model_type, kHfModelTypes))
    fail(file, "unknown architecture: model_type '" + model_type +
                   "' (supported: llama, smollm3, mistral, ministral3, mistral3)");
  cfg.model_type = model_type;
  cfg.architecture = first_architecture(c, model_type);
  cfg.vocab_size = json_int(c, "vocab_size", file);
  cfg.hidden_size = json_int(c, "hidden_size", file);
  cfg.n_layers = json_int(c, "num_hidden_layers", file);
  cfg.n_heads = json_int(c, "num_attention_heads", file);
  cfg.n_kv_heads = json_int_or(c, "num_key_value_heads", cfg.n_heads, file);
  cfg.intermediate_size = json_int(c, "intermediate_size", file);
  cfg.head_dim = json_int_or(c, "head_dim", cfg.n_heads > 0 ? cfg.hidden_size / cfg.n_heads : 0, file);
  cfg.rms_norm_eps = json_number_or(c, "rms_norm_eps", 1e-6, file);
  cfg.max_position_embeddings = json_int_or(c, "max_position_embeddings", 2048, file);
  cfg.tie_word_embeddings = json_bool_or(c, "tie_word_embeddings", model_type == "smollm3", file);
  const std::string act = json_string_or(c, "hidden_act", "silu", file);
  if (act != "silu") fail(file + ": field 'hidden_act'", "'" + act + "' is not supported (expected silu)");
  if (json_bool_or(c, "attention_bias", false, file)) fail(file + ": field 'attention_bias'", "biases are not supported");
  if (json_bool_or(c, "mlp_bias", false, file)) fail(file + ": field 'mlp_bias'", "biases are not supported");
  read_hf_rope(c, file, cfg);

  cfg.layer_uses_rope.assign(size_t(std::max<int64_t>(cfg.n_layers, 0)), true);
  if (model_type == "smollm3") {
    // no_rope_layers[i] == 1 means layer i USES RoPE (the name is inverted; MODELS.md §3.2).
    if (c.contains("no_rope_layers") && !c["no_rope_layers"].is_null()) {
      const json& list = c["no_rope_layers"];
      if (!list.is_array()) fail(file + ": field 'no_rope_layers'", "expected a list");
      cfg.layer_uses_rope.clear();
      for (const json& x : list) {
        if (!x.is_number_integer()) fail(file + ": field 'no_rope_layers'", "expected integers");
        cfg.layer_uses_rope.push_back(x.get<int64_t>() != 0);
      }
    } else {
      const int64_t interval = json_int_or(c, "no_rope_layer_interval", 4, file);
      if (interval <= 0) fail(file + ": field 'no_rope_layer_interval'", "must be positive");
      for (int64_t i = 0; i < cfg.n_layers; ++i) cfg.layer_uses_rope[size_t(i)] = (i + 1) % interval != 0;
    }
  }
  if (c.contains("bos_token_id") && c["bos_token_id"].is_number_integer()) cfg.bos_token_id = c["bos_token_id"].get<int32_t>();
  if (c.contains("eos_token_id")) cfg.eos_token_ids = id_list(c["eos_token_id"], file + ": field 'eos_token_id'");
  check_shape(cfg, file);
  return cfg;
}

}  // namespace

LlamaConfig llama_config_from_hf(const json& c, const std::string& file) {
  if (!c.is_object()) fail(file, "expected a JSON object");
  const std::string type = json_string(c, "model_type", file);
  if (type == "idefics3" || type == "smolvlm") {
    // SmolVLM (Idefics3ForConditionalGeneration) and SmolVLM2: a Llama decoder under
    // model.text_model. with its own text_config; the vision side is models/idefics3.h.
    LlamaConfig cfg = read_text_config(json_require(c, "text_config", file), file + ": text_config");
    cfg.architecture = first_architecture(c, "Idefics3ForConditionalGeneration");
    cfg.hf_prefix = "model.text_model.";
    return cfg;
  }
  if (type != "mistral3") return read_text_config(c, file);
  // Mistral3ForConditionalGeneration (Ministral 3, Mistral Small 3.x): a Pixtral vision tower
  // and projector around a text decoder whose config is text_config. Only the decoder runs.
  const json& wrapped = json_require(c, "text_config", file);
  json text = wrapped;
  if (!text.is_object()) fail(file + ": field 'text_config'", "expected a JSON object");
  if (!text.contains("model_type")) text["model_type"] = "mistral";  // Mistral3Config's default
  // The decoder's tie_word_embeddings when it has one, else the wrapper's (default true there).
  if (!text.contains("tie_word_embeddings") || text["tie_word_embeddings"].is_null())
    text["tie_word_embeddings"] = json_bool_or(c, "tie_word_embeddings", true, file);
  LlamaConfig cfg = read_text_config(text, file + ": text_config");
  cfg.architecture = first_architecture(c, "Mistral3ForConditionalGeneration");
  cfg.vision_language = true;
  cfg.hf_prefix = "model.language_model.";
  return cfg;
}

void locate_text_decoder(LlamaConfig& cfg, const WeightStore& w) {
  if (!cfg.vision_language || cfg.gguf_names) return;
  // transformers >= 4.52 (and the Ministral 3 release) first, then the older layout.
  static const std::pair<const char*, const char*> kLayouts[] = {
      {"model.language_model.", "lm_head.weight"}, {"language_model.model.", "language_model.lm_head.weight"}};
  for (const auto& [prefix, head] : kLayouts) {
    if (w.find(std::string(prefix) + "embed_tokens.weight")) {
      cfg.hf_prefix = prefix;
      cfg.hf_lm_head = head;
      return;
    }
  }
}

bool is_vision_tensor(const std::string& name) {
  for (const char* p : {"model.vision_tower.", "model.multi_modal_projector.", "vision_tower.", "multi_modal_projector.",
                        "model.vision_model.", "model.connector."})
    if (name.starts_with(p)) return true;
  return false;
}

LlamaConfig llama_config_from_gguf(const GgufFile& g) {
  LlamaConfig cfg;
  const std::string arch = g.get_string("general.architecture");
  if (!one_of(arch, kGgufArchitectures))
    fail(g.path(), "unknown architecture '" + arch + "' in general.architecture (supported: llama, smollm3, mistral, mistral3)");
  cfg.architecture = arch;
  cfg.model_type = arch;
  cfg.gguf_names = true;
  cfg.rope_interleaved = true;
  const std::string p = arch + ".";
  cfg.hidden_size = g.get_int(p + "embedding_length");
  cfg.n_layers = g.get_int(p + "block_count");
  cfg.n_heads = g.get_int(p + "attention.head_count");
  cfg.n_kv_heads = g.get_int_or(p + "attention.head_count_kv", cfg.n_heads);
  cfg.intermediate_size = g.get_int(p + "feed_forward_length");
  cfg.head_dim = g.get_int_or(p + "attention.key_length", cfg.n_heads > 0 ? cfg.hidden_size / cfg.n_heads : 0);
  cfg.rms_norm_eps = g.get_float(p + "attention.layer_norm_rms_epsilon");
  cfg.max_position_embeddings = g.get_int_or(p + "context_length", 2048);
  cfg.rope.theta = g.get_float_or(p + "rope.freq_base", 10000.0);
  cfg.rope.rotary_dim = g.get_int_or(p + "rope.dimension_count", cfg.head_dim);
  const std::string scaling = g.get_string_or(p + "rope.scaling.type", "none");
  if (scaling == "none") {
    cfg.rope.type = "default";
  } else if (scaling == "linear" || scaling == "yarn") {
    cfg.rope.type = scaling;
    cfg.rope.factor = g.get_float_or(p + "rope.scaling.factor", 1.0);
    cfg.rope.original_context = g.get_int_or(p + "rope.scaling.original_context_length", 0);
    cfg.rope.beta_fast = g.get_float_or(p + "rope.scaling.yarn_beta_fast", 32.0);
    cfg.rope.beta_slow = g.get_float_or(p + "rope.scaling.yarn_beta_slow", 1.0);
    // llama.cpp derives the YaRN attention factor from the log multiplier (= HF mscale_all_dim)
    // with mscale taken as 1, as HF's get_mscale(s, mscale) / get_mscale(s, mscale_all_dim).
    if (const double log_multiplier = g.get_float_or(p + "rope.scaling.yarn_log_multiplier", 0.0); log_multiplier != 0) {
      cfg.rope.mscale = 1.0;
      cfg.rope.mscale_all_dim = log_multiplier;
    }
  } else {
    fail(g.path(), "rope scaling type '" + scaling + "' is not supported");
  }
  // Ministral 3's query temperature; llama.cpp divides positions by the original YaRN context.
  cfg.query_temperature.beta = g.get_float_or(p + "attention.temperature_scale", 0.0);
  if (cfg.query_temperature.enabled()) {
    cfg.query_temperature.interval = cfg.rope.original_context;
    if (cfg.query_temperature.interval <= 0)
      fail(g.path() + ": metadata key '" + p + "rope.scaling.original_context_length'",
           "missing or not positive, but " + p + "attention.temperature_scale needs it");
  }
  // GGUF writers omit output.weight when the embeddings are tied.
  cfg.tie_word_embeddings = std::none_of(g.tensor_infos().begin(), g.tensor_infos().end(),
                                         [](const GgufTensorInfo& t) { return t.name == "output.weight"; });
  cfg.layer_uses_rope.assign(size_t(std::max<int64_t>(cfg.n_layers, 0)), true);
  if (arch == "smollm3")  // llama.cpp fixes the NoPE step at 4 for this architecture
    for (int64_t i = 0; i < cfg.n_layers; ++i) cfg.layer_uses_rope[size_t(i)] = (i + 1) % 4 != 0;

  const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
  cfg.vocab_size = g.get_int_or(p + "vocab_size", tokens ? int64_t(tokens->array.size()) : 0);
  cfg.bos_token_id = int32_t(g.get_int_or("tokenizer.ggml.bos_token_id", -1));
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    const int64_t id = g.get_int_or(key, -1);
    if (id >= 0 && std::find(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end(), id) == cfg.eos_token_ids.end())
      cfg.eos_token_ids.push_back(int32_t(id));
  }
  check_shape(cfg, g.path());
  return cfg;
}

}  // namespace edgerun
