#include "text/jinja/pystring.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>

#include "text/jinja/value.h"
#include "text/unicode.h"

namespace edgerun::jinja::py {

namespace {

utf8proc_category_t category(uint32_t cp) { return utf8proc_category(utf8proc_int32_t(cp)); }

bool is_cased(uint32_t cp) {
  const auto c = category(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

bool is_letter_cp(uint32_t cp) {
  const auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

void append_upper(std::string& out, uint32_t cp) {
  if (cp == 0xDF) {  // ß has no single-character uppercase; Python's full mapping gives "SS"
    out += "SS";
    return;
  }
  text::append_utf8(out, uint32_t(utf8proc_toupper(utf8proc_int32_t(cp))));
}

void append_title(std::string& out, uint32_t cp) {
  text::append_utf8(out, uint32_t(utf8proc_totitle(utf8proc_int32_t(cp))));
}

std::string lower_cp(uint32_t cp) { return text::to_lower(text::utf8_encode(cp)); }

bool is_line_break(uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E ||
         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

size_t codepoints_before(const std::string& s, size_t byte_offset) {
  size_t n = 0;
  for (size_t i = 0; i < byte_offset && i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  return n;
}

template <typename Pred>
bool all_chars(const std::string& s, Pred pred) {
  if (s.empty()) return false;
  for (uint32_t cp : decode(s))
    if (!pred(cp)) return false;
  return true;
}

}  // namespace

Codepoints decode(const std::string& s) { return text::utf8_codepoints(s); }

std::string encode(const Codepoints& cps, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end && i < cps.size(); ++i) text::append_utf8(out, cps[i]);
  return out;
}

size_t length(const std::string& s) { return codepoints_before(s, s.size()); }

bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

std::string strip(const std::string& s, Side side, const std::optional<std::string>& chars) {
  const Codepoints cps = decode(s);
  Codepoints set;
  if (chars) set = decode(*chars);
  auto strippable = [&](uint32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_space(cp);
  };
  size_t begin = 0, end = cps.size();
  if (side != Side::Right)
    while (begin < end && strippable(cps[begin])) ++begin;
  if (side != Side::Left)
    while (end > begin && strippable(cps[end - 1])) --end;
  return encode(cps, begin, end);
}

std::vector<std::string> split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right) {
  std::vector<std::string> parts;
  if (sep) {
    if (sep->empty()) problem("empty separator");
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || int64_t(parts.size()) < maxsplit) {
        const size_t at = s.find(*sep, pos);
        if (at == std::string::npos) break;
        parts.push_back(s.substr(pos, at - pos));
        pos = at + sep->size();
      }
      parts.push_back(s.substr(pos));
      return parts;
    }
    size_t end = s.size();
    while (maxsplit < 0 || int64_t(parts.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string::npos) break;
      parts.push_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
    return parts;
  }
  // Runs of whitespace; what is left after maxsplit splits is kept as it is.
  const Codepoints cps = decode(s);
  const size_t n = cps.size();
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < n && is_space(cps[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && int64_t(parts.size()) == maxsplit) {
        parts.push_back(encode(cps, i, n));
        break;
      }
      size_t j = i;
      while (j < n && !is_space(cps[j])) ++j;
      parts.push_back(encode(cps, i, j));
      i = j;
    }
    return parts;
  }
  size_t end = n;
  while (true) {
    while (end > 0 && is_space(cps[end - 1])) --end;
    if (end == 0) break;
    if (maxsplit >= 0 && int64_t(parts.size()) == maxsplit) {
      parts.push_back(encode(cps, 0, end));
      break;
    }
    size_t j = end;
    while (j > 0 && !is_space(cps[j - 1])) --j;
    parts.push_back(encode(cps, j, end));
    end = j;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(const std::string& s, bool keepends) {
  const Codepoints cps = decode(s);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (!is_line_break(cps[i])) continue;
    size_t end_of_break = i + 1;
    if (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') end_of_break = i + 2;
    lines.push_back(encode(cps, start, keepends ? end_of_break : i));
    start = end_of_break;
    i = end_of_break - 1;
  }
  if (start < cps.size()) lines.push_back(encode(cps, start, cps.size()));
  return lines;
}

std::string replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count) {
  if (replacement.size() > old.size()) {  // refuse before building a huge string
    const int64_t found = py::count(s, old);
    const uint64_t n = uint64_t(count < 0 ? found : std::min(found, count));
    uint64_t growth = 0;
    if (__builtin_mul_overflow(n, uint64_t(replacement.size() - old.size()), &growth)) growth = UINT64_MAX - s.size();
    check_string_size(s.size() + growth);
  }
  std::string out;
  int64_t done = 0;
  if (old.empty()) {
    const Codepoints cps = decode(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      if (i < cps.size()) text::append_utf8(out, cps[i]);
    }
    return out;
  }
  size_t pos = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old, pos);
    if (at == std::string::npos) break;
    out.append(s, pos, at - pos);
    out += replacement;
    pos = at + old.size();
    ++done;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

int64_t find(const std::string& s, const std::string& sub, bool from_right) {
  const size_t at = from_right ? s.rfind(sub) : s.find(sub);
  return at == std::string::npos ? -1 : int64_t(codepoints_before(s, at));
}

int64_t count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return int64_t(length(s)) + 1;
  int64_t n = 0;
  for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++n;
  return n;
}

std::string upper(const std::string& s) {
  std::string out;
  for (uint32_t cp : decode(s)) append_upper(out, cp);
  return out;
}

std::string lower(const std::string& s) { return text::to_lower(s); }

std::string capitalize(const std::string& s) {
  const Codepoints cps = decode(s);
  if (cps.empty()) return "";
  std::string out;
  append_title(out, cps[0]);
  return out + lower(encode(cps, 1, cps.size()));
}

std::string title(const std::string& s) {
  std::string out;
  bool previous_cased = false;
  for (uint32_t cp : decode(s)) {
    if (previous_cased) out += lower_cp(cp);
    else append_title(out, cp);
    previous_cased = is_cased(cp);
  }
  return out;
}

std::string swapcase(const std::string& s) {
  std::string out;
  for (uint32_t cp : decode(s)) {
    const auto c = category(cp);
    if (c == UTF8PROC_CATEGORY_LU) out += lower_cp(cp);
    else if (c == UTF8PROC_CATEGORY_LL) append_upper(out, cp);
    else text::append_utf8(out, cp);
  }
  return out;
}

std::string jinja_title(const std::string& s) {
  auto separator = [](uint32_t cp) {
    return is_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
  };
  std::string out;
  bool word_start = true;
  for (uint32_t cp : decode(s)) {
    if (separator(cp)) {
      text::append_utf8(out, cp);
      word_start = true;
    } else if (word_start) {
      append_upper(out, cp);
      word_start = false;
    } else {
      out += lower_cp(cp);
    }
  }
  return out;
}

// str.islower / str.isupper: some cased character, and none of the other case (or title case).
static bool all_cased_are(const std::string& s, utf8proc_category_t wanted) {
  bool any_cased = false;
  for (uint32_t cp : decode(s)) {
    const auto c = category(cp);
    if (is_cased(cp) && c != wanted) return false;
    any_cased = any_cased || c == wanted;
  }
  return any_cased;
}

bool is_lower(const std::string& s) { return all_cased_are(s, UTF8PROC_CATEGORY_LL); }
bool is_upper(const std::string& s) { return all_cased_are(s, UTF8PROC_CATEGORY_LU); }

bool is_digit(const std::string& s) {
  return all_chars(s, [](uint32_t cp) { return category(cp) == UTF8PROC_CATEGORY_ND; });
}

bool is_alpha(const std::string& s) { return all_chars(s, is_letter_cp); }

bool is_alnum(const std::string& s) {
  return all_chars(s, [](uint32_t cp) {
    const auto c = category(cp);
    return is_letter_cp(cp) || c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
  });
}

bool is_space_string(const std::string& s) { return all_chars(s, is_space); }

double overflowed_float(const std::string& literal) {
  const bool negative = !literal.empty() && literal[0] == '-';
  const size_t e = literal.find_first_of("eE");
  const bool tiny = e != std::string::npos && e + 1 < literal.size() && literal[e + 1] == '-';
  const double magnitude = tiny ? 0.0 : HUGE_VAL;
  return negative ? -magnitude : magnitude;
}

std::vector<size_t> slice_indices(int64_t n, std::optional<int64_t> start, std::optional<int64_t> stop,
                                  std::optional<int64_t> step) {
  int64_t st = step.value_or(1);
  if (st == 0) problem("slice step cannot be zero");
  st = std::clamp<int64_t>(st, -(n + 1), n + 1);  // a larger step selects the same indices
  const int64_t lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1;
  auto adjust = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) x = x < -n ? lower : x + n;
    return std::min(x, upper);
  };
  const int64_t from = adjust(start, st > 0 ? lower : upper);
  const int64_t to = adjust(stop, st > 0 ? upper : lower);
  std::vector<size_t> out;
  for (int64_t i = from; st > 0 ? i < to : i > to; i += st) out.push_back(size_t(i));
  return out;
}

}  // namespace edgerun::jinja::py
