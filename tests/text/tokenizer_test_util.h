// Helpers for the tokenizer tests: golden file access and llama.cpp's .inp/.out vectors.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "../test_util.h"

namespace edgerun::test {

inline std::string tokenizer_golden(const std::string& rel) {
  return golden_dir() + "/tokenizer/" + rel;
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s + "]";
}

// llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n" (the file
// ends with a separator), one line of space-separated ids per input.
inline std::vector<std::pair<std::string, std::vector<int32_t>>> read_vocab_vectors(
    const std::string& base) {
  const std::string raw = slurp(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<std::vector<int32_t>> outputs;
  std::istringstream out(slurp(base + ".out"));
  for (std::string line; std::getline(out, line);) {
    std::vector<int32_t> ids;
    std::istringstream ls(line);
    for (int64_t id; ls >> id;) ids.push_back(static_cast<int32_t>(id));
    outputs.push_back(ids);
  }
  EXPECT_EQ(inputs.size(), outputs.size()) << base;
  std::vector<std::pair<std::string, std::vector<int32_t>>> cases;
  for (size_t i = 0; i < inputs.size() && i < outputs.size(); ++i)
    cases.emplace_back(inputs[i], outputs[i]);
  return cases;
}

}  // namespace edgerun::test

namespace edgerun::test {

// A fresh directory under the system temp dir, removed when the object goes away.
}  // namespace edgerun::test
