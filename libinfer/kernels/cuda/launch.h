// Launch shapes of the CUDA kernels, planned on the host. Plain C++ (no CUDA headers), so that the
// planning is unit-tested on machines without CUDA and the kernels launch what the tests saw.
#ifndef INFER_KERNELS_CUDA_LAUNCH_H_
#define INFER_KERNELS_CUDA_LAUNCH_H_

#include <algorithm>
#include <cstdint>

namespace infer::kernels::cuda {

// Element-wise kernels: blocks of kElementThreads threads, grid-stride loops over at most
// kMaxElementBlocks blocks.
inline constexpr int kElementThreads = 256;
inline constexpr int64_t kMaxElementBlocks = 4096;
inline unsigned ElementBlocks(int64_t n) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((n + kElementThreads - 1) / kElementThreads, 1, kMaxElementBlocks));
}

// Matrix products by our own kernel: one warp per (weight row, group of kMatMulRowsPerWarp input
// rows), so that each weight chunk a warp loads serves that many rows; kMatMulWarps warps of a
// block take consecutive weight rows. grid.y counts the groups (at most kMaxGridY per launch, the
// caller loops over larger batches).
inline constexpr int kMatMulWarps = 8;
inline constexpr int kMatMulRowsPerWarp = 8;
inline constexpr int64_t kMaxGridY = 65535;
struct MatMulLaunch {
  unsigned grid_x = 0;  // weight-row groups
  unsigned grid_y = 0;  // input-row groups of this launch
};
inline MatMulLaunch PlanMatMul(int64_t weight_rows, int64_t input_rows) {
  const int64_t groups = (input_rows + kMatMulRowsPerWarp - 1) / kMatMulRowsPerWarp;
  return {static_cast<unsigned>((weight_rows + kMatMulWarps - 1) / kMatMulWarps),
          static_cast<unsigned>(std::min(groups, kMaxGridY))};
}

// When a product goes to cuBLASLt instead (prefill and large batches): float weights from
// kGemmMinRows input rows (activations converted to the weights' type), quantized weights from
// kGemmMinRowsQuantized (the matrix dequantized to F16 first: at fewer rows our kernel reads less).
inline constexpr int64_t kGemmMinRows = 16;
inline constexpr int64_t kGemmMinRowsQuantized = 128;
inline bool UseGemm(bool quantized, int64_t input_rows) {
  return input_rows >= (quantized ? kGemmMinRowsQuantized : kGemmMinRows);
}

// Paged attention: one block of kAttentionThreads threads per (token, query head, split); a
// split covers `positions_per_split` of the token's positions (a multiple of kAttentionTile).
// Long contexts with few (token, head) pairs are split so that every multiprocessor has work
// (decode); the partial results are then combined. At most kMaxAttentionSplits splits.
inline constexpr int kAttentionThreads = 128;
inline constexpr int kAttentionTile = 32;
inline constexpr int64_t kMinSplitPositions = 256;
inline constexpr int64_t kMaxAttentionSplits = 64;
struct AttentionLaunch {
  int64_t splits = 1;
  int64_t positions_per_split = 0;
};
// `max_span`: the most positions any token of the step attends to (its position + 1, or the
// sliding window); `sm_count`: the device's multiprocessors.
inline AttentionLaunch PlanAttention(int64_t num_tokens, int64_t num_heads, int64_t max_span,
                                     int sm_count) {
  const int64_t pairs = std::max<int64_t>(num_tokens * num_heads, 1);
  const int64_t span = std::max<int64_t>(max_span, 1);
  const int64_t wanted = (2 * static_cast<int64_t>(std::max(sm_count, 1)) + pairs - 1) / pairs;
  const int64_t most = (span + kMinSplitPositions - 1) / kMinSplitPositions;
  AttentionLaunch l;
  l.splits = std::clamp<int64_t>(std::min(wanted, most), 1, kMaxAttentionSplits);
  const int64_t per = (span + l.splits - 1) / l.splits;
  l.positions_per_split = (per + kAttentionTile - 1) / kAttentionTile * kAttentionTile;
  // Rounding up may leave the last splits empty; drop them.
  l.splits = (span + l.positions_per_split - 1) / l.positions_per_split;
  return l;
}

}  // namespace infer::kernels::cuda

#endif  // INFER_KERNELS_CUDA_LAUNCH_H_
