// The device layout of weight matrices against the CPU's own decoding of the same GGUF blocks.
#include "libinfer/backend/split_weight.h"

#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/util/fp16.h"
#include "tests/backend/random_weights.h"

namespace infer {
namespace {

using kernels::cpu::WeightMatrix;
using testing::RandomMatrix;

class SplitWeightTest : public ::testing::TestWithParam<DType> {};

// Every element decodes from the split layout to DequantizeRow's value of the GGUF blocks,
// for a whole matrix and for a column slice (a tensor-parallel share: row stride above its width).
TEST_P(SplitWeightTest, DecodesAsTheCpuDoes) {
  const DType dtype = GetParam();
  const DTypeInfo& info = GetDTypeInfo(dtype);
  std::mt19937 rng(7 + static_cast<int>(dtype));
  const int64_t rows = 5, cols = 160;
  const std::vector<uint8_t> bytes = RandomMatrix(dtype, rows, cols, rng);
  WeightMatrix whole{dtype, bytes.data(), rows, cols,
                     static_cast<size_t>(cols / info.block_elems * info.block_bytes)};
  WeightMatrix slice = whole;  // columns [64, 128) of rows [1, 4)
  slice.rows = 3;
  slice.cols = 64;
  slice.data = bytes.data() + whole.row_bytes + 64 / info.block_elems * info.block_bytes;
  for (const WeightMatrix& m : {whole, slice}) {
    auto split = SplitForDevice(m);
    ASSERT_TRUE(split.ok()) << split.status();
    EXPECT_EQ(split->row_bytes % 16, 0);
    EXPECT_EQ(split->codes.size(), static_cast<size_t>(m.rows * split->row_bytes));
    std::vector<float> want(static_cast<size_t>(m.cols));
    for (int64_t r = 0; r < m.rows; ++r) {
      kernels::cpu::DequantizeRow(m, r, want.data());
      for (int64_t c = 0; c < m.cols; ++c) {
        const float got = SplitWeightValue(*split, r, c);
        // Equal as numbers (a zero code times a negative scale may be -0 on one side).
        ASSERT_EQ(got, want[c]) << info.name << " row " << r << " col " << c << ": " << got
                                << " vs " << want[c];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, SplitWeightTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                                           DType::kQ4_0, DType::kQ4_1),
                         [](const ::testing::TestParamInfo<DType>& p) {
                           return std::string(DTypeName(p.param));
                         });

TEST(SplitWeightTest, RefusesTypesTheDeviceKernelsDoNotRead) {
  std::vector<uint8_t> bytes(256);
  WeightMatrix m{DType::kQ5_0, bytes.data(), 1, 32, 22};
  auto split = SplitForDevice(m);
  ASSERT_EQ(split.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(split.status().message().find("Q5_0"), std::string::npos) << split.status();
  EXPECT_FALSE(SplitWeightSupports(DType::kQ4_K));
  WeightMatrix ragged{DType::kQ8_0, bytes.data(), 1, 48, 51};
  EXPECT_EQ(SplitForDevice(ragged).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infer
