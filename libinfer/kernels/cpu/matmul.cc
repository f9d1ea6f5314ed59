// MatMul front end: picks the kernel table, quantizes activations once (int16 or int8 codes; int16
// ones also interleaved in groups of eight rows for the kernels that take them), and deals the
// output columns (rows of W) to the thread pool in chunks. DequantizeRow is here too (portable;
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

void MatMulWithLevel(CpuLevel level, const WeightMatrix& w, const float* x, int64_t m, float* y,
                     int64_t ldy, ThreadPool* pool, MatMulScratch* scratch) {
  if (m <= 0 || w.rows <= 0) return;
  const MatMulKernelTable& table = MatMulKernelsFor(level);
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  const bool parallel = threads > 1 && m * w.rows * w.cols >= kMinParallelWork;

  MatMulScratch local_scratch;  // only used when the caller passes none
  if (scratch == nullptr) scratch = &local_scratch;
  const bool quantized = IsQuantized(w.dtype);
  const bool wide = quantized && scratch->activations == ActPrecision::kInt16;
  const int dt = static_cast<int>(w.dtype);
  const int64_t blocks = w.cols / kQuantBlock;
  // int16 activations in AMX tiles of sixteen rows (the last one padded), where the level has
  // them and takes this product; or of eight rows or more interleaved as well, for kernels that
  // take them.
  const bool tiled = wide && table.use_tiles16 != nullptr && table.use_tiles16(w, m);
  const int64_t tiles = tiled ? (m + kTileRows - 1) / kTileRows : 0;
  const int64_t groups =
      !tiled && wide && table.groups16[dt] && table.interleave_act16 != nullptr ? m / 8 : 0;
  uint8_t* xq = nullptr;
  ActGroup16* xg = nullptr;
  ActTile16* xt = nullptr;
  if (quantized) {
    // Activations are quantized (and interleaved or packed) once here, not once per thread or
    // chunk.
    const size_t block_bytes = wide ? sizeof(ActBlockQ16) : sizeof(ActBlockQ8);
    const size_t row_bytes = static_cast<size_t>(m * blocks) * block_bytes;
    const size_t group_at = (row_bytes + 63) / 64 * 64;
    const size_t bytes = group_at + static_cast<size_t>(groups * blocks) * sizeof(ActGroup16) +
                         static_cast<size_t>(tiles * blocks) * sizeof(ActTile16);
    if (scratch->buffer.size() < bytes) scratch->buffer.resize(bytes);
    xq = scratch->buffer.data();
    xg = groups > 0 ? reinterpret_cast<ActGroup16*>(xq + group_at) : nullptr;
    xt = tiles > 0 ? reinterpret_cast<ActTile16*>(xq + group_at) : nullptr;
    const QuantizeActFn quantize8 = table.quantize_act;
    const QuantizeAct16Fn quantize16 = table.quantize_act16;
    const InterleaveAct16Fn interleave = table.interleave_act16;
    const PackTiles16Fn pack = table.pack_tiles16;
    const bool half_sums = table.half_sums16[dt];
    const int64_t cols = w.cols;
    const auto* rows16 = reinterpret_cast<const ActBlockQ16*>(xq);
    // Rows of group (tile) g are quantized, then interleaved (packed), by the same task: the
    // tasks' bounds are multiples of the group's rows.
    auto prepare = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        uint8_t* out = xq + static_cast<size_t>(i * blocks) * block_bytes;
        if (wide) {
          quantize16(x + i * cols, cols, reinterpret_cast<ActBlockQ16*>(out));
        } else {
          quantize8(x + i * cols, cols, reinterpret_cast<ActBlockQ8*>(out));
        }
      }
      for (int64_t g = begin / 8; g < groups && g * 8 + 8 <= end; ++g) {
        interleave(rows16 + g * 8 * blocks, blocks, half_sums, xg + g * blocks);
      }
      for (int64_t t = begin / kTileRows; t < tiles && t * kTileRows < end; ++t) {
        const int64_t n = std::min<int64_t>(kTileRows, m - t * kTileRows);
        pack(rows16 + t * kTileRows * blocks, n, blocks, xt + t * blocks);
      }
    };
    if (parallel && m >= 2 * threads) {
      pool->ParallelFor(m, tiled ? kTileRows : 8, prepare);
    } else {
      prepare(0, m);
    }
  }

  // Chunks of weight rows go to whichever threads come for them (a preempted one holds up only
  // the chunk it took); a row's result does not depend on the chunk or the thread. A chunk is
  // at least kMinChunkWork multiply-adds, so that small products are not cut finer than pays.
  auto gemm_rows = [&](int64_t begin, int64_t end) {
    if (!quantized) {
      table.gemm[dt](w, x, m, y, ldy, begin, end);
    } else if (tiled) {
      table.tile_gemm16[dt](w, xt, m, y, ldy, begin, end);
    } else if (wide) {
      table.gemm16[dt](w, reinterpret_cast<const ActBlockQ16*>(xq), xg, m, y, ldy, begin, end);
    } else {
      table.gemm[dt](w, xq, m, y, ldy, begin, end);
    }
  };
  if (!parallel) {
    gemm_rows(0, w.rows);
    return;
  }
  pool->ParallelFor(w.rows, kRowGrain, gemm_rows,
                    std::max<int64_t>(threads, m * w.rows * w.cols / kMinChunkWork));
}

void MatMul(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, MatMulScratch* scratch) {
  static const CpuLevel level = DetectedCpuLevel();
  MatMulWithLevel(level, w, x, m, y, ldy, pool, scratch);
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
