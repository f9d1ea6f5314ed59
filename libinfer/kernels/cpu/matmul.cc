// MatMul front end: picks the kernel table, quantizes activations once (int16 or int8 codes; int16
// ones also interleaved in groups of eight rows or packed in AMX tiles for the kernels that take
// them) for every product of the same input, and deals the output columns (rows of the weight
// matrices) to the thread pool in chunks. DequantizeRow is here too (portable;
// it runs once per token for embeddings, far from any hot loop).
#include "libinfer/kernels/cpu/matmul.h"

#include <algorithm>
#include <cstring>

#include "libinfer/kernels/cpu/matmul_internal.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/fp16.h"

namespace infer::kernels::cpu {
namespace {

// Rows of W per scheduling grain: keeps each thread's range a multiple of the kernels' row
// tiles, and small matrices on one thread (a region start costs a few microseconds).
constexpr int64_t kRowGrain = 16;

// Below this many multiply-adds a matrix product runs on the calling thread alone.
constexpr int64_t kMinParallelWork = 64 * 1024;

// The least work of one parallel chunk of weight rows (but at least one chunk per thread).
constexpr int64_t kMinChunkWork = 128 * 1024;

}  // namespace

bool IsQuantized(DType dtype) {
  return dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16;
}

namespace {

// The highest level whose kernels this build compiled in.
constexpr CpuLevel kCompiledLevel =
#if defined(INFER_KERNELS_AMX)
    CpuLevel::kAmx;
#elif defined(INFER_KERNELS_X86)
    CpuLevel::kAvx512;
#else
    CpuLevel::kPortable;
#endif

// `level`, capped at what this build compiled in.
CpuLevel Compiled(CpuLevel level) {
  return static_cast<int>(level) < static_cast<int>(kCompiledLevel) ? level : kCompiledLevel;
}

}  // namespace

CpuLevel DetectedCpuLevel() { return Compiled(SelectedCpuLevel()); }

bool CpuLevelAvailable(CpuLevel level) {
  return static_cast<int>(level) <= static_cast<int>(Compiled(LevelOf(HardwareCpuFeatures())));
}

const MatMulKernelTable& MatMulKernelsFor(CpuLevel level) {
#if defined(INFER_KERNELS_AMX)
  if (level == CpuLevel::kAmx) return AmxMatMulKernels();
#endif
#if defined(INFER_KERNELS_X86)
  if (level == CpuLevel::kAvx512) return Avx512VnniMatMulKernels();
  if (level == CpuLevel::kAvx2) return Avx2MatMulKernels();
#endif
  return PortableMatMulKernels();
}

namespace {

// What one product's kernel reads besides the float input: the rows' integer codes (quantized
// weights), and for int16 codes either AMX tiles or, for the grouped kernels, the rows
// interleaved in groups of eight (with or without the half sums).
struct ActLayout {
  bool quantized = false;
  bool tiled = false;
  bool grouped = false;
  bool half_sums = false;
};

ActLayout LayoutOf(const MatMulKernelTable& table, const WeightMatrix& w, int64_t m,
                   ActPrecision precision) {
  ActLayout a;
  a.quantized = IsQuantized(w.dtype);
  const bool wide = a.quantized && precision == ActPrecision::kInt16;
  const int dt = static_cast<int>(w.dtype);
  a.tiled = wide && table.use_tiles16 != nullptr && table.use_tiles16(w, m);
  a.grouped = !a.tiled && wide && m >= 8 && table.groups16[dt] && table.interleave_act16 != nullptr;
  a.half_sums = a.grouped && table.half_sums16[dt];
  return a;
}

// Which layouts the products of one call take together: the codes are made once for all of
// them, each interleaving or packing once for those that take it.
struct ActNeeds {
  bool quantized = false;
  bool tiled = false;
  bool grouped[2] = {false, false};  // without, with the half sums
};

// The activations of one input in every layout its products read.
struct PreparedActs {
  const uint8_t* rows = nullptr;  // m rows of ActBlockQ16 (int16) or ActBlockQ8 codes
  const ActTile16* tiles = nullptr;
  const ActGroup16* groups[2] = {nullptr, nullptr};  // without, with the half sums
};

// Quantizes x (m rows of `cols`) once into `buffer`, then interleaves or packs it for `needs`;
// in parallel on `pool` when `parallel` and there are rows enough.
PreparedActs PrepareActs(const MatMulKernelTable& table, const ActNeeds& needs, const float* x,
                         int64_t m, int64_t cols, bool wide, bool parallel, ThreadPool* pool,
                         std::vector<uint8_t>& buffer) {
  const int64_t blocks = cols / kQuantBlock;
  const int64_t tiles = needs.tiled ? (m + kTileRows - 1) / kTileRows : 0;
  const int64_t groups = m / 8;
  const size_t block_bytes = wide ? sizeof(ActBlockQ16) : sizeof(ActBlockQ8);
  const size_t row_bytes = static_cast<size_t>(m * blocks) * block_bytes;
  size_t bytes = (row_bytes + 63) / 64 * 64;
  const size_t tiles_at = bytes;
  bytes += static_cast<size_t>(tiles * blocks) * sizeof(ActTile16);
  size_t groups_at[2] = {0, 0};
  for (int h = 0; h < 2; ++h) {
    groups_at[h] = bytes;
    if (needs.grouped[h]) bytes += static_cast<size_t>(groups * blocks) * sizeof(ActGroup16);
  }
  if (buffer.size() < bytes) buffer.resize(bytes);
  uint8_t* xq = buffer.data();
  ActTile16* xt = needs.tiled ? reinterpret_cast<ActTile16*>(xq + tiles_at) : nullptr;
  ActGroup16* xg[2] = {nullptr, nullptr};
  for (int h = 0; h < 2; ++h) {
    if (needs.grouped[h]) xg[h] = reinterpret_cast<ActGroup16*>(xq + groups_at[h]);
  }
  const auto* rows16 = reinterpret_cast<const ActBlockQ16*>(xq);
  // Rows of group (tile) g are quantized, then interleaved (packed), by the same task: the
  // tasks' bounds are multiples of the group's rows.
  auto prepare = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint8_t* out = xq + static_cast<size_t>(i * blocks) * block_bytes;
      if (wide) {
        table.quantize_act16(x + i * cols, cols, reinterpret_cast<ActBlockQ16*>(out));
      } else {
        table.quantize_act(x + i * cols, cols, reinterpret_cast<ActBlockQ8*>(out));
      }
    }
    for (int h = 0; h < 2; ++h) {
      if (xg[h] == nullptr) continue;
      for (int64_t g = begin / 8; g < groups && g * 8 + 8 <= end; ++g) {
        table.interleave_act16(rows16 + g * 8 * blocks, blocks, h == 1, xg[h] + g * blocks);
      }
    }
    for (int64_t t = begin / kTileRows; t < tiles && t * kTileRows < end; ++t) {
      const int64_t n = std::min<int64_t>(kTileRows, m - t * kTileRows);
      table.pack_tiles16(rows16 + t * kTileRows * blocks, n, blocks, xt + t * blocks);
    }
  };
  if (parallel && m >= 2 * pool->num_threads()) {
    pool->ParallelFor(m, needs.tiled ? kTileRows : 8, prepare);
  } else {
    prepare(0, m);
  }
  return {xq, xt, {xg[0], xg[1]}};
}

}  // namespace

void MatMulSharedWithLevel(CpuLevel level, std::span<const MatMulProduct> products, const float* x,
                           int64_t m, ThreadPool* pool, MatMulScratch* scratch) {
  if (m <= 0 || products.empty()) return;
  const MatMulKernelTable& table = MatMulKernelsFor(level);
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  const int64_t cols = products[0].w->cols;

  MatMulScratch local_scratch;  // only used when the caller passes none
  if (scratch == nullptr) scratch = &local_scratch;
  const bool wide = scratch->activations == ActPrecision::kInt16;

  // Each product's rows start at a multiple of kRowGrain in the space the chunks are cut from.
  auto grain_up = [](int64_t r) { return (r + kRowGrain - 1) / kRowGrain * kRowGrain; };
  ActNeeds needs;
  int64_t rows = 0;
  for (const MatMulProduct& product : products) {
    const ActLayout a = LayoutOf(table, *product.w, m, scratch->activations);
    needs.quantized |= a.quantized;
    needs.tiled |= a.tiled;
    if (a.grouped) needs.grouped[a.half_sums ? 1 : 0] = true;
    rows = grain_up(rows) + product.w->rows;
  }
  const int64_t work = m * rows * cols;
  const bool parallel = threads > 1 && work >= kMinParallelWork;
  // Activations are quantized (and interleaved or packed) once here, not once per product,
  // thread or chunk.
  const PreparedActs acts =
      needs.quantized ? PrepareActs(table, needs, x, m, cols, wide, parallel, pool, scratch->buffer)
                      : PreparedActs{};

  // Rows [begin, end) of product p.
  auto gemm_rows = [&](size_t p, int64_t begin, int64_t end) {
    const MatMulProduct& product = products[p];
    const WeightMatrix& w = *product.w;
    const ActLayout a = LayoutOf(table, w, m, scratch->activations);
    const int dt = static_cast<int>(w.dtype);
    if (!a.quantized) {
      table.gemm[dt](w, x, m, product.y, product.ldy, begin, end);
    } else if (a.tiled) {
      table.tile_gemm16[dt](w, acts.tiles, m, product.y, product.ldy, begin, end);
    } else if (wide) {
      table.gemm16[dt](w, reinterpret_cast<const ActBlockQ16*>(acts.rows),
                       a.grouped ? acts.groups[a.half_sums ? 1 : 0] : nullptr, m, product.y,
                       product.ldy, begin, end);
    } else {
      table.gemm[dt](w, acts.rows, m, product.y, product.ldy, begin, end);
    }
  };
  if (!parallel) {
    for (size_t p = 0; p < products.size(); ++p) gemm_rows(p, 0, products[p].w->rows);
    return;
  }
  // Chunks of the products' rows, one after another, go to whichever threads come for them (a
  // preempted one holds up only the chunk it took); a row's result does not depend on the chunk
  // or the thread. A chunk is at least kMinChunkWork multiply-adds, so that small products are
  // not cut finer than pays.
  auto chunk = [&](int64_t begin, int64_t end) {
    int64_t first = 0;
    for (size_t p = 0; p < products.size() && first < end; ++p) {
      first = grain_up(first);
      const int64_t n = products[p].w->rows;
      const int64_t lo = std::max(begin, first);
      const int64_t hi = std::min(end, first + n);
      if (lo < hi) gemm_rows(p, lo - first, hi - first);
      first += n;
    }
  };
  pool->ParallelFor(rows, kRowGrain, chunk, std::max<int64_t>(threads, work / kMinChunkWork));
}

void MatMulWithLevel(CpuLevel level, const WeightMatrix& w, const float* x, int64_t m, float* y,
                     int64_t ldy, ThreadPool* pool, MatMulScratch* scratch) {
  if (w.rows <= 0) return;
  const MatMulProduct product{&w, y, ldy};
  MatMulSharedWithLevel(level, {&product, 1}, x, m, pool, scratch);
}

void MatMul(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, MatMulScratch* scratch) {
  static const CpuLevel level = DetectedCpuLevel();
  MatMulWithLevel(level, w, x, m, y, ldy, pool, scratch);
}

void MatMulShared(std::span<const MatMulProduct> products, const float* x, int64_t m,
                  ThreadPool* pool, MatMulScratch* scratch) {
  static const CpuLevel level = DetectedCpuLevel();
  MatMulSharedWithLevel(level, products, x, m, pool, scratch);
}

void DequantizeRow(const WeightMatrix& w, int64_t row, float* out) {
  const uint8_t* src = static_cast<const uint8_t*>(w.data) + row * w.row_bytes;
  const int64_t n = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
    case DType::kBF16: {
      const bool half = w.dtype == DType::kF16;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, src + 2 * i, sizeof(v));
        out[i] = half ? Fp16ToFp32(v) : Bf16ToFp32(v);
      }
      return;
    }
    default: {
      // Quantized: the portable block decoder, x = scale * code + offset per half block.
      int32_t q[kQuantBlock];
      float scale[2];
      float offset[2];
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        DecodeQuantBlock(w.dtype, src, b, q, scale, offset);
        float* o = out + b * kQuantBlock;
        for (int i = 0; i < kQuantBlock; ++i) {
          o[i] = scale[i / 16] * static_cast<float>(q[i]) + offset[i / 16];
        }
      }
      return;
    }
  }
}

}  // namespace infer::kernels::cpu
