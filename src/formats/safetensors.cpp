#include "formats/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "formats/dtype_check.h"
#include "formats/json_file.h"

namespace edgerun {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
constexpr int kMaxJsonDepth = 8;                    // real headers nest 3 deep
// JSON values cost ~16+ bytes each in memory; real headers hold ~10 per tensor. The cap stops
// a 100 MB header of tiny values from costing gigabytes.
constexpr uint64_t kMaxJsonValues = uint64_t(4) << 20;

struct DtypeName {
  const char* name;
  DType dtype;
};
constexpr DtypeName kDtypes[] = {
    {"BOOL", DType::BOOL}, {"U8", DType::U8},   {"I8", DType::I8},     {"I16", DType::I16},
    {"U16", DType::U16},   {"F16", DType::F16}, {"BF16", DType::BF16}, {"I32", DType::I32},
    {"U32", DType::U32},   {"F32", DType::F32}, {"F64", DType::F64},   {"I64", DType::I64},
    {"U64", DType::U64},   {"F8_E4M3", DType::F8_E4M3},
};
// Valid in the format, but the engine has no element type for them.
constexpr const char* kUnsupportedDtypes[] = {"C64",         "F8_E5M2",
                                              "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0",
                                              "F4",          "F6_E2M3", "F6_E3M2"};


DType parse_dtype(const std::string& s, const std::string& path, const std::string& where) {
  for (const DtypeName& d : kDtypes) {
    if (s == d.name) return d.dtype;
  }
  for (const char* u : kUnsupportedDtypes) {
    if (s == u) {
      fail(path, where + " has dtype " + s + ", which is not supported (supported: BOOL, U8, I8, "
                         "I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3)");
    }
  }
  fail(path, where + " has unknown dtype " + quote_for_message(s));
}

// A non-negative JSON integer that fits in int64 (shapes and offsets).
uint64_t json_index(const json& v, const std::string& path, const std::string& what) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u <= uint64_t(std::numeric_limits<int64_t>::max())) return u;
  } else if (v.is_number_integer()) {  // signed storage: negative, or "-0"
    const int64_t i = v.get<int64_t>();
    if (i >= 0) return uint64_t(i);
    fail(path, what + " is negative (" + v.dump() + ")");
  }
  fail(path, what + " must be a non-negative integer, got " + v.dump().substr(0, 80));
}

struct Entry {
  size_t index;  // position in header order
  uint64_t begin, end;
};

// Parses the header, rejecting duplicate keys (nlohmann would silently keep the last) and
// recording the top-level key order (json objects are sorted maps).
json parse_header(const char* text, size_t n, const std::string& path,
                  std::vector<std::string>& key_order) {
  std::vector<std::set<std::string>> seen;  // keys of each open object
  int depth = 0;
  uint64_t values = 0;
  auto cb = [&](int, json::parse_event_t ev, json& parsed) -> bool {
    if (++values > kMaxJsonValues) fail(path, "header holds too many JSON values");
    switch (ev) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        [[fallthrough]];
      case json::parse_event_t::array_start:
        if (++depth > kMaxJsonDepth) fail(path, "header JSON is nested too deeply");
        break;
      case json::parse_event_t::object_end:
        seen.pop_back();
        [[fallthrough]];
      case json::parse_event_t::array_end:
        --depth;
        break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (!seen.back().insert(k).second) fail(path, "header has duplicate key " + quote_for_message(k));
        if (depth == 1) key_order.push_back(k);
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text, text + n, cb);
  } catch (const json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
}

// Copies the tensors whose data is misaligned for their dtype into one aligned buffer, and
// returns a Storage pointer that keeps both the file and that buffer alive.
std::shared_ptr<Storage> align_views(std::shared_ptr<Storage> file, std::vector<Tensor>& tensors) {
  auto misaligned = [](const Tensor& t) {
    return t.nbytes > 0 && reinterpret_cast<uintptr_t>(t.data) % dtype_alignment(t.dtype) != 0;
  };
  size_t total = 0;
  for (const Tensor& t : tensors) {
    if (misaligned(t)) total += (t.nbytes + 63) / 64 * 64;
  }
  if (total == 0) return file;
  struct Holder {
    std::shared_ptr<Storage> file;
    std::unique_ptr<uint8_t, decltype(&std::free)> buf{nullptr, &std::free};
  };
  auto holder = std::make_shared<Holder>();
  holder->file = std::move(file);
  holder->buf.reset(static_cast<uint8_t*>(std::aligned_alloc(64, total)));
  if (!holder->buf) fail(holder->file->name(), "out of memory copying misaligned tensors");
  size_t at = 0;
  for (Tensor& t : tensors) {
    if (!misaligned(t)) continue;
    std::memcpy(holder->buf.get() + at, t.data, t.nbytes);
    t.data = holder->buf.get() + at;
    at += (t.nbytes + 63) / 64 * 64;
  }
  Storage* s = holder->file.get();
  return std::shared_ptr<Storage>(holder, s);  // aliasing: owns holder, points at the file
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(Storage::map_file(path));
}

SafetensorsFile parse_safetensors(std::shared_ptr<Storage> storage) {
  if (!storage) fail("safetensors", "no data to parse");
  const std::string path = storage->name();
  const uint64_t file_size = storage->size();
  if (file_size < 8) {
    fail(path, "too small for a safetensors header (" + std::to_string(file_size) + " bytes)");
  }
  uint64_t n = 0;
  std::memcpy(&n, storage->data(), 8);  // little-endian u64 (hosts here are little-endian)
  if (n > kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes (not a safetensors file?)");
  }
  if (n > file_size - 8) {
    fail(path, "header length " + std::to_string(n) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  }
  std::vector<std::string> keys;
  const json header =
      parse_header(reinterpret_cast<const char*>(storage->data() + 8), size_t(n), path, keys);
  if (!header.is_object()) fail(path, "header must be a JSON object");

  SafetensorsFile out;
  const uint8_t* data = storage->data() + 8 + n;
  const uint64_t data_size = file_size - 8 - n;
  std::vector<Entry> entries;
  for (const std::string& name : keys) {
    const json& e = header.at(name);
    if (name == "__metadata__") {
      if (!e.is_object()) fail(path, "__metadata__ must be an object of strings");
      for (const auto& [k, v] : e.items()) {
        if (!v.is_string()) fail(path, "__metadata__ value for " + quote_for_message(k) + " is not a string");
        out.metadata.emplace_back(k, v.get<std::string>());
      }
      continue;
    }
    const std::string where = "tensor " + quote_for_message(name);
    if (!e.is_object()) fail(path, where + ": entry must be an object");
    auto dt = e.find("dtype"), sh = e.find("shape"), off = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) fail(path, where + ": missing string 'dtype'");
    if (sh == e.end() || !sh->is_array()) fail(path, where + ": missing array 'shape'");
    if (off == e.end() || !off->is_array() || off->size() != 2) {
      fail(path, where + ": 'data_offsets' must be an array [begin, end]");
    }
    Tensor t;
    t.name = name;
    t.dtype = parse_dtype(dt->get<std::string>(), path, where);
    bool has_zero = false;
    for (const json& d : *sh) {
      t.shape.push_back(int64_t(json_index(d, path, where + " shape entry")));
      has_zero |= t.shape.back() == 0;
    }
    // Element count, then bytes; a zero dimension makes the tensor empty whatever the rest.
    uint64_t bytes = has_zero ? 0 : dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (!has_zero && __builtin_mul_overflow(bytes, uint64_t(d), &bytes)) {
        fail(path, where + " shape " + t.shape_string() + " is too large (byte size overflows)");
      }
    }
    const uint64_t begin = json_index((*off)[0], path, where + " data_offsets begin");
    const uint64_t end = json_index((*off)[1], path, where + " data_offsets end");
    if (begin > end) {
      fail(path, where + " has data_offsets [" + std::to_string(begin) + ", " +
                     std::to_string(end) + "] with begin after end");
    }
    if (end - begin != bytes) {
      fail(path, where + " holds " + std::to_string(end - begin) + " bytes but shape " +
                     t.shape_string() + " of " + dtype_name(t.dtype) + " needs " +
                     std::to_string(bytes));
    }
    if (end > data_size) {
      fail(path, where + " data_offsets end " + std::to_string(end) +
                     " is past the end of the data section (" + std::to_string(data_size) +
                     " bytes)");
    }
    t.data = data + begin;
    t.nbytes = size_t(bytes);
    entries.push_back({out.tensors.size(), begin, end});
    out.tensors.push_back(std::move(t));
  }

  // Sorted by offset, the tensors must tile the data section exactly: no gap, no overlap.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (const Entry& e : entries) {
    const std::string where = "tensor " + quote_for_message(out.tensors[e.index].name);
    if (e.begin > expected) {
      fail(path, where + " starts at data offset " + std::to_string(e.begin) +
                     ", leaving a gap after offset " + std::to_string(expected));
    }
    if (e.begin < expected) {
      fail(path, where + " starts at data offset " + std::to_string(e.begin) +
                     ", overlapping the tensor before it (which ends at " +
                     std::to_string(expected) + ")");
    }
    expected = e.end;
  }
  if (expected != data_size) {
    fail(path, "tensors cover " + std::to_string(expected) + " bytes but the data section has " +
                   std::to_string(data_size) + " (trailing bytes)");
  }
  out.storage = align_views(std::move(storage), out.tensors);
  return out;
}

std::vector<SafetensorsFile> read_safetensors_index(const std::string& index_path) {
  const json index = read_json_file(index_path);
  if (!index.is_object()) fail(index_path, "index must be a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) fail(index_path, "missing object 'weight_map'");
  if (wm->empty()) fail(index_path, "'weight_map' lists no tensors");

  std::map<std::string, std::vector<std::string>> by_shard;  // shard file → tensors listed
  for (const auto& [name, v] : wm->items()) {
    if (!v.is_string()) fail(index_path, "weight_map entry " + quote_for_message(name) + " is not a string");
    const std::string shard = v.get<std::string>();
    // Shards live next to the index: a path component would let a file reach elsewhere.
    if (shard.empty() || shard == "." || shard == ".." ||
        shard.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
      fail(index_path, "weight_map entry " + quote_for_message(name) + " names shard " + quote_for_message(shard) +
                           ", which is not a plain file name in the index's directory");
    }
    by_shard[shard].push_back(name);
  }

  std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  if (dir.empty()) dir = ".";
  std::vector<SafetensorsFile> shards;
  for (const auto& [shard, names] : by_shard) {
    const std::string shard_path = (dir / shard).string();
    if (!file_exists(shard_path)) {
      fail(index_path, "shard " + quote_for_message(shard) + " named in weight_map does not exist (" +
                           shard_path + ")");
    }
    SafetensorsFile f = read_safetensors(shard_path);
    std::set<std::string> present;
    for (const Tensor& t : f.tensors) present.insert(t.name);
    for (const std::string& name : names) {
      if (!present.count(name)) {
        fail(index_path, "tensor " + quote_for_message(name) + " is mapped to shard " + quote_for_message(shard) +
                             ", which does not contain it");
      }
    }
    shards.push_back(std::move(f));
  }
  return shards;
}

namespace {

// Removes the temporary file unless the write completed and it was renamed into place.
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep) ::unlink(path.c_str());
  }
};

void write_all(TempFile& tmp, const std::string& dest, const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const ssize_t w = ::write(tmp.fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(dest, std::string("write failed: ") + std::strerror(w < 0 ? errno : EIO));
    b += w;
    n -= size_t(w);
  }
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  // Build and check the whole header before touching the file system.
  std::string header = "{";
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const std::string where = "tensor " + quote_for_message(t.name);
    if (t.name.empty() || t.name == "__metadata__") fail(path, "invalid tensor name " + quote_for_message(t.name));
    if (!names.insert(t.name).second) fail(path, "duplicate " + where);
    if (dtype_is_quantized(t.dtype)) {
      fail(path, where + ": safetensors cannot store block-quantized " + dtype_name(t.dtype));
    }
    uint64_t bytes = dtype_size(t.dtype);
    std::string shape;
    for (int64_t d : t.shape) {
      if (d < 0) fail(path, where + " has a negative dimension");
      if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes)) fail(path, where + " is too large");
      if (!shape.empty()) shape += ',';
      shape += std::to_string(d);
    }
    if (bytes != t.nbytes) {
      fail(path, where + ": " + std::to_string(t.nbytes) + " bytes given, shape and dtype need " +
                     std::to_string(bytes));
    }
    if (bytes > 0 && !t.data) fail(path, where + " has no data");
    std::string json_name;
    try {
      json_name = json(t.name).dump();
    } catch (const json::exception&) {
      fail(path, where + " name is not valid UTF-8");
    }
    header += (header.size() > 1 ? "," : "") + json_name + ":{\"dtype\":\"" +
              dtype_name(t.dtype) + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // data section starts 8-byte aligned

  // Write next to the destination, then rename: readers never see a half-written file.
  static std::atomic<unsigned> counter{0};
  TempFile tmp;
  tmp.path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (tmp.fd < 0) fail(path, std::string("cannot create file: ") + std::strerror(errno));
  const uint64_t n = header.size();
  write_all(tmp, path, &n, 8);
  write_all(tmp, path, header.data(), header.size());
  for (const TensorToWrite& t : tensors) write_all(tmp, path, t.data, t.nbytes);
  if (::fsync(tmp.fd) != 0) fail(path, std::string("fsync failed: ") + std::strerror(errno));
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) fail(path, std::string("close failed: ") + std::strerror(errno));
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) {
    fail(path, std::string("cannot rename the finished file into place: ") + std::strerror(errno));
  }
  tmp.keep = true;
}

}  // namespace edgerun
