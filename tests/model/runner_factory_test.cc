// The runner factory follows the architecture table: a config that names no family is refused
// by both the builder and the footprint estimate, even when it did not come through a reader.
#include "gtest/gtest.h"
#include "libinfer/model/parallelism.h"
#include "libinfer/model/weight_source.h"

namespace infer {
namespace {

class NoWeights final : public WeightSource {
 public:
  const TensorView* Find(std::string_view) const override { return nullptr; }
  std::vector<const TensorView*> All() const override { return {}; }
  std::string_view format() const override { return "none"; }
};

TEST(RunnerFactoryTest, UnknownArchitectureIsRefusedNamingTheKnownOnes) {
  ModelConfig c;
  c.architecture = "gpt2";
  NoWeights weights;
  RunnerLayout layout;
  auto runner = CreateModelRunner(c, weights, layout, nullptr, comm::Timeout{}, 1);
  EXPECT_EQ(runner.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(runner.status().message().find("'gpt2' has no runner (expected llama"),
            std::string::npos)
      << runner.status();
  auto footprint = EstimateRunnerFootprint(c, weights, layout, 1, 1);
  EXPECT_EQ(footprint.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RunnerFactoryTest, KnownArchitectureReachesItsRunnersOwnChecks) {
  ModelConfig c;
  c.architecture = "qwen2";
  NoWeights weights;
  // The Llama runner's checks run (and refuse this empty config), not the factory's.
  auto runner = CreateModelRunner(c, weights, RunnerLayout{}, nullptr, comm::Timeout{}, 1);
  ASSERT_FALSE(runner.ok());
  EXPECT_EQ(runner.status().message().find("has no runner"), std::string::npos) << runner.status();
}

}  // namespace
}  // namespace infer
