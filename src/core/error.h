// One error type for the whole engine: "where: problem". Parsers throw it; the CLI prints
// its message on one line and exits non-zero; the server turns it into a 4xx JSON error.
#pragma once
#include <stdexcept>
#include <string>

namespace edgerun {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error("<where>: <problem>"). `where` names the file, field or tensor at fault.
[[noreturn]] void fail(const std::string& where, const std::string& problem);

// A name or value taken from an input file, quoted for a one-line message: control bytes and
// backslashes escaped as \xNN, at most 80 bytes shown.
std::string quote_for_message(const std::string& s);

}  // namespace edgerun
