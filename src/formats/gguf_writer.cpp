#include "formats/gguf_writer.h"

#include <bit>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace edgerun {

static_assert(std::endian::native == std::endian::little,
              "the GGUF writer stores host integers as little-endian fields");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;
constexpr size_t kMaxKeyBytes = 65535;
constexpr size_t kMaxTensorNameBytes = 64;  // GGML_MAX_NAME; the reader enforces the same

using Bytes = std::vector<uint8_t>;

// Appends raw bytes (resize + memcpy: GCC 12 misreports vector::insert of small arrays).
void put_bytes(Bytes& b, const void* p, size_t n) {
  if (n == 0) return;
  const size_t at = b.size();
  b.resize(at + n);
  std::memcpy(b.data() + at, p, n);
}

template <class T>
void put(Bytes& b, T v) {
  put_bytes(b, &v, sizeof(T));
}

void put_string(Bytes& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  put_bytes(b, s.data(), s.size());
}

const char* type_name(GgufType t) {
  static const char* const names[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                                      "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
  return uint32_t(t) < 13 ? names[uint32_t(t)] : "unknown";
}

// The value without its type tag (array elements are stored that way).
void encode_payload(Bytes& b, const GgufValue& v, const std::string& key) {
  switch (v.type) {
    case GgufType::UINT8: put<uint8_t>(b, uint8_t(v.u)); break;
    case GgufType::INT8: put<int8_t>(b, int8_t(v.i)); break;
    case GgufType::UINT16: put<uint16_t>(b, uint16_t(v.u)); break;
    case GgufType::INT16: put<int16_t>(b, int16_t(v.i)); break;
    case GgufType::UINT32: put<uint32_t>(b, uint32_t(v.u)); break;
    case GgufType::INT32: put<int32_t>(b, int32_t(v.i)); break;
    case GgufType::UINT64: put<uint64_t>(b, v.u); break;
    case GgufType::INT64: put<int64_t>(b, v.i); break;
    case GgufType::FLOAT32: put<float>(b, float(v.f)); break;
    case GgufType::FLOAT64: put<double>(b, v.f); break;
    case GgufType::BOOL:
      if (v.u > 1) fail("GGUF key '" + key + "'", "BOOL value " + std::to_string(v.u) + " is not 0 or 1");
      put<uint8_t>(b, uint8_t(v.u));
      break;
    case GgufType::STRING: put_string(b, v.str); break;
    case GgufType::ARRAY:
      put<uint32_t>(b, uint32_t(v.array_type));
      put<uint64_t>(b, v.array.size());
      for (const GgufValue& e : v.array) {
        if (e.type != v.array_type)
          fail("GGUF key '" + key + "'", std::string("array of ") + type_name(v.array_type) +
                                             " holds a " + type_name(e.type) + " element");
        encode_payload(b, e, key);
      }
      break;
    default:
      fail("GGUF key '" + key + "'", "unknown value type " + std::to_string(uint32_t(v.type)));
  }
}

template <class T>
Bytes scalar(GgufType t, T v) {
  Bytes b;
  put<uint32_t>(b, uint32_t(t));
  put<T>(b, v);
  return b;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

GgufWriter::~GgufWriter() {
  if (file_) std::fclose(file_);
}

void GgufWriter::check_not_open(const char* what) const {
  if (file_ || finished_) fail("GGUF writer", std::string(what) + " after the file was opened");
}

void GgufWriter::put_kv(const std::string& key, Bytes bytes) {
  check_not_open("metadata set");
  if (key.empty() || key.size() > kMaxKeyBytes)
    fail("GGUF writer", "metadata key must be 1 to 65535 bytes, got " + std::to_string(key.size()));
  for (Kv& kv : kvs_) {
    if (kv.key == key) {
      kv.bytes = std::move(bytes);
      return;
    }
  }
  kvs_.push_back(Kv{key, std::move(bytes)});
}

void GgufWriter::set(const std::string& key, const GgufValue& value) {
  Bytes b;
  put<uint32_t>(b, uint32_t(value.type));
  encode_payload(b, value, key);
  put_kv(key, std::move(b));
}

void GgufWriter::set_u8(const std::string& k, uint8_t v) { put_kv(k, scalar(GgufType::UINT8, v)); }
void GgufWriter::set_i8(const std::string& k, int8_t v) { put_kv(k, scalar(GgufType::INT8, v)); }
void GgufWriter::set_u16(const std::string& k, uint16_t v) { put_kv(k, scalar(GgufType::UINT16, v)); }
void GgufWriter::set_i16(const std::string& k, int16_t v) { put_kv(k, scalar(GgufType::INT16, v)); }
void GgufWriter::set_u32(const std::string& k, uint32_t v) { put_kv(k, scalar(GgufType::UINT32, v)); }
void GgufWriter::set_i32(const std::string& k, int32_t v) { put_kv(k, scalar(GgufType::INT32, v)); }
void GgufWriter::set_u64(const std::string& k, uint64_t v) { put_kv(k, scalar(GgufType::UINT64, v)); }
void GgufWriter::set_i64(const std::string& k, int64_t v) { put_kv(k, scalar(GgufType::INT64, v)); }
void GgufWriter::set_f32(const std::string& k, float v) { put_kv(k, scalar(GgufType::FLOAT32, v)); }
void GgufWriter::set_f64(const std::string& k, double v) { put_kv(k, scalar(GgufType::FLOAT64, v)); }
void GgufWriter::set_bool(const std::string& k, bool v) { put_kv(k, scalar(GgufType::BOOL, uint8_t(v ? 1 : 0))); }

void GgufWriter::set_string(const std::string& k, const std::string& v) {
  Bytes b;
  put<uint32_t>(b, uint32_t(GgufType::STRING));
  put_string(b, v);
  put_kv(k, std::move(b));
}

void GgufWriter::set_string_array(const std::string& k, const std::vector<std::string>& v) {
  Bytes b;
  size_t total = 16;
  for (const std::string& s : v) total += 8 + s.size();
  b.reserve(total);
  put<uint32_t>(b, uint32_t(GgufType::ARRAY));
  put<uint32_t>(b, uint32_t(GgufType::STRING));
  put<uint64_t>(b, v.size());
  for (const std::string& s : v) put_string(b, s);
  put_kv(k, std::move(b));
}

void GgufWriter::set_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  Bytes b;
  put<uint32_t>(b, uint32_t(GgufType::ARRAY));
  put<uint32_t>(b, uint32_t(GgufType::INT32));
  put<uint64_t>(b, v.size());
  put_bytes(b, v.data(), v.size() * 4);
  put_kv(k, std::move(b));
}

void GgufWriter::set_f32_array(const std::string& k, const std::vector<float>& v) {
  Bytes b;
  put<uint32_t>(b, uint32_t(GgufType::ARRAY));
  put<uint32_t>(b, uint32_t(GgufType::FLOAT32));
  put<uint64_t>(b, v.size());
  put_bytes(b, v.data(), v.size() * 4);
  put_kv(k, std::move(b));
}

bool GgufWriter::has(const std::string& key) const {
  for (const Kv& kv : kvs_)
    if (kv.key == key) return true;
  return false;
}

void GgufWriter::remove(const std::string& key) {
  check_not_open("metadata removed");
  for (size_t i = 0; i < kvs_.size(); ++i) {
    if (kvs_[i].key == key) {
      kvs_.erase(kvs_.begin() + long(i));
      return;
    }
  }
}

void GgufWriter::set_alignment(uint32_t alignment) {
  check_not_open("alignment set");
  if (alignment < 8 || (alignment & (alignment - 1)) != 0)
    fail("GGUF writer", "alignment " + std::to_string(alignment) + " is not a power of two >= 8");
  if (!tensors_.empty()) fail("GGUF writer", "set the alignment before declaring tensors");
  alignment_ = alignment;
  set_u32("general.alignment", alignment);
}

size_t GgufWriter::add_tensor(const std::string& name, uint32_t ggml_type, const std::vector<uint64_t>& ne) {
  check_not_open("tensor declared");
  const std::string where = "GGUF tensor '" + name + "'";
  if (name.empty() || name.size() > kMaxTensorNameBytes)
    fail(where, "name must be 1 to 64 bytes, got " + std::to_string(name.size()));
  for (const Pending& t : tensors_)
    if (t.info.name == name) fail(where, "declared twice");
  if (ne.empty() || ne.size() > 4) fail(where, "must have 1 to 4 dimensions, got " + std::to_string(ne.size()));
  uint32_t block_elems = 0, block_bytes = 0;
  if (!ggml_type_block(ggml_type, block_elems, block_bytes))
    fail(where, "unknown or retired ggml type " + std::to_string(ggml_type));
  uint64_t numel = 1;
  for (uint64_t n : ne) {
    if (n == 0 || __builtin_mul_overflow(numel, n, &numel)) fail(where, "has an empty or overflowing shape");
  }
  if (ne[0] % block_elems != 0)
    fail(where, "ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " + ggml_type_name(ggml_type) +
                    " block size " + std::to_string(block_elems));
  Pending p;
  p.info.name = name;
  p.info.ggml_type = ggml_type;
  p.info.ne = ne;
  p.info.offset = data_bytes_;
  p.nbytes = numel / block_elems * block_bytes;
  data_bytes_ = align_up(data_bytes_ + p.nbytes, alignment_);
  tensors_.push_back(std::move(p));
  return tensors_.size() - 1;
}

uint64_t GgufWriter::file_size() const {
  uint64_t n = 4 + 4 + 8 + 8;
  for (const Kv& kv : kvs_) n += 8 + kv.key.size() + kv.bytes.size();
  for (const Pending& t : tensors_) n += 8 + t.info.name.size() + 4 + 8 * t.info.ne.size() + 4 + 8;
  n = align_up(n, alignment_);
  // The last tensor is padded too, as llama.cpp's writer does.
  return n + data_bytes_;
}

void GgufWriter::raw_write(const void* data, size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, file_) != n)
    fail(path_, std::string("write failed: ") + std::strerror(errno));
  written_ += n;
}

void GgufWriter::pad_to(uint64_t multiple) {
  static const uint8_t zeros[256] = {};
  uint64_t n = align_up(written_, multiple) - written_;
  while (n > 0) {
    const size_t k = size_t(std::min<uint64_t>(n, sizeof zeros));
    raw_write(zeros, k);
    n -= k;
  }
}

void GgufWriter::open(const std::string& path) {
  check_not_open("open");
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) fail(path, std::string("cannot create the file: ") + std::strerror(errno));
  path_ = path;
  Bytes head;
  put<uint32_t>(head, kMagic);
  put<uint32_t>(head, kVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kvs_.size());
  raw_write(head.data(), head.size());
  for (const Kv& kv : kvs_) {
    Bytes k;
    put_string(k, kv.key);
    raw_write(k.data(), k.size());
    raw_write(kv.bytes.data(), kv.bytes.size());
  }
  for (const Pending& t : tensors_) {
    Bytes b;
    put_string(b, t.info.name);
    put<uint32_t>(b, uint32_t(t.info.ne.size()));
    for (uint64_t n : t.info.ne) put<uint64_t>(b, n);
    put<uint32_t>(b, t.info.ggml_type);
    put<uint64_t>(b, t.info.offset);
    raw_write(b.data(), b.size());
  }
  pad_to(alignment_);
  blob_start_ = written_;
  cur_ = 0;
  cur_done_ = 0;
}

void GgufWriter::write_data(const void* data, size_t n) {
  if (!file_) fail("GGUF writer", "write_data before open (or after finish)");
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (cur_ >= tensors_.size())
      fail(path_, "more tensor data written than the " + std::to_string(tensors_.size()) + " tensors hold");
    const Pending& t = tensors_[cur_];
    const size_t k = size_t(std::min<uint64_t>(n, t.nbytes - cur_done_));
    raw_write(p, k);
    p += k;
    n -= k;
    cur_done_ += k;
    if (cur_done_ == t.nbytes) {
      pad_to(alignment_);
      ++cur_;
      cur_done_ = 0;
    }
  }
}

void GgufWriter::finish() {
  if (!file_) fail("GGUF writer", "finish before open");
  if (cur_ != tensors_.size())
    fail(path_, "tensor '" + tensors_[cur_].info.name + "' is incomplete (" + std::to_string(cur_done_) + " of " +
                    std::to_string(tensors_[cur_].nbytes) + " bytes written)");
  std::FILE* f = file_;
  file_ = nullptr;
  finished_ = true;
  const bool flushed = std::fflush(f) == 0;
  const int flush_errno = errno;
  if (std::fclose(f) != 0 || !flushed)
    fail(path_, std::string("write failed: ") + std::strerror(flushed ? errno : flush_errno));
}

void GgufWriter::write_file(const std::string& path, const std::vector<const void*>& data) {
  if (data.size() != tensors_.size())
    fail(path, std::to_string(data.size()) + " data pointers for " + std::to_string(tensors_.size()) + " tensors");
  open(path);
  for (size_t i = 0; i < data.size(); ++i) write_data(data[i], size_t(tensors_[i].nbytes));
  finish();
}

}  // namespace edgerun
