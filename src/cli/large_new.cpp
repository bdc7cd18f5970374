// Every allocation of 1 MiB or more in the edgerun executable is served by one LargeBlockCache
// (huge-page-backed, reused after release; core/large_blocks.h says why). Only the executable
// does this: the library leaves an embedding application's allocator alone. Left out under
// AddressSanitizer, which has to see every allocation.
#include <cstdlib>
#include <malloc.h>
#include <new>

#include "core/large_blocks.h"

#if !defined(__SANITIZE_ADDRESS__)

namespace {

// What is left to malloc (under 1 MiB) stays in the heap: glibc otherwise gives the top of the
// heap back to the system whenever 128 KiB or more of it is free, and per-image buffers of a few
// hundred KiB then fault their pages in again on every image.
[[maybe_unused]] const bool kHeapKept = [] {
  mallopt(M_MMAP_THRESHOLD, int(edgerun::LargeBlockCache::kMinSize));
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  return true;
}();

// Never destroyed: blocks may still be released by static destructors at exit.
edgerun::LargeBlockCache& large_blocks() {
  alignas(edgerun::LargeBlockCache) static unsigned char storage[sizeof(edgerun::LargeBlockCache)];
  static edgerun::LargeBlockCache* cache = new (storage) edgerun::LargeBlockCache(size_t(512) << 20);
  return *cache;
}

void* allocate(std::size_t n) {
  void* p = n >= edgerun::LargeBlockCache::kMinSize ? large_blocks().allocate(n) : std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void release(void* p) noexcept {
  if (p && !large_blocks().release(p)) std::free(p);
}

// Over-aligned requests (core/aligned_vector.h asks for 64 bytes): the cache's blocks are 64-byte
// aligned, smaller ones come from aligned_alloc (size rounded up to the alignment, as it requires).
void* allocate_aligned(std::size_t n, std::align_val_t alignment) {
  const std::size_t a = static_cast<std::size_t>(alignment);
  void* p = n >= edgerun::LargeBlockCache::kMinSize && a <= 64 ? large_blocks().allocate(n)
                                                                : std::aligned_alloc(a, (n + a - 1) / a * a);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void* operator new(std::size_t n, std::align_val_t a) { return allocate_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return allocate_aligned(n, a); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }

#endif
