// Decoders and post-processors of a Hugging Face tokenizer.json (see hf_components.h).
#include <cctype>
#include <string>

#include "text/hf_components.h"
#include "text/hf_json.h"
#include "text/unicode.h"

namespace edgerun::text::hf {

namespace {

using namespace detail;

// Every occurrence of `from` in `t` becomes `to`.
std::string replace_literal(const std::string& t, const std::string& from, const std::string& to) {
  std::string out;
  for (size_t k = 0; k < t.size();) {
    if (!from.empty() && t.compare(k, from.size(), from) == 0) {
      out += to;
      k += from.size();
    } else {
      out += t[k++];
    }
  }
  return out;
}

// The byte of a "<0xNN>" token, or -1.
int byte_token_value(const std::string& t) {
  if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
      std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4])))
    return std::stoi(t.substr(3, 2), nullptr, 16);
  return -1;
}

class SequenceDecoder : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> parts;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : parts) d->decode_chain(tokens);
  }
  std::string mid_text_bytes(std::string token) const override {
    for (const auto& d : parts) token = d->mid_text_bytes(std::move(token));
    return token;
  }
};

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) bytes += mid_text_bytes(t);
    tokens.assign(1, utf8_lossy(bytes));
  }
  std::string mid_text_bytes(std::string t) const override {
    // A token with any character outside the byte alphabet is taken verbatim.
    std::string mapped;
    for (size_t i = 0; i < t.size();) {
      uint32_t cp;
      i += utf8_next(t, i, &cp);
      const int b = unicode_to_byte(cp);
      if (b < 0) return t;
      mapped += static_cast<char>(b);
    }
    return mapped;
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  std::string replacement;
  Prepend prepend = Prepend::Always;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const bool drop_space = i == 0 && prepend != Prepend::Never;
      tokens[i] = replace_literal(tokens[i], replacement, drop_space ? "" : " ");
    }
  }
  std::string mid_text_bytes(std::string t) const override { return replace_literal(t, replacement, " "); }
};

class ReplaceDecoder : public Decoder {
 public:
  Pattern pattern;
  std::string content;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = replace_all(pattern, content, t);
  }
  std::string mid_text_bytes(std::string t) const override { return replace_all(pattern, content, t); }
};

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (utf8_valid(pending)) {
        out.push_back(pending);
      } else {  // the crate emits one U+FFFD per byte here, not per ill-formed subpart
        for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& t : tokens) {
      if (const int b = byte_token_value(t); b >= 0) {
        pending += static_cast<char>(b);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
  std::string mid_text_bytes(std::string t) const override {
    const int b = byte_token_value(t);
    return b >= 0 ? std::string(1, static_cast<char>(b)) : t;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, all);
  }
  std::string mid_text_bytes(std::string t) const override { return t; }
};

class StripDecoder : public Decoder {
 public:
  uint32_t content = ' ';
  size_t start = 0, stop = 0;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      const std::vector<uint32_t> cps = utf8_codepoints(t);
      size_t b = 0, e = cps.size();
      while (b < start && b < e && cps[b] == content) ++b;
      for (size_t i = 0; i < stop && e > b && cps[e - 1] == content; ++i) --e;
      std::string out;
      for (size_t i = b; i < e; ++i) append_utf8(out, cps[i]);
      t = std::move(out);
    }
  }
  // Strip follows Fuse in the tokenizers that use it, so it trims the ends of the whole text,
  // which a token in the middle never touches.
  std::string mid_text_bytes(std::string t) const override { return t; }
};

class BpeSuffixDecoder : public Decoder {
 public:
  std::string suffix;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_literal(tokens[i], suffix, i + 1 == tokens.size() ? "" : " ");
  }
  std::string mid_text_bytes(std::string t) const override { return replace_literal(t, suffix, " "); }
};

void add_template(PostProcessor& pp, const json& single, const JsonPath& at, const json& specials,
                  const JsonPath& specials_at) {
  // Items are {"SpecialToken": {"id": "<s>"}} / {"Sequence": {"id": "A"}} or, in the string
  // form, "<s> $A </s>" (":N" type-id suffixes ignored).
  std::vector<std::pair<bool, std::string>> items;  // (is_sequence, special token name)
  if (single.is_string()) {
    std::string s = single.get<std::string>();
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find(' ', pos);
      if (end == std::string::npos) end = s.size();
      std::string item = s.substr(pos, end - pos);
      pos = end + 1;
      if (item.empty()) continue;
      if (item[0] == '$') {
        items.emplace_back(true, "");
      } else {
        const size_t colon = item.rfind(':');
        if (colon != std::string::npos && colon > 0) item = item.substr(0, colon);
        items.emplace_back(false, item);
      }
    }
  } else if (single.is_array()) {
    for (size_t i = 0; i < single.size(); ++i) {
      const json& it = single[i];
      if (it.is_object() && it.contains("Sequence")) {
        items.emplace_back(true, "");
      } else if (it.is_object() && it.contains("SpecialToken")) {
        items.emplace_back(false, get_string(it.at("SpecialToken"), "id", at[i] / "SpecialToken"));
      } else {
        at[i].fail("expected a SpecialToken or Sequence item");
      }
    }
  } else {
    at.fail("expected an array or a string");
  }
  bool after = false;
  for (const auto& [is_seq, name] : items) {
    if (is_seq) {
      after = true;
      continue;
    }
    if (!specials.is_object() || !specials.contains(name)) {
      specials_at.fail("special token '" + name + "' used by the template is not defined");
    }
    const json& ids = get_array(specials.at(name), "ids", specials_at / name);
    for (const json& id : ids) {
      if (!id.is_number_integer()) (specials_at / name / "ids").fail("expected integer ids");
      (after ? pp.suffix : pp.prefix).push_back(id.get<int32_t>());
    }
  }
}

int32_t pair_id(const json& j, const std::string& key, const JsonPath& at,
                const std::function<int32_t(const std::string&)>& token_id) {
  const json& v = member(j, key, at);
  if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer())
    (at / key).fail("expected [token, id]");
  return v[1].get<int32_t>();
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const JsonPath& at) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, at);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    const json& list = get_array(j, "decoders", at);
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto d = make_decoder(list[i], (at / "decoders")[i])) seq->parts.push_back(std::move(d));
    }
    return seq;
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Metaspace") {
    auto m = std::make_unique<MetaspaceDecoder>();
    m->replacement = utf8_encode(get_char(j, "replacement", at));
    m->prepend = parse_prepend(j, at);
    return m;
  }
  if (type == "Replace") {
    auto r = std::make_unique<ReplaceDecoder>();
    r->pattern = parse_pattern(j, "pattern", at);
    r->content = get_string(j, "content", at);
    return r;
  }
  if (type == "Strip") {
    auto s = std::make_unique<StripDecoder>();
    s->content = get_char(j, "content", at);
    const int64_t start = get_int_or(j, "start", 0, at), stop = get_int_or(j, "stop", 0, at);
    if (start < 0 || stop < 0) at.fail("negative start/stop");
    s->start = static_cast<size_t>(start);
    s->stop = static_cast<size_t>(stop);
    return s;
  }
  if (type == "BPEDecoder") {
    auto b = std::make_unique<BpeSuffixDecoder>();
    b->suffix = get_string_or(j, "suffix", "</w>", at);
    return b;
  }
  (at / "type").fail("unsupported decoder type '" + type + "'");
}

PostProcessor make_post_processor(const json& j, const JsonPath& at,
                                  const std::function<int32_t(const std::string&)>& token_id) {
  PostProcessor pp;
  if (j.is_null()) return pp;
  const std::string type = type_of(j, at);
  if (type == "ByteLevel") return pp;
  if (type == "TemplateProcessing") {
    add_template(pp, member(j, "single", at), at / "single", member(j, "special_tokens", at),
                 at / "special_tokens");
    return pp;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    pp.prefix.push_back(pair_id(j, "cls", at, token_id));
    pp.suffix.push_back(pair_id(j, "sep", at, token_id));
    return pp;
  }
  if (type == "Sequence") {
    const json& list = get_array(j, "processors", at);
    for (size_t i = 0; i < list.size(); ++i) {
      PostProcessor inner = make_post_processor(list[i], (at / "processors")[i], token_id);
      // Later processors wrap the output of earlier ones.
      pp.prefix.insert(pp.prefix.begin(), inner.prefix.begin(), inner.prefix.end());
      pp.suffix.insert(pp.suffix.end(), inner.suffix.begin(), inner.suffix.end());
    }
    return pp;
  }
  (at / "type").fail("unsupported post_processor type '" + type + "'");
}

}  // namespace edgerun::text::hf
