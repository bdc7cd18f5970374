// FNV-1a (64 bits): a cheap content key for caches (image embeddings, image features). Not a
// cryptographic hash; callers that key on it also compare sizes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace edgerun {

inline uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace edgerun
