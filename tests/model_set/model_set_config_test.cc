// The model set document: every field read from YAML and JSON alike, and a bad document
// refused whole with messages that name each bad entry.
#include "libinfer/model_set/model_set_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infer::model_set {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ModelSetConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("infer_model_set_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "a.gguf") << "x";
    std::ofstream(dir_ / "b.gguf") << "x";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<ModelSetSpec> Parse(const std::string& name, const std::string& text) {
    return ParseModelSet((dir_ / name).string(), text);
  }

  std::filesystem::path dir_;
};

constexpr char kFullYaml[] = R"(models:
  - name: chat
    path: a.gguf
    replicas: 2
    memory: 3.5GiB
    context_length: 4096
    tensor_parallel: 2
    pipeline_parallel: 1
    device: cuda
    threads: 3
    sampling: {temperature: 0.7, top_p: 0.9, top_k: 40, max_tokens: 128}
    scheduler:
      max_num_seqs: 8
      max_num_batched_tokens: 256
      kv_cache_memory: 256MiB
      enable_prefix_caching: false
  - name: small
    path: b.gguf
    replicas: max
)";

TEST_F(ModelSetConfigTest, ReadsEveryField) {
  auto set = Parse("models.yaml", kFullYaml);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->models.size(), 2u);
  const ModelSpec& chat = set->models[0];
  EXPECT_EQ(chat.name, "chat");
  EXPECT_EQ(chat.path, (dir_ / "a.gguf").string());
  EXPECT_EQ(chat.replicas, 2);
  EXPECT_FALSE(chat.max_replicas);
  EXPECT_EQ(chat.memory_bytes, uint64_t{7} << 29);
  EXPECT_EQ(chat.context_length, 4096);
  EXPECT_EQ(chat.tensor_parallel, 2);
  EXPECT_EQ(chat.device, "cuda");
  EXPECT_EQ(chat.threads, 3);
  EXPECT_FLOAT_EQ(*chat.sampling.temperature, 0.7f);
  EXPECT_FLOAT_EQ(*chat.sampling.top_p, 0.9f);
  EXPECT_EQ(*chat.sampling.top_k, 40);
  EXPECT_EQ(*chat.sampling.max_tokens, 128);
  EXPECT_FALSE(chat.sampling.min_p.has_value());
  EXPECT_EQ(chat.scheduler.max_num_seqs, 8);
  EXPECT_EQ(chat.scheduler.max_num_batched_tokens, 256);
  EXPECT_EQ(chat.scheduler.kv_cache_bytes, uint64_t{256} << 20);
  EXPECT_FALSE(chat.scheduler.enable_prefix_caching);
  const ModelSpec& small = set->models[1];
  EXPECT_TRUE(small.max_replicas);
  EXPECT_EQ(small.memory_bytes, 0u);
  EXPECT_EQ(small.scheduler.max_num_seqs, SchedulerOptions().max_num_seqs);
}

TEST_F(ModelSetConfigTest, JsonReadsLikeYaml) {
  auto set = Parse("models.json", R"({"models": [
      {"name": "chat", "path": "a.gguf", "replicas": 2, "memory": "512M",
       "max_model_len": 1024, "sampling": {"temperature": 0}},
      {"name": "small", "path": "b.gguf", "replicas": "max"}]})");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->models[0].replicas, 2);
  EXPECT_EQ(set->models[0].memory_bytes, uint64_t{512} << 20);
  EXPECT_EQ(set->models[0].context_length, 1024);
  EXPECT_FLOAT_EQ(*set->models[0].sampling.temperature, 0.0f);
  EXPECT_TRUE(set->models[1].max_replicas);
}

TEST_F(ModelSetConfigTest, EveryBadEntryIsNamedAndTheWholeSetRefused) {
  auto set = Parse("models.yaml", R"(models:
  - name: chat
    path: a.gguf
    replica: 2
  - name: coder
    path: missing.gguf
    memory: -1GiB
  - name: chat
    path: b.gguf
    scheduler: {max_num_seqs: 0, kv_cache: 1G}
)");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string m(set.status().message());
  EXPECT_THAT(m, HasSubstr("models.yaml: the model set is refused"));
  EXPECT_THAT(m, HasSubstr("models[0] ('chat'): unknown key 'replica'"));
  EXPECT_THAT(m, HasSubstr("models[1] ('coder'): path: no such file or folder: "));
  EXPECT_THAT(m, HasSubstr("missing.gguf"));
  EXPECT_THAT(m, HasSubstr("models[1] ('coder'): memory: must be a positive size"));
  EXPECT_THAT(m, HasSubstr("models[2] ('chat'): name: duplicate of models[0] ('chat')"));
  EXPECT_THAT(m, HasSubstr("models[2] ('chat'): scheduler: max_num_seqs: must be in [1, "));
  EXPECT_THAT(m, HasSubstr("models[2] ('chat'): scheduler: unknown key 'kv_cache'"));
}

TEST_F(ModelSetConfigTest, ValuesOfTheWrongShapeAreRefused) {
  auto set = Parse("models.yaml", R"(models:
  - name: chat
    path: a.gguf
    replicas: lots
    threads: [1, 2]
    device: tpu
    sampling: 0.7
    context_length: 100000000000
  - 7
extra: 1
)");
  ASSERT_FALSE(set.ok());
  const std::string m(set.status().message());
  EXPECT_THAT(m, HasSubstr("replicas: must be an integer in [0, 1024] or `max`, got 'lots'"));
  EXPECT_THAT(m, HasSubstr("threads: must be a single value"));
  EXPECT_THAT(m, HasSubstr("device: must be host or cuda, got 'tpu'"));
  EXPECT_THAT(m, HasSubstr("sampling: must be a mapping"));
  EXPECT_THAT(m, HasSubstr("context_length: must be in [0, "));
  EXPECT_THAT(m, HasSubstr("models[1]: must be a mapping"));
  EXPECT_THAT(m, HasSubstr("unknown top-level key 'extra'"));
}

TEST_F(ModelSetConfigTest, RequiredFieldsAndAnEmptySet) {
  EXPECT_THAT(Parse("m.yaml", "models: []\n").status().message(),
              HasSubstr("`models` must be a non-empty list"));
  EXPECT_THAT(Parse("m.yaml", "other: 1\n").status().message(),
              HasSubstr("`models` must be a non-empty list"));
  auto set = Parse("m.yaml", "models:\n  - replicas: 1\n");
  EXPECT_THAT(set.status().message(), HasSubstr("models[0]: name: is required"));
  EXPECT_THAT(set.status().message(), HasSubstr("models[0]: path: is required"));
  EXPECT_THAT(Parse("m.yaml", "models:\n  - {name: 'a b', path: a.gguf}\n").status().message(),
              HasSubstr("name: must be at most 256 bytes without spaces"));
}

TEST_F(ModelSetConfigTest, AMissingOrUnreadableFileIsNamed) {
  auto set = LoadModelSetFile((dir_ / "nope.yaml").string());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(set.status().message(), HasSubstr("nope.yaml: cannot open the model set file"));
  std::ofstream(dir_ / "ok.yaml") << "models:\n  - {name: a, path: a.gguf}\n";
  auto ok = LoadModelSetFile((dir_ / "ok.yaml").string());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->models[0].path, (dir_ / "a.gguf").string());
}

TEST(ByteSizeTest, UnitsAndRefusals) {
  EXPECT_EQ(ParseByteSize("1048576"), uint64_t{1} << 20);
  EXPECT_EQ(ParseByteSize("512MiB"), uint64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("512M"), uint64_t{512} << 20);
  EXPECT_EQ(ParseByteSize("2G"), uint64_t{2} << 30);
  EXPECT_EQ(ParseByteSize("1.5 GiB"), uint64_t{3} << 29);
  EXPECT_EQ(ParseByteSize("3GB"), uint64_t{3000000000});
  EXPECT_EQ(ParseByteSize("1Ti"), uint64_t{1} << 40);
  for (const char* bad : {"", "-1G", "0", "0.0001", "1X", "G", "1..2M", "1e9", "+5M"}) {
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace infer::model_set
