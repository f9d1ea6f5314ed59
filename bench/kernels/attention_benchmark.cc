// Benchmarks of the CPU paged attention for SmolLM2-135M's shape (9 query heads over 3 KV heads,
// head_dim 64, blocks of 16 positions): decode rows of many sequences at a depth, and a prefill
// chunk of one sequence.
//
//   bench_attention --benchmark_filter='Decode/seqs:64/'
//
// items_per_second counts query rows.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "bench/kernels/bench_context.h"
#include "benchmark/benchmark.h"
#include "libinfer/kernels/cpu/attention.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/thread_pool.h"

namespace infer::kernels::cpu {
namespace {

AttentionShape SmolShape() {
  AttentionShape s;
  s.num_heads = 9;
  s.num_kv_heads = 3;
  s.head_dim = 64;
  s.block_size = 16;
  s.scale = 0.125f;
  return s;
}

// `seqs` sequences of `len` positions each, in shuffled blocks of one pool.
struct Cache {
  std::vector<float> k, v;
  std::vector<std::vector<int32_t>> tables;
  Cache(const AttentionShape& s, int64_t seqs, int64_t len) {
    const int64_t per_seq = (len + s.block_size - 1) / s.block_size;
    std::vector<int32_t> ids(static_cast<size_t>(seqs * per_seq));
    std::iota(ids.begin(), ids.end(), 0);
    std::mt19937 rng(3);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::normal_distribution<float> dist(0.f, 1.f);
    k.resize(ids.size() * static_cast<size_t>(s.block_floats()));
    for (float& x : k) x = dist(rng);
    v = k;
    std::reverse(v.begin(), v.end());
    for (int64_t i = 0; i < seqs; ++i) {
      tables.emplace_back(ids.begin() + i * per_seq, ids.begin() + (i + 1) * per_seq);
    }
  }
};

void Run(benchmark::State& state, const AttentionShape& s, const Cache& cache,
         const std::vector<AttentionQuery>& queries, int threads) {
  std::vector<float> q(queries.size() * static_cast<size_t>(s.num_heads * s.head_dim));
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (float& x : q) x = dist(rng);
  std::vector<float> out(q.size());
  ThreadPool pool(threads);
  for (auto _ : state) {
    PagedAttention(s, q.data(), cache.k.data(), cache.v.data(), queries, out.data(), &pool);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(queries.size()));
}

// Args: sequences, depth (positions each decode row sees), threads.
void BM_AttentionDecode(benchmark::State& state) {
  const AttentionShape s = SmolShape();
  const int64_t seqs = state.range(0);
  const int64_t depth = state.range(1);
  const Cache cache(s, seqs, depth);
  std::vector<AttentionQuery> queries;
  for (int64_t i = 0; i < seqs; ++i) queries.push_back({depth - 1, cache.tables[i].data()});
  Run(state, s, cache, queries, static_cast<int>(state.range(2)));
}
BENCHMARK(BM_AttentionDecode)
    ->ArgNames({"seqs", "depth", "threads"})
    ->ArgsProduct({{1, 16, 64}, {128, 512, 2048}, {1, 2}})
    ->UseRealTime();

// Args: prompt tokens (one sequence, causal), threads.
void BM_AttentionPrefill(benchmark::State& state) {
  const AttentionShape s = SmolShape();
  const int64_t tokens = state.range(0);
  const Cache cache(s, 1, tokens);
  std::vector<AttentionQuery> queries;
  for (int64_t t = 0; t < tokens; ++t) queries.push_back({t, cache.tables[0].data()});
  Run(state, s, cache, queries, static_cast<int>(state.range(1)));
}
BENCHMARK(BM_AttentionPrefill)
    ->ArgNames({"tokens", "threads"})
    ->ArgsProduct({{512}, {1, 2}})
    ->UseRealTime();

}  // namespace
}  // namespace infer::kernels::cpu
