#include "server/media_input.h"

#include <filesystem>

#include "core/error.h"
#include "formats/base64.h"
#include "server/api_error.h"

namespace edgerun::server {

std::string decode_base64_payload(std::string_view text, const std::string& param) {
  if (text.rfind("data:", 0) == 0) {
    const size_t comma = text.find(',');
    if (comma == std::string_view::npos || text.substr(0, comma).find(";base64") == std::string_view::npos)
      bad_request(param, "a data: URL must be base64 (data:image/png;base64,...)");
    text.remove_prefix(comma + 1);
  }
  std::string bytes;
  if (!base64_decode(text, bytes)) bad_request(param, "is not valid base64");
  return bytes;
}

std::string resolve_local_file(const std::string& url, const std::string& param, const std::string& allowed_dir) {
  namespace fs = std::filesystem;
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
    bad_request(param, "remote URLs are not fetched (the server has no network access); send a data: URL");
  if (allowed_dir.empty())
    bad_request(param, "local files are not allowed; start the server with --allow-local-files DIR, or send a data: URL");
  std::string path = url.rfind("file://", 0) == 0 ? url.substr(7) : url;
  if (path.empty()) bad_request(param, "is empty");
  std::error_code ec;
  const fs::path base = fs::canonical(allowed_dir, ec);
  if (ec) bad_request(param, "the allowed directory cannot be read");
  fs::path p = fs::path(path).is_absolute() ? fs::path(path) : base / path;
  const fs::path real = fs::canonical(p, ec);
  if (ec) bad_request(param, "no such file in the allowed directory: " + path);
  const auto rel = real.lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") bad_request(param, "is outside the allowed directory");
  if (!fs::is_regular_file(real, ec)) bad_request(param, "is not a regular file: " + path);
  return real.string();
}

ImageU8 load_request_image(const std::string& url, const std::string& param, const std::string& allowed_dir) {
  try {
    if (url.rfind("data:", 0) == 0) {
      const std::string bytes = decode_base64_payload(url, param);
      return decode_image({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, param);
    }
    return read_image(resolve_local_file(url, param, allowed_dir));
  } catch (const Error& e) {  // its message names the part or the file already
    throw ApiError(400, e.what(), param);
  }
}

}  // namespace edgerun::server
