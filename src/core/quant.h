// Block-quantized weight formats, byte-compatible with GGUF/ggml (MODELS.md §1.3). Each block
// is a packed struct whose size is checked at compile time. Q8_K is only an activation format
// (the partner of the K-quants in dot products) and never appears in a file we write.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace edgerun {

constexpr int kQK = 32;    // elements per Q8_0 / Q4_0 block
constexpr int kQKK = 256;  // elements per K-quant super-block

struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[kQK];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;          // f16 scale
  uint8_t qs[kQK / 2];  // low nibbles: elements 0..15, high nibbles: 16..31; value = d * (q - 8)
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_K {
  uint16_t d;           // f16 super-block scale for the 6-bit sub-block scales
  uint16_t dmin;        // f16 super-block scale for the 6-bit sub-block mins
  uint8_t scales[12];   // 8 scales + 8 mins, 6 bits each
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ6_K {
  uint8_t ql[kQKK / 2];      // low 4 bits
  uint8_t qh[kQKK / 4];      // high 2 bits
  int8_t scales[kQKK / 16];  // 16 sub-block scales
  uint16_t d;                // f16 super-block scale (last, as in ggml)
};
static_assert(sizeof(BlockQ6_K) == 210);

struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];  // sums of each group of 16 qs
};
static_assert(sizeof(BlockQ8_K) == 292);

// Reference conversions (plain C++). n must be a multiple of the type's block size.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// Quantizes with the error-minimising search the format is designed for; output loads in
// llama.cpp. Used by `edgerun quantize` and to quantize activations.
void quantize_row(DType type, const float* src, void* dst, int64_t n);
void quantize_row_q8_k(const float* src, BlockQ8_K* dst, int64_t n);

}  // namespace edgerun
