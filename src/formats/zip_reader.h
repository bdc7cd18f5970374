// Reads the directory of a ZIP archive held in memory (a mapped file), without copying entry
// data: only STORED (uncompressed) entries are accepted, as torch.save writes them, so each
// entry is a byte range of the file. ZIP64 sizes and offsets are supported.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace edgerun {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // where the entry's bytes start in the file
  uint64_t size = 0;
  uint32_t crc32 = 0;        // as recorded in the central directory
};

// Every entry of the archive, in central-directory order. Every length and offset is checked
// against `size`; compressed or encrypted entries, duplicate names and a local header that
// disagrees with the central directory are errors. Errors name `where`.
std::vector<ZipEntry> read_zip_entries(const uint8_t* data, size_t size, const std::string& where);

// The CRC-32 (ISO-HDLC, as ZIP uses) of `n` bytes.
uint32_t zip_crc32(const uint8_t* data, size_t n);

}  // namespace edgerun
