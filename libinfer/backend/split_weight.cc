#include "libinfer/backend/split_weight.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "libinfer/util/fp16.h"

namespace infer {
namespace {

constexpr int64_t kAlign = 16;

int64_t RoundUp(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

// Copies each block's codes of one row and its scale (and minimum) apart.
template <typename Block>
void SplitRow(const Block* blocks, int64_t n_blocks, uint8_t* codes, uint16_t* scales,
              uint16_t* mins) {
  constexpr size_t kCodeBytes = sizeof(Block::qs);
  for (int64_t b = 0; b < n_blocks; ++b) {
    std::memcpy(codes + b * kCodeBytes, blocks[b].qs, kCodeBytes);
    scales[b] = blocks[b].d;
    if constexpr (requires { blocks[b].m; }) mins[b] = blocks[b].m;
  }
}

}  // namespace

bool SplitWeightSupports(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<SplitWeight> SplitForDevice(const kernels::cpu::WeightMatrix& m) {
  if (!SplitWeightSupports(m.dtype)) {
    return absl::UnimplementedError(
        absl::StrCat("the device matrix kernels do not read ", DTypeName(m.dtype),
                     " weights (they read F32, F16, BF16, Q8_0, Q4_0 and Q4_1)"));
  }
  const DTypeInfo& info = GetDTypeInfo(m.dtype);
  if (m.rows < 0 || m.cols <= 0 || m.cols % info.block_elems != 0) {
    return absl::InvalidArgumentError(absl::StrCat("a ", m.rows, " x ", m.cols, " ", info.name,
                                                   " matrix is not whole blocks of ",
                                                   info.block_elems));
  }
  SplitWeight w;
  w.dtype = m.dtype;
  w.rows = m.rows;
  w.cols = m.cols;
  const bool quantized = info.block_elems > 1;
  const int64_t code_bytes =
      quantized ? (m.dtype == DType::kQ8_0 ? m.cols : m.cols / 2) : m.cols * info.block_bytes;
  w.row_bytes = RoundUp(code_bytes, kAlign);
  w.codes.assign(static_cast<size_t>(w.rows * w.row_bytes), 0);
  const int64_t nb = quantized ? w.blocks_per_row() : 0;
  w.scales.resize(static_cast<size_t>(w.rows * nb));
  if (m.dtype == DType::kQ4_1) w.mins.resize(static_cast<size_t>(w.rows * nb));
  const auto* src = static_cast<const uint8_t*>(m.data);
  for (int64_t r = 0; r < m.rows; ++r) {
    const uint8_t* row = src + static_cast<size_t>(r) * m.row_bytes;
    uint8_t* codes = w.codes.data() + r * w.row_bytes;
    uint16_t* scales = w.scales.data() + r * nb;
    switch (m.dtype) {
      case DType::kQ8_0:
        SplitRow(reinterpret_cast<const BlockQ8_0*>(row), nb, codes, scales, nullptr);
        break;
      case DType::kQ4_0:
        SplitRow(reinterpret_cast<const BlockQ4_0*>(row), nb, codes, scales, nullptr);
        break;
      case DType::kQ4_1:
        SplitRow(reinterpret_cast<const BlockQ4_1*>(row), nb, codes, scales,
                 w.mins.data() + r * nb);
        break;
      default:
        std::memcpy(codes, row, static_cast<size_t>(code_bytes));
        break;
    }
  }
  return w;
}

float SplitWeightValue(const SplitWeight& w, int64_t row, int64_t col) {
  const uint8_t* codes = w.codes.data() + row * w.row_bytes;
  const int64_t b = col / kQuantBlock;
  const int64_t j = col % kQuantBlock;
  switch (w.dtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, codes + col * 4, 4);
      return v;
    }
    case DType::kF16:
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, codes + col * 2, 2);
      return w.dtype == DType::kF16 ? Fp16ToFp32(h) : Bf16ToFp32(h);
    }
    case DType::kQ8_0:
      return Fp16ToFp32(w.scales[row * w.blocks_per_row() + b]) *
             static_cast<float>(static_cast<int8_t>(codes[col]));
    case DType::kQ4_0:
    case DType::kQ4_1: {
      const uint8_t byte = codes[b * 16 + j % 16];
      const int q = j < 16 ? (byte & 0x0f) : (byte >> 4);
      const float d = Fp16ToFp32(w.scales[row * w.blocks_per_row() + b]);
      if (w.dtype == DType::kQ4_0) return d * static_cast<float>(q - 8);
      return d * static_cast<float>(q) + Fp16ToFp32(w.mins[row * w.blocks_per_row() + b]);
    }
    default:
      return 0;
  }
}

}  // namespace infer
