// The BPE merge loop shared by the Hugging Face and GGUF ("gpt2") tokenizers, plus a bounded
// per-word result cache.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edgerun::text {

class BpeMerges {
 public:
  // Registers "a b -> merged" with priority `rank` (lower merges first). When the pair is
  // already present, `overwrite` picks the later entry (HF) or keeps the first (llama.cpp).
  void add(int32_t a, int32_t b, int32_t merged, int32_t rank, bool overwrite);
  size_t size() const { return map_.size(); }
  // Merges the symbol ids in place: repeatedly the lowest-rank adjacent pair, leftmost first.
  void apply(std::vector<int32_t>& symbols) const;

 private:
  struct Entry {
    int32_t rank;
    int32_t merged;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const Entry* find(int32_t a, int32_t b) const {
    auto it = map_.find(key(a, b));
    return it == map_.end() ? nullptr : &it->second;
  }
  std::unordered_map<uint64_t, Entry> map_;
};

// Thread-safe word → ids cache. Cleared wholesale when full: simple and keeps memory bounded.
class BpeCache {
 public:
  explicit BpeCache(size_t capacity = 1 << 16) : capacity_(capacity) {}
  std::optional<std::vector<int32_t>> get(std::string_view word) const;
  void put(std::string_view word, const std::vector<int32_t>& ids) const;

 private:
  size_t capacity_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> map_;
};

}  // namespace edgerun::text
