// Who owns the bytes of a file we read: a read-only memory map (weights are views into it,
// never copied) or a borrowed memory region (the default model linked into the binary).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace edgerun {

class Storage {
 public:
  // Maps `path` read-only. Throws Error naming the file if it is missing, unreadable or empty.
  static std::shared_ptr<Storage> map_file(const std::string& path);
  // Wraps bytes that outlive the Storage (e.g. linked into the executable). No copy.
  static std::shared_ptr<Storage> borrow(const std::string& name, const void* data, size_t size);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // The path (or name) used in error messages.
  const std::string& name() const { return name_; }

 private:
  Storage() = default;
  std::string name_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

// Reads a whole small text file (config, tokenizer JSON). Follows git's textual symlinks: a
// checkout without symlink support stores a link as a one-line file holding the relative target.
std::string read_text_file(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace edgerun
