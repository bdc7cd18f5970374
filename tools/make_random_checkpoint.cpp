// Writes a random-weight Hugging Face checkpoint with the exact tensor names, shapes and dtype
// that a real config.json implies, for benchmarks and load-time measurements on full-size
// models we cannot download here.
//
//   make_random_checkpoint CONFIG.json OUT_DIR [--dtype bf16|f16|f32] [--seed N] [--tokenizer FILE]
//
// Weights are N(0, initializer_range) (default 0.02), norm weights 1. The config is copied as is.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/json_file.h"
#include "formats/safetensors.h"
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

struct Spec {
  std::string name;
  std::vector<int64_t> shape;
  bool is_norm;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::fprintf(stderr, "usage: %s CONFIG.json OUT_DIR [--dtype bf16|f16|f32] [--seed N] [--tokenizer FILE]\n", argv[0]);
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
    const DType type = dtype == "bf16" ? DType::BF16 : dtype == "f16" ? DType::F16 : dtype == "f32" ? DType::F32
                                                                                              : (fail("--dtype", "expected bf16, f16 or f32"), DType::F32);
    const json config = read_json_file(config_path);
    const LlamaConfig c = llama_config_from_hf(config, config_path);
    const double stddev = json_number_or(config, "initializer_range", 0.02, config_path);

    std::vector<Spec> specs = {{"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, false},
                               {"model.norm.weight", {c.hidden_size}, true}};
    if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}, false});
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      specs.push_back({p + "input_layernorm.weight", {c.hidden_size}, true});
      specs.push_back({p + "post_attention_layernorm.weight", {c.hidden_size}, true});
      specs.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), c.hidden_size}, false});
      specs.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), c.hidden_size}, false});
      specs.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), c.hidden_size}, false});
      specs.push_back({p + "self_attn.o_proj.weight", {c.hidden_size, c.q_dim()}, false});
      specs.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}, false});
      specs.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}, false});
      specs.push_back({p + "mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}, false});
    }
    fs::create_directories(out_dir);
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<TensorToWrite> tensors;
    Rng rng{seed * 0x9e3779b97f4a7c15ull + 1};
    size_t total = 0;
    for (const Spec& s : specs) {
      int64_t n = 1;
      for (int64_t d : s.shape) n *= d;
      std::vector<uint8_t> bytes(size_t(n) * dtype_size(type));
      for (int64_t i = 0; i < n; ++i) {
        const float v = s.is_norm ? 1.0f : float(stddev) * rng.normal();
        if (type == DType::F32) std::memcpy(&bytes[size_t(i) * 4], &v, 4);
        else {
          const uint16_t h = type == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
          std::memcpy(&bytes[size_t(i) * 2], &h, 2);
        }
      }
      total += bytes.size();
      buffers.push_back(std::move(bytes));
      tensors.push_back({s.name, type, s.shape, buffers.back().data(), buffers.back().size()});
      std::fprintf(stderr, "\rmake_random_checkpoint: %zu/%zu tensors, %.2f GB", tensors.size(), specs.size(), double(total) / 1e9);
    }
    std::fprintf(stderr, "\n");
    write_safetensors(out_dir + "/model.safetensors", tensors);
    fs::copy_file(config_path, out_dir + "/config.json", fs::copy_options::overwrite_existing);
    const fs::path gen = fs::path(config_path).parent_path() / "generation_config.json";
    if (fs::exists(gen)) fs::copy_file(gen, out_dir + "/generation_config.json", fs::copy_options::overwrite_existing);
    if (!tokenizer.empty()) fs::copy_file(tokenizer, out_dir + "/tokenizer.json", fs::copy_options::overwrite_existing);
    std::printf("wrote %s (%zu tensors, %.2f GB)\n", out_dir.c_str(), tensors.size(), double(total) / 1e9);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_random_checkpoint: error: %s\n", e.what());
    return 1;
  }
}
