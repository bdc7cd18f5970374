#include "kernels/gemm_amx.h"

#include "core/dtype.h"
#include "core/error.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace edgerun {

namespace {

uint16_t bf16_truncate(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t(u >> 16);
}

}  // namespace

// Truncation keeps every part the leading bits of what is left, so each subtraction is exact and
// the last remainder has at most 8 significant bits: the three parts hold all 24 bits of a.
Bf16Parts split_bf16x3(float a) {
  Bf16Parts p;
  p.hi = bf16_truncate(a);
  const float r1 = a - bf16_to_f32(p.hi);
  p.mid = bf16_truncate(r1);
  p.lo = bf16_truncate(r1 - bf16_to_f32(p.mid));
  return p;
}

#if defined(__x86_64__)

namespace {

constexpr int kParts = 3;           // hi, mid, lo
constexpr int64_t kBlock = 32;      // rows (A) or columns (B) per block: two tiles of 16
constexpr int64_t kChunk = 32;      // k per tile: 16 rows of 64 bytes hold 32 BF16 pairs' worth
constexpr int64_t kTileElems = 512; // 16 rows × 32 BF16
// Packed layout, A and B alike: for each block, for each k chunk, for each part, two 1 KiB
// tiles (rows/columns 0-15, then 16-31). A tiles are row-major [16 rows][32 k]; B tiles are the
// VNNI layout [16 k-pairs][16 columns][2].
constexpr int64_t tile_index(int64_t chunk, int part, int sub) { return (chunk * kParts + part) * 2 + sub; }

// The three BF16 parts of 16 floats (as split_bf16x3), each in the high half of a 32-bit lane
// with the low half zero.
struct Split16 {
  __m512i part[kParts];
};

__attribute__((target("avx512f,avx512bw"))) inline Split16 split16(__m512 a) {
  const __m512i high_half = _mm512_set1_epi32(int(0xFFFF0000u));
  Split16 s;
  for (int p = 0; p < kParts; ++p) {
    s.part[p] = _mm512_and_si512(_mm512_castps_si512(a), high_half);
    a = _mm512_sub_ps(a, _mm512_castsi512_ps(s.part[p]));
  }
  return s;
}

// The 32 BF16 values (high halves) of two Split16 parts, in order: first's lanes, then second's.
// The parts' low halves are zero, so the rounding conversion is exact (one instruction where a
// word permute takes three).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline __m512i high_halves(__m512i first, __m512i second) {
  return (__m512i)_mm512_cvtne2ps_pbh(_mm512_castsi512_ps(second), _mm512_castsi512_ps(first));
}

// The left-hand operand's values k0 .. k0 + 31 of row `row`, as a pointer and how many of them
// exist (the rest read as zero; null, with valid 0: all zero). Rows: a matrix in memory.
struct MatrixRows {
  const float* x;
  int64_t ldx, n, in;
  const float* chunk(int64_t row, int64_t k0, int64_t& valid) const {
    valid = row < n ? std::min<int64_t>(kChunk, in - k0) : 0;
    return row < n ? x + row * ldx + k0 : nullptr;
  }
};

// Patches: row p is output pixel p of a convolution over a channel-last map, its values the
// receptive field in (ky, kx, c) order, read where they lie (no copies). Needs C % 32 == 0, so
// that a chunk of 32 stays within one tap.
struct PatchRows {
  AmxConvInput in;
  int64_t ow, pixels;
  const float* chunk(int64_t row, int64_t k0, int64_t& valid) const {
    valid = 0;
    if (row >= pixels) return nullptr;
    const int64_t tap = k0 / in.channels, c0 = k0 % in.channels;
    const int64_t ky = tap / in.kernel_w, kx = tap % in.kernel_w;
    const int64_t iy = row / ow * in.stride - in.pad + ky, ix = row % ow * in.stride - in.pad + kx;
    if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) return nullptr;
    valid = kChunk;
    return in.x + (iy * in.w + ix) * in.channels + c0;
  }
};

// Rows [row0, row0 + 32·blocks) of the source, k chunks [chunk0, chunk0 + chunks), into `blocks`
// packed A blocks of `chunks` chunks each.
template <typename Source>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void pack_a(const Source& source, int64_t chunk0, int64_t chunks,
                                                                   int64_t row0, int64_t blocks, uint16_t* dst) {
  for (int64_t b = 0; b < blocks; ++b) {
    uint16_t* block = dst + b * chunks * kParts * 2 * kTileElems;
    for (int64_t r = 0; r < kBlock; ++r) {
      const int64_t row = row0 + b * kBlock + r;
      for (int64_t c = 0; c < chunks; ++c) {
        int64_t valid = 0;
        const float* src = source.chunk(row, (chunk0 + c) * kChunk, valid);
        const __mmask16 m0 = __mmask16(valid >= 16 ? 0xFFFF : (1u << std::max<int64_t>(valid, 0)) - 1);
        const __mmask16 m1 = __mmask16(valid >= 32 ? 0xFFFF : valid <= 16 ? 0 : (1u << (valid - 16)) - 1);
        const Split16 lo = split16(_mm512_maskz_loadu_ps(m0, src));
        const Split16 hi = split16(_mm512_maskz_loadu_ps(m1, src ? src + 16 : nullptr));
        for (int p = 0; p < kParts; ++p)
          _mm512_storeu_si512(block + tile_index(c, p, int(r / 16)) * kTileElems + (r % 16) * kChunk,
                              high_halves(lo.part[p], hi.part[p]));
      }
    }
  }
}

// Panel `panel` of B (32 columns, k ≥ in read as zero) into one packed B block.
__attribute__((target("avx512f,avx512bw"))) void pack_b(const PanelView& b, int64_t panel, int64_t chunks,
                                                        uint16_t* dst) {
  const float* base = b.first + panel * b.panel_step;
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t pair = 0; pair < kChunk / 2; ++pair) {
      const int64_t k = c * kChunk + pair * 2;
      Split16 even[2], odd[2];  // [columns 0-15, 16-31]
      for (int sub = 0; sub < 2; ++sub) {
        even[sub] = split16(k < b.in ? _mm512_loadu_ps(base + k * b.row_stride + sub * 16) : _mm512_setzero_ps());
        odd[sub] = split16(k + 1 < b.in ? _mm512_loadu_ps(base + (k + 1) * b.row_stride + sub * 16) : _mm512_setzero_ps());
      }
      for (int p = 0; p < kParts; ++p)
        for (int sub = 0; sub < 2; ++sub) {  // lane j = (B[k][j], B[k+1][j]): the VNNI pair
          const __m512i pairs = _mm512_or_si512(_mm512_srli_epi32(even[sub].part[p], 16), odd[sub].part[p]);
          _mm512_storeu_si512(dst + tile_index(c, p, sub) * kTileElems + pair * 32, pairs);
        }
    }
}

// A per-thread packing buffer on 2 MiB pages: tile loads walk the packed operands 1 KiB at a
// time, and with 4 KiB pages the TLB misses halved the tile rate (measured).
class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  ~HugePageBuffer() { std::free(data_); }

  uint16_t* get(int64_t elems) {
    const size_t bytes = size_t(elems) * sizeof(uint16_t);
    if (bytes > capacity_) {
      std::free(data_);
      capacity_ = (bytes + kHugePage - 1) / kHugePage * kHugePage;
      data_ = static_cast<uint16_t*>(std::aligned_alloc(kHugePage, capacity_));
      if (!data_) {
        capacity_ = 0;
        throw std::bad_alloc();
      }
      madvise(data_, capacity_, MADV_HUGEPAGE);
    }
    return data_;
  }

 private:
  static constexpr size_t kHugePage = size_t(2) << 20;
  uint16_t* data_ = nullptr;
  size_t capacity_ = 0;
};

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// The 32×32 product of one packed A block and one packed B block over `chunks` k chunks, stored
// to or (accumulate) added to c (row stride ldc; rows/cols: how much of the block is inside the
// output). Without accumulate, start_rows (32 floats, or null for zeros) is every row's start.
// Tiles 0-3 accumulate, 4-5 hold A, 6-7 hold B; the products whose part indices sum to more than
// 2 are left out (see gemm_amx.h).
__attribute__((target("amx-tile,amx-bf16,avx512f"))) void block_product(const uint16_t* a, const uint16_t* b,
                                                                        int64_t chunks, float* c, int64_t ldc,
                                                                        int64_t rows, int64_t cols, bool accumulate,
                                                                        const float* start_rows) {
  __asm__ volatile("" ::: "memory");  // tileloadd declares no memory read: the packing stores land first
  const bool whole = rows == kBlock && cols == kBlock;
  alignas(64) float partial[kBlock * kBlock];  // a block cut by the output's edge goes through here
  constexpr int kPartialStride = kBlock * sizeof(float);
  if (!accumulate && start_rows) {  // every row starts as the bias: a tile load with stride 0
    _tile_loadd(0, start_rows, 0);
    _tile_loadd(1, start_rows + 16, 0);
    _tile_loadd(2, start_rows, 0);
    _tile_loadd(3, start_rows + 16, 0);
  } else if (!accumulate) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  } else if (whole) {
    const int64_t stride = ldc * int64_t(sizeof(float));
    _tile_loadd(0, c, stride);
    _tile_loadd(1, c + 16, stride);
    _tile_loadd(2, c + 16 * ldc, stride);
    _tile_loadd(3, c + 16 * ldc + 16, stride);
  } else {
    std::fill_n(partial, kBlock * kBlock, 0.0f);
    for (int64_t r = 0; r < rows; ++r) std::copy_n(c + r * ldc, cols, partial + r * kBlock);
    __asm__ volatile("" ::: "memory");
    _tile_loadd(0, partial, kPartialStride);
    _tile_loadd(1, partial + 16, kPartialStride);
    _tile_loadd(2, partial + 16 * kBlock, kPartialStride);
    _tile_loadd(3, partial + 16 * kBlock + 16, kPartialStride);
  }
  constexpr int kStride = 64;  // bytes per tile row
  for (int64_t ch = 0; ch < chunks; ++ch) {
    auto load_a = [&](int part) {
      _tile_loadd(4, a + tile_index(ch, part, 0) * kTileElems, kStride);
      _tile_loadd(5, a + tile_index(ch, part, 1) * kTileElems, kStride);
    };
    auto load_b = [&](int part) {
      _tile_loadd(6, b + tile_index(ch, part, 0) * kTileElems, kStride);
      _tile_loadd(7, b + tile_index(ch, part, 1) * kTileElems, kStride);
    };
    auto multiply = [] {
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    };
    // (A part, B part): (0,0) (1,0) (2,0), then (1,1) (0,1) (0,2): eight pairs of tile loads.
    load_b(0);
    load_a(0);
    multiply();
    load_a(1);
    multiply();
    load_a(2);
    multiply();
    load_a(1);
    load_b(1);
    multiply();
    load_a(0);
    multiply();
    load_b(2);
    multiply();
  }
  if (whole) {
    const int64_t stride = ldc * int64_t(sizeof(float));
    _tile_stored(0, c, stride);
    _tile_stored(1, c + 16, stride);
    _tile_stored(2, c + 16 * ldc, stride);
    _tile_stored(3, c + 16 * ldc + 16, stride);
    return;
  }
  _tile_stored(0, partial, kPartialStride);
  _tile_stored(1, partial + 16, kPartialStride);
  _tile_stored(2, partial + 16 * kBlock, kPartialStride);
  _tile_stored(3, partial + 16 * kBlock + 16, kPartialStride);
  for (int64_t r = 0; r < rows; ++r) std::copy_n(partial + r * kBlock, cols, c + r * ldc);
}

__attribute__((target("amx-tile"))) void configure_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.colsb[t] = 64;
    config.rows[t] = 16;
  }
  __asm__ volatile("" ::: "memory");  // ldtilecfg declares only 8 of the 64 bytes it reads
  _tile_loadconfig(&config);
}

__attribute__((target("amx-tile"))) void release_tiles() { _tile_release(); }

bool detect_amx() {
  if (const char* env = std::getenv("EDGERUN_AMX"); env && std::strcmp(env, "0") == 0) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = edx & (1u << 22), amx_tile = edx & (1u << 24);
  if (!amx_bf16 || !amx_tile || !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512bf16")) return false;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;  // OSXSAVE
  uint32_t xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;  // XTILECFG and XTILEDATA enabled by the OS
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

}  // namespace

bool amx_available() {
  static const bool available = detect_amx();
  return available;
}

namespace {

int64_t chunks_of(int64_t in) { return (in + kChunk - 1) / kChunk; }
int64_t b_block_elems(int64_t in) { return chunks_of(in) * kParts * 2 * kTileElems; }

void pack_all_b(const PanelView& b, uint16_t* dst, ThreadPool& pool) {
  const int64_t col_blocks = (b.out + kBlock - 1) / kBlock, elems = b_block_elems(b.in);
  pool.parallel_for(col_blocks, [&](int64_t p0, int64_t p1, int) {
    for (int64_t p = p0; p < p1; ++p) pack_b(b, p, chunks_of(b.in), dst + p * elems);
  });
}

// y = A · B for A's rows from `source` (n × in) and B packed by pack_all_b (in × out).
template <typename Source>
void multiply_packed(const Source& source, int64_t n, const uint16_t* bp, int64_t in, int64_t out, float* y,
                     int64_t ldy, ThreadPool& pool, GemmEpilogue epilogue = {}) {
  const int64_t chunks = chunks_of(in), block_elems = b_block_elems(in);
  const int64_t col_blocks = (out + kBlock - 1) / kBlock, row_blocks = (n + kBlock - 1) / kBlock;
  // k in slabs of at most 512, and A in groups of row blocks (≤ ~1 MiB packed per slab) that stay
  // in L2 while every B block passes by; with few groups, columns are split too so that every
  // thread has work.
  constexpr int64_t kSlabChunks = 16;
  const int64_t slab_chunks = std::min(chunks, kSlabChunks), a_block_elems = slab_chunks * kParts * 2 * kTileElems;
  const int64_t group = std::clamp<int64_t>((int64_t(1) << 20) / (a_block_elems * 2), 1, 8);
  const int64_t groups = (row_blocks + group - 1) / group;
  const int64_t col_parts =
      pool.size() == 1 ? 1 : std::clamp<int64_t>((4 * pool.size() + groups - 1) / groups, 1, col_blocks);
  // Without a residual, the bias is where the accumulators start (padded to whole blocks).
  thread_local std::vector<float> padded_bias;
  const bool bias_in_tiles = epilogue.bias && !epilogue.accumulate;
  if (bias_in_tiles) {
    padded_bias.assign(size_t(col_blocks * kBlock), 0.0f);
    std::copy_n(epilogue.bias, out, padded_bias.begin());
  }
  const float* const bias_rows = bias_in_tiles ? padded_bias.data() : nullptr;  // (the caller's thread_local)
  GemmEpilogue rest = epilogue;  // what is left for the stored tiles
  if (bias_in_tiles) rest.bias = nullptr;
  // When an item spans every column, the activation runs over its whole rows once they are done
  // (in L2; long runs) rather than on each 32-wide row piece straight after its tile store.
  GemmEpilogue per_tile = rest;
  if (col_parts == 1) per_tile.activation = nullptr;
  pool.parallel_for(groups * col_parts, [&](int64_t t0, int64_t t1, int) {
    thread_local HugePageBuffer packed_a_buffer;
    uint16_t* const packed_a = packed_a_buffer.get(group * a_block_elems);
    configure_tiles();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t g = t / col_parts, part = t % col_parts;
      const int64_t rb0 = g * group, rbs = std::min(group, row_blocks - rb0);
      const int64_t cb0 = part * col_blocks / col_parts, cb1 = (part + 1) * col_blocks / col_parts;
      for (int64_t chunk0 = 0; chunk0 < chunks; chunk0 += slab_chunks) {
        const int64_t slab = std::min(slab_chunks, chunks - chunk0);
        pack_a(source, chunk0, slab, rb0 * kBlock, rbs, packed_a);
        for (int64_t cb = cb0; cb < cb1; ++cb)
          for (int64_t rb = 0; rb < rbs; ++rb) {
            const int64_t row = (rb0 + rb) * kBlock, col = cb * kBlock;
            const int64_t rows = std::min(kBlock, n - row), cols = std::min(kBlock, out - col);
            block_product(packed_a + rb * slab * kParts * 2 * kTileElems,
                          bp + cb * block_elems + tile_index(chunk0, 0, 0) * kTileElems, slab, y + row * ldy + col,
                          ldy, rows, cols, chunk0 > 0 || epilogue.accumulate,
                          bias_rows ? bias_rows + col : nullptr);
            if (chunk0 + slab == chunks) finish_tile(per_tile, y + row * ldy + col, ldy, rows, cols, col);
          }
      }
      if (rest.activation && !per_tile.activation)
        for (int64_t row = rb0 * kBlock; row < std::min(n, (rb0 + rbs) * kBlock); ++row) rest.activation(y + row * ldy, out);
    }
    release_tiles();
  });
}

}  // namespace

void gemm_amx(const float* x, int64_t ldx, int64_t n, const PanelView& b, float* y, int64_t ldy, ThreadPool& pool,
              GemmEpilogue epilogue) {
  thread_local HugePageBuffer packed_b;  // the caller's, shared by the pool's threads
  uint16_t* const bp = packed_b.get((b.out + kBlock - 1) / kBlock * b_block_elems(b.in));
  pack_all_b(b, bp, pool);
  multiply_packed(MatrixRows{x, ldx, n, b.in}, n, bp, b.in, b.out, y, ldy, pool, epilogue);
}

void pack_amx_b(const PanelView& b, AmxPackedB& packed, ThreadPool& pool) {
  packed.out = b.out;
  packed.in = b.in;
  packed.data.resize(size_t((b.out + kBlock - 1) / kBlock * b_block_elems(b.in)));
  pack_all_b(b, packed.data.data(), pool);
}

void gemm_amx_packed(const float* x, int64_t ldx, int64_t n, const AmxPackedB& b, float* y, int64_t ldy,
                     ThreadPool& pool, GemmEpilogue epilogue) {
  multiply_packed(MatrixRows{x, ldx, n, b.in}, n, b.data.data(), b.in, b.out, y, ldy, pool, epilogue);
}

void conv_amx_packed(const AmxConvInput& in, const AmxPackedB& b, float* y, ThreadPool& pool, GemmEpilogue epilogue) {
  if (in.channels % kChunk != 0 || b.in != in.channels * in.kernel_h * in.kernel_w)
    throw Error("conv_amx_packed: " + std::to_string(in.channels) + " channels do not fit a " + std::to_string(b.in) +
                "-deep weight in chunks of 32");
  const int64_t oh = (in.h + 2 * in.pad - in.kernel_h) / in.stride + 1;
  const int64_t ow = (in.w + 2 * in.pad - in.kernel_w) / in.stride + 1;
  multiply_packed(PatchRows{in, ow, oh * ow}, oh * ow, b.data.data(), b.in, b.out, y, b.out, pool, epilogue);
}

#else

bool amx_available() { return false; }

namespace {
[[noreturn]] void no_amx() { throw Error("gemm_amx: AMX is an x86-64 feature; check amx_available() first"); }
}  // namespace

void gemm_amx(const float*, int64_t, int64_t, const PanelView&, float*, int64_t, ThreadPool&, GemmEpilogue) { no_amx(); }
void pack_amx_b(const PanelView&, AmxPackedB&, ThreadPool&) { no_amx(); }
void gemm_amx_packed(const float*, int64_t, int64_t, const AmxPackedB&, float*, int64_t, ThreadPool&, GemmEpilogue) {
  no_amx();
}
void conv_amx_packed(const AmxConvInput&, const AmxPackedB&, float*, ThreadPool&, GemmEpilogue) { no_amx(); }

#endif

}  // namespace edgerun
