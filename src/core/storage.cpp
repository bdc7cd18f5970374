#include "core/storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace edgerun {

std::shared_ptr<Storage> Storage::map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    fail(path, "file is empty");
  }
  void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(errno));
  auto s = std::shared_ptr<Storage>(new Storage());
  s->name_ = path;
  s->data_ = static_cast<const uint8_t*>(p);
  s->size_ = size_t(st.st_size);
  s->mapped_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::borrow(const std::string& name, const void* data, size_t size) {
  auto s = std::shared_ptr<Storage>(new Storage());
  s->name_ = name;
  s->data_ = static_cast<const uint8_t*>(data);
  s->size_ = size;
  return s;
}

Storage::~Storage() {
  if (mapped_ && data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

static std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open (missing or unreadable)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_text_file(const std::string& path) {
  std::string text = slurp(path);
  // A git textual symlink: short, one line, a relative path to an existing file.
  for (int hops = 0; hops < 8 && !text.empty() && text.size() < 1024 && text[0] != '{' &&
                     text[0] != '[' && text.find('\n') == std::string::npos;
       ++hops) {
    const std::filesystem::path target = std::filesystem::path(path).parent_path() / text;
    if (!file_exists(target.string())) break;
    text = slurp(target.string());
  }
  if (text.empty()) fail(path, "file is empty");
  return text;
}

}  // namespace edgerun
