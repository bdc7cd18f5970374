// The pipeline stages of a Hugging Face tokenizer.json: normalizers, pre-tokenizers, decoders
// and post-processors, built from their JSON descriptions with the semantics of the
// `tokenizers` Rust crate (offsets are not tracked: the engine only needs ids and text).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "formats/json_file.h"

namespace edgerun::text::hf {

// Where a JSON node sits, for error messages: "<file>: field 'pre_tokenizer.pretokenizers[1]'".
struct JsonPath {
  std::string file;
  std::string path;
  JsonPath operator/(const std::string& key) const {
    return {file, path.empty() ? key : path + "." + key};
  }
  JsonPath operator[](size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }
  std::string where() const { return file + ": field '" + path + "'"; }
  [[noreturn]] void fail(const std::string& problem) const;
};

// A pre-token: its text and whether it starts at offset 0 of the original input (Metaspace's
// prepend_scheme "first" needs that).
struct Piece {
  std::string text;
  bool first = false;
};
using Pieces = std::vector<Piece>;

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(Pieces& pieces) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // One token's bytes in the middle of a text (no first/last-token rules), before UTF-8 repair.
  virtual std::string mid_text_bytes(std::string token) const = 0;
};

// What add_special_tokens=true wraps around a single sequence.
struct PostProcessor {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
};

// A null node gives nullptr. Unknown types and malformed fields throw Error naming the field.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const JsonPath& at);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const JsonPath& at);
std::unique_ptr<Decoder> make_decoder(const json& j, const JsonPath& at);
// `token_id` maps a token string to its id (-1 when unknown).
PostProcessor make_post_processor(const json& j, const JsonPath& at,
                                  const std::function<int32_t(const std::string&)>& token_id);

}  // namespace edgerun::text::hf
