#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "core/error.h"
#include "formats/dtype_check.h"

namespace edgerun {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader copies little-endian fields straight into host integers");

namespace {

constexpr uint32_t kMagic = 0x46554747;         // bytes "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxKeyBytes = 65535;
constexpr uint64_t kMaxTensorNameBytes = 64;
constexpr int kMaxArrayDepth = 4;                 // arrays of arrays of ... (real files use 1)
// GgufValue is ~100 bytes, so a 1-byte element in the file costs ~100x in memory. Real files
// hold ~1-2M elements (vocab + merges); this cap keeps a hostile file under ~2 GB of RAM.
constexpr uint64_t kMaxArrayElements = uint64_t(1) << 24;
// Smallest possible encodings, used to reject counts that cannot fit before allocating.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;                // key len, 1-byte key, type, u8
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, ne[0], type, offset

struct GgmlTypeInfo {
  const char* name;
  uint32_t block_elems;  // 0: id is retired or was never assigned, size unknown
  uint32_t block_bytes;
};

// Indexed by ggml type id; sizes from the block structs in ggml-common.h.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {"F32", 1, 4},          {"F16", 1, 2},           {"Q4_0", 32, 18},       {"Q4_1", 32, 20},
    {"Q4_2", 0, 0},         {"Q4_3", 0, 0},          {"Q5_0", 32, 22},       {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},       {"Q8_1", 32, 36},        {"Q2_K", 256, 84},      {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},     {"Q5_K", 256, 176},      {"Q6_K", 256, 210},     {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66},   {"IQ2_XS", 256, 74},     {"IQ3_XXS", 256, 98},   {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},     {"IQ3_S", 256, 110},     {"IQ2_S", 256, 82},     {"IQ4_XS", 256, 136},
    {"I8", 1, 1},           {"I16", 1, 2},           {"I32", 1, 4},          {"I64", 1, 8},
    {"F64", 1, 8},          {"IQ1_M", 256, 56},      {"BF16", 1, 2},         {"Q4_0_4_4", 0, 0},
    {"Q4_0_4_8", 0, 0},     {"Q4_0_8_8", 0, 0},      {"TQ1_0", 256, 54},     {"TQ2_0", 256, 66},
    {"IQ4_NL_4_4", 0, 0},   {"IQ4_NL_4_8", 0, 0},    {"IQ4_NL_8_8", 0, 0},   {"MXFP4", 32, 17},
};
constexpr uint32_t kNumGgmlTypes = sizeof(kGgmlTypes) / sizeof(kGgmlTypes[0]);

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  if (id >= kNumGgmlTypes || kGgmlTypes[id].block_elems == 0) return nullptr;
  return &kGgmlTypes[id];
}

// The ggml types the engine has a DType for (views can be made; compute support is separate).
bool engine_dtype(uint32_t id, DType& out) {
  switch (id) {
    case 0: out = DType::F32; return true;
    case 1: out = DType::F16; return true;
    case 2: out = DType::Q4_0; return true;
    case 8: out = DType::Q8_0; return true;
    case 12: out = DType::Q4_K; return true;
    case 14: out = DType::Q6_K; return true;
    case 24: out = DType::I8; return true;
    case 25: out = DType::I16; return true;
    case 26: out = DType::I32; return true;
    case 27: out = DType::I64; return true;
    case 28: out = DType::F64; return true;
    case 30: out = DType::BF16; return true;
    default: return false;
  }
}

const char* value_type_name(uint32_t t) {
  static const char* const names[] = {"UINT8", "INT8",   "UINT16", "INT16", "UINT32",
                                      "INT32", "FLOAT32", "BOOL",  "STRING", "ARRAY",
                                      "UINT64", "INT64", "FLOAT64"};
  return t < 13 ? names[t] : "unknown";
}

std::string type_desc(const GgufValue& v) {
  std::string s = value_type_name(uint32_t(v.type));
  if (v.type == GgufType::ARRAY) s += std::string(" of ") + value_type_name(uint32_t(v.array_type));
  return s;
}

// Encoded size of the smallest value of a type; 0 for an unknown type.
uint64_t min_value_bytes(uint32_t t) {
  switch (t) {
    case 0: case 1: case 7: return 1;
    case 2: case 3: return 2;
    case 4: case 5: case 6: return 4;
    case 10: case 11: case 12: case 8: return 8;  // a string is at least its u64 length
    case 9: return 12;                            // element type + count
    default: return 0;
  }
}


bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) { return __builtin_mul_overflow(a, b, &out); }
bool add_overflows(uint64_t a, uint64_t b, uint64_t& out) { return __builtin_add_overflow(a, b, &out); }

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

  template <class T>
  T read(const std::string& what) {
    if (remaining() < sizeof(T)) {
      fail(path_, "truncated: " + what + " at byte " + std::to_string(pos_) +
                      " runs past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // u64 length + bytes. The length is checked against the bytes left before anything is copied.
  std::string read_string(const std::string& what, uint64_t max_len) {
    const size_t at = pos_;
    const uint64_t n = read<uint64_t>(what + " length");
    if (n > remaining()) {
      fail(path_, what + " at byte " + std::to_string(at) + " claims " + std::to_string(n) +
                      " bytes but only " + std::to_string(remaining()) + " remain");
    }
    if (n > max_len) {
      fail(path_, what + " at byte " + std::to_string(at) + " is " + std::to_string(n) +
                      " bytes long (at most " + std::to_string(max_len) + " allowed)");
    }
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& path_;
};

void read_value(Reader& r, uint32_t type, GgufValue& v, int depth, const std::string& where,
                uint64_t& element_budget) {
  if (min_value_bytes(type) == 0) {
    fail(r.path(), where + ": unknown value type " + std::to_string(type));
  }
  v.type = GgufType(type);
  switch (v.type) {
    case GgufType::UINT8: v.u = r.read<uint8_t>(where); break;
    case GgufType::INT8: v.i = r.read<int8_t>(where); break;
    case GgufType::UINT16: v.u = r.read<uint16_t>(where); break;
    case GgufType::INT16: v.i = r.read<int16_t>(where); break;
    case GgufType::UINT32: v.u = r.read<uint32_t>(where); break;
    case GgufType::INT32: v.i = r.read<int32_t>(where); break;
    case GgufType::UINT64: v.u = r.read<uint64_t>(where); break;
    case GgufType::INT64: v.i = r.read<int64_t>(where); break;
    case GgufType::FLOAT32: v.f = r.read<float>(where); break;
    case GgufType::FLOAT64: v.f = r.read<double>(where); break;
    case GgufType::BOOL: {
      const uint8_t b = r.read<uint8_t>(where);
      if (b > 1) fail(r.path(), where + ": BOOL value " + std::to_string(b) + " is not 0 or 1");
      v.u = b;
      break;
    }
    case GgufType::STRING:
      // A string value is bounded only by the file (chat templates run to tens of KB).
      v.str = r.read_string(where + " string", std::numeric_limits<uint64_t>::max());
      break;
    case GgufType::ARRAY: {
      const uint32_t elem = r.read<uint32_t>(where + " array element type");
      if (min_value_bytes(elem) == 0) {
        fail(r.path(), where + ": unknown array element type " + std::to_string(elem));
      }
      if (elem == uint32_t(GgufType::ARRAY) && depth + 1 >= kMaxArrayDepth) {
        fail(r.path(), where + ": arrays nested more than " + std::to_string(kMaxArrayDepth) +
                           " deep");
      }
      const uint64_t count = r.read<uint64_t>(where + " array length");
      if (count > r.remaining() / min_value_bytes(elem)) {
        fail(r.path(), where + ": array of " + std::to_string(count) + " " +
                           value_type_name(elem) + " elements cannot fit in the " +
                           std::to_string(r.remaining()) + " bytes left in the file");
      }
      if (count > element_budget) {
        fail(r.path(), where + ": metadata arrays hold more than " +
                           std::to_string(kMaxArrayElements) + " elements in total");
      }
      element_budget -= count;
      v.array_type = GgufType(elem);
      v.array.resize(size_t(count));
      for (uint64_t k = 0; k < count; ++k) {
        // Errors inside name the key and the byte offset; no per-element label is built.
        read_value(r, elem, v.array[size_t(k)], depth + 1, where, element_budget);
      }
      break;
    }
  }
}

// Numeric conversions shared by GgufValue::as_* and GgufFile::get_*; `why` explains a refusal.
bool value_to_int(const GgufValue& v, int64_t& out, std::string& why) {
  switch (v.type) {
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64:
      if (v.u > uint64_t(std::numeric_limits<int64_t>::max())) {
        why = "value " + std::to_string(v.u) + " does not fit in a signed 64-bit integer";
        return false;
      }
      out = int64_t(v.u);
      return true;
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64:
      out = v.i;
      return true;
    case GgufType::FLOAT32: case GgufType::FLOAT64:
      // Accept an integral float (a writer's type slip); refuse to round anything else.
      if (std::isfinite(v.f) && v.f == std::trunc(v.f) && std::fabs(v.f) < 9.2e18) {
        out = int64_t(v.f);
        return true;
      }
      why = "expected an integer, got " + type_desc(v) + " " + std::to_string(v.f);
      return false;
    default:
      why = "expected an integer, got " + type_desc(v);
      return false;
  }
}

bool value_to_float(const GgufValue& v, double& out, std::string& why) {
  switch (v.type) {
    case GgufType::FLOAT32: case GgufType::FLOAT64: out = v.f; return true;
    case GgufType::UINT8: case GgufType::UINT16: case GgufType::UINT32: case GgufType::UINT64:
      out = double(v.u);
      return true;
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64:
      out = double(v.i);
      return true;
    default:
      why = "expected a number, got " + type_desc(v);
      return false;
  }
}

}  // namespace

std::string ggml_type_name(uint32_t ggml_type) {
  if (ggml_type < kNumGgmlTypes) return kGgmlTypes[ggml_type].name;
  return "type " + std::to_string(ggml_type);
}

bool ggml_type_block(uint32_t ggml_type, uint32_t& block_elems, uint32_t& block_bytes) {
  const GgmlTypeInfo* ti = ggml_type_info(ggml_type);
  if (!ti) return false;
  block_elems = ti->block_elems;
  block_bytes = ti->block_bytes;
  return true;
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
      return true;
    default:
      return false;
  }
}

int64_t GgufValue::as_int(const std::string& key) const {
  int64_t out = 0;
  std::string why;
  if (!value_to_int(*this, out, why)) fail(key, why);
  return out;
}

double GgufValue::as_float(const std::string& key) const {
  double out = 0;
  std::string why;
  if (!value_to_float(*this, out, why)) fail(key, why);
  return out;
}

GgufFile GgufFile::open(const std::string& path) { return parse(Storage::map_file(path)); }

GgufFile GgufFile::parse(std::shared_ptr<Storage> storage) {
  if (!storage) fail("GGUF", "no data to parse");
  GgufFile g;
  g.storage_ = std::move(storage);
  const std::string& path = g.storage_->name();
  const uint64_t file_size = g.storage_->size();
  if (file_size < 24) {
    fail(path, "too small to be a GGUF file (" + std::to_string(file_size) + " bytes)");
  }
  Reader r(g.storage_->data(), g.storage_->size(), path);

  // --- header ---
  const uint32_t magic = r.read<uint32_t>("magic");
  if (magic != kMagic) {
    char hex[48];
    const uint8_t* d = g.storage_->data();
    std::snprintf(hex, sizeof hex, "%02x %02x %02x %02x", d[0], d[1], d[2], d[3]);
    fail(path, std::string("not a GGUF file (starts with bytes ") + hex +
                   ", expected 47 47 55 46 = \"GGUF\")");
  }
  g.version_ = r.read<uint32_t>("version");
  if (g.version_ == 1) {
    fail(path, "GGUF version 1 is not supported (only versions 2 and 3); re-convert the model "
               "with a current llama.cpp");
  }
  if (g.version_ != 2 && g.version_ != 3) {
    if (g.version_ == 0x02000000u || g.version_ == 0x03000000u) {
      fail(path, "big-endian GGUF files are not supported");
    }
    fail(path, "unsupported GGUF version " + std::to_string(g.version_) +
                   " (only versions 2 and 3 are supported)");
  }
  const uint64_t tensor_count = r.read<uint64_t>("tensor count");
  const uint64_t kv_count = r.read<uint64_t>("metadata count");
  // Both counts must fit in what is left before anything is sized from them.
  if (kv_count > r.remaining() / kMinKvBytes) {
    fail(path, "metadata count " + std::to_string(kv_count) + " cannot fit in the " +
                   std::to_string(r.remaining()) + " bytes left in the file");
  }
  if (tensor_count > r.remaining() / kMinTensorInfoBytes) {
    fail(path, "tensor count " + std::to_string(tensor_count) + " cannot fit in the " +
                   std::to_string(r.remaining()) + " bytes left in the file");
  }
  if (kv_count * kMinKvBytes + tensor_count * kMinTensorInfoBytes > r.remaining()) {
    fail(path, "metadata count " + std::to_string(kv_count) + " and tensor count " +
                   std::to_string(tensor_count) + " cannot fit in the " +
                   std::to_string(r.remaining()) + " bytes left in the file");
  }

  // --- metadata ---
  uint64_t element_budget = kMaxArrayElements;
  for (uint64_t k = 0; k < kv_count; ++k) {
    std::string key = r.read_string("metadata key #" + std::to_string(k), kMaxKeyBytes);
    if (key.empty()) fail(path, "metadata key #" + std::to_string(k) + " is empty");
    const std::string where = "metadata key " + quote_for_message(key);
    const uint32_t type = r.read<uint32_t>(where + " value type");
    GgufValue v;
    read_value(r, type, v, 0, where, element_budget);
    if (!g.metadata_.emplace(std::move(key), std::move(v)).second) {
      fail(path, "duplicate " + where);
    }
  }

  g.alignment_ = kDefaultAlignment;
  if (const GgufValue* a = g.find("general.alignment")) {
    if (!a->is_integer()) {
      fail(path, "general.alignment must be an integer, got " + type_desc(*a));
    }
    const bool negative = a->type == GgufType::INT8 || a->type == GgufType::INT16 ||
                          a->type == GgufType::INT32 || a->type == GgufType::INT64;
    const uint64_t al = negative ? (a->i < 0 ? 0 : uint64_t(a->i)) : a->u;
    if (al == 0 || (al & (al - 1)) != 0) {
      fail(path, "general.alignment " + (negative ? std::to_string(a->i) : std::to_string(a->u)) +
                     " is not a power of two");
    }
    g.alignment_ = al;
  }

  // --- tensor infos ---
  std::vector<uint64_t> nbytes;
  std::set<std::string> names;
  g.tensors_.reserve(size_t(tensor_count));
  nbytes.reserve(size_t(tensor_count));
  for (uint64_t k = 0; k < tensor_count; ++k) {
    GgufTensorInfo info;
    info.name = r.read_string("tensor #" + std::to_string(k) + " name", kMaxTensorNameBytes);
    if (info.name.empty()) fail(path, "tensor #" + std::to_string(k) + " has an empty name");
    const std::string where = "tensor " + quote_for_message(info.name);
    if (!names.insert(info.name).second) fail(path, "duplicate " + where);
    const uint32_t n_dims = r.read<uint32_t>(where + " n_dims");
    if (n_dims < 1 || n_dims > 4) {
      fail(path, where + " has " + std::to_string(n_dims) + " dimensions (must be 1 to 4)");
    }
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = r.read<uint64_t>(where + " ne[" + std::to_string(d) + "]");
      if (n == 0 || n > uint64_t(std::numeric_limits<int64_t>::max())) {
        fail(path, where + " has invalid ne[" + std::to_string(d) + "] = " + std::to_string(n));
      }
      if (mul_overflows(numel, n, numel) || numel > uint64_t(std::numeric_limits<int64_t>::max())) {
        fail(path, where + " has too many elements (element count overflows)");
      }
      info.ne.push_back(n);
    }
    info.ggml_type = r.read<uint32_t>(where + " type");
    const GgmlTypeInfo* ti = ggml_type_info(info.ggml_type);
    if (!ti) {
      fail(path, where + " has unknown or retired ggml type " + ggml_type_name(info.ggml_type) +
                     " (id " + std::to_string(info.ggml_type) + ")");
    }
    if (info.ne[0] % ti->block_elems != 0) {
      fail(path, where + ": ne[0] = " + std::to_string(info.ne[0]) + " is not a multiple of the " +
                     ti->name + " block size " + std::to_string(ti->block_elems));
    }
    uint64_t bytes = 0;
    if (mul_overflows(numel / ti->block_elems, ti->block_bytes, bytes)) {
      fail(path, where + " is too large (byte size overflows)");
    }
    info.offset = r.read<uint64_t>(where + " offset");
    g.tensors_.push_back(std::move(info));
    nbytes.push_back(bytes);
  }

  // --- data blob: starts at the next multiple of the alignment after the infos ---
  uint64_t padded = 0;
  if (add_overflows(r.pos(), g.alignment_ - 1, padded)) {
    fail(path, "general.alignment " + std::to_string(g.alignment_) + " is too large");
  }
  g.data_offset_ = padded / g.alignment_ * g.alignment_;

  std::vector<size_t> order(g.tensors_.size());
  for (size_t k = 0; k < order.size(); ++k) {
    const GgufTensorInfo& t = g.tensors_[k];
    const std::string where = "tensor " + quote_for_message(t.name);
    if (t.offset % g.alignment_ != 0) {
      fail(path, where + " offset " + std::to_string(t.offset) + " is not a multiple of the " +
                     "alignment " + std::to_string(g.alignment_));
    }
    uint64_t begin = 0, end = 0;
    if (add_overflows(g.data_offset_, t.offset, begin) || add_overflows(begin, nbytes[k], end) ||
        end > file_size) {
      fail(path, where + " data (offset " + std::to_string(t.offset) + ", " +
                     std::to_string(nbytes[k]) + " bytes, blob at byte " +
                     std::to_string(g.data_offset_) + ") runs past the end of the file (" +
                     std::to_string(file_size) + " bytes)");
    }
    order[k] = k;
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return g.tensors_[a].offset < g.tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const size_t prev = order[k - 1], cur = order[k];
    if (g.tensors_[prev].offset + nbytes[prev] > g.tensors_[cur].offset) {
      fail(path, "tensors " + quote_for_message(g.tensors_[prev].name) + " and " +
                     quote_for_message(g.tensors_[cur].name) + " overlap in the data blob");
    }
  }
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {

const GgufValue& require(const GgufFile& g, const std::string& key) {
  const GgufValue* v = g.find(key);
  if (!v) fail(g.path(), "missing metadata key '" + key + "'");
  return *v;
}

std::string key_where(const GgufFile& g, const std::string& key) {
  return g.path() + ": metadata key '" + key + "'";
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufType::STRING) fail(key_where(*this, key), "expected STRING, got " + type_desc(v));
  return v.str;
}

int64_t GgufFile::get_int(const std::string& key) const {
  int64_t out = 0;
  std::string why;
  if (!value_to_int(require(*this, key), out, why)) fail(key_where(*this, key), why);
  return out;
}

double GgufFile::get_float(const std::string& key) const {
  double out = 0;
  std::string why;
  if (!value_to_float(require(*this, key), out, why)) fail(key_where(*this, key), why);
  return out;
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& fallback) const {
  return find(key) ? get_string(key) : fallback;
}

int64_t GgufFile::get_int_or(const std::string& key, int64_t fallback) const {
  return find(key) ? get_int(key) : fallback;
}

double GgufFile::get_float_or(const std::string& key, double fallback) const {
  return find(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool_or(const std::string& key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufType::BOOL) fail(key_where(*this, key), "expected BOOL, got " + type_desc(*v));
  return v->u != 0;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = require(*this, key);
  if (v.type != GgufType::ARRAY || v.array_type != GgufType::STRING) {
    fail(key_where(*this, key), "expected ARRAY of STRING, got " + type_desc(v));
  }
  std::vector<std::string> out;
  out.reserve(v.array.size());
  for (const GgufValue& e : v.array) out.push_back(e.str);
  return out;
}

std::vector<Tensor> GgufFile::tensors() const {
  std::vector<Tensor> out;
  out.reserve(tensors_.size());
  for (const GgufTensorInfo& info : tensors_) {
    DType dt;
    if (!engine_dtype(info.ggml_type, dt)) {
      fail(path(), "tensor " + quote_for_message(info.name) + " has ggml type " +
                       ggml_type_name(info.ggml_type) +
                       ", which this build cannot load (supported: F32, F16, BF16, I8, I16, I32, "
                       "I64, F64, Q8_0, Q4_0, Q4_K, Q6_K)");
    }
    Tensor t;
    t.name = info.name;
    t.dtype = dt;
    // GGUF lists the fastest-varying dimension first; PyTorch order is the reverse.
    t.shape.assign(info.ne.rbegin(), info.ne.rend());
    uint64_t numel = 1;
    for (uint64_t n : info.ne) numel *= n;  // validated in parse(): no overflow
    t.nbytes = size_t(numel / dtype_block_elems(dt) * dtype_block_bytes(dt));
    t.data = storage_->data() + data_offset_ + info.offset;
    // Kernels cast these pointers; a tiny general.alignment or an unaligned borrowed buffer
    // would make that undefined, so refuse rather than hand out a misaligned view.
    const size_t need = dtype_alignment(dt);
    if (reinterpret_cast<uintptr_t>(t.data) % need != 0) {
      fail(path(), "tensor " + quote_for_message(info.name) + " data is not aligned to " +
                       std::to_string(need) + " bytes (general.alignment = " +
                       std::to_string(alignment_) + ")");
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace edgerun
