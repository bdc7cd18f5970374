// SmolVLM's vision tower as a separate GGUF file, the way llama.cpp splits vision-language models
// ("mmproj": general.architecture "clip", projector type "idefics3", v.* and mm.* tensors):
// written by `edgerun quantize` next to the text GGUF, and read back with --mmproj, so
// `-m text.gguf --mmproj mmproj.gguf` works in edgerun and in llama.cpp's mtmd tools alike.
#pragma once
#include <memory>
#include <string>

#include "runtime/model_loader.h"

namespace edgerun {

// Writes the vision tower and connector of the SmolVLM checkpoint `model_dir` (its processor
// settings included) to `out_path`: matrices in F16 (F32 with `f32_matrices`), norms, biases and
// embeddings in F32.
void write_idefics3_mmproj(const std::string& model_dir, const std::string& out_path, bool f32_matrices = false);

// Reads an idefics3 mmproj GGUF; `tokenizer` (the text model's) gives the <image> token id.
std::unique_ptr<VisionModel> load_idefics3_mmproj(const std::string& path, const Tokenizer& tokenizer);

}  // namespace edgerun
