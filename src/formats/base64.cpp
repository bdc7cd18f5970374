#include "formats/base64.h"

#include <algorithm>

namespace edgerun {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  if (in.size() % 4 != 0) return false;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const size_t pad = in.substr(i + 2, 2) == "==" ? 2 : in[i + 3] == '=' ? 1 : 0;
    if (pad > 0 && i + 4 != in.size()) return false;
    uint32_t bits = 0;
    for (size_t k = 0; k < 4; ++k) {
      const int v = k >= 4 - pad ? 0 : value(in[i + k]);
      if (v < 0) return false;
      bits = bits << 6 | uint32_t(v);
    }
    for (size_t k = 0; k < 3 - pad; ++k) out += char((bits >> (16 - 8 * k)) & 0xff);
  }
  return true;
}

std::string base64_encode(const uint8_t* data, size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (size_t i = 0; i < size; i += 3) {
    const size_t n = std::min<size_t>(3, size - i);
    uint32_t bits = uint32_t(data[i]) << 16;
    if (n > 1) bits |= uint32_t(data[i + 1]) << 8;
    if (n > 2) bits |= data[i + 2];
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(bits >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

}  // namespace edgerun
