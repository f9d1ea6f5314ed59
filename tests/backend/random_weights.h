// Random weight matrices in GGUF's stored types, for the backend tests.
#ifndef INFER_TESTS_BACKEND_RANDOM_WEIGHTS_H_
#define INFER_TESTS_BACKEND_RANDOM_WEIGHTS_H_

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "libinfer/tensor/dtype.h"
#include "libinfer/util/fp16.h"

namespace infer::testing {

// `rows` rows of `cols` random elements of `dtype`, each block valid (finite F16 scales).
inline std::vector<uint8_t> RandomMatrix(DType dtype, int64_t rows, int64_t cols,
                                         std::mt19937& rng) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  const int64_t row_bytes = cols / info.block_elems * info.block_bytes;
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * row_bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> value(0.f, 0.05f);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(byte(rng));
  const auto put16 = [&](size_t at, uint16_t h) { std::memcpy(&bytes[at], &h, 2); };
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < cols / info.block_elems; ++e) {
      const size_t at = static_cast<size_t>(r * row_bytes + e * info.block_bytes);
      switch (dtype) {
        case DType::kF32: {
          const float f = value(rng);
          std::memcpy(&bytes[at], &f, 4);
          break;
        }
        case DType::kF16:
          put16(at, Fp32ToFp16(value(rng)));
          break;
        case DType::kBF16:
          put16(at, Fp32ToBf16(value(rng)));
          break;
        case DType::kQ4_1:
          put16(at + 2, Fp32ToFp16(value(rng)));  // the minimum, then the scale below
          [[fallthrough]];
        default:
          put16(at, Fp32ToFp16(value(rng)));
          break;
      }
    }
  }
  return bytes;
}

}  // namespace infer::testing

#endif  // INFER_TESTS_BACKEND_RANDOM_WEIGHTS_H_
