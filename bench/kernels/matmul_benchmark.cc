// Benchmarks of the CPU matrix product for SmolLM2-135M shapes, plus a streaming-read memory
// bandwidth reference.
//
//   bench_matmul --benchmark_filter='MatMul/dtype:5/'    # one weight type (5 = Q4_1, see DType)
//   bench_matmul --benchmark_filter='act:8'              # int8 activations (quantized weights)
//   INFER_CPU_LEVEL=portable bench_matmul ...            # cap the kernel level
//
// bytes_per_second counts the weight bytes read per call (rows * row_bytes): for decode (m = 1)
// compare it with BM_MemoryRead, the machine's streaming read bandwidth. items_per_second counts
// multiply-adds (m * rows * cols).
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/kernels/bench_context.h"
#include "benchmark/benchmark.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/thread_pool.h"

namespace infer::kernels::cpu {
namespace {

int64_t RowBytes(DType dtype, int64_t k) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  return k / info.block_elems * info.block_bytes;
}

// Weights with realistic values (normal floats, sane fp16 scales): denormals or NaNs would
// measure something else.
std::vector<uint8_t> MakeWeights(DType dtype, int64_t rows, int64_t k) {
  const int64_t row_bytes = RowBytes(dtype, k);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * row_bytes));
  std::mt19937 rng(1);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  const int64_t n = rows * k;
  switch (dtype) {
    case DType::kF32: {
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      for (int64_t i = 0; i < n; ++i) {
        const float f = dist(rng);
        std::memcpy(bytes.data() + 4 * i, &f, 4);
      }
      break;
    }
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) bytes[2 * i + 1] = (bytes[2 * i + 1] & 0x83) | 0x2c;
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) bytes[2 * i + 1] = (bytes[2 * i + 1] & 0x80) | 0x3d;
      break;
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const int64_t block_bytes = GetDTypeInfo(dtype).block_bytes;
      for (int64_t b = 0; b < n / 32; ++b) {
        uint8_t* blk = bytes.data() + b * block_bytes;
        blk[0] = 0x66;
        blk[1] = 0x2e;  // d ~ 0.1
        if (dtype == DType::kQ4_1 || dtype == DType::kQ5_1) {
          blk[2] = 0x66;
          blk[3] = 0xae;  // m ~ -0.1
        }
      }
      break;
    }
    default: {
      // K-quants and IQ4: random codes and sub-block scales, the fp16 scales (d, dmin) sane.
      const DTypeInfo& info = GetDTypeInfo(dtype);
      std::vector<int> halves;  // byte offsets of the block's fp16 fields
      switch (dtype) {
        case DType::kQ2_K:
          halves = {80, 82};
          break;
        case DType::kQ3_K:
          halves = {108};
          break;
        case DType::kQ6_K:
          halves = {208};
          break;
        case DType::kQ4_K:
        case DType::kQ5_K:
          halves = {0, 2};
          break;
        default:  // IQ4_NL, IQ4_XS
          halves = {0};
          break;
      }
      for (int64_t b = 0; b < n / info.block_elems; ++b) {
        uint8_t* blk = bytes.data() + b * info.block_bytes;
        for (int at : halves) {
          blk[at] = 0x66;
          blk[at + 1] = 0x1e;  // ~ 0.006
        }
      }
      break;
    }
  }
  return bytes;
}

// Args: dtype, rows (output features), cols (k), m (activation rows), threads, act (activation
// code bits for quantized weights: 16, the default, or 8; see ActPrecision).
void BM_MatMul(benchmark::State& state) {
  const auto dtype = static_cast<DType>(state.range(0));
  const int64_t rows = state.range(1);
  const int64_t k = state.range(2);
  const int64_t m = state.range(3);
  const int threads = static_cast<int>(state.range(4));
  const bool act8 = state.range(5) == 8;
  std::vector<uint8_t> bytes = MakeWeights(dtype, rows, k);
  WeightMatrix w;
  w.dtype = dtype;
  w.data = bytes.data();
  w.rows = rows;
  w.cols = k;
  w.row_bytes = static_cast<size_t>(RowBytes(dtype, k));
  std::vector<float> x(static_cast<size_t>(m * k));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(m * rows));
  ThreadPool pool(threads);
  MatMulScratch scratch;
  scratch.activations = act8 ? ActPrecision::kInt8 : ActPrecision::kInt16;
  for (auto _ : state) {
    MatMul(w, x.data(), m, y.data(), rows, &pool, &scratch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes.size()));
  state.SetItemsProcessed(state.iterations() * m * rows * k);
  state.SetLabel(std::string(DTypeName(dtype)) + " " + std::to_string(rows) + "x" +
                 std::to_string(k) + " m=" + std::to_string(m) + " t=" + std::to_string(threads) +
                 (act8 ? " act=int8" : ""));
}

void MatMulArgs(benchmark::internal::Benchmark* b) {
  const DType dtypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,   DType::kQ4_0,
                          DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K,   DType::kQ3_K,
                          DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS};
  // SmolLM2-135M: q/o (576x576), gate/up (1536x576), down (576x1536), lm_head (49152x576). The
  // superblock types need widths that are multiples of 256: down, and a 1536x1536 square.
  using Shapes = std::vector<std::array<int64_t, 2>>;
  const Shapes shapes = {{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
  const Shapes super_shapes = {{576, 1536}, {1536, 1536}};
  for (DType dtype : dtypes) {
    const bool super = GetDTypeInfo(dtype).block_elems > kQuantBlock;
    for (const auto& s : super ? super_shapes : shapes) {
      for (int64_t m : {1, 16, 64, 512}) {
        for (int threads : {1, 2}) {
          b->Args({static_cast<int64_t>(dtype), s[0], s[1], m, threads, 16});
          const bool quantized =
              dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16;
          if (quantized) b->Args({static_cast<int64_t>(dtype), s[0], s[1], m, threads, 8});
        }
      }
    }
  }
  b->ArgNames({"dtype", "rows", "cols", "m", "threads", "act"});
  b->UseRealTime();
}
BENCHMARK(BM_MatMul)->Apply(MatMulArgs);

// Streaming read of a 512 MiB buffer split over `threads` threads: the DRAM bandwidth a decode
// matrix-vector product can at best reach.
void BM_MemoryRead(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int64_t kBytes = int64_t{512} << 20;
  constexpr int64_t kWords = kBytes / 8;
  std::vector<uint64_t> buf(kWords);
  for (int64_t i = 0; i < kWords; ++i) buf[i] = static_cast<uint64_t>(i);
  ThreadPool pool(threads);
  std::vector<uint64_t> sums(threads * 8);
  for (auto _ : state) {
    pool.Run([&](int index, int count) {
      const auto [begin, end] = SplitRange(kWords, 1024, index, count);
      uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (int64_t i = begin; i < end; i += 4) {
        a0 += buf[i];
        a1 += buf[i + 1];
        a2 += buf[i + 2];
        a3 += buf[i + 3];
      }
      sums[index * 8] = a0 + a1 + a2 + a3;
    });
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(state.iterations() * kBytes);
}
BENCHMARK(BM_MemoryRead)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace infer::kernels::cpu
