#include "formats/zip_reader.h"

#include <array>
#include <cstring>
#include <unordered_set>

#include "core/error.h"

namespace edgerun {

namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr size_t kEndRecordBytes = 22;
constexpr size_t kZip64EndRecordBytes = 56;
constexpr size_t kZip64LocatorBytes = 20;
constexpr size_t kCentralHeaderBytes = 46;
constexpr size_t kLocalHeaderBytes = 30;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kMethodStored = 0;
constexpr uint16_t kFlagEncrypted = 0x0001;

// Little-endian field reads at a position the caller has already bounds-checked.
uint16_t u16_at(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t u32_at(const uint8_t* p) { return uint32_t(u16_at(p)) | (uint32_t(u16_at(p + 2)) << 16); }
uint64_t u64_at(const uint8_t* p) { return uint64_t(u32_at(p)) | (uint64_t(u32_at(p + 4)) << 32); }

struct Archive {
  const uint8_t* data;
  uint64_t size;
  const std::string& where;

  // Fails unless [offset, offset + n) lies inside the file.
  void require(uint64_t offset, uint64_t n, const std::string& what) const {
    if (offset > size || n > size - offset)
      fail(where, what + " (bytes " + std::to_string(offset) + "+" + std::to_string(n) +
                      ") runs past the end of the file (" + std::to_string(size) + " bytes)");
  }
};

struct Directory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

// The end-of-central-directory record is the last thing in the file, followed only by a
// comment of at most 64 KiB, so it is searched for backwards from the end.
uint64_t find_end_record(const Archive& zip) {
  if (zip.size < kEndRecordBytes)
    fail(zip.where, "too small to be a ZIP archive (" + std::to_string(zip.size) + " bytes)");
  const uint64_t lowest = zip.size > kEndRecordBytes + 0xffff ? zip.size - kEndRecordBytes - 0xffff : 0;
  for (uint64_t at = zip.size - kEndRecordBytes;; --at) {
    if (u32_at(zip.data + at) == kEndSignature &&
        at + kEndRecordBytes + u16_at(zip.data + at + 20) == zip.size)
      return at;
    if (at == lowest) break;
  }
  fail(zip.where, "no ZIP end-of-central-directory record (not a zip-format torch.save file?)");
}

Directory read_directory_location(const Archive& zip) {
  const uint64_t end = find_end_record(zip);
  const uint8_t* e = zip.data + end;
  Directory dir{u16_at(e + 10), u32_at(e + 16), u32_at(e + 12)};
  if (u16_at(e + 4) != 0 || u16_at(e + 6) != 0 || u16_at(e + 8) != u16_at(e + 10))
    fail(zip.where, "multi-disk ZIP archives are not supported");
  const bool needs_zip64 = dir.entries == 0xffff || dir.offset == 0xffffffff || dir.bytes == 0xffffffff;
  if (needs_zip64) {
    if (end < kZip64LocatorBytes) fail(zip.where, "ZIP64 locator missing before the end record");
    const uint8_t* loc = zip.data + end - kZip64LocatorBytes;
    if (u32_at(loc) != kZip64LocatorSignature) fail(zip.where, "ZIP64 locator missing before the end record");
    const uint64_t record = u64_at(loc + 8);
    zip.require(record, kZip64EndRecordBytes, "ZIP64 end record");
    const uint8_t* r = zip.data + record;
    if (u32_at(r) != kZip64EndSignature) fail(zip.where, "ZIP64 end record has a bad signature");
    dir.entries = u64_at(r + 32);
    dir.bytes = u64_at(r + 40);
    dir.offset = u64_at(r + 48);
  }
  zip.require(dir.offset, dir.bytes, "central directory");
  // Each entry takes at least the fixed header: this bounds the count before anything is reserved.
  if (dir.entries > dir.bytes / kCentralHeaderBytes)
    fail(zip.where, "central directory claims " + std::to_string(dir.entries) + " entries in " +
                        std::to_string(dir.bytes) + " bytes");
  return dir;
}

// Replaces the 32-bit fields that are saturated (0xffffffff) with the ZIP64 extra field's values,
// which appear in the fixed order uncompressed size, compressed size, local header offset.
void apply_zip64_extra(const uint8_t* extra, uint64_t extra_bytes, std::array<uint64_t*, 3> fields,
                       const std::string& where, const std::string& entry) {
  uint64_t at = 0;
  while (at + 4 <= extra_bytes) {
    const uint16_t id = u16_at(extra + at), n = u16_at(extra + at + 2);
    if (n > extra_bytes - at - 4) fail(where, "entry " + entry + ": extra field runs past its area");
    if (id == kZip64ExtraId) {
      uint64_t used = 0;
      for (uint64_t* field : fields) {
        if (*field != 0xffffffff) continue;
        if (used + 8 > n) fail(where, "entry " + entry + ": ZIP64 extra field is too short");
        *field = u64_at(extra + at + 4 + used);
        used += 8;
      }
      return;
    }
    at += 4 + uint64_t(n);
  }
  for (uint64_t* field : fields)
    if (*field == 0xffffffff) fail(where, "entry " + entry + ": 32-bit size or offset saturated but no ZIP64 extra field");
}

}  // namespace

std::vector<ZipEntry> read_zip_entries(const uint8_t* data, size_t size, const std::string& where) {
  const Archive zip{data, size, where};
  const Directory dir = read_directory_location(zip);
  std::vector<ZipEntry> entries;
  entries.reserve(size_t(dir.entries));
  std::unordered_set<std::string> names;
  uint64_t at = dir.offset;
  const uint64_t dir_end = dir.offset + dir.bytes;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    if (at > dir_end || dir_end - at < kCentralHeaderBytes)
      fail(where, "central directory entry " + std::to_string(i) + " runs past the directory");
    const uint8_t* h = data + at;
    if (u32_at(h) != kCentralHeaderSignature)
      fail(where, "central directory entry " + std::to_string(i) + " has a bad signature");
    const uint16_t flags = u16_at(h + 8), method = u16_at(h + 10);
    const uint64_t name_bytes = u16_at(h + 28), extra_bytes = u16_at(h + 30), comment_bytes = u16_at(h + 32);
    if (name_bytes + extra_bytes + comment_bytes > dir_end - at - kCentralHeaderBytes)
      fail(where, "central directory entry " + std::to_string(i) + " runs past the directory");
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderBytes), size_t(name_bytes));
    const std::string shown = quote_for_message(entry.name);
    if (flags & kFlagEncrypted) fail(where, "entry " + shown + " is encrypted");
    if (method != kMethodStored)
      fail(where, "entry " + shown + " is compressed (method " + std::to_string(method) +
                      "); only uncompressed (stored) entries are supported, as torch.save writes them");
    entry.crc32 = u32_at(h + 16);
    uint64_t compressed = u32_at(h + 20), uncompressed = u32_at(h + 24), local = u32_at(h + 42);
    apply_zip64_extra(h + kCentralHeaderBytes + name_bytes, extra_bytes, {&uncompressed, &compressed, &local},
                      where, shown);
    if (compressed != uncompressed)
      fail(where, "entry " + shown + " is stored but its compressed and uncompressed sizes differ");
    if (!names.insert(entry.name).second) fail(where, "duplicate entry " + shown);

    zip.require(local, kLocalHeaderBytes, "local header of entry " + shown);
    const uint8_t* l = data + local;
    if (u32_at(l) != kLocalHeaderSignature) fail(where, "entry " + shown + ": local header has a bad signature");
    const uint64_t local_name = u16_at(l + 26), local_extra = u16_at(l + 28);
    zip.require(local + kLocalHeaderBytes, local_name + local_extra, "local header of entry " + shown);
    if (local_name != name_bytes || std::memcmp(l + kLocalHeaderBytes, entry.name.data(), entry.name.size()) != 0)
      fail(where, "entry " + shown + ": local header names a different file");
    if (u16_at(l + 8) != kMethodStored) fail(where, "entry " + shown + ": local header says compressed");
    entry.data_offset = local + kLocalHeaderBytes + local_name + local_extra;
    entry.size = uncompressed;
    zip.require(entry.data_offset, entry.size, "data of entry " + shown);
    entries.push_back(std::move(entry));
    at += kCentralHeaderBytes + name_bytes + extra_bytes + comment_bytes;
  }
  return entries;
}

uint32_t zip_crc32(const uint8_t* data, size_t n) {
  // Bitwise (no table): used only on small entries such as the pickle.
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

}  // namespace edgerun
