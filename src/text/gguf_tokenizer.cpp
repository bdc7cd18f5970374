// Tokenizers embedded in GGUF metadata, behaving like llama.cpp's llama-vocab:
//  - "gpt2": byte-level BPE; the text is split by the regex list chosen from
//    tokenizer.ggml.pre, each piece is byte-mapped and merged by rank.
//  - "llama": SentencePiece; spaces become U+2581, a space is prepended to every text fragment
//    that starts the input or follows a special token, and adjacent symbols are merged by
//    highest token score; characters outside the vocabulary fall back to <0xNN> byte tokens.
// Control / user-defined / unknown tokens written in the text are matched first, longest
// token first, as llama.cpp does with parse_special=true.
#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include "text/gguf_token_type.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "text/bpe.h"
#include "text/regex.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace edgerun {

namespace {


// Split regexes per tokenizer.ggml.pre, applied one after the other (matches and the text
// between them both become pieces). Patterns as llama.cpp runs them.
const char* const kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kTekken =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kGpt4o =
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct PreConfig {
  std::vector<std::string> regexes;
  bool clean_spaces = true;
  bool ignore_merges = false;
  bool add_bos = false;
};

bool one_of(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (s == n) return true;
  }
  return false;
}

// Returns false for an unknown pre-tokenizer name.
bool pre_config(const std::string& pre, PreConfig& c) {
  if (pre.empty() || pre == "default") {
    c.regexes = {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"};
  } else if (one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                          "midm-2.0", "lfm2"})) {
    c.regexes = {kLlama3};
    c.ignore_merges = true;
    c.add_bos = true;
  } else if (one_of(pre, {"dbrx", "smaug-bpe"})) {
    c.regexes = {kLlama3};
  } else if (one_of(pre, {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
                          "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jina-v1-en",
                          "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "exaone4"})) {
    c.regexes = {kGpt2};
  } else if (one_of(pre, {"trillion", "granite-docling"})) {
    c.regexes = {kGpt2};
    c.clean_spaces = false;
  } else if (one_of(pre, {"starcoder", "refact", "codeshell", "exaone", "minerva-7b"})) {
    c.regexes = {R"(\p{N})", kGpt2};
  } else if (one_of(pre, {"smollm", "command-r"})) {
    c.regexes = {R"(\p{N})", kGpt2};
    c.clean_spaces = false;
  } else if (one_of(pre, {"qwen2", "deepseek-r1-qwen", "megrez"})) {
    c.regexes = {kQwen2};
    c.clean_spaces = false;
  } else if (one_of(pre, {"stablelm2", "hunyuan"})) {
    c.regexes = {kQwen2};
  } else if (one_of(pre, {"glm4", "chatglm-bpe"})) {
    c.regexes = {kLlama3};
  } else if (pre == "tekken") {
    c.regexes = {kTekken};
    c.clean_spaces = false;
    c.ignore_merges = true;
    c.add_bos = true;
  } else if (one_of(pre, {"gpt-4o", "llama4"})) {
    c.regexes = {kGpt4o};
    c.clean_spaces = false;
  } else if (pre == "falcon") {
    c.regexes = {R"([\p{P}\$\+<=>\^~\|`]+)",
                 R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))",
                 "[0-9][0-9][0-9]"};
  } else if (one_of(pre, {"poro-chat", "bloom", "gpt3-finnish"})) {
    c.regexes = {R"( ?[^(\s|.,!?…。，、।۔،)]+)"};
    c.clean_spaces = pre != "poro-chat";
  } else {
    return false;
  }
  return true;
}

class GgufTokenizer : public Tokenizer {
 public:
  explicit GgufTokenizer(const GgufFile& g);

  std::vector<int32_t> encode(std::string_view text, bool add_special) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  bool is_special(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return false;
    const int32_t t = types_[static_cast<size_t>(id)];
    return t == kGgufTokenControl || t == kGgufTokenUnknown;
  }
  std::string token_bytes(int32_t id) const override {
    std::string bytes;
    append_token_bytes(id, false, bytes);
    return bytes;
  }

 private:
  struct Fragment {
    size_t offset = 0, length = 0;
    int32_t token = -1;  // >= 0: a special token
  };
  std::vector<Fragment> partition(const std::string& text) const;
  void append_token_bytes(int32_t id, bool skip_special, std::string& bytes) const;
  void tokenize_spm(const std::string& text, std::vector<int32_t>& out) const;
  void tokenize_bpe(const std::string& text, std::vector<int32_t>& out) const;
  void bpe_word(const std::string& word, std::vector<int32_t>& out) const;
  int32_t find_token(std::string_view s) const {
    auto it = token_to_id_.find(std::string(s));
    return it == token_to_id_.end() ? -1 : it->second;
  }

  bool spm_ = false;
  std::vector<std::string> tokens_;
  std::vector<float> scores_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::array<int32_t, 256> byte_tokens_{};
  std::vector<int32_t> specials_;  // longest first
  text::BpeMerges merges_;
  std::vector<std::unique_ptr<text::Regex>> regexes_;
  bool ignore_merges_ = false, clean_spaces_ = false, add_space_prefix_ = false;
  bool add_bos_ = false, add_eos_ = false;
  int32_t bos_ = -1, eos_ = -1;
  text::BpeCache cache_;
};

GgufTokenizer::GgufTokenizer(const GgufFile& g) {
  const std::string& path = g.path();
  auto where = [&](const std::string& key) { return path + ": metadata key '" + key + "'"; };
  const std::string model = g.get_string("tokenizer.ggml.model");
  if (model == "llama") {
    spm_ = true;
  } else if (model != "gpt2") {
    fail(where("tokenizer.ggml.model"),
         "unsupported tokenizer model '" + model + "' (supported: llama, gpt2)");
  }
  tokens_ = g.get_string_array("tokenizer.ggml.tokens");
  if (tokens_.empty()) fail(where("tokenizer.ggml.tokens"), "empty vocabulary");
  const size_t n = tokens_.size();
  for (size_t i = 0; i < n; ++i) {
    if (tokens_[i].empty()) tokens_[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
    token_to_id_[tokens_[i]] = static_cast<int32_t>(i);
  }
  auto numeric_array = [&](const std::string& key) -> const std::vector<GgufValue>* {
    const GgufValue* v = g.find(key);
    if (!v) return nullptr;
    if (v->type != GgufType::ARRAY || v->array_type == GgufType::STRING ||
        v->array_type == GgufType::ARRAY || v->array_type == GgufType::BOOL) {
      fail(where(key), "expected an array of numbers");
    }
    if (v->array.size() < n) {
      fail(where(key), "has " + std::to_string(v->array.size()) + " entries for " +
                           std::to_string(n) + " tokens");
    }
    return &v->array;
  };
  scores_.assign(n, 0.0f);
  if (const auto* scores = numeric_array("tokenizer.ggml.scores")) {
    for (size_t i = 0; i < n; ++i)
      scores_[i] = static_cast<float>((*scores)[i].as_float("tokenizer.ggml.scores"));
  }
  types_.assign(n, kGgufTokenNormal);
  if (const auto* types = numeric_array("tokenizer.ggml.token_type")) {
    for (size_t i = 0; i < n; ++i)
      types_[i] = static_cast<int32_t>((*types)[i].as_int("tokenizer.ggml.token_type"));
  }

  // Byte tokens: <0xNN> for SentencePiece, the byte-level character for BPE.
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    const std::string name = spm_ ? std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">"
                                  : text::byte_to_unicode(static_cast<uint8_t>(b));
    int32_t id = find_token(name);
    if (id < 0 && spm_) id = find_token(std::string(1, static_cast<char>(b)));
    byte_tokens_[b] = id;
  }

  PreConfig pre;
  if (spm_) {
    add_space_prefix_ = true;
    add_bos_ = true;
    bos_ = 1, eos_ = 2;
  } else {
    const std::string pre_name = g.get_string_or("tokenizer.ggml.pre", "default");
    if (!pre_config(pre_name, pre))
      fail(where("tokenizer.ggml.pre"), "unsupported pre-tokenizer '" + pre_name + "'");
    for (const std::string& r : pre.regexes)
      regexes_.push_back(std::make_unique<text::Regex>(r, where("tokenizer.ggml.pre")));
    ignore_merges_ = pre.ignore_merges;
    clean_spaces_ = pre.clean_spaces;
    add_bos_ = pre.add_bos;
    bos_ = eos_ = 11;

    const std::vector<std::string> merges = g.get_string_array("tokenizer.ggml.merges");
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string& m = merges[i];
      const std::string at = where("tokenizer.ggml.merges") + "[" + std::to_string(i) + "]";
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos) fail(at, "expected \"left right\", got '" + m + "'");
      const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
      const int32_t ia = find_token(a), ib = find_token(b), im = find_token(a + b);
      if (ia < 0) fail(at, "token '" + a + "' is not in the vocabulary");
      if (ib < 0) fail(at, "token '" + b + "' is not in the vocabulary");
      if (im < 0) fail(at, "merged token '" + a + b + "' is not in the vocabulary");
      merges_.add(ia, ib, im, static_cast<int32_t>(i), false);
    }
  }
  add_space_prefix_ = g.get_bool_or("tokenizer.ggml.add_space_prefix", add_space_prefix_);
  add_bos_ = g.get_bool_or("tokenizer.ggml.add_bos_token", add_bos_);
  add_eos_ = g.get_bool_or("tokenizer.ggml.add_eos_token", add_eos_);
  // Out-of-range ids (e.g. 0xFFFFFFFF for "none") disable the token, as in llama.cpp.
  auto special_id = [&](const char* key, int32_t fallback) -> int32_t {
    const int64_t v = g.find(key) ? g.get_int(key) : fallback;
    return v >= 0 && v < static_cast<int64_t>(n) ? static_cast<int32_t>(v) : -1;
  };
  bos_ = special_id("tokenizer.ggml.bos_token_id", bos_);
  eos_ = special_id("tokenizer.ggml.eos_token_id", eos_);

  for (size_t i = 0; i < n; ++i) {
    const int32_t t = types_[i];
    if (t == kGgufTokenControl || t == kGgufTokenUserDefined || t == kGgufTokenUnknown)
      specials_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    return tokens_[static_cast<size_t>(a)].size() > tokens_[static_cast<size_t>(b)].size();
  });
}

// llama.cpp's tokenizer_st_partition: each special token in turn (longest first) splits every
// remaining text fragment at all of its occurrences.
std::vector<GgufTokenizer::Fragment> GgufTokenizer::partition(const std::string& text) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back(Fragment{0, text.size(), -1});
  for (int32_t id : specials_) {
    const std::string& tok = tokens_[static_cast<size_t>(id)];
    if (text.find(tok) == std::string::npos) continue;
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view region(text.data(), f.offset + f.length);
      size_t pos = f.offset;
      for (size_t m = region.find(tok, pos); m != std::string_view::npos;
           m = region.find(tok, pos)) {
        if (m > pos) next.push_back(Fragment{pos, m - pos, -1});
        next.push_back(Fragment{m, tok.size(), id});
        pos = m + tok.size();
      }
      if (pos < f.offset + f.length) next.push_back(Fragment{pos, f.offset + f.length - pos, -1});
    }
    frags = std::move(next);
  }
  return frags;
}

void GgufTokenizer::tokenize_spm(const std::string& text, std::vector<int32_t>& out) const {
  struct Sym {
    size_t offset, n;
    int prev, next;
  };
  struct Bigram {
    int left, right;
    float score;
    size_t size;
    bool operator<(const Bigram& o) const {  // max-heap: highest score, then leftmost
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::vector<Sym> syms;
  for (size_t off = 0; off < text.size();) {
    const size_t len =
        std::min(text::utf8_len(static_cast<unsigned char>(text[off])), text.size() - off);
    const int idx = static_cast<int>(syms.size());
    syms.push_back(Sym{off, len, idx - 1, off + len == text.size() ? -1 : idx + 1});
    off += len;
  }
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view s(text.data() + syms[left].offset, syms[left].n + syms[right].n);
    const int32_t id = find_token(s);
    if (id < 0) return;
    queue.push(Bigram{left, right, scores_[static_cast<size_t>(id)], s.size()});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Sym& l = syms[b.left];
    Sym& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) {
    const std::string_view s(text.data() + syms[i].offset, syms[i].n);
    const int32_t id = find_token(s);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Only single characters can be unknown here (merges always form vocabulary tokens).
    for (unsigned char c : s) {
      if (byte_tokens_[c] >= 0) out.push_back(byte_tokens_[c]);
    }
  }
}

void GgufTokenizer::bpe_word(const std::string& word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const int32_t id = find_token(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (auto cached = cache_.get(word)) {
    out.insert(out.end(), cached->begin(), cached->end());
    return;
  }
  // Characters outside the vocabulary get distinct negative ids: they never merge and are
  // dropped at the end, as llama.cpp finds no token for them.
  std::vector<int32_t> syms;
  int32_t unknown = -2;
  for (size_t i = 0; i < word.size();) {
    uint32_t cp;
    const size_t len = text::utf8_next(word, i, &cp);
    const int32_t id = find_token(std::string_view(word).substr(i, len));
    syms.push_back(id >= 0 ? id : unknown--);
    i += len;
  }
  merges_.apply(syms);
  std::vector<int32_t> ids;
  for (int32_t id : syms) {
    if (id >= 0) ids.push_back(id);
  }
  cache_.put(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void GgufTokenizer::tokenize_bpe(const std::string& text, std::vector<int32_t>& out) const {
  std::vector<std::pair<size_t, size_t>> pieces{{0, text.size()}};
  for (const auto& re : regexes_) {
    std::vector<std::pair<size_t, size_t>> next;
    for (auto [b, e] : pieces) {
      const std::string_view s(text.data() + b, e - b);
      size_t prev = 0;
      for (auto [mb, me] : re->find_all(s)) {
        if (mb > prev) next.emplace_back(b + prev, b + mb);
        next.emplace_back(b + mb, b + me);
        prev = me;
      }
      if (prev < s.size()) next.emplace_back(b + prev, e);
    }
    pieces = std::move(next);
  }
  for (auto [b, e] : pieces)
    bpe_word(text::bytes_to_byte_level(std::string_view(text).substr(b, e - b)), out);
}

std::vector<int32_t> GgufTokenizer::encode(std::string_view input, bool add_special) const {
  const std::string text = text::utf8_lossy(input);
  std::vector<int32_t> out;
  if (add_special && add_bos_ && bos_ >= 0) out.push_back(bos_);
  bool prev_special = true;  // SentencePiece: the first fragment gets the dummy prefix space
  for (const Fragment& f : partition(text)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_special = true;
      continue;
    }
    std::string piece = text.substr(f.offset, f.length);
    if (spm_) {
      if (add_space_prefix_ && prev_special) piece.insert(0, 1, ' ');
      std::string escaped;
      for (char c : piece) {
        if (c == ' ')
          escaped += "\xE2\x96\x81";
        else
          escaped += c;
      }
      tokenize_spm(escaped, out);
    } else {
      tokenize_bpe(piece, out);
    }
    prev_special = false;
  }
  if (add_special && add_eos_ && eos_ >= 0) out.push_back(eos_);
  return out;
}

// The byte of a "<0xNN>" token, or -1.
int hex_byte(const std::string& t) {
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  const int hi = digit(t[3]), lo = digit(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// llama.cpp's detokenize clean_spaces passes: drop the space before ? ! . , ; around a lone
// apostrophe; before 's 'm 're 've.
std::string clean_spaces(const std::string& in) {
  std::string a;
  for (size_t i = 0; i < in.size(); ++i) {
    const char x = in[i];
    if (i > 0 && in[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
    a += x;
  }
  std::string b;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = a[i];
    if (i > 0 && x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
      b.pop_back();
      b += x;
      a[++i] = '\0';  // the space after goes too; llama.cpp then sees NUL as the previous char
      continue;
    }
    b += x;
  }
  std::string c;
  for (size_t i = 0; i < b.size(); ++i) {
    const char x = b[i];
    if (i > 0 && b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
      const char x1 = b[i + 1];
      const char x2 = i + 2 < b.size() ? b[i + 2] : '\0';
      if (x1 == 's' || x1 == 'm' || (x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e'))
        c.pop_back();
    }
    c += x;
  }
  return c;
}

void GgufTokenizer::append_token_bytes(int32_t id, bool skip_special, std::string& bytes) const {
  if (id < 0 || id >= vocab_size()) return;
  const std::string& t = tokens_[static_cast<size_t>(id)];
  switch (types_[static_cast<size_t>(id)]) {
    case kGgufTokenControl:
    case kGgufTokenUnknown:
      if (!skip_special) bytes += t;
      break;
    case kGgufTokenUserDefined:
      bytes += t;
      break;
    case kGgufTokenByte: {
      const int b = spm_ ? hex_byte(t)
                         : (text::utf8_codepoints(t).size() == 1
                                ? text::unicode_to_byte(text::utf8_codepoints(t)[0])
                                : -1);
      if (b >= 0)
        bytes += static_cast<char>(b);
      else
        bytes += t;  // malformed byte token: its text
      break;
    }
    case kGgufTokenNormal:
      if (spm_) {
        for (size_t i = 0; i < t.size();) {
          if (t.compare(i, 3, "\xE2\x96\x81") == 0) {
            bytes += ' ';
            i += 3;
          } else {
            bytes += t[i++];
          }
        }
      } else {
        for (size_t i = 0; i < t.size();) {  // byte-level characters back to bytes
          uint32_t cp;
          const size_t len = text::utf8_next(t, i, &cp);
          const int b = text::unicode_to_byte(cp);
          if (b >= 0)
            bytes += static_cast<char>(b);
          else
            bytes.append(t, i, len);
          i += len;
        }
      }
      break;
    default:  // unused / undefined render as nothing
      break;
  }
}

std::string GgufTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) append_token_bytes(id, skip_special, bytes);
  // The dummy prefix space SentencePiece added is not part of the text.
  if (spm_ && add_space_prefix_ && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  if (clean_spaces_) bytes = clean_spaces(bytes);
  return text::utf8_lossy(bytes);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& gguf) {
  return std::make_unique<GgufTokenizer>(gguf);
}

}  // namespace edgerun
