// Picks the quantized-kernel variant once (best the CPU supports) and runs matmuls with it:
// activations are quantized once, then output rows are split over the thread pool.
#include <atomic>
#include <cstdlib>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/quant_kernels.h"

namespace edgerun {

namespace {

std::vector<const QuantVariant*> available() {
  std::vector<const QuantVariant*> v{&scalar_variant()};
#if defined(__x86_64__)
  if (avx2_supported()) v.push_back(&avx2_variant());
  if (avx512_supported()) v.push_back(&avx512_variant());
#endif
#if defined(__aarch64__)
  v.push_back(&neon_variant());
#endif
  return v;
}

const QuantVariant* best() {
  // EDGERUN_KERNELS=<name> pins a variant (benchmarks, bug hunts); unknown names are ignored.
  const std::vector<const QuantVariant*> v = available();
  if (const char* env = std::getenv("EDGERUN_KERNELS"))
    for (const QuantVariant* q : v)
      if (std::string(env) == q->name) return q;
  return v.back();
}

std::atomic<const QuantVariant*> g_forced{nullptr};

// Token t of a as a one-token view of the same buffers.
QuantizedActs token_view(const QuantizedActs& a, int64_t t) {
  QuantizedActs one;
  one.wtype = a.wtype, one.n = 1, one.k = a.k, one.ldq = a.ldq, one.group = a.group;
  one.ablock = a.ablock, one.zero_point = a.zero_point;
  one.q = a.q + t * a.ldq, one.d = a.d + t * a.ablocks();
  one.icorr = a.icorr + t * a.groups(), one.fsum = a.fsum + t * a.groups();
  return one;
}

}  // namespace

std::vector<std::string> quant_variant_names() {
  std::vector<std::string> names;
  for (const QuantVariant* v : available()) names.push_back(v->name);
  return names;
}

bool set_quant_variant(const std::string& name) {
  if (name.empty()) {
    g_forced = nullptr;
    return true;
  }
  for (const QuantVariant* v : available())
    if (name == v->name) {
      g_forced = v;
      return true;
    }
  return false;
}

const QuantVariant& active_quant_variant() {
  static const QuantVariant* const chosen = best();
  const QuantVariant* f = g_forced.load();
  return f ? *f : *chosen;
}

uint8_t* quant_scratch(size_t bytes) {
  thread_local std::unique_ptr<uint8_t[]> buf;
  thread_local size_t cap = 0;
  if (bytes + 64 > cap) {
    cap = bytes + 64;
    buf.reset(new uint8_t[cap]);
  }
  uint8_t* p = buf.get();
  return p + (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
}

void quantize_acts(const float* x, int64_t n, int64_t k, DType wtype, QuantizedActs& a, ThreadPool& pool) {
  a.reset(wtype, n, k);
  const QuantVariant& v = active_quant_variant();
  if (n * k < (1 << 16)) {  // not worth waking the pool
    for (int64_t t = 0; t < n; ++t) v.quantize(x + t * k, a, t);
    return;
  }
  pool.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; ++t) v.quantize(x + t * k, a, t);
  });
}

namespace {
constexpr int64_t kTokenTileRows = 8;
// Below this many tokens a matmul is a row-tiled gemv per token; from it on, the packed GEMM
// (measured: the gemv is compute-bound from 4 tokens on, BM_Matmul/*_batch).
constexpr int64_t kGemmMinTokens = 4;
}  // namespace

void gemv_tokens(const QuantizedActs& a, const QuantWeights& w, int64_t r0, int64_t r1, float* y) {
  const QuantVariant& v = active_quant_variant();
  if (a.n == 1) {
    v.gemv(w, r0, r1, a, y);
    return;
  }
  // A few rows at a time for all tokens: the rows stay in L1 after the first token reads them,
  // so the weights come from memory once however many tokens there are.
  for (int64_t r = r0; r < r1; r += kTokenTileRows) {
    const int64_t r_end = std::min(r1, r + kTokenTileRows);
    for (int64_t t = 0; t < a.n; ++t) v.gemv(w, r, r_end, token_view(a, t), y + t * w.rows);
  }
}

void matmul_quantized(const QuantizedActs& a, const QuantWeights& w, float* y, ThreadPool& pool) {
  if (a.wtype != w.type || a.k != w.k) fail("matmul", "activations were quantized for another weight");
  const QuantVariant& v = active_quant_variant();
  // A few tokens: one streaming pass over the weights for all of them beats packing them.
  if (a.n < kGemmMinTokens) {
    pool.parallel_for(w.rows, [&](int64_t r0, int64_t r1, int) { gemv_tokens(a, w, r0, r1, y); }, 16);
    return;
  }
  // Prefill: whole 16-row strips per thread (the packed-panel width of the GEMM kernels).
  const int64_t strips = (w.rows + 15) / 16;
  pool.parallel_for(strips, [&](int64_t s0, int64_t s1, int) {
    v.gemm(w, s0 * 16, std::min(w.rows, s1 * 16), a, y, w.rows);
  });
}

}  // namespace edgerun
