// safetensors reader (single file and sharded index, memory-mapped, every rule of the format
// checked: MODELS.md §1.1) and a small writer for the engine's own outputs (logits dumps).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/storage.h"
#include "core/tensor.h"

namespace edgerun {

struct SafetensorsFile {
  // Keeps the bytes alive. A tensor whose data is not aligned for its dtype in the file is
  // copied to an aligned buffer that this pointer also owns.
  std::shared_ptr<Storage> storage;
  std::vector<Tensor> tensors;  // views into storage (or those copies), in header order
  std::vector<std::pair<std::string, std::string>> metadata;  // __metadata__
};

// Maps and validates one .safetensors file. Throws Error("<path>: <problem>").
// Dtypes the engine cannot compute with (F8_*, C64, ...) are rejected naming the tensor.
SafetensorsFile read_safetensors(const std::string& path);
// Same checks on bytes already owned by `storage` (a mapping or a borrowed buffer); errors name
// storage->name().
SafetensorsFile parse_safetensors(std::shared_ptr<Storage> storage);

// Reads model.safetensors.index.json and every shard it names (each mapped once). Tensors
// listed in weight_map must exist in the shard named for them.
std::vector<SafetensorsFile> read_safetensors_index(const std::string& index_path);

// A tensor to write: bytes are copied into the file in the given dtype.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes a valid safetensors file (header padded to 8 bytes, tensors in the given order).
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace edgerun
