// Standard base64 (RFC 4648 alphabet, '=' padding): tekken.json token bytes, images and masks in
// the HTTP API.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace edgerun {

// False (out unspecified) unless `in` is complete, padded base64.
bool base64_decode(std::string_view in, std::string& out);
std::string base64_encode(const uint8_t* data, size_t size);

}  // namespace edgerun
