// Writes a random-weight Hugging Face checkpoint with the exact tensor names, shapes and dtype
// that a real config.json implies, for benchmarks and load-time measurements on full-size
// models we cannot download here.
//
//   make_random_checkpoint CONFIG.json OUT_DIR [--dtype bf16|f16|f32|fp8] [--seed N] [--tokenizer FILE]
//
// Weights are N(0, initializer_range) (default 0.02), norm weights 1. The config is copied as is
// (fp8 adds the quantization_config the FP8 Ministral 3 repos carry). Vision-language configs
// (Mistral3ForConditionalGeneration) get their text decoder only, under the nested names;
// SmolVLM (idefics3 / smolvlm) configs get the vision tower and connector as well. The tokenizer,
// processor and template files next to the config are copied along. A SAM config ("model_type":
// "sam", "variant": "vit", as in ../shared/golden/sam) gets the whole official state_dict (image
// encoder, prompt encoder, mask decoder), so ViT-B/L/H can be benchmarked at their real sizes.
// --dtype fp8 writes the Linear weights of the decoder layers as F8_E4M3 with a scalar
// weight_scale_inv and activation_scale each, embeddings / norms / lm_head in BF16, as the
// Ministral 3 Instruct (FP8) release. --tokenizer copies a tokenizer.json, or a tekken.json
// when the file name says "tekken".
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
#include "models/idefics3.h"
#include "models/llama.h"

namespace fs = std::filesystem;
using namespace edgerun;

namespace {

struct Rng {  // xorshift64* + Box–Muller: fast enough for billions of values
  uint64_t s;
  double uniform() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return double((s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
  }
  float normal() {
    const double u = std::max(uniform(), 1e-300), v = uniform();
    return float(std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v));
  }
};

enum class Kind { Norm, Bias, Embedding, Linear };

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  Kind kind;
};

// Bytes of one random tensor in `type`.
std::vector<uint8_t> random_values(Rng& rng, int64_t n, DType type, Kind kind, float stddev, float fp8_scale) {
  std::vector<uint8_t> bytes(size_t(n) * dtype_size(type));
  for (int64_t i = 0; i < n; ++i) {
    const float v = kind == Kind::Norm ? 1.0f : kind == Kind::Bias ? 0.0f : stddev * rng.normal();
    if (type == DType::F32) {
      std::memcpy(&bytes[size_t(i) * 4], &v, 4);
    } else if (type == DType::F8_E4M3) {
      bytes[size_t(i)] = f32_to_f8_e4m3(v / fp8_scale);
    } else {
      const uint16_t h = type == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
      std::memcpy(&bytes[size_t(i) * 2], &h, 2);
    }
  }
  return bytes;
}

int64_t int_field(const json& c, const char* key, const std::string& file) {
  if (!c.contains(key) || !c[key].is_number_integer()) fail(file, std::string("'") + key + "' must be an integer");
  return c[key].get<int64_t>();
}

// The official Sam.state_dict() of a SAM ViT config.
std::vector<Spec> sam_specs(const json& c, const std::string& file) {
  const int64_t C = int_field(c, "encoder_embed_dim", file), depth = int_field(c, "encoder_depth", file);
  const int64_t hd = int_field(c, "encoder_head_dim", file), window = int_field(c, "encoder_window_size", file);
  const int64_t patch = int_field(c, "vit_patch_size", file), grid = int_field(c, "image_embedding_size", file);
  const int64_t D = int_field(c, "prompt_embed_dim", file), mlp = int_field(c, "decoder_mlp_dim", file);
  const int64_t mask_in = int_field(c, "mask_in_chans", file), masks = int_field(c, "num_multimask_outputs", file) + 1;
  const int64_t I = D / int_field(c, "decoder_attention_downsample_rate", file), iou_hidden = int_field(c, "iou_head_hidden_dim", file);
  const int64_t F = int64_t(json_number_or(c, "encoder_mlp_ratio", 4.0, file) * double(C));
  std::vector<bool> global(size_t(depth), false);
  for (const json& g : c.value("encoder_global_attn_indexes", json::array()))
    if (g.is_number_integer() && g.get<int64_t>() >= 0 && g.get<int64_t>() < depth) global[size_t(g.get<int64_t>())] = true;
  std::vector<Spec> s;
  const auto norm = [&](const std::string& n, int64_t d) {
    s.push_back({n + ".weight", {d}, Kind::Norm});
    s.push_back({n + ".bias", {d}, Kind::Bias});
  };
  const auto linear = [&](const std::string& n, int64_t out, int64_t in) {
    s.push_back({n + ".weight", {out, in}, Kind::Linear});
    s.push_back({n + ".bias", {out}, Kind::Bias});
  };
  const std::string e = "image_encoder.";
  s.push_back({e + "pos_embed", {1, grid, grid, C}, Kind::Embedding});
  s.push_back({e + "patch_embed.proj.weight", {C, 3, patch, patch}, Kind::Linear});
  s.push_back({e + "patch_embed.proj.bias", {C}, Kind::Bias});
  for (int64_t b = 0; b < depth; ++b) {
    const std::string p = e + "blocks." + std::to_string(b) + ".";
    const int64_t side = global[size_t(b)] ? grid : window;
    norm(p + "norm1", C);
    s.push_back({p + "attn.rel_pos_h", {2 * side - 1, hd}, Kind::Embedding});
    s.push_back({p + "attn.rel_pos_w", {2 * side - 1, hd}, Kind::Embedding});
    linear(p + "attn.qkv", 3 * C, C);
    linear(p + "attn.proj", C, C);
    norm(p + "norm2", C);
    linear(p + "mlp.lin1", F, C);
    linear(p + "mlp.lin2", C, F);
  }
  s.push_back({e + "neck.0.weight", {D, C, 1, 1}, Kind::Linear});
  norm(e + "neck.1", D);
  s.push_back({e + "neck.2.weight", {D, D, 3, 3}, Kind::Linear});
  norm(e + "neck.3", D);
  const std::string pe = "prompt_encoder.";
  s.push_back({pe + "pe_layer.positional_encoding_gaussian_matrix", {2, D / 2}, Kind::Embedding});
  for (int i = 0; i < 4; ++i) s.push_back({pe + "point_embeddings." + std::to_string(i) + ".weight", {1, D}, Kind::Embedding});
  s.push_back({pe + "not_a_point_embed.weight", {1, D}, Kind::Embedding});
  s.push_back({pe + "mask_downscaling.0.weight", {mask_in / 4, 1, 2, 2}, Kind::Linear});
  s.push_back({pe + "mask_downscaling.0.bias", {mask_in / 4}, Kind::Bias});
  norm(pe + "mask_downscaling.1", mask_in / 4);
  s.push_back({pe + "mask_downscaling.3.weight", {mask_in, mask_in / 4, 2, 2}, Kind::Linear});
  s.push_back({pe + "mask_downscaling.3.bias", {mask_in}, Kind::Bias});
  norm(pe + "mask_downscaling.4", mask_in);
  s.push_back({pe + "mask_downscaling.6.weight", {D, mask_in, 1, 1}, Kind::Linear});
  s.push_back({pe + "mask_downscaling.6.bias", {D}, Kind::Bias});
  s.push_back({pe + "no_mask_embed.weight", {1, D}, Kind::Embedding});
  const std::string t = "mask_decoder.transformer.";
  const auto attention = [&](const std::string& n, int64_t inner) {
    linear(n + ".q_proj", inner, D);
    linear(n + ".k_proj", inner, D);
    linear(n + ".v_proj", inner, D);
    linear(n + ".out_proj", D, inner);
  };
  for (int64_t l = 0; l < int_field(c, "decoder_transformer_depth", file); ++l) {
    const std::string p = t + "layers." + std::to_string(l) + ".";
    attention(p + "self_attn", D);
    norm(p + "norm1", D);
    attention(p + "cross_attn_token_to_image", I);
    norm(p + "norm2", D);
    linear(p + "mlp.lin1", mlp, D);
    linear(p + "mlp.lin2", D, mlp);
    norm(p + "norm3", D);
    norm(p + "norm4", D);
    attention(p + "cross_attn_image_to_token", I);
  }
  attention(t + "final_attn_token_to_image", I);
  norm(t + "norm_final_attn", D);
  const std::string m = "mask_decoder.";
  s.push_back({m + "iou_token.weight", {1, D}, Kind::Embedding});
  s.push_back({m + "mask_tokens.weight", {masks, D}, Kind::Embedding});
  s.push_back({m + "output_upscaling.0.weight", {D, D / 4, 2, 2}, Kind::Linear});
  s.push_back({m + "output_upscaling.0.bias", {D / 4}, Kind::Bias});
  norm(m + "output_upscaling.1", D / 4);
  s.push_back({m + "output_upscaling.3.weight", {D / 4, D / 8, 2, 2}, Kind::Linear});
  s.push_back({m + "output_upscaling.3.bias", {D / 8}, Kind::Bias});
  for (int64_t k = 0; k < masks; ++k) {
    const std::string p = m + "output_hypernetworks_mlps." + std::to_string(k) + ".layers.";
    linear(p + "0", D, D);
    linear(p + "1", D, D);
    linear(p + "2", D / 8, D);
  }
  const int64_t iou_depth = int_field(c, "iou_head_depth", file);
  for (int64_t l = 0; l < iou_depth; ++l)
    linear(m + "iou_prediction_head.layers." + std::to_string(l), l + 1 == iou_depth ? masks : iou_hidden, l == 0 ? D : iou_hidden);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::fprintf(stderr, "usage: %s CONFIG.json OUT_DIR [--dtype bf16|f16|f32|fp8] [--seed N] [--tokenizer FILE]\n", argv[0]);
      return 2;
    }
    const std::string config_path = argv[1], out_dir = argv[2];
    std::string dtype = "bf16", tokenizer;
    uint64_t seed = 1;
    for (int i = 3; i + 1 < argc; i += 2) {
      const std::string opt = argv[i];
      if (opt == "--dtype") dtype = argv[i + 1];
      else if (opt == "--seed") seed = std::stoull(argv[i + 1]);
      else if (opt == "--tokenizer") tokenizer = argv[i + 1];
      else fail(opt, "unknown option");
    }
    const bool fp8 = dtype == "fp8";
    const DType type = dtype == "bf16" || fp8 ? DType::BF16 : dtype == "f16" ? DType::F16 : dtype == "f32" ? DType::F32
                                                                                 : (fail("--dtype", "expected bf16, f16, f32 or fp8"), DType::F32);
    json config = read_json_file(config_path);
    const bool sam = config.value("model_type", "") == "sam";
    if (sam && config.value("variant", "") != "vit") fail(config_path, "only SAM ViT configs (\"variant\": \"vit\") are generated");
    const LlamaConfig c = sam ? LlamaConfig{} : llama_config_from_hf(config, config_path);
    const json& text_config = c.vision_language ? config["text_config"] : config;
    const double stddev = json_number_or(text_config, "initializer_range", json_number_or(config, "initializer_range", 0.02, config_path),
                                         config_path);
    // FP8 per-tensor scale: N(0, s) values stay within 448 * scale up to 8 sigma.
    const float fp8_scale = float(8 * stddev / 448);

    const std::string& prefix = c.hf_prefix;
    std::vector<Spec> specs;
    if (sam) specs = sam_specs(config, config_path);
    else specs = {{prefix + "embed_tokens.weight", {c.vocab_size, c.hidden_size}, Kind::Embedding},
                  {prefix + "norm.weight", {c.hidden_size}, Kind::Norm}};
    if (!sam && !c.tie_word_embeddings) specs.push_back({c.hf_lm_head, {c.vocab_size, c.hidden_size}, Kind::Embedding});
    for (int64_t l = 0; !sam && l < c.n_layers; ++l) {
      const std::string p = prefix + "layers." + std::to_string(l) + ".";
      specs.push_back({p + "input_layernorm.weight", {c.hidden_size}, Kind::Norm});
      specs.push_back({p + "post_attention_layernorm.weight", {c.hidden_size}, Kind::Norm});
      specs.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), c.hidden_size}, Kind::Linear});
      specs.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), c.hidden_size}, Kind::Linear});
      specs.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), c.hidden_size}, Kind::Linear});
      specs.push_back({p + "self_attn.o_proj.weight", {c.hidden_size, c.q_dim()}, Kind::Linear});
      specs.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}, Kind::Linear});
      specs.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}, Kind::Linear});
      specs.push_back({p + "mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}, Kind::Linear});
    }
    if (is_idefics3_config(config)) {  // SmolVLM: the SigLIP tower and the connector too
      const Idefics3Config v = idefics3_config_from_hf(config, config_path);
      const int64_t C = v.vision.hidden_size, F = v.vision.intermediate_size, p = v.vision.patch_size;
      const std::string m = "model.vision_model.";
      specs.push_back({m + "embeddings.patch_embedding.weight", {C, 3, p, p}, Kind::Linear});
      specs.push_back({m + "embeddings.patch_embedding.bias", {C}, Kind::Bias});
      specs.push_back({m + "embeddings.position_embedding.weight", {v.vision.n_patches(), C}, Kind::Embedding});
      for (int64_t l = 0; l < v.vision.n_layers; ++l) {
        const std::string q = m + "encoder.layers." + std::to_string(l) + ".";
        for (const char* ln : {"layer_norm1", "layer_norm2"}) {
          specs.push_back({q + ln + ".weight", {C}, Kind::Norm});
          specs.push_back({q + ln + ".bias", {C}, Kind::Bias});
        }
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
          specs.push_back({q + "self_attn." + proj + ".weight", {C, C}, Kind::Linear});
          specs.push_back({q + "self_attn." + proj + ".bias", {C}, Kind::Bias});
        }
        specs.push_back({q + "mlp.fc1.weight", {F, C}, Kind::Linear});
        specs.push_back({q + "mlp.fc1.bias", {F}, Kind::Bias});
        specs.push_back({q + "mlp.fc2.weight", {C, F}, Kind::Linear});
        specs.push_back({q + "mlp.fc2.bias", {C}, Kind::Bias});
      }
      specs.push_back({m + "post_layernorm.weight", {C}, Kind::Norm});
      specs.push_back({m + "post_layernorm.bias", {C}, Kind::Bias});
      specs.push_back({"model.connector.modality_projection.proj.weight", {v.text_hidden, C * v.scale_factor * v.scale_factor}, Kind::Linear});
    }
    fs::create_directories(out_dir);
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<TensorToWrite> tensors;
    Rng rng{seed * 0x9e3779b97f4a7c15ull + 1};
    size_t total = 0;
    auto add = [&](const std::string& name, DType t, std::vector<int64_t> shape, std::vector<uint8_t> bytes) {
      total += bytes.size();
      buffers.push_back(std::move(bytes));
      tensors.push_back({name, t, std::move(shape), buffers.back().data(), buffers.back().size()});
    };
    const float activation_scale = 1.0f;  // unused by edgerun (activations stay F32); shape as the release
    for (const Spec& s : specs) {
      int64_t n = 1;
      for (int64_t d : s.shape) n *= d;
      const DType t = fp8 && s.kind == Kind::Linear ? DType::F8_E4M3 : type;
      add(s.name, t, s.shape, random_values(rng, n, t, s.kind, float(stddev), fp8_scale));
      if (t == DType::F8_E4M3) {
        const std::string stem = s.name.substr(0, s.name.size() - 6);  // drop "weight"
        std::vector<uint8_t> scale(4), act(4);
        std::memcpy(scale.data(), &fp8_scale, 4);
        std::memcpy(act.data(), &activation_scale, 4);
        add(stem + "weight_scale_inv", DType::F32, {}, std::move(scale));
        add(stem + "activation_scale", DType::F32, {}, std::move(act));
      }
      std::fprintf(stderr, "\rmake_random_checkpoint: %zu/%zu weights, %.2f GB", size_t(&s - specs.data()) + 1, specs.size(),
                   double(total) / 1e9);
    }
    std::fprintf(stderr, "\n");
    write_safetensors(out_dir + "/model.safetensors", tensors);
    if (fp8 && !config.contains("quantization_config")) {
      // What the FP8 Ministral 3 configs say (transformers PR #42715): per-tensor E4M3 weights,
      // static activation scales, the vision parts and the LM head left unquantized.
      config["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "static"}, {"weight_block_size", nullptr},
                                       {"modules_to_not_convert", {"model.vision_tower", "model.multi_modal_projector", "lm_head"}}};
      std::ofstream(out_dir + "/config.json") << config.dump(2) << "\n";
    } else {
      fs::copy_file(config_path, out_dir + "/config.json", fs::copy_options::overwrite_existing);
    }
    // The files next to the config that describe the model beside its weights.
    for (const char* name : {"generation_config.json", "preprocessor_config.json", "processor_config.json", "chat_template.json",
                             "chat_template.jinja", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                             "tokenizer.json"}) {
      const fs::path f = fs::path(config_path).parent_path() / name;
      if (fs::exists(f)) fs::copy_file(f, out_dir + "/" + name, fs::copy_options::overwrite_existing);
    }
    if (!tokenizer.empty()) {
      const bool tekken = fs::path(tokenizer).filename().string().find("tekken") != std::string::npos;
      fs::copy_file(tokenizer, out_dir + (tekken ? "/tekken.json" : "/tokenizer.json"), fs::copy_options::overwrite_existing);
    }
    std::printf("wrote %s (%zu tensors, %.2f GB)\n", out_dir.c_str(), tensors.size(), double(total) / 1e9);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_random_checkpoint: error: %s\n", e.what());
    return 1;
  }
}
