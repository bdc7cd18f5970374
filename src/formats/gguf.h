// GGUF v2/v3 reader (MODELS.md §1.2): metadata of every value type, tensor infos, alignment.
// Tensor data stays in the mapped file; every count, length and offset is checked before use.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/storage.h"
#include "core/tensor.h"

namespace edgerun {

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

// One metadata value. Scalars are widened (integers to int64/uint64, floats to double);
// arrays hold their elements in `array` with `array_type` the element type.
struct GgufValue {
  GgufType type = GgufType::UINT8;
  uint64_t u = 0;   // unsigned integer types and BOOL
  int64_t i = 0;    // signed integer types
  double f = 0;     // FLOAT32 / FLOAT64
  std::string str;  // STRING
  GgufType array_type = GgufType::UINT8;
  std::vector<GgufValue> array;

  bool is_integer() const;
  // Value as a signed / floating number; throws Error naming `key` if it is not numeric.
  int64_t as_int(const std::string& key) const;
  double as_float(const std::string& key) const;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  std::vector<uint64_t> ne;  // GGUF order: ne[0] is the fastest-varying dimension
  uint64_t offset = 0;       // relative to the data blob
};

class GgufFile {
 public:
  // Opens and validates a GGUF file (mapped, not read). Throws Error("<path>: <problem>").
  static GgufFile open(const std::string& path);
  // Parses GGUF bytes owned by `storage` (e.g. a model linked into the binary).
  static GgufFile parse(std::shared_ptr<Storage> storage);

  uint32_t version() const { return version_; }
  const std::string& path() const { return storage_->name(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters: throw Error naming the file and key when missing or of the wrong type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  // Optional forms return the fallback when the key is absent (but still throw on a wrong type).
  std::string get_string_or(const std::string& key, const std::string& fallback) const;
  int64_t get_int_or(const std::string& key, int64_t fallback) const;
  double get_float_or(const std::string& key, double fallback) const;
  bool get_bool_or(const std::string& key, bool fallback) const;
  std::vector<std::string> get_string_array(const std::string& key) const;

  const std::vector<GgufTensorInfo>& tensor_infos() const { return tensors_; }
  // Tensor views in PyTorch order (shape = reversed ne). Throws for ggml types the engine does
  // not support yet, naming the tensor and the type.
  std::vector<Tensor> tensors() const;

 private:
  std::shared_ptr<Storage> storage_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

// Name of a ggml type id ("Q4_0", "IQ2_XXS", ...) or "type N" when unknown.
std::string ggml_type_name(uint32_t ggml_type);
// Elements and bytes per block of a ggml type id (1 and the element size for plain types);
// false for unknown or retired ids. Used by the GGUF writer to size tensor data.
bool ggml_type_block(uint32_t ggml_type, uint32_t& block_elems, uint32_t& block_bytes);

}  // namespace edgerun
