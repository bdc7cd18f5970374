// Shared helpers for the test suite: where the golden data and the built CLI live.
#pragma once
#include <cstdlib>
#include <string>

namespace edgerun::test {

// ../shared/golden next to the source tree, or $EDGERUN_GOLDEN.
inline std::string golden_dir() {
  if (const char* env = std::getenv("EDGERUN_GOLDEN")) return env;
  return std::string(EDGERUN_SOURCE_DIR) + "/../shared/golden";
}

inline std::string source_dir() { return EDGERUN_SOURCE_DIR; }
inline std::string edgerun_binary() { return EDGERUN_BINARY; }

}  // namespace edgerun::test
