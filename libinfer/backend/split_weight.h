// The layout in which a device backend holds a weight matrix: GGUF's blocks taken apart into the
// codes of every row (contiguous, each row's start 16-byte aligned, so that a warp's loads are
// aligned and coalesced) and the per-block scales (and minimums) in arrays of their own. Built on
// the host from the mapped file's matrix (a tensor-parallel slice included) and uploaded as is;
// SplitWeightValue states what the device kernels decode, so the conversion is tested on any
// machine against the CPU's DequantizeRow.
#ifndef INFER_BACKEND_SPLIT_WEIGHT_H_
#define INFER_BACKEND_SPLIT_WEIGHT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/tensor/dtype.h"

namespace infer {

struct SplitWeight {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  // Bytes of one row's codes, a multiple of 16: cols elements of F32/F16/BF16, cols bytes of
  // Q8_0's int8 codes, cols / 2 bytes of Q4_0/Q4_1's nibbles (per block of 32, byte j holds
  // element j in its low nibble and element j + 16 in its high one, as in GGUF).
  int64_t row_bytes = 0;
  std::vector<uint8_t> codes;    // [rows][row_bytes]
  std::vector<uint16_t> scales;  // [rows][cols / 32] F16 block scales d (quantized types)
  std::vector<uint16_t> mins;    // [rows][cols / 32] F16 block minimums m (Q4_1 only)

  int64_t blocks_per_row() const { return cols / kQuantBlock; }
};

// True for the types the device matrix kernels read: F32, F16, BF16, Q8_0, Q4_0, Q4_1.
bool SplitWeightSupports(DType dtype);

// `m` in the split layout. Unimplemented (naming the type and the supported ones) for other
// types; InvalidArgument for a quantized matrix whose columns are not whole blocks.
absl::StatusOr<SplitWeight> SplitForDevice(const kernels::cpu::WeightMatrix& m);

// Element (row, col) as the device kernels decode it: F16/BF16 widened, Q8_0 d * q, Q4_0
// d * (q - 8), Q4_1 d * q + m (d * q is exact in float, so one rounding, as the CPU's).
float SplitWeightValue(const SplitWeight& w, int64_t row, int64_t col);

}  // namespace infer

#endif  // INFER_BACKEND_SPLIT_WEIGHT_H_
