// Helpers shared by the format tests: temp dirs, byte files, exact-size heap buffers for ASan,
// and catching the one error type the readers may throw.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/storage.h"
#include "test_util.h"

namespace edgerun::test {

using Bytes = std::vector<uint8_t>;

inline void write_file(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
inline void write_text(const std::string& path, const std::string& s) { write_file(path, Bytes(s.begin(), s.end())); }
inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

// An exact-size heap copy, so ASan flags any read past the end.
inline std::shared_ptr<Storage> heap_storage(const std::string& name, const Bytes& bytes,
                                             std::unique_ptr<uint8_t[]>& holder) {
  holder.reset(new uint8_t[std::max<size_t>(bytes.size(), 1)]);
  if (!bytes.empty()) std::memcpy(holder.get(), bytes.data(), bytes.size());
  return Storage::borrow(name, holder.get(), bytes.size());
}

// 2000 by default (deterministic, fixed seed); EDGERUN_FUZZ_ITERATIONS runs the same sequence longer.
inline int fuzz_iterations() {
  const char* env = std::getenv("EDGERUN_FUZZ_ITERATIONS");
  return env ? std::max(1, std::atoi(env)) : 2000;
}

// Runs f, which must throw edgerun::Error; returns its message ("" after a recorded failure).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-Error exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

}  // namespace edgerun::test
