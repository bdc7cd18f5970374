#include "core/large_blocks.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace edgerun {
namespace {

TEST(LargeBlockCache, BlocksAreUsableAlignedAndReusedAfterRelease) {
  LargeBlockCache cache(size_t(64) << 20);
  const size_t n = size_t(5) << 20;
  void* a = cache.allocate(n);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  std::memset(a, 0x5a, n);  // the whole request is writable
  EXPECT_EQ(static_cast<unsigned char*>(a)[n - 1], 0x5a);
  EXPECT_TRUE(cache.release(a));
  EXPECT_EQ(cache.cached_blocks(), 1u);
  EXPECT_GE(cache.cached_bytes(), n);
  // A request that fits takes the cached block back (no new mapping), the smallest that fits.
  void* b = cache.allocate(n - 1000);
  EXPECT_EQ(b, a);
  EXPECT_EQ(cache.cached_blocks(), 0u);
  void* c = cache.allocate(size_t(9) << 20);  // nothing cached: a new block
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c, b);
  EXPECT_TRUE(cache.release(c));  // cached: the 10 MiB block
  EXPECT_TRUE(cache.release(b));  // cached: the 6 MiB block
  void* small = cache.allocate(LargeBlockCache::kMinSize);
  EXPECT_EQ(small, b);  // the smaller of the two that fit
  EXPECT_TRUE(cache.release(small));
  EXPECT_EQ(cache.cached_blocks(), 2u);
}

TEST(LargeBlockCache, ForeignPointersAreNotTaken) {
  LargeBlockCache cache(size_t(16) << 20);
  void* heap = std::malloc(100);
  EXPECT_FALSE(cache.release(heap));
  std::free(heap);
  EXPECT_FALSE(cache.release(nullptr));
  void* a = cache.allocate(size_t(3) << 20);
  EXPECT_FALSE(cache.release(static_cast<char*>(a) + 64));  // inside a block, not its start
  EXPECT_TRUE(cache.release(a));
  EXPECT_FALSE(cache.release(a));  // not twice
}

TEST(LargeBlockCache, CachedBytesStayWithinTheLimit) {
  LargeBlockCache cache(size_t(8) << 20);
  void* blocks[4];
  for (void*& p : blocks) p = cache.allocate(size_t(3) << 20);  // 4 MiB mapped each
  for (void* p : blocks) EXPECT_TRUE(cache.release(p));
  EXPECT_LE(cache.cached_bytes(), size_t(8) << 20);
  EXPECT_EQ(cache.cached_blocks(), 2u);  // the oldest were unmapped
  void* huge = cache.allocate(size_t(20) << 20);  // larger than the whole cache: unmapped on release
  ASSERT_NE(huge, nullptr);
  EXPECT_TRUE(cache.release(huge));
  EXPECT_LE(cache.cached_bytes(), size_t(8) << 20);
}

}  // namespace
}  // namespace edgerun
