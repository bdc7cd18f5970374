// tokenizer.json → tokenizer.ggml.*. Follows convert_hf_to_gguf.py (get_vocab_base,
// _set_vocab_gpt2, gguf-py SpecialVocab) in what it writes; the pre-tokenizer is recognised from
// its configuration instead of hashing the tokenizer's output on a probe string.
#include "text/gguf_token_type.h"
#include "text/gguf_vocab_export.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/storage.h"
#include "formats/gguf_writer.h"
#include "formats/json_file.h"
#include "text/tekken_tokenizer.h"
#include "text/unicode.h"

namespace edgerun {

namespace {


// Split regexes as they appear in tokenizer.json (Split.pattern.Regex), by llama.cpp pre name.
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kTekkenRegex =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json read_optional(const std::string& path) {
  if (!file_exists(path)) return json::object();
  json j = read_json_file(path);
  if (!j.is_object()) fail(path, "expected a JSON object");
  return j;
}

const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string str_field(const json& obj, const char* key) {
  const json* v = field(obj, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}

bool bool_field(const json& obj, const char* key, bool fallback) {
  const json* v = field(obj, key);
  return v && v->is_boolean() ? v->get<bool>() : fallback;
}

// convert_hf_to_gguf.py's does_token_look_special: added tokens some models forget to mark.
bool looks_special(const std::string& t) {
  auto wrapped = [&](const std::string& a, const std::string& b) {
    return t.size() >= a.size() + b.size() && t.compare(0, a.size(), a) == 0 &&
           t.compare(t.size() - b.size(), b.size(), b) == 0;
  };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wrapped("<unused", ">");
}

// The pre-tokenizer steps: a Sequence's list, or the single step.
std::vector<json> pre_steps(const json& pre) {
  if (!pre.is_object()) return {};
  std::vector<json> steps;
  if (str_field(pre, "type") == "Sequence" && field(pre, "pretokenizers") && pre["pretokenizers"].is_array()) {
    for (const json& step : pre["pretokenizers"]) steps.push_back(step);
  } else {
    steps.push_back(pre);
  }
  return steps;
}

bool is_byte_level(const json& step, bool use_regex) {
  return str_field(step, "type") == "ByteLevel" && bool_field(step, "use_regex", true) == use_regex &&
         !bool_field(step, "add_prefix_space", false);
}

std::string split_regex(const json& step) {
  if (str_field(step, "type") != "Split") return "";
  const json* pat = field(step, "pattern");
  if (!pat || str_field(step, "behavior") != "Isolated" || bool_field(step, "invert", false)) return "";
  return str_field(*pat, "Regex");
}

// The llama.cpp pre-tokenizer name whose splitting equals this configuration, or "" if none.
// ignore_merges must agree too: llama.cpp fixes it per name.
std::string recognise_pre(const json& pre, bool ignore_merges) {
  const std::vector<json> s = pre_steps(pre);
  if (s.size() == 2 && str_field(s[0], "type") == "Digits" && bool_field(s[0], "individual_digits", false) &&
      is_byte_level(s[1], true) && !ignore_merges)
    return "smollm";  // SmolLM2: single digits, then the GPT-2 regex
  if (s.size() == 1 && is_byte_level(s[0], true) && !ignore_merges) return "gpt-2";
  if (s.size() == 2 && is_byte_level(s[1], false)) {
    const std::string re = split_regex(s[0]);
    if (re == kLlama3Regex) return ignore_merges ? "llama-bpe" : "smaug-bpe";
    if (re == kQwen2Regex && !ignore_merges) return "qwen2";
    if (re == kTekkenRegex && ignore_merges) return "tekken";
  }
  return "";
}

class Exporter {
 public:
  explicit Exporter(const std::string& dir) : dir_(dir), tok_file_(dir + "/tokenizer.json") {}
  GgufVocab run(int64_t vocab_size);

 private:
  void read_vocab(const json& root, const json& tconf, int64_t vocab_size);
  void read_merges(const json& model);
  int64_t token_id(const std::string& s) const {
    auto it = ids_.find(s);
    return it == ids_.end() ? -1 : it->second;
  }
  int64_t config_token(const json& tconf, const char* typ) const;
  void special_ids(const json& tconf);
  void add_special_flags(const json& root, const json& tconf);
  void chat_templates(const json& tconf);

  std::string dir_, tok_file_;
  GgufVocab v_;
  std::unordered_map<std::string, int64_t> ids_;  // final token string → id
};

void Exporter::read_vocab(const json& root, const json& tconf, int64_t vocab_size) {
  const json& model = root["model"];
  const json* vocab = field(model, "vocab");
  if (!vocab || !vocab->is_object()) fail(tok_file_ + ": field 'model.vocab'", "expected an object");
  std::map<int64_t, std::pair<std::string, int32_t>> by_id;
  for (const auto& [tok, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0)
      fail(tok_file_ + ": field 'model.vocab'", "token '" + tok + "' has no valid id");
    by_id[id.get<int64_t>()] = {tok, kGgufTokenNormal};
  }
  std::set<int64_t> added_ids;
  auto add_token = [&](const json& a, int64_t id, const std::string& where) {
    if (!a.is_object() || id < 0 || !field(a, "content") || !a["content"].is_string())
      fail(where, "expected {\"id\": <int>, \"content\": <string>, ...}");
    std::string content = a["content"].get<std::string>();
    int32_t type = kGgufTokenControl;
    if (!bool_field(a, "special", false) && !looks_special(content)) {
      type = kGgufTokenUserDefined;
      // llama.cpp matches user-defined tokens in raw text: SentencePiece's U+2581 means space.
      for (size_t p; (p = content.find("\xE2\x96\x81")) != std::string::npos;) content.replace(p, 3, " ");
    }
    by_id[id] = {content, type};
    added_ids.insert(id);
  };
  if (const json* added = field(root, "added_tokens")) {
    if (!added->is_array()) fail(tok_file_ + ": field 'added_tokens'", "expected an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const json& a = (*added)[i];
      const json* id = field(a, "id");
      add_token(a, id && id->is_number_integer() ? id->get<int64_t>() : -1,
                tok_file_ + ": field 'added_tokens[" + std::to_string(i) + "]'");
    }
  }
  // tokenizer_config.json's added_tokens_decoder adds ids tokenizer.json lacks (as transformers;
  // tokenizer.json wins where both define an id).
  if (const json* dec = field(tconf, "added_tokens_decoder"); dec && dec->is_object()) {
    for (const auto& [key, a] : dec->items()) {
      const int64_t id = parse_id_key(key);
      const std::string where = dir_ + "/tokenizer_config.json: field 'added_tokens_decoder." + key + "'";
      if (id < 0) fail(where, "key is not a token id");
      if (!added_ids.count(id)) add_token(a, id, where);
    }
  }
  if (by_id.empty()) fail(tok_file_ + ": field 'model.vocab'", "is empty");
  const int64_t max_id = by_id.rbegin()->first;
  if (max_id >= (int64_t(1) << 24))  // the list is dense: a stray huge id would allocate gigabytes
    fail(tok_file_, "token id " + std::to_string(max_id) + " is implausibly large");
  if (vocab_size > 0 && max_id >= vocab_size)
    fail(tok_file_, "token id " + std::to_string(max_id) + " ('" + by_id.rbegin()->second.first +
                        "') is outside the model's vocab_size " + std::to_string(vocab_size));
  const int64_t n = vocab_size > 0 ? vocab_size : max_id + 1;
  v_.tokens.resize(size_t(n));
  v_.token_types.resize(size_t(n));
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    // Ids the tokenizer never produces still need a row in the GGUF list (the embedding has it).
    std::string tok = it == by_id.end() ? "[PAD" + std::to_string(id) + "]" : it->second.first;
    v_.token_types[size_t(id)] = it == by_id.end() ? kGgufTokenUnused : it->second.second;
    // llama.cpp asserts every token string is unique; refuse here with a message instead.
    auto [pos, inserted] = ids_.emplace(tok, id);
    if (!inserted)
      fail(tok_file_, "token '" + tok + "' appears twice (ids " + std::to_string(pos->second) + " and " +
                          std::to_string(id) + "); GGUF vocabularies need unique strings");
    v_.tokens[size_t(id)] = std::move(tok);
  }
}

void Exporter::read_merges(const json& model) {
  const json* merges = field(model, "merges");
  if (!merges) return;
  if (!merges->is_array()) fail(tok_file_ + ": field 'model.merges'", "expected an array");
  v_.merges.reserve(merges->size());
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    if (m.is_string()) {
      v_.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      // The newer [left, right] form may hold spaces; GGUF's "left right" cannot, so spaces
      // are written as their byte-level character U+0120, as convert_hf_to_gguf.py does.
      std::string joined;
      for (int k = 0; k < 2; ++k) {
        if (k) joined += ' ';
        for (char c : m[k].get<std::string>()) {
          if (c == ' ') joined += "\xC4\xA0"; else joined += c;
        }
      }
      v_.merges.push_back(std::move(joined));
    } else {
      fail(tok_file_ + ": field 'model.merges[" + std::to_string(i) + "]'", "expected \"a b\" or [\"a\", \"b\"]");
    }
  }
}

// tokenizer_config.json's "<typ>_token" (a string or {"content": ...}) as an id, or -1.
int64_t Exporter::config_token(const json& tconf, const char* typ) const {
  const json* e = field(tconf, (std::string(typ) + "_token").c_str());
  if (!e) return -1;
  std::string s = e->is_string() ? e->get<std::string>() : e->is_object() ? str_field(*e, "content") : "";
  return s.empty() ? -1 : token_id(s);
}

// Same precedence as gguf-py's SpecialVocab: tokenizer_config.json's token strings, then
// config.json's *_token_id; generation_config.json last (the converter does not read it).
void Exporter::special_ids(const json& tconf) {
  const json config = read_optional(dir_ + "/config.json");
  const json gen = read_optional(dir_ + "/generation_config.json");
  const int64_t n = int64_t(v_.tokens.size());
  auto pick = [&](const char* typ) -> int64_t {
    int64_t id = config_token(tconf, typ);
    const std::string key = std::string(typ) + "_token_id";
    for (const json* src : {&config, &gen}) {
      if (id >= 0) break;
      const json* e = field(*src, key.c_str());
      if (e && e->is_number_integer()) id = e->get<int64_t>();
      else if (e && e->is_array() && !e->empty() && (*e)[0].is_number_integer()) id = (*e)[0].get<int64_t>();
    }
    if (id >= n) {
      v_.warnings.push_back(std::string(typ) + " token id " + std::to_string(id) + " is outside the vocabulary; not written");
      id = -1;
    }
    return id;
  };
  v_.bos_id = pick("bos");
  v_.eos_id = pick("eos");
  v_.unk_id = pick("unk");
  v_.pad_id = pick("pad");
}

// Whether encode(add_special) prepends BOS / appends EOS, decided as the HF tokenizer does:
// Llama-style tokenizer classes rebuild their post-processor from add_bos_token/add_eos_token;
// other classes run tokenizer.json's post_processor.
void Exporter::add_special_flags(const json& root, const json& tconf) {
  static const char* kLlamaLike[] = {"LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer",
                                     "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"};
  const std::string cls = str_field(tconf, "tokenizer_class");
  for (const char* name : kLlamaLike) {
    if (cls == name) {
      v_.add_bos = bool_field(tconf, "add_bos_token", true) && v_.bos_id >= 0;
      v_.add_eos = bool_field(tconf, "add_eos_token", false) && v_.eos_id >= 0;
      return;
    }
  }
  const json* post = field(root, "post_processor");
  if (!post) return;
  std::vector<json> procs;
  if (str_field(*post, "type") == "Sequence" && field(*post, "processors") && (*post)["processors"].is_array()) {
    for (const json& p : (*post)["processors"]) procs.push_back(p);
  } else {
    procs.push_back(*post);
  }
  for (const json& p : procs) {
    const std::string type = str_field(p, "type");
    if (type == "RobertaProcessing" || type == "BertProcessing") {
      v_.add_bos = v_.add_eos = true;
    } else if (type == "TemplateProcessing") {
      const json* single = field(p, "single");
      if (!single || !single->is_array() || single->size() < 2) continue;
      auto special_at = [&](const json& item) -> int64_t {
        const json* st = field(item, "SpecialToken");
        if (!st) return -1;
        const std::string name = str_field(*st, "id");
        const json* map = field(p, "special_tokens");
        if (map && field(*map, name.c_str())) {
          const json* ids = field((*map)[name], "ids");
          if (ids && ids->is_array() && ids->size() == 1 && (*ids)[0].is_number_integer()) return (*ids)[0].get<int64_t>();
        }
        return token_id(name);
      };
      // Only BOS can be prepended and only EOS appended in GGUF; anything else is reported.
      if (const int64_t first = special_at(single->front()); first >= 0) {
        if (v_.bos_id < 0) v_.bos_id = first;
        v_.add_bos = true;
        if (first != v_.bos_id)
          v_.warnings.push_back("post-processor prepends token " + std::to_string(first) + " but BOS is " +
                                std::to_string(v_.bos_id) + "; GGUF readers will prepend BOS");
      }
      if (const int64_t last = special_at(single->back()); last >= 0) {
        if (v_.eos_id < 0) v_.eos_id = last;
        v_.add_eos = true;
        if (last != v_.eos_id)
          v_.warnings.push_back("post-processor appends token " + std::to_string(last) + " but EOS is " +
                                std::to_string(v_.eos_id) + "; GGUF readers will append EOS");
      }
    }
  }
}

// tokenizer_config.json's chat_template wins over chat_template.jinja / chat_template.json, as in
// the converter. A list of {name, template} becomes the default plus named templates.
void Exporter::chat_templates(const json& tconf) {
  json tmpl;
  if (const json* t = field(tconf, "chat_template")) tmpl = *t;
  else if (file_exists(dir_ + "/chat_template.jinja")) tmpl = read_text_file(dir_ + "/chat_template.jinja");
  else if (file_exists(dir_ + "/chat_template.json")) {
    const json j = read_json_file(dir_ + "/chat_template.json");
    if (const json* t = field(j, "chat_template")) tmpl = *t;
  }
  if (tmpl.is_string()) {
    v_.chat_template = tmpl.get<std::string>();
  } else if (tmpl.is_array()) {
    for (const json& c : tmpl) {
      std::string name = str_field(c, "name");
      const std::string text = str_field(c, "template");
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      if (name.empty() || !field(c, "template")) continue;
      if (name == "default") v_.chat_template = text;
      else v_.named_templates.emplace_back(name, text);
    }
  } else if (!tmpl.is_null()) {
    v_.warnings.push_back("chat_template is neither a string nor a list; not written");
  }
}

GgufVocab Exporter::run(int64_t vocab_size) {
  if (!file_exists(tok_file_)) fail(dir_, "no tokenizer.json or tekken.json (needed for the GGUF vocabulary)");
  const json root = read_json_file(tok_file_);
  if (!root.is_object()) fail(tok_file_, "expected a JSON object");
  const json tconf = read_optional(dir_ + "/tokenizer_config.json");
  const json* model = field(root, "model");
  if (!model || !model->is_object()) fail(tok_file_ + ": field 'model'", "missing");
  const std::string type = str_field(*model, "type");
  if (type != "BPE")
    fail(tok_file_ + ": field 'model.type'", "'" + type + "' tokenizers cannot be exported to GGUF (only byte-level BPE)");
  const json pre = field(root, "pre_tokenizer") ? root["pre_tokenizer"] : json();
  bool byte_level = false;
  for (const json& s : pre_steps(pre)) byte_level = byte_level || str_field(s, "type") == "ByteLevel";
  if (!byte_level || bool_field(*model, "byte_fallback", false))
    fail(tok_file_, "SentencePiece-style BPE (no ByteLevel pre-tokenizer or byte_fallback) is not supported by "
                    "the GGUF exporter; only byte-level BPE (GPT-2 / Llama-3 style)");
  if (field(root, "normalizer"))
    v_.warnings.push_back("tokenizer.json has a normalizer, which GGUF byte-level BPE does not apply");

  read_vocab(root, tconf, vocab_size);
  read_merges(*model);
  v_.pre = recognise_pre(pre, bool_field(*model, "ignore_merges", false));
  if (v_.pre.empty()) {
    v_.pre = "default";
    v_.warnings.push_back("pre-tokenizer not recognised; writing tokenizer.ggml.pre = \"default\" "
                          "(llama.cpp may split text differently)");
  }
  special_ids(tconf);
  add_special_flags(root, tconf);
  if (const json* p = field(tconf, "add_prefix_space"); p && p->is_boolean()) v_.add_space_prefix = p->get<bool>();
  chat_templates(tconf);
  return std::move(v_);
}

}  // namespace

GgufVocab export_hf_vocab(const std::string& dir, int64_t vocab_size) { return Exporter(dir).run(vocab_size); }

GgufVocab export_tekken_vocab(const std::string& dir, int64_t vocab_size) {
  const text::TekkenVocab t = text::read_tekken(dir + "/tekken.json");
  if (vocab_size > 0 && vocab_size < t.vocab_size())
    fail(t.file, "has " + std::to_string(t.vocab_size()) + " tokens, more than the model's vocab_size " + std::to_string(vocab_size));
  GgufVocab v;
  v.pre = "tekken";
  const int64_t n = vocab_size > 0 ? vocab_size : t.vocab_size();
  std::unordered_map<std::string, int64_t> ids;
  for (int64_t id = 0; id < n; ++id) {
    std::string tok;
    int32_t type = kGgufTokenNormal;
    if (id < t.num_special()) tok = t.specials[size_t(id)], type = kGgufTokenControl;
    else if (id < t.vocab_size()) tok = text::bytes_to_byte_level(t.tokens[size_t(id - t.num_special())]);
    else tok = "[PAD" + std::to_string(id) + "]", type = kGgufTokenUnused;  // embedding rows past the tokenizer
    // llama.cpp asserts every token string is unique; refuse here with a message instead.
    if (auto [pos, inserted] = ids.emplace(tok, id); !inserted)
      fail(t.file, "token '" + tok + "' appears twice (ids " + std::to_string(pos->second) + " and " + std::to_string(id) +
                       "); GGUF vocabularies need unique strings");
    v.tokens.push_back(std::move(tok));
    v.token_types.push_back(type);
  }
  for (const text::TekkenMerge& m : text::tekken_merges(t))
    v.merges.push_back(text::bytes_to_byte_level(t.tokens[size_t(m.left)]) + " " +
                       text::bytes_to_byte_level(t.tokens[size_t(m.right)]));
  v.bos_id = t.special_id("<s>");
  v.eos_id = t.special_id("</s>");
  v.unk_id = t.special_id("<unk>");
  v.pad_id = t.special_id("<pad>") >= 0 ? t.special_id("<pad>") : v.eos_id;  // as MistralVocab.pad_id
  v.add_bos = v.bos_id >= 0;
  if (file_exists(dir + "/chat_template.jinja")) v.chat_template = read_text_file(dir + "/chat_template.jinja");
  return v;
}

void write_vocab_metadata(GgufWriter& w, const GgufVocab& v) {
  w.set_string("tokenizer.ggml.model", v.model);
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  w.set_i32_array("tokenizer.ggml.token_type", v.token_types);
  w.set_string_array("tokenizer.ggml.merges", v.merges);
  auto id = [&](const char* key, int64_t value) {
    if (value >= 0) w.set_u32(key, uint32_t(value));
  };
  id("tokenizer.ggml.bos_token_id", v.bos_id);
  id("tokenizer.ggml.eos_token_id", v.eos_id);
  id("tokenizer.ggml.unknown_token_id", v.unk_id);
  id("tokenizer.ggml.padding_token_id", v.pad_id);
  // Always explicit: llama.cpp's defaults depend on the pre-tokenizer name (llama-bpe adds BOS).
  w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", v.add_eos);
  if (v.add_space_prefix) w.set_bool("tokenizer.ggml.add_space_prefix", *v.add_space_prefix);
  if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
  std::vector<std::string> names;
  for (const auto& [name, text] : v.named_templates) {
    w.set_string("tokenizer.chat_template." + name, text);
    names.push_back(name);
  }
  if (!names.empty()) w.set_string_array("tokenizer.chat_templates", names);
}

}  // namespace edgerun
