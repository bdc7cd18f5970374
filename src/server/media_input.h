// Media named in API requests: base64 text or `data:` URLs, and local files, which are only
// read from the directory the server was started with (--allow-local-files DIR). The server
// never fetches remote URLs (no network access by design). Problems are 400 ApiErrors naming
// the request field.
#pragma once
#include <string>
#include <string_view>

#include "media/image.h"

namespace edgerun::server {

// The bytes of base64 text or of a base64 `data:` URL.
std::string decode_base64_payload(std::string_view text, const std::string& param);

// A path or file:// URL resolved inside `allowed_dir` (symlinks followed); the resolved path.
std::string resolve_local_file(const std::string& url, const std::string& param, const std::string& allowed_dir);

// An image_url: a data: URL, or a local file when allowed.
ImageU8 load_request_image(const std::string& url, const std::string& param, const std::string& allowed_dir);

}  // namespace edgerun::server
