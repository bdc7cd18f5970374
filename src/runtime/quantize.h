// `edgerun quantize`: a Hugging Face Llama-family directory or a GGUF file → a GGUF file that
// loads in edgerun and in llama.cpp. Weights are converted tensor by tensor in row chunks across
// a ThreadPool and streamed to OUT.tmp (never the whole model in memory), renamed to OUT at the
// end. The per-tensor type recipe follows llama.cpp's llama-quantize (llama_tensor_get_type).
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace edgerun {

// The file recipes of --type, with llama.cpp's LLAMA_FTYPE number for general.file_type.
enum class QuantRecipe { F32, F16, BF16, Q8_0, Q4_0, Q4_K_M };

// "q8_0" → Q8_0 ... ; throws Error("--type", ...) listing the accepted names.
QuantRecipe parse_quant_recipe(const std::string& name);
const char* quant_recipe_name(QuantRecipe r);  // "q8_0", "q4_k", ...
uint32_t llama_ftype(QuantRecipe r);           // 0, 1, 32, 7, 2, 15

// The ggml type llama-quantize would give one tensor (GGUF name, GGUF ne), with the engine's
// fallback when ne[0] is not a whole number of blocks. `tied`: the file has no output.weight
// (token_embd doubles as the LM head). `fallback` (optional) is set to the reason when a
// fallback was used.
uint32_t quant_tensor_type(QuantRecipe r, const std::string& name, const std::vector<uint64_t>& ne,
                           int64_t n_layers, bool tied, std::string* fallback = nullptr);

// Row r of a GGUF Q/K weight (interleaved RoPE pairs (2j, 2j+1)) is row rope_source_row(r) of
// the HF weight (rotate-half pairs (j, j + d/2)); the same reordering as convert_hf_to_gguf.py's
// LlamaModel.permute, per head of `head_dim` rows.
int64_t rope_source_row(int64_t r, int64_t head_dim);

struct QuantizeOptions {
  std::string input;   // HF model directory (or its config.json / *.safetensors) or a .gguf file
  std::string output;  // .gguf file; written as <output>.tmp then renamed
  std::string type;    // q8_0 | q4_0 | q4_k | f16 | bf16 | f32
  int threads = 0;     // 0: one per core
  std::FILE* log = nullptr;  // progress and summary (stderr in the CLI); nullptr: silent
};

struct QuantizeResult {
  uint32_t file_type = 0;
  size_t n_tensors = 0;
  uint64_t file_bytes = 0;
  std::map<std::string, int> type_counts;  // ggml type name → tensors
  std::vector<std::string> warnings;       // fallbacks, tokenizer details
};

QuantizeResult quantize_model(const QuantizeOptions& options);

}  // namespace edgerun
