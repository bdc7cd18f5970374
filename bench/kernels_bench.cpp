// Matmul micro-benchmarks at SmolLM3-3B shapes. Decode (n=1) reports GB/s of weights streamed;
// prefill (n=512) reports GOPS (2 * rows * k * n per second).
//   edgerun_kernel_bench [--benchmark_filter=Q4_0] ; EDGERUN_KERNELS=avx2 pins a kernel variant.
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <random>
#include <vector>

#include "core/quant.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/quant_kernels.h"

namespace edgerun {
namespace {

// Random codes with sane scales: the kernels' speed does not depend on the values, and
// quantizing 20M floats per matrix would make start-up slow.
struct Weight {
  std::vector<uint8_t> bytes;
  Tensor t;
};

// Copies of the most recently requested type and shape only (256 MiB of them for decode).
const Weight& weight(DType type, int64_t rows, int64_t cols, int copy = 0) {
  static std::tuple<int, int64_t, int64_t> key{-1, 0, 0};
  static std::map<int, std::unique_ptr<Weight>> cache;
  if (key != std::make_tuple(int(type), rows, cols)) {
    cache.clear();
    key = {int(type), rows, cols};
  }
  auto& slot = cache[copy];
  if (slot) return *slot;
  slot = std::make_unique<Weight>();
  Weight& w = *slot;
  const size_t rb = dtype_row_bytes(type, cols), bb = dtype_block_bytes(type);
  w.bytes.resize(rb * size_t(rows));
  std::mt19937_64 rng(1 + copy);
  for (size_t i = 0; i + 8 <= w.bytes.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&w.bytes[i], &v, 8);
  }
  const uint16_t h = f32_to_f16(0.01f);
  if (dtype_is_quantized(type)) {
    for (size_t b = 0; b < w.bytes.size(); b += bb) {
      if (type == DType::Q6_K) std::memcpy(&w.bytes[b + 208], &h, 2);
      else std::memcpy(&w.bytes[b], &h, 2);
      if (type == DType::Q4_K) std::memcpy(&w.bytes[b + 2], &h, 2);
    }
  } else {
    const size_t es = dtype_size(type);
    for (size_t i = 0; i < w.bytes.size(); i += es) {
      const float f = float(int(w.bytes[i]) - 128) * 1e-3f;
      if (type == DType::F32) std::memcpy(&w.bytes[i], &f, 4);
      else if (type == DType::F16) { const uint16_t v = f32_to_f16(f); std::memcpy(&w.bytes[i], &v, 2); }
      else { const uint16_t v = f32_to_bf16(f); std::memcpy(&w.bytes[i], &v, 2); }
    }
  }
  w.t.name = "w";
  w.t.dtype = type;
  w.t.shape = {rows, cols};
  w.t.data = w.bytes.data();
  w.t.nbytes = w.bytes.size();
  return w;
}

constexpr size_t kStreamBytes = size_t(256) << 20;

ThreadPool& pool(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

void BM_Matmul(benchmark::State& state, DType type) {
  const int64_t rows = state.range(0), cols = state.range(1), n = state.range(2);
  const int threads = int(state.range(3));
  // Decode streams weights from DRAM in a real model: cycle through enough copies to defeat
  // the last-level cache. Prefill is compute-bound; one copy.
  const size_t bytes = dtype_row_bytes(type, cols) * size_t(rows);
  const int copies = n == 1 ? int((kStreamBytes + bytes - 1) / bytes) : 1;
  std::vector<const Weight*> ws;
  for (int c = 0; c < copies; ++c) ws.push_back(&weight(type, rows, cols, c));
  std::vector<float> x(size_t(n * cols)), y(size_t(n * rows));
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0, 1);
  for (float& v : x) v = nd(rng);
  ThreadPool& tp = pool(threads);
  size_t it = 0;
  for (auto _ : state) {
    matmul(x.data(), n, ws[it++ % ws.size()]->t, y.data(), tp);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = double(state.iterations());
  if (n == 1) {
    state.counters["GB/s"] = benchmark::Counter(double(bytes) * iters / 1e9, benchmark::Counter::kIsRate);
  } else {
    state.counters["GOPS"] = benchmark::Counter(2.0 * double(rows * cols * n) * iters / 1e9, benchmark::Counter::kIsRate);
  }
  state.SetLabel(dtype_is_quantized(type) ? active_quant_variant().name : "f32-path");
}

void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1, 512})
    for (auto [r, c] : {std::pair<int64_t, int64_t>{11008, 2048}, {2048, 11008}, {2048, 2048}})
      for (int64_t t : {1, 2}) b->Args({r, c, n, t});
  b->ArgNames({"rows", "k", "n", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Small batches (the server's concurrent decodes): ideally as fast as one token, since the
// weights are read once for all of them.
void batch_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1, 2, 4, 8, 16}) b->Args({11008, 2048, n, 2});
  b->ArgNames({"rows", "k", "n", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

// Decode with the weights resident in L2 (one 512x2048 matrix, reused): the kernels' compute
// throughput, which must stay well above DRAM bandwidth for decode to be bandwidth-bound.
void BM_DecodeHot(benchmark::State& state, DType type) {
  const Weight& w = weight(type, 512, 2048, 0);
  std::vector<float> x(2048), y(512);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) - 3;
  for (auto _ : state) {
    matmul(x.data(), 1, w.t, y.data(), pool(1));
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(double(w.bytes.size()) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.SetLabel(dtype_is_quantized(type) ? active_quant_variant().name : "f32-path");
}
BENCHMARK_CAPTURE(BM_DecodeHot, Q4_0, DType::Q4_0);
BENCHMARK_CAPTURE(BM_DecodeHot, Q8_0, DType::Q8_0);
BENCHMARK_CAPTURE(BM_DecodeHot, Q4_K, DType::Q4_K);
BENCHMARK_CAPTURE(BM_DecodeHot, Q6_K, DType::Q6_K);
BENCHMARK_CAPTURE(BM_DecodeHot, BF16, DType::BF16);
BENCHMARK_CAPTURE(BM_DecodeHot, F16, DType::F16);

BENCHMARK_CAPTURE(BM_Matmul, Q4_0, DType::Q4_0)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Matmul, Q4_0_batch, DType::Q4_0)->Apply(batch_shapes);
BENCHMARK_CAPTURE(BM_Matmul, Q8_0_batch, DType::Q8_0)->Apply(batch_shapes);
BENCHMARK_CAPTURE(BM_Matmul, Q4_K_batch, DType::Q4_K)->Apply(batch_shapes);
BENCHMARK_CAPTURE(BM_Matmul, Q8_0, DType::Q8_0)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Matmul, Q4_K, DType::Q4_K)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Matmul, Q6_K, DType::Q6_K)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Matmul, BF16, DType::BF16)->Apply(shapes);
BENCHMARK_CAPTURE(BM_Matmul, F16, DType::F16)->Apply(shapes);

// Dense F32-path prefill at vision-encoder shapes (SAM ViT-B: 64x64 = 4096 tokens, width 768,
// qkv 768->2304, MLP 768->3072->768) and a small batch: y[n,out] = x[n,in] * W^T with F32 or
// BF16 weights. Reports GFLOP/s (2 * n * in * out per second).
void BM_Gemm(benchmark::State& state, DType type) {
  const int64_t n = state.range(0), in = state.range(1), out = state.range(2);
  const int threads = int(state.range(3));
  const Weight& w = weight(type, out, in, 0);
  std::vector<float> x(size_t(n * in)), y(size_t(n * out));
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0, 1);
  for (float& v : x) v = nd(rng);
  ThreadPool& tp = pool(threads);
  for (auto _ : state) {
    matmul(x.data(), n, w.t, y.data(), tp);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(n * in * out) * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  b->Args({4096, 768, 2304, 2})->Args({16384, 128, 512, 2})->Args({65536, 64, 256, 1})->Args({4096, 768, 3072, 2})->Args({4096, 3072, 768, 2})->Args({16, 768, 768, 2})->Args({16, 768, 768, 1})->Args({4096, 768, 2304, 1});
  b->ArgNames({"n", "in", "out", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK_CAPTURE(BM_Gemm, F32, DType::F32)->Apply(gemm_shapes);
BENCHMARK_CAPTURE(BM_Gemm, BF16, DType::BF16)->Apply(gemm_shapes);

// Attention of SmolLM3-3B's shape (16 query heads, 4 KV heads, head_dim 128) against an F16
// cache already holding `context` positions: n = 1 is one decode step, n = 256 one prefill
// chunk. Reports the cache bytes read per second.
void BM_Attention(benchmark::State& state) {
  const int64_t context = state.range(0), n = state.range(1), threads = state.range(2);
  const int64_t heads = 16, kv_heads = 4, hd = 128, kv_dim = kv_heads * hd;
  std::vector<uint8_t> k(kv_row_bytes(DType::F16, kv_dim) * size_t(context)), v(k.size());
  const KVCacheView cache{DType::F16, k.data(), v.data()};
  std::vector<float> rows(size_t(context * kv_dim));
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0, 1);
  for (float& x : rows) x = nd(rng);
  store_kv(rows.data(), rows.data(), context, 0, kv_dim, cache);
  std::vector<float> q(size_t(n * heads * hd)), out(q.size());
  for (float& x : q) x = nd(rng);
  for (auto _ : state) {
    attention(q.data(), n, context - n, cache, {heads, kv_heads, hd, 0.088f}, out.data(), pool(int(threads)));
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * double(k.size()) * double(state.iterations()) / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Attention)
    ->Args({4096, 1, 2})
    ->Args({4096, 256, 2})
    ->ArgNames({"context", "n", "threads"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace edgerun

BENCHMARK_MAIN();
