// GGUF v3 writer (MODELS.md §1.2): metadata of every value type, tensor infos, aligned tensor
// data. Everything GgufFile (gguf.h) reads back is what was written here.
//
// Use: set metadata, declare every tensor (name, ggml type, ne), then open() writes the header,
// metadata and tensor infos, and the tensor bytes are streamed in declaration order with
// write_data() — the whole file never has to be in memory. finish() checks that every tensor
// got exactly its byte size, pads, and closes the file.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace edgerun {

class GgufWriter {
 public:
  GgufWriter() = default;
  ~GgufWriter();  // closes an unfinished file (its content is then incomplete)
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // --- metadata (before open). Setting an existing key replaces its value in place. ---
  // Any value, arrays (also nested) included, in the GgufValue form the reader produces.
  void set(const std::string& key, const GgufValue& value);
  void set_u8(const std::string& key, uint8_t v);
  void set_i8(const std::string& key, int8_t v);
  void set_u16(const std::string& key, uint16_t v);
  void set_i16(const std::string& key, int16_t v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_i64(const std::string& key, int64_t v);
  void set_f32(const std::string& key, float v);
  void set_f64(const std::string& key, double v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  // Typed arrays are encoded directly (vocabularies hold ~10^5 strings; no GgufValue per item).
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  bool has(const std::string& key) const;
  void remove(const std::string& key);
  size_t metadata_count() const { return kvs_.size(); }

  // Alignment of the data blob and of every tensor (power of two, multiple of 8). Also stored
  // as general.alignment (u32) so readers agree. Default 32 with no key written.
  void set_alignment(uint32_t alignment);
  uint32_t alignment() const { return alignment_; }

  // --- tensors (before open) ---
  // ne in GGUF order (ne[0] fastest-varying, i.e. reversed PyTorch shape). Checks the name
  // (1..64 bytes, unique), 1..4 dims > 0, and that ne[0] is a whole number of blocks.
  // Returns the tensor's index.
  size_t add_tensor(const std::string& name, uint32_t ggml_type, const std::vector<uint64_t>& ne);
  size_t tensor_count() const { return tensors_.size(); }
  const GgufTensorInfo& tensor_info(size_t i) const { return tensors_.at(i).info; }
  uint64_t tensor_bytes(size_t i) const { return tensors_.at(i).nbytes; }
  // Size the finished file will have.
  uint64_t file_size() const;

  // --- writing ---
  // Creates/truncates `path` and writes everything up to the first tensor's data.
  void open(const std::string& path);
  // Appends bytes to the tensor data, in declaration order; a call may span tensor boundaries
  // only if it fills each tensor exactly. Padding between tensors is inserted automatically.
  void write_data(const void* data, size_t n);
  // Index of the tensor the next write_data bytes belong to (tensor_count() when all are done).
  size_t current_tensor() const { return cur_; }
  // Checks every tensor is complete, flushes and closes. Throws Error naming the file.
  void finish();

  // Convenience for small files: open, write each tensor's bytes (data[i] for tensor i,
  // exactly tensor_bytes(i) long), finish.
  void write_file(const std::string& path, const std::vector<const void*>& data);

 private:
  struct Kv {
    std::string key;
    std::vector<uint8_t> bytes;  // encoded value type + value
  };
  struct Pending {
    GgufTensorInfo info;
    uint64_t nbytes = 0;
  };
  void put_kv(const std::string& key, std::vector<uint8_t> bytes);
  void raw_write(const void* data, size_t n);
  void pad_to(uint64_t multiple);
  void check_not_open(const char* what) const;

  std::vector<Kv> kvs_;
  std::vector<Pending> tensors_;
  uint64_t data_bytes_ = 0;  // blob size so far (aligned end of the last declared tensor)
  uint32_t alignment_ = 32;

  std::FILE* file_ = nullptr;
  std::string path_;
  uint64_t written_ = 0;     // bytes written to the file
  uint64_t blob_start_ = 0;  // file offset of the data blob
  size_t cur_ = 0;           // tensor being written
  uint64_t cur_done_ = 0;    // bytes of it written
  bool finished_ = false;
};

}  // namespace edgerun
