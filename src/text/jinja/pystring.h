// Python str semantics on UTF-8 strings: templates count, slice and case-map by code point, and
// Python's whitespace, split() and splitlines() rules differ from C's.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgerun::jinja::py {

using Codepoints = std::vector<uint32_t>;

Codepoints decode(const std::string& s);
std::string encode(const Codepoints& cps, size_t begin, size_t end);
inline std::string encode(const Codepoints& cps) { return encode(cps, 0, cps.size()); }
size_t length(const std::string& s);  // in code points

bool is_space(uint32_t cp);  // str.isspace for one character

enum class Side { Left, Right, Both };
// str.strip/lstrip/rstrip: `chars` absent strips whitespace.
std::string strip(const std::string& s, Side side, const std::optional<std::string>& chars = std::nullopt);
// str.split / str.rsplit; `sep` absent splits on runs of whitespace. maxsplit < 0: no limit.
std::vector<std::string> split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right = false);
std::vector<std::string> splitlines(const std::string& s, bool keepends = false);
// str.replace; count < 0 replaces all. An empty `old` inserts `replacement` around every character.
std::string replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count = -1);
// str.find / str.rfind / str.count in code points; -1 when absent.
int64_t find(const std::string& s, const std::string& sub, bool from_right = false);
int64_t count(const std::string& s, const std::string& sub);

std::string upper(const std::string& s);
std::string lower(const std::string& s);
std::string capitalize(const std::string& s);  // str.capitalize
std::string title(const std::string& s);       // str.title
std::string swapcase(const std::string& s);
// Jinja2's `title` filter: capitalizes after whitespace, '-', '(', '{', '[' and '<'.
std::string jinja_title(const std::string& s);

bool is_lower(const std::string& s);  // str.islower
bool is_upper(const std::string& s);  // str.isupper
bool is_digit(const std::string& s);  // str.isdigit
bool is_alpha(const std::string& s);  // str.isalpha
bool is_alnum(const std::string& s);  // str.isalnum
bool is_space_string(const std::string& s);  // str.isspace

// What Python gives for a float literal out of double range ("1e999", "-1e999", "1e-999"):
// +-inf or +-0.0.
double overflowed_float(const std::string& literal);

// Python slice semantics: the indices a[start:stop:step] selects from a sequence of length n.
// Throws Problem for step 0.
std::vector<size_t> slice_indices(int64_t n, std::optional<int64_t> start, std::optional<int64_t> stop,
                                  std::optional<int64_t> step);

}  // namespace edgerun::jinja::py
