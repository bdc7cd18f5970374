// Large allocations for the compute paths. A vision encoder allocates and frees tens of
// activation buffers of 4–64 MiB per image; from malloc each is a fresh mmap, so every image costs
// hundreds of thousands of 4 KiB page faults (each zero-filled by the kernel), and the GEMMs then
// walk those buffers through 4 KiB page tables. Blocks from this cache are 2 MiB aligned, advised
// to use transparent huge pages, and kept after release for the next allocation of a similar size.
// The edgerun executable routes every allocation of at least kMinSize through one such cache
// (src/cli/large_new.cpp); the library itself does not replace operator new.
#pragma once
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace edgerun {

class LargeBlockCache {
 public:
  static constexpr size_t kMinSize = size_t(1) << 20;
  static constexpr size_t kHugePage = size_t(2) << 20;

  // Released blocks are kept while their total stays within max_cached_bytes (oldest unmapped first).
  explicit LargeBlockCache(size_t max_cached_bytes) : max_cached_(max_cached_bytes) {}
  ~LargeBlockCache();
  LargeBlockCache(const LargeBlockCache&) = delete;
  LargeBlockCache& operator=(const LargeBlockCache&) = delete;

  // At least n bytes, 64-byte aligned, or nullptr when the system has no memory for it.
  void* allocate(size_t n);
  // Takes back a pointer from allocate and returns true; returns false (and does nothing) for
  // any other pointer, so a caller can pass on what is not its own.
  bool release(void* p);

  size_t cached_bytes() const;
  size_t cached_blocks() const;

 private:
  // The returned pointer sits kHeader bytes into a 2 MiB-aligned mapping, so release can
  // rule out most foreign pointers without taking the lock.
  static constexpr size_t kHeader = 64;
  struct Block {
    char* base;
    size_t mapped;
  };

  mutable std::mutex mutex_;
  size_t max_cached_, cached_ = 0;
  std::vector<Block> free_;  // oldest first
  std::unordered_map<char*, size_t> live_;  // base → mapped bytes of the blocks handed out
};

}  // namespace edgerun
