// Byte trie of token strings for leftmost-longest matching of special / added tokens in raw
// text (Hugging Face added tokens, Tekken control tokens).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edgerun::text {

// Answers "the longest token starting here".
class TokenTrie {
 public:
  void insert(const std::string& s, int32_t value) {
    if (s.empty()) return;
    int32_t node = 0;
    for (unsigned char c : s) {
      auto it = nodes_[node].next.find(c);
      if (it == nodes_[node].next.end()) {
        nodes_.emplace_back();
        it = nodes_[node].next.emplace(c, static_cast<int32_t>(nodes_.size() - 1)).first;
      }
      node = it->second;
    }
    nodes_[node].value = value;
    first_[static_cast<unsigned char>(s[0])] = true;
    empty_ = false;
  }
  bool empty() const { return empty_; }
  // (length, value) of the longest entry starting at text[pos]; length 0 when none.
  std::pair<size_t, int32_t> longest(std::string_view text, size_t pos) const {
    std::pair<size_t, int32_t> best{0, -1};
    if (!first_[static_cast<unsigned char>(text[pos])]) return best;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      auto it = nodes_[node].next.find(static_cast<unsigned char>(text[i]));
      if (it == nodes_[node].next.end()) break;
      node = it->second;
      if (nodes_[node].value >= 0) best = {i + 1 - pos, nodes_[node].value};
    }
    return best;
  }

 private:
  struct Node {
    std::unordered_map<unsigned char, int32_t> next;
    int32_t value = -1;
  };
  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_{};
  bool empty_ = true;
};

}  // namespace edgerun::text
