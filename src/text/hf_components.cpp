// Normalizers and pre-tokenizers of a Hugging Face tokenizer.json (see hf_components.h).
#include "text/hf_components.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "text/hf_json.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace edgerun::text::hf {

void JsonPath::fail(const std::string& problem) const { edgerun::fail(where(), problem); }

namespace detail {

const json& member(const json& j, const std::string& key, const JsonPath& at) {
  if (!j.is_object()) at.fail("expected a JSON object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) (at / key).fail("missing");
  return *it;
}

bool has(const json& j, const std::string& key) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null();
}

std::string get_string(const json& j, const std::string& key, const JsonPath& at) {
  const json& v = member(j, key, at);
  if (!v.is_string()) (at / key).fail("expected a string, got " + v.dump());
  return v.get<std::string>();
}

std::string get_string_or(const json& j, const std::string& key, const std::string& fallback,
                          const JsonPath& at) {
  return has(j, key) ? get_string(j, key, at) : fallback;
}

bool get_bool_or(const json& j, const std::string& key, bool fallback, const JsonPath& at) {
  if (!has(j, key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_boolean()) (at / key).fail("expected a boolean, got " + v.dump());
  return v.get<bool>();
}

int64_t get_int_or(const json& j, const std::string& key, int64_t fallback, const JsonPath& at) {
  if (!has(j, key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number_integer()) (at / key).fail("expected an integer, got " + v.dump());
  return v.get<int64_t>();
}

const json& get_array(const json& j, const std::string& key, const JsonPath& at) {
  const json& v = member(j, key, at);
  if (!v.is_array()) (at / key).fail("expected an array");
  return v;
}

std::string type_of(const json& j, const JsonPath& at) { return get_string(j, "type", at); }

uint32_t get_char(const json& j, const std::string& key, const JsonPath& at) {
  const std::string s = get_string(j, key, at);
  const std::vector<uint32_t> cps = utf8_codepoints(s);
  if (cps.size() != 1) (at / key).fail("expected a single character, got '" + s + "'");
  return cps[0];
}

std::vector<std::pair<size_t, size_t>> literal_matches(std::string_view s, std::string_view lit) {
  std::vector<std::pair<size_t, size_t>> out;
  if (lit.empty()) return out;
  for (size_t pos = s.find(lit); pos != std::string_view::npos;
       pos = s.find(lit, pos + lit.size())) {
    out.emplace_back(pos, pos + lit.size());
  }
  return out;
}

Pattern parse_pattern(const json& j, const std::string& key, const JsonPath& at) {
  const json& p = member(j, key, at);
  Pattern out;
  if (p.is_object() && p.contains("Regex") && p.at("Regex").is_string()) {
    out.regex = std::make_unique<Regex>(p.at("Regex").get<std::string>(), (at / key).where());
  } else if (p.is_object() && p.contains("String") && p.at("String").is_string()) {
    out.literal = p.at("String").get<std::string>();
  } else {
    (at / key).fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
  return out;
}

std::string replace_all(const Pattern& pattern, const std::string& content, const std::string& s) {
  std::string out;
  size_t prev = 0;
  for (auto [b, e] : pattern.find(s)) {
    out.append(s, prev, b - prev);
    out += content;
    prev = e;
  }
  out.append(s, prev, std::string::npos);
  return out;
}

Prepend parse_prepend(const json& j, const JsonPath& at) {
  Prepend scheme = Prepend::Always;
  if (has(j, "prepend_scheme")) {
    const std::string s = get_string(j, "prepend_scheme", at);
    if (s == "always")
      scheme = Prepend::Always;
    else if (s == "first")
      scheme = Prepend::First;
    else if (s == "never")
      scheme = Prepend::Never;
    else
      (at / "prepend_scheme").fail("unknown prepend_scheme '" + s + "'");
  }
  // Older files: add_prefix_space=false means never.
  if (has(j, "add_prefix_space") && !get_bool_or(j, "add_prefix_space", true, at))
    scheme = Prepend::Never;
  return scheme;
}

}  // namespace detail

namespace {

using namespace detail;

// ---- splitting with the tokenizers crate's delimiter behaviours ------------------------------

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& s, const JsonPath& at) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  at.fail("unknown split behavior '" + s + "'");
}

struct Span {
  size_t begin, end;
  bool match;
};

// Turns match offsets into spans covering the whole string.
std::vector<Span> cover(const std::vector<std::pair<size_t, size_t>>& matches, size_t size) {
  std::vector<Span> spans;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (prev < b) spans.push_back({prev, b, false});
    spans.push_back({b, e, true});
    prev = e;
  }
  if (prev < size) spans.push_back({prev, size, false});
  return spans;
}

// Every character satisfying `pred` is its own match.
template <class Pred>
std::vector<std::pair<size_t, size_t>> char_matches(std::string_view s, Pred pred) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    const size_t n = utf8_next(s, i, &cp);
    if (pred(cp)) out.emplace_back(i, i + n);
    i += n;
  }
  return out;
}

void split_piece(const Piece& piece, std::vector<Span> spans, Behavior behavior, bool invert,
                 Pieces& out) {
  if (invert) {
    for (Span& s : spans) s.match = !s.match;
  }
  std::vector<Span> merged;
  bool prev_match = false;
  switch (behavior) {
    case Behavior::Isolated:
      merged = spans;
      for (Span& s : merged) s.match = false;
      break;
    case Behavior::Removed:
      merged = spans;
      break;
    case Behavior::Contiguous:
      for (const Span& s : spans) {
        if (!merged.empty() && s.match == prev_match) {
          merged.back().end = s.end;
        } else {
          merged.push_back({s.begin, s.end, false});
        }
        prev_match = s.match;
      }
      break;
    case Behavior::MergedWithPrevious:
      for (const Span& s : spans) {
        if (s.match && !prev_match && !merged.empty()) {
          merged.back().end = s.end;
        } else {
          merged.push_back({s.begin, s.end, false});
        }
        prev_match = s.match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->match && !prev_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back({it->begin, it->end, false});
        }
        prev_match = it->match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
  }
  for (const Span& s : merged) {
    if (s.match || s.end <= s.begin) continue;  // removed delimiters and empty splits vanish
    out.push_back(Piece{piece.text.substr(s.begin, s.end - s.begin), piece.first && s.begin == 0});
  }
}

template <class MatchFn>
void split_all(Pieces& pieces, Behavior behavior, bool invert, MatchFn matches) {
  Pieces out;
  out.reserve(pieces.size());
  for (const Piece& p : pieces) {
    if (p.text.empty()) continue;
    split_piece(p, cover(matches(p.text), p.text.size()), behavior, invert, out);
  }
  pieces = std::move(out);
}

// ---- normalizers ----------------------------------------------------------------------------

class SequenceNormalizer : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> parts;
  std::string normalize(std::string s) const override {
    for (const auto& n : parts) s = n->normalize(std::move(s));
    return s;
  }
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormForm f) : form(f) {}
  NormForm form;
  std::string normalize(std::string s) const override { return text::normalize(s, form); }
};

class LowercaseNormalizer : public Normalizer {
 public:
  std::string normalize(std::string s) const override { return to_lower(s); }
};

class ReplaceNormalizer : public Normalizer {
 public:
  Pattern pattern;
  std::string content;
  std::string normalize(std::string s) const override { return replace_all(pattern, content, s); }
};

class PrependNormalizer : public Normalizer {
 public:
  std::string prepend;
  std::string normalize(std::string s) const override { return s.empty() ? s : prepend + s; }
};

class StripNormalizer : public Normalizer {
 public:
  bool left = true, right = true;
  std::string normalize(std::string s) const override {
    const std::vector<uint32_t> cps = utf8_codepoints(s);
    size_t b = 0, e = cps.size();
    if (left)
      while (b < e && is_whitespace(cps[b])) ++b;
    if (right)
      while (e > b && is_whitespace(cps[e - 1])) --e;
    std::string out;
    for (size_t i = b; i < e; ++i) append_utf8(out, cps[i]);
    return out;
  }
};

std::string strip_marks(const std::string& s) {
  std::string out;
  for (uint32_t cp : utf8_codepoints(s)) {
    if (!is_mark(cp)) append_utf8(out, cp);
  }
  return out;
}

class StripAccentsNormalizer : public Normalizer {
 public:
  std::string normalize(std::string s) const override { return strip_marks(s); }
};

bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

class BertNormalizer : public Normalizer {
 public:
  bool clean_text = true, chinese = true, strip_accents = false, lowercase = true;
  std::string normalize(std::string s) const override {
    std::string out;
    for (uint32_t cp : utf8_codepoints(s)) {
      if (clean_text) {
        if (cp == 0 || cp == kReplacementChar || is_control(cp)) continue;
        if (is_whitespace(cp)) cp = ' ';
      }
      if (chinese && is_cjk(cp)) {
        out += ' ';
        append_utf8(out, cp);
        out += ' ';
      } else {
        append_utf8(out, cp);
      }
    }
    if (strip_accents) out = strip_marks(text::normalize(out, NormForm::NFD));
    if (lowercase) out = to_lower(out);
    return out;
  }
};

class ByteLevelNormalizer : public Normalizer {
 public:
  std::string normalize(std::string s) const override { return bytes_to_byte_level(s); }
};

// ---- pre-tokenizers -------------------------------------------------------------------------

const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class SequencePreTokenizer : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  void pre_tokenize(Pieces& pieces) const override {
    for (const auto& p : parts) p->pre_tokenize(pieces);
  }
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  Pattern pattern;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
  void pre_tokenize(Pieces& pieces) const override {
    split_all(pieces, behavior, invert, [&](std::string_view s) { return pattern.find(s); });
  }
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  bool add_prefix_space = true;
  std::unique_ptr<Regex> regex;  // null when use_regex is false
  void pre_tokenize(Pieces& pieces) const override {
    if (add_prefix_space) {
      for (Piece& p : pieces) {
        if (!p.text.empty() && p.text[0] != ' ') p.text.insert(0, 1, ' ');
      }
    }
    if (regex)
      split_all(pieces, Behavior::Isolated, false,
                [&](std::string_view s) { return regex->find_all(s); });
    for (Piece& p : pieces) p.text = bytes_to_byte_level(p.text);
  }
};

class DigitsPreTokenizer : public PreTokenizer {
 public:
  bool individual = false;
  void pre_tokenize(Pieces& pieces) const override {
    split_all(pieces, individual ? Behavior::Isolated : Behavior::Contiguous, false,
              [](std::string_view s) { return char_matches(s, is_number); });
  }
};

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  std::string replacement;
  Prepend prepend = Prepend::Always;
  bool split = true;
  void pre_tokenize(Pieces& pieces) const override {
    for (Piece& p : pieces) {
      std::string s;
      for (char c : p.text) {
        if (c == ' ')
          s += replacement;
        else
          s += c;
      }
      const bool starts = s.compare(0, replacement.size(), replacement) == 0;
      if (!starts && (prepend == Prepend::Always || (prepend == Prepend::First && p.first))) {
        s.insert(0, replacement);
      }
      p.text = std::move(s);
    }
    if (split) {
      split_all(pieces, Behavior::MergedWithNext, false,
                [&](std::string_view s) { return literal_matches(s, replacement); });
    }
  }
};

class WhitespacePreTokenizer : public PreTokenizer {
 public:
  // \w+|[^\w\s]+ kept, whitespace removed.
  Regex regex{R"(\w+|[^\w\s]+)", "Whitespace pre-tokenizer"};
  void pre_tokenize(Pieces& pieces) const override {
    split_all(pieces, Behavior::Removed, true,
              [&](std::string_view s) { return regex.find_all(s); });
  }
};

class WhitespaceSplitPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(Pieces& pieces) const override {
    split_all(pieces, Behavior::Removed, false,
              [](std::string_view s) { return char_matches(s, is_whitespace); });
  }
};

bool is_any_punctuation(uint32_t cp) {
  return (cp < 0x80 && std::ispunct(static_cast<int>(cp))) || is_punctuation(cp);
}

class PunctuationPreTokenizer : public PreTokenizer {
 public:
  Behavior behavior = Behavior::Isolated;
  void pre_tokenize(Pieces& pieces) const override {
    split_all(pieces, behavior, false,
              [](std::string_view s) { return char_matches(s, is_any_punctuation); });
  }
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void pre_tokenize(Pieces& pieces) const override {
    split_all(pieces, Behavior::Removed, false,
              [](std::string_view s) { return char_matches(s, is_whitespace); });
    split_all(pieces, Behavior::Isolated, false,
              [](std::string_view s) { return char_matches(s, is_any_punctuation); });
  }
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const JsonPath& at) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, at);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    const json& list = get_array(j, "normalizers", at);
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto n = make_normalizer(list[i], (at / "normalizers")[i]))
        seq->parts.push_back(std::move(n));
    }
    return seq;
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Replace") {
    auto r = std::make_unique<ReplaceNormalizer>();
    r->pattern = parse_pattern(j, "pattern", at);
    r->content = get_string(j, "content", at);
    return r;
  }
  if (type == "Prepend") {
    auto p = std::make_unique<PrependNormalizer>();
    p->prepend = get_string(j, "prepend", at);
    return p;
  }
  if (type == "Strip") {
    auto s = std::make_unique<StripNormalizer>();
    s->left = get_bool_or(j, "strip_left", true, at);
    s->right = get_bool_or(j, "strip_right", true, at);
    return s;
  }
  if (type == "BertNormalizer") {
    auto b = std::make_unique<BertNormalizer>();
    b->clean_text = get_bool_or(j, "clean_text", true, at);
    b->chinese = get_bool_or(j, "handle_chinese_chars", true, at);
    b->lowercase = get_bool_or(j, "lowercase", true, at);
    b->strip_accents = get_bool_or(j, "strip_accents", b->lowercase, at);
    return b;
  }
  (at / "type").fail("unsupported normalizer type '" + type + "'");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const JsonPath& at) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, at);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    const json& list = get_array(j, "pretokenizers", at);
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto p = make_pre_tokenizer(list[i], (at / "pretokenizers")[i]))
        seq->parts.push_back(std::move(p));
    }
    return seq;
  }
  if (type == "Split") {
    auto s = std::make_unique<SplitPreTokenizer>();
    s->pattern = parse_pattern(j, "pattern", at);
    s->behavior = parse_behavior(get_string(j, "behavior", at), at / "behavior");
    s->invert = get_bool_or(j, "invert", false, at);
    return s;
  }
  if (type == "ByteLevel") {
    auto b = std::make_unique<ByteLevelPreTokenizer>();
    b->add_prefix_space = get_bool_or(j, "add_prefix_space", true, at);
    if (get_bool_or(j, "use_regex", true, at))
      b->regex = std::make_unique<Regex>(kGpt2Pattern, at.where());
    return b;
  }
  if (type == "Digits") {
    auto d = std::make_unique<DigitsPreTokenizer>();
    d->individual = get_bool_or(j, "individual_digits", false, at);
    return d;
  }
  if (type == "Metaspace") {
    auto m = std::make_unique<MetaspacePreTokenizer>();
    m->replacement = utf8_encode(get_char(j, "replacement", at));
    m->prepend = parse_prepend(j, at);
    m->split = get_bool_or(j, "split", true, at);
    return m;
  }
  if (type == "CharDelimiterSplit") {
    auto s = std::make_unique<SplitPreTokenizer>();
    s->pattern.literal = utf8_encode(get_char(j, "delimiter", at));
    s->behavior = Behavior::Removed;
    return s;
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Punctuation") {
    auto p = std::make_unique<PunctuationPreTokenizer>();
    p->behavior = parse_behavior(get_string_or(j, "behavior", "Isolated", at), at / "behavior");
    return p;
  }
  (at / "type").fail("unsupported pre_tokenizer type '" + type + "'");
}

}  // namespace edgerun::text::hf
