#include "core/dtype.h"

#include <algorithm>
#include <cmath>

namespace edgerun {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I16: return "I16";
    case DType::U16: return "U16";
    case DType::I32: return "I32";
    case DType::U32: return "U32";
    case DType::I64: return "I64";
    case DType::U64: return "U64";
    case DType::BOOL: return "BOOL";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::Q8_0: return "Q8_0";
    case DType::Q4_0: return "Q4_0";
    case DType::Q4_K: return "Q4_K";
    case DType::Q6_K: return "Q6_K";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F64: case DType::I64: case DType::U64: return 8;
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: case DType::U16: return 2;
    case DType::I8: case DType::U8: case DType::BOOL: case DType::F8_E4M3: return 1;
    default: return 0;
  }
}

bool dtype_is_quantized(DType t) { return dtype_size(t) == 0; }

size_t dtype_block_elems(DType t) {
  switch (t) {
    case DType::Q8_0: case DType::Q4_0: return 32;
    case DType::Q4_K: case DType::Q6_K: return 256;
    default: return 1;
  }
}

size_t dtype_block_bytes(DType t) {
  switch (t) {
    case DType::Q8_0: return 34;
    case DType::Q4_0: return 18;
    case DType::Q4_K: return 144;
    case DType::Q6_K: return 210;
    default: return dtype_size(t);
  }
}

size_t dtype_row_bytes(DType t, int64_t n) {
  const size_t be = dtype_block_elems(t);
  if (n < 0 || size_t(n) % be != 0) return 0;
  return size_t(n) / be * dtype_block_bytes(t);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) { mant <<= 1; --exp; }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  const uint32_t abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;           // NaN
  if (abs >= 0x477ff000) return sign | 0x7c00;          // overflow to inf (after rounding)
  if (abs < 0x38800000) {                               // subnormal or zero in f16
    if (abs < 0x33000000) return sign;                  // rounds to zero
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - exp;                   // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return sign | uint16_t(half);
  }
  uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);   // round to nearest even on bit 13
  return sign | uint16_t(((rounded >> 13) - ((127 - 15) << 10)) & 0xffff);
}

uint8_t f32_to_f8_e4m3(float f) {
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  if (std::isnan(f)) return sign | 0x7f;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Representable values near a are 2^(binade-3) apart; below 2^-6 (subnormals) 2^-9 apart.
  int e;
  std::frexp(a, &e);  // a = m * 2^e with m in [0.5, 1): binade e - 1
  const float step = std::ldexp(1.0f, std::max(e - 1, -6) - 3);
  const float r = std::nearbyint(a / step) * step;  // exact; default rounding: ties to even
  if (r == 0) return sign;
  std::frexp(r, &e);  // r may have carried into the next binade
  if (e - 1 < -6) return sign | uint8_t(r / 0x1p-9f);
  const float mantissa = r / std::ldexp(1.0f, e - 1);  // in [1, 2), a multiple of 1/8
  return sign | uint8_t(((e - 1 + 7) << 3) | int((mantissa - 1) * 8));
}

}  // namespace edgerun
