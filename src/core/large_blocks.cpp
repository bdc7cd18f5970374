#include "core/large_blocks.h"

#include <sys/mman.h>

#include <cstdint>

namespace edgerun {

namespace {

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// A fresh 2 MiB-aligned mapping of `bytes` (a multiple of 2 MiB), advised to use huge pages.
char* map_aligned(size_t bytes) {
  const size_t over = bytes + LargeBlockCache::kHugePage;
  void* raw = mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  char* start = static_cast<char*>(raw);
  char* base = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(start), LargeBlockCache::kHugePage));
  if (base > start) munmap(start, size_t(base - start));
  char* end = base + bytes;
  if (end < start + over) munmap(end, size_t(start + over - end));
#ifdef MADV_HUGEPAGE
  madvise(base, bytes, MADV_HUGEPAGE);  // advice only: without THP the block still works
#endif
  return base;
}

}  // namespace

LargeBlockCache::~LargeBlockCache() {
  for (const Block& b : free_) munmap(b.base, b.mapped);
  for (const auto& [base, mapped] : live_) munmap(base, mapped);
}

void* LargeBlockCache::allocate(size_t n) {
  if (n > SIZE_MAX / 2) return nullptr;
  const size_t need = round_up(n + kHeader, kHugePage);
  std::lock_guard<std::mutex> lock(mutex_);
  // The smallest cached block that fits: its pages are already there, so taking a bigger one
  // costs no memory, while mapping a new block would add to the process's footprint.
  size_t best = free_.size();
  for (size_t i = 0; i < free_.size(); ++i)
    if (free_[i].mapped >= need && (best == free_.size() || free_[i].mapped < free_[best].mapped)) best = i;
  Block b{nullptr, need};
  if (best < free_.size()) {
    b = free_[best];
    free_.erase(free_.begin() + std::ptrdiff_t(best));
    cached_ -= b.mapped;
  } else {
    b.base = map_aligned(need);
    if (!b.base) return nullptr;
  }
  live_.emplace(b.base, b.mapped);
  return b.base + kHeader;
}

bool LargeBlockCache::release(void* p) {
  if (!p || (reinterpret_cast<uintptr_t>(p) & (kHugePage - 1)) != kHeader) return false;
  char* base = static_cast<char*>(p) - kHeader;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_.find(base);
  if (it == live_.end()) return false;
  const Block b{base, it->second};
  live_.erase(it);
  if (b.mapped > max_cached_) {
    munmap(b.base, b.mapped);
    return true;
  }
  while (cached_ + b.mapped > max_cached_) {
    munmap(free_.front().base, free_.front().mapped);
    cached_ -= free_.front().mapped;
    free_.erase(free_.begin());
  }
  free_.push_back(b);
  cached_ += b.mapped;
  return true;
}

size_t LargeBlockCache::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_;
}

size_t LargeBlockCache::cached_blocks() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return free_.size();
}

}  // namespace edgerun
