#include "text/jinja/lexer.h"

#include <charconv>
#include <cstring>

#include "core/error.h"
#include "text/jinja/pystring.h"
#include "text/unicode.h"

namespace edgerun::jinja {

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
bool is_tag_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Jinja2 turns \r\n and \r into \n everywhere and drops one trailing newline.
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Length of the Unicode whitespace run starting at `pos` (Python's \s*).
size_t whitespace_run(const std::string& s, size_t pos) {
  size_t i = pos;
  while (i < s.size()) {
    uint32_t cp = 0;
    const size_t n = text::utf8_next(s, i, &cp);
    if (!py::is_space(cp)) break;
    i += n;
  }
  return i - pos;
}

class Lexer {
 public:
  Lexer(const std::string& source, const std::string& name) : src_(normalize_newlines(source)), name_(name) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t at = next_tag(pos_);
      if (at == std::string::npos) {
        emit_text(src_.substr(pos_), line_);
        count_lines(pos_, src_.size());
        pos_ = src_.size();
        break;
      }
      const char kind = src_[at + 1];
      const char sign = at + 2 < src_.size() && (src_[at + 2] == '-' || src_[at + 2] == '+') ? src_[at + 2] : 0;
      size_t raw_end = 0;
      const bool raw = kind == '%' && match_raw_begin(at, raw_end);
      const int text_line = line_;
      emit_text(text_before_tag(src_.substr(pos_, at - pos_), sign, kind != '{'), text_line);
      count_lines(pos_, at);
      pos_ = at + 2 + (sign ? 1 : 0);
      if (raw) {
        lex_raw(raw_end);
      } else if (kind == '#') {
        lex_comment();
      } else {
        lex_tag(kind == '{' ? TokenKind::VariableBegin : TokenKind::BlockBegin);
      }
    }
    tokens_.push_back(Token{TokenKind::End, "", 0, 0, line_});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(const std::string& message) const {
    fail(name_ + " line " + std::to_string(line_), message);
  }

  size_t next_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return std::string::npos;
  }

  void count_lines(size_t from, size_t to) {
    for (size_t i = from; i < to && i < src_.size(); ++i) line_ += src_[i] == '\n';
  }

  void emit_text(std::string text, int line) {
    if (!text.empty()) tokens_.push_back(Token{TokenKind::Text, std::move(text), 0, 0, line});
  }

  // "-" strips all whitespace before the tag; otherwise lstrip_blocks removes spaces between the
  // start of the line and a block or comment tag ("+" opts out).
  std::string text_before_tag(std::string text, char sign, bool block_or_comment) const {
    if (sign == '-') return py::strip(text, py::Side::Right);
    if (sign == '+' || !block_or_comment) return text;
    const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if ((line_start > 0 || line_starting_) && line_start < text.size() &&
        py::is_space_string(text.substr(line_start)))
      text.resize(line_start);
    return text;
  }

  // After a tag: "-" strips the following whitespace, "+" keeps it, and trim_blocks drops one
  // newline after block and comment tags.
  void after_tag(char end_sign, bool trim_newline) {
    if (end_sign == '-') {
      const size_t n = whitespace_run(src_, pos_);
      count_lines(pos_, pos_ + n);
      pos_ += n;
    } else if (end_sign != '+' && trim_newline && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
  }

  // `{% raw %}`: the sign and whitespace around the word raw, then %} (no newline trimming).
  bool match_raw_begin(size_t at, size_t& end) const {
    size_t i = at + 2;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
    while (i < src_.size() && is_tag_space(src_[i])) ++i;
    if (src_.compare(i, 3, "raw") != 0) return false;
    i += 3;
    while (i < src_.size() && is_tag_space(src_[i])) ++i;
    if (src_.compare(i, 3, "-%}") == 0) {
      end = i + 3 + whitespace_run(src_, i + 3);
      return true;
    }
    if (src_.compare(i, 2, "%}") == 0) {
      end = i + 2;
      return true;
    }
    return false;
  }

  void lex_raw(size_t content_begin) {
    count_lines(pos_, content_begin);
    pos_ = content_begin;
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
    for (size_t at = src_.find("{%", pos_); at != std::string::npos; at = src_.find("{%", at + 1)) {
      size_t i = at + 2;
      const char sign = i < src_.size() && (src_[i] == '-' || src_[i] == '+') ? src_[i] : 0;
      if (sign) ++i;
      while (i < src_.size() && is_tag_space(src_[i])) ++i;
      if (src_.compare(i, 6, "endraw") != 0) continue;
      i += 6;
      while (i < src_.size() && is_tag_space(src_[i])) ++i;
      char end_sign = 0;
      if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) end_sign = src_[i++];
      if (src_.compare(i, 2, "%}") != 0) continue;
      const int text_line = line_;
      emit_text(text_before_tag(src_.substr(pos_, at - pos_), sign, true), text_line);
      count_lines(pos_, i + 2);
      pos_ = i + 2;
      after_tag(end_sign, true);
      return;
    }
    error("'raw' block is never closed (expected '{% endraw %}')");
  }

  void lex_comment() {
    for (size_t i = pos_; i + 1 < src_.size(); ++i) {
      char end_sign = 0;
      size_t end = 0;
      if ((src_[i] == '-' || src_[i] == '+') && src_.compare(i + 1, 2, "#}") == 0) {
        end_sign = src_[i];
        end = i + 3;
      } else if (src_.compare(i, 2, "#}") == 0) {
        end = i + 2;
      } else {
        continue;
      }
      count_lines(pos_, end);
      pos_ = end;
      after_tag(end_sign, true);
      return;
    }
    error("comment is never closed (expected '#}')");
  }

  // Expression tokens up to the closing }} or %} (ignored while brackets are open, as in Jinja2).
  void lex_tag(TokenKind begin) {
    const bool block = begin == TokenKind::BlockBegin;
    const int begin_line = line_;
    tokens_.push_back(Token{begin, "", 0, 0, line_});
    int depth = 0;
    while (true) {
      while (pos_ < src_.size() && is_tag_space(src_[pos_])) line_ += src_[pos_++] == '\n';
      if (pos_ >= src_.size()) {
        line_ = begin_line;
        error(std::string("tag is never closed (expected '") + (block ? "%}" : "}}") + "')");
      }
      if (depth == 0) {
        const char* close = block ? "%}" : "}}";
        char end_sign = 0;
        size_t len = 0;
        if ((src_[pos_] == '-' || (block && src_[pos_] == '+')) && src_.compare(pos_ + 1, 2, close) == 0) {
          end_sign = src_[pos_];
          len = 3;
        } else if (src_.compare(pos_, 2, close) == 0) {
          len = 2;
        }
        if (len) {
          tokens_.push_back(Token{block ? TokenKind::BlockEnd : TokenKind::VariableEnd, "", 0, 0, line_});
          pos_ += len;
          after_tag(end_sign, block);
          return;
        }
      }
      const char c = src_[pos_];
      if (is_name_start(c)) {
        const size_t start = pos_;
        while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
        tokens_.push_back(Token{TokenKind::Name, src_.substr(start, pos_ - start), 0, 0, line_});
      } else if (is_digit(c)) {
        lex_number();
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else {
        lex_operator(depth);
      }
    }
  }

  void lex_operator(int& depth) {
    static const char* const two_char[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : two_char) {
      if (src_.compare(pos_, 2, op) == 0) {
        tokens_.push_back(Token{TokenKind::Operator, op, 0, 0, line_});
        pos_ += 2;
        return;
      }
    }
    const char c = src_[pos_];
    if (!std::strchr("+-*/%~[](){}<>=.:|,", c) || c == 0) {
      uint32_t cp = 0;
      text::utf8_next(src_, pos_, &cp);
      error("unexpected character " + quote_for_message(text::utf8_encode(cp)));
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    tokens_.push_back(Token{TokenKind::Operator, std::string(1, c), 0, 0, line_});
    ++pos_;
  }

  // Digits with "_" separators; 0x/0o/0b integers; floats need digits after the point or an exponent.
  void lex_number() {
    const size_t start = pos_;
    auto digits = [&](int base) {
      std::string out;
      while (pos_ < src_.size()) {
        const char c = src_[pos_];
        const int v = hex_value(c);
        if (c == '_' && pos_ + 1 < src_.size() && hex_value(src_[pos_ + 1]) >= 0 && hex_value(src_[pos_ + 1]) < base) {
          ++pos_;
          continue;
        }
        if (v < 0 || v >= base) break;
        out += c;
        ++pos_;
      }
      return out;
    };
    if (src_[pos_] == '0' && pos_ + 1 < src_.size() && std::strchr("xXoObB", src_[pos_ + 1])) {
      const char p = char(src_[pos_ + 1] | 0x20);
      const int base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
      pos_ += 2;
      push_integer(digits(base), base, start);
      return;
    }
    std::string text = digits(10);
    bool is_float = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && is_digit(src_[pos_ + 1])) {
      ++pos_;
      text += "." + digits(10);
      is_float = true;
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t k = pos_ + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      if (k < src_.size() && is_digit(src_[k])) {
        text += 'e';
        if (src_[pos_ + 1] == '-') text += '-';
        pos_ = k;
        text += digits(10);
        is_float = true;
      }
    }
    if (!is_float) {
      push_integer(text, 10, start);
      return;
    }
    Token t{TokenKind::Float, src_.substr(start, pos_ - start), 0, 0, line_};
    if (std::from_chars(text.data(), text.data() + text.size(), t.number).ec == std::errc::result_out_of_range)
      t.number = py::overflowed_float(text);
    tokens_.push_back(t);
  }

  void push_integer(const std::string& digits, int base, size_t start) {
    Token t{TokenKind::Integer, src_.substr(start, pos_ - start), 0, 0, line_};
    const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.integer, base);
    if (digits.empty() || res.ec != std::errc()) error("invalid or too large integer " + quote_for_message(t.text));
    tokens_.push_back(t);
  }

  // A quoted string with Python's escapes (\n \t \\ \' \" \xhh \uXXXX \UXXXXXXXX, octal); unknown
  // escapes are kept as written, as Python's unicode-escape decoding does.
  void lex_string() {
    const char quote = src_[pos_];
    const int start_line = line_;
    std::string value;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) {
        line_ = start_line;
        error("string literal is never closed");
      }
      const char c = src_[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\' || i + 1 >= src_.size()) {
        value += c;
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n': ++line_; break;  // line continuation
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'v': value += '\v'; break;
        case 'x': value += hex_escape(i, 2); break;
        case 'u': value += hex_escape(i, 4); break;
        case 'U': value += hex_escape(i, 8); break;
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = uint32_t(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) cp = cp * 8 + uint32_t(src_[i++] - '0');
            text::append_utf8(value, cp);
          } else {
            value += '\\';
            value += e;
          }
      }
    }
    tokens_.push_back(Token{TokenKind::String, std::move(value), 0, 0, start_line});
    pos_ = i + 1;
  }

  std::string hex_escape(size_t& i, int n) {
    uint32_t cp = 0;
    for (int k = 0; k < n; ++k) {
      const int v = i < src_.size() ? hex_value(src_[i]) : -1;
      if (v < 0) error("truncated \\" + std::string(n == 2 ? "x" : n == 4 ? "u" : "U") + " escape in a string literal");
      cp = cp * 16 + uint32_t(v);
      ++i;
    }
    if (cp > 0x10FFFF) error("string escape beyond U+10FFFF");
    // A UTF-16 surrogate pair written as two \u escapes is one character.
    if (n == 4 && cp >= 0xD800 && cp <= 0xDBFF && src_.compare(i, 2, "\\u") == 0) {
      uint32_t low = 0;
      bool ok = i + 6 <= src_.size();
      for (size_t k = i + 2; ok && k < i + 6; ++k) {
        const int v = hex_value(src_[k]);
        ok = v >= 0;
        low = low * 16 + uint32_t(v < 0 ? 0 : v);
      }
      if (ok && low >= 0xDC00 && low <= 0xDFFF) {
        i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
    }
    return text::utf8_encode(cp);
  }

  std::string src_;
  const std::string& name_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& template_name) {
  return Lexer(source, template_name).run();
}

}  // namespace edgerun::jinja
