// Element types of weights and activations, and the scalar conversions between them.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace edgerun {

enum class DType : uint8_t {
  F32, F16, BF16, F64, I8, U8, I16, U16, I32, U32, I64, U64, BOOL,
  // 8-bit float E4M3FN (safetensors "F8_E4M3"): weights shipped with a per-tensor scale.
  F8_E4M3,
  // Block-quantized types (added with the quantization work); rows are whole blocks.
  Q8_0, Q4_0, Q4_K, Q6_K,
};

const char* dtype_name(DType t);
// Bytes per element for plain types; 0 for block types (use block_bytes/block_elems).
size_t dtype_size(DType t);
bool dtype_is_quantized(DType t);
// Elements per block and bytes per block (1 and dtype_size for plain types).
size_t dtype_block_elems(DType t);
size_t dtype_block_bytes(DType t);
// Bytes needed for `n` elements along a row, or 0 if n is not a whole number of blocks.
size_t dtype_row_bytes(DType t, int64_t n);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, NaN kept quiet.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// E4M3FN (torch.float8_e4m3fn): bias 7, 3 mantissa bits, no infinities; S.1111.111 is NaN.
// Largest finite value 448, smallest subnormal 2^-9.
inline float f8_e4m3_to_f32(uint8_t v) {
  // The 7 magnitude bits placed at the top of an f32 exponent/mantissa field and scaled by
  // 2^(127-7) rebias normals and subnormals alike (the f16 fast path's trick). Branch-free so
  // that the FP8 dot product vectorises.
  const uint32_t magnitude = uint32_t(v & 0x7f) << 20;
  float f;
  std::memcpy(&f, &magnitude, 4);
  f *= 0x1p120f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  // S.1111.111 decodes to 480 above; OR-ing a quiet-NaN pattern onto it makes it NaN. A mask,
  // not a select, so that compilers keep the loop vectorised.
  const uint32_t nan_mask = 0u - uint32_t(magnitude == (0x7fu << 20));
  bits |= (nan_mask & 0x7fc00000u) | (uint32_t(v & 0x80) << 24);
  std::memcpy(&f, &bits, 4);
  return f;
}
// Round to nearest even; magnitudes above 448 saturate to 448 (the E4M3FN maximum), NaN stays NaN.
uint8_t f32_to_f8_e4m3(float f);

}  // namespace edgerun
