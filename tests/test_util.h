// Shared helpers for the test suite: where the golden data and the built CLI live.
#pragma once
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace edgerun::test {

// ../shared/golden next to the source tree, or $EDGERUN_GOLDEN.
inline std::string golden_dir() {
  if (const char* env = std::getenv("EDGERUN_GOLDEN")) return env;
  return std::string(EDGERUN_SOURCE_DIR) + "/../shared/golden";
}

inline std::string source_dir() { return EDGERUN_SOURCE_DIR; }
inline std::string edgerun_binary() { return EDGERUN_BINARY; }

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "edgerun_test_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  // Writes `content` to <dir>/<name> and returns the path.
  std::string write(const std::string& name, const std::string& content) const {
    const std::string p = file(name);
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  size_t count() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(path_)) n += e.is_regular_file();
    return n;
  }

 private:
  std::string path_;
};

}  // namespace edgerun::test
