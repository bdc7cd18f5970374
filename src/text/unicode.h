// UTF-8 and Unicode helpers shared by the tokenizers: decoding with the standard "maximal
// subpart" replacement (what Rust's String::from_utf8_lossy, JS TextDecoder and Python's
// errors="replace" all do), character classes, normalization forms and the GPT-2 byte↔char map.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgerun::text {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes the code point at s[i]. Returns the number of bytes consumed (>= 1 when i < size);
// an ill-formed sequence yields U+FFFD and consumes its maximal subpart only.
size_t utf8_next(std::string_view s, size_t i, uint32_t* cp);
// Length of the UTF-8 sequence that starts with lead byte `c` (1 for invalid leads).
size_t utf8_len(unsigned char c);
void append_utf8(std::string& out, uint32_t cp);
std::string utf8_encode(uint32_t cp);
// Replaces every ill-formed sequence by U+FFFD.
std::string utf8_lossy(std::string_view s);
bool utf8_valid(std::string_view s);
std::vector<uint32_t> utf8_codepoints(std::string_view s);

// Character classes as the reference implementations define them.
bool is_letter(uint32_t cp);       // \p{L}
bool is_number(uint32_t cp);       // \p{N} (Rust char::is_numeric)
bool is_whitespace(uint32_t cp);   // White_Space (Rust char::is_whitespace)
bool is_punctuation(uint32_t cp);  // \p{P}
bool is_mark(uint32_t cp);         // \p{M}
bool is_control(uint32_t cp);      // Cc/Cf etc. as BERT's clean_text understands it
bool is_word_char(uint32_t cp);    // regex \w

enum class NormForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, NormForm form);
std::string to_lower(std::string_view s);

// GPT-2 byte-level alphabet: every byte maps to one printable code point.
const std::string& byte_to_unicode(uint8_t b);
// Inverse map; returns -1 when `cp` is not in the byte-level alphabet.
int unicode_to_byte(uint32_t cp);
// Maps each byte of `s` to its byte-level character.
std::string bytes_to_byte_level(std::string_view s);

}  // namespace edgerun::text
