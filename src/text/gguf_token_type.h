// tokenizer.ggml.token_type values (llama.cpp's llama_token_type), shared by the GGUF tokenizer
// that reads them and the vocabulary exporter that writes them.
#pragma once
#include <cstdint>

namespace edgerun {

enum GgufTokenType : int32_t {
  kGgufTokenNormal = 1,
  kGgufTokenUnknown = 2,
  kGgufTokenControl = 3,
  kGgufTokenUserDefined = 4,
  kGgufTokenUnused = 5,
  kGgufTokenByte = 6,
};

}  // namespace edgerun
