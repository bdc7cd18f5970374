// std::vector storage that starts on a cache line (64 bytes). Packed GEMM operands are read as
// 64-byte rows (AMX tile rows, AVX-512 vectors); a row that straddles two lines costs two loads,
// and plain std::vector storage is only 16-byte aligned.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace edgerun {

template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};

  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlignment); }

  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace edgerun
