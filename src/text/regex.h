// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available), used for the
// pre-tokenizer split patterns. Matching is thread-safe: scratch state is per thread.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgerun::text {

class Regex {
 public:
  // Throws Error("<where>: invalid regex ...") when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches left to right as [begin, end) byte offsets; empty matches are
  // skipped (the search then resumes one character later). `s` must be valid UTF-8.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;
  const std::string& pattern() const { return pattern_; }

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  std::string pattern_;
  std::string where_;
};

}  // namespace edgerun::text
