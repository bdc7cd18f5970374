// Opening a model the way a user names it: a Hugging Face directory (config.json + safetensors
// + tokenizer.json or Mistral's tekken.json), a .gguf file, or the default model linked into the
// binary.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/weight_store.h"
#include "models/idefics3.h"
#include "models/idefics3_processor.h"
#include "models/llama.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

namespace edgerun {

struct LoadOptions {
  bool weights = true;    // map and bind the weights (not needed to tokenize)
  bool tokenizer = true;  // load the tokenizer (not needed for --ids)
  std::string mmproj;     // a GGUF text model's vision tower (llama.cpp's mmproj file)
};

// The image side of a vision-language model (SmolVLM / SmolVLM2): its configuration and
// processor settings, and the vision tower + connector when weights are loaded.
struct VisionModel {
  Idefics3Config config;
  Idefics3ProcessorConfig processor;
  std::unique_ptr<WeightStore> weights;  // its own (an mmproj GGUF); null: the model's
  std::unique_ptr<Idefics3Vision> tower;
};

struct LoadedModel {
  std::string path;
  std::string format;  // "safetensors" | "gguf"
  LlamaConfig config;
  std::optional<GgufFile> gguf;           // for GGUF models: metadata for `info`
  std::unique_ptr<WeightStore> weights;   // mapped tensors
  std::unique_ptr<LlamaModel> model;      // when LoadOptions::weights
  std::unique_ptr<Tokenizer> tokenizer;   // when LoadOptions::tokenizer
  std::vector<int32_t> eos_ids;           // generation stops at any of these
  std::optional<SamplerParams> generation_defaults;  // from generation_config.json, when sampling
  std::unique_ptr<VisionModel> vision;    // vision-language checkpoints only
  std::vector<std::string> notices;       // one-line remarks for the user (e.g. skipped vision tensors)

  // The tokenizer, or an Error naming what is missing.
  const Tokenizer& require_tokenizer() const;
  // Default context: max_position_embeddings capped at 4096.
  int64_t default_context() const;
};

LoadedModel load_model(const std::string& path, const LoadOptions& options = {});
// Parses GGUF bytes that live for the whole program (the embedded default model).
LoadedModel load_gguf_bytes(const std::string& name, const void* data, size_t size,
                            const LoadOptions& options = {});

}  // namespace edgerun
