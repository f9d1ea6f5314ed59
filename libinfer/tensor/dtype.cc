#include "libinfer/tensor/dtype.h"

#include <iterator>
#include <limits>

namespace infer {

const DTypeInfo& GetDTypeInfo(DType dtype) {
  static constexpr DTypeInfo kInfos[] = {
      {"F32", 1, 4},
      {"F16", 1, 2},
      {"BF16", 1, 2},
      {"Q8_0", kQuantBlock, sizeof(BlockQ8_0)},
      {"Q4_0", kQuantBlock, sizeof(BlockQ4_0)},
      {"Q4_1", kQuantBlock, sizeof(BlockQ4_1)},
      {"Q5_0", kQuantBlock, sizeof(BlockQ5_0)},
      {"Q5_1", kQuantBlock, sizeof(BlockQ5_1)},
      {"Q2_K", kSuperBlock, sizeof(BlockQ2_K)},
      {"Q3_K", kSuperBlock, sizeof(BlockQ3_K)},
      {"Q4_K", kSuperBlock, sizeof(BlockQ4_K)},
      {"Q5_K", kSuperBlock, sizeof(BlockQ5_K)},
      {"Q6_K", kSuperBlock, sizeof(BlockQ6_K)},
      {"IQ4_NL", kQuantBlock, sizeof(BlockIQ4_NL)},
      {"IQ4_XS", kSuperBlock, sizeof(BlockIQ4_XS)},
  };
  static_assert(std::size(kInfos) == kNumDTypes);
  return kInfos[static_cast<int>(dtype)];
}

std::optional<int64_t> DTypeBytes(DType dtype, int64_t elems) {
  const DTypeInfo& info = GetDTypeInfo(dtype);
  if (elems < 0 || elems % info.block_elems != 0) return std::nullopt;
  const int64_t blocks = elems / info.block_elems;
  if (blocks > std::numeric_limits<int64_t>::max() / info.block_bytes) return std::nullopt;
  return blocks * info.block_bytes;
}

}  // namespace infer
