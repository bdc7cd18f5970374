// An error reply of the OpenAI-compatible API: HTTP status plus the fields of
// {"error": {"message", "type", "param", "code"}}. Thrown while reading a request and turned into
// a response by the HTTP layer, so a bad request never reaches generation.
#pragma once
#include <stdexcept>
#include <string>

namespace edgerun::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = "",
           std::string type = "invalid_request_error", std::string code = "")
      : std::runtime_error(message), status(status), param(std::move(param)), type(std::move(type)),
        code(std::move(code)) {}
  int status;
  std::string param, type, code;
};

// A 400 naming the request field at fault.
[[noreturn]] inline void bad_request(const std::string& param, const std::string& problem) {
  throw ApiError(400, (param.empty() ? "" : param + ": ") + problem, param);
}

}  // namespace edgerun::server
