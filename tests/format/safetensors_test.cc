#include "libinfer/format/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/format/gguf_test_writer.h"

namespace infer {
namespace {

using ::testing::HasSubstr;
using testing::Pattern;

// 8-byte little-endian header length + header text + data.
std::vector<uint8_t> Make(const std::string& header, const std::vector<uint8_t>& data,
                          std::optional<uint64_t> len_override = std::nullopt) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  const uint64_t len = len_override.value_or(header.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> ParseBytes(const std::vector<uint8_t>& b) {
  return SafetensorsFile::Parse(std::span<const uint8_t>(b.data(), b.size()), "m.safetensors");
}

std::string ParseError(const std::vector<uint8_t>& b) {
  auto r = ParseBytes(b);
  EXPECT_FALSE(r.ok()) << "parse unexpectedly succeeded";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

const char kValidHeader[] =
    R"({"__metadata__": {"format": "pt"},)"
    R"( "b.weight": {"dtype": "F16", "shape": [2, 3], "data_offsets": [24, 36]},)"
    R"( "a.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},)"
    R"( "c": {"dtype": "BF16", "shape": [], "data_offsets": [36, 38]},)"
    R"( "empty": {"dtype": "F32", "shape": [0, 4], "data_offsets": [38, 38]}}   )";

TEST(SafetensorsTest, ValidFile) {
  const std::vector<uint8_t> bytes = Make(kValidHeader, Pattern(38));
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const SafetensorsFile& s = **f;
  ASSERT_EQ(s.tensors().size(), 4u);
  EXPECT_EQ(s.tensors()[0].name, "a.weight");  // sorted by name
  EXPECT_EQ(s.metadata().at("format"), "pt");
  const uint8_t* data = bytes.data() + 8 + std::strlen(kValidHeader);
  const TensorView* a = s.FindTensor("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->data, data);
  EXPECT_EQ(a->nbytes, 24u);
  const TensorView* b = s.FindTensor("b.weight");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kF16);
  EXPECT_EQ(b->data, data + 24);
  EXPECT_EQ(b->nbytes, 12u);
  const TensorView* c = s.FindTensor("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dtype, DType::kBF16);
  EXPECT_TRUE(c->shape.empty());
  EXPECT_EQ(c->nbytes, 2u);
  EXPECT_EQ(c->data[0], 36);
  EXPECT_EQ(s.FindTensor("empty")->nbytes, 0u);
  EXPECT_EQ(s.FindTensor("d"), nullptr);
  EXPECT_EQ(s.FindTensor("__metadata__"), nullptr);
}

TEST(SafetensorsTest, EveryTruncationFails) {
  const std::vector<uint8_t> bytes = Make(kValidHeader, Pattern(38));
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
    auto r = ParseBytes(prefix);
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(std::string(r.status().message()).rfind("m.safetensors: ", 0), 0u) << r.status();
  }
}

TEST(SafetensorsTest, BadFiles) {
  EXPECT_THAT(ParseError({1, 2, 3}), HasSubstr("too short"));
  EXPECT_THAT(ParseError(Make("{}", {}, 1000)), HasSubstr("header length 1000 extends past"));
  EXPECT_THAT(ParseError(Make("{}", {}, uint64_t{1} << 40)), HasSubstr("exceeds the limit"));
  EXPECT_THAT(ParseError(Make(R"({"a": )", {})), HasSubstr("invalid JSON"));
  EXPECT_THAT(ParseError(Make("[1, 2]", {})), HasSubstr("expected a JSON object"));
  EXPECT_THAT(ParseError(Make(std::string("{\"a\xff\": 1}"), {})), HasSubstr("invalid JSON"));
  auto one = [](const std::string& entry, size_t data_bytes) {
    return Make(R"({"w": )" + entry + "}", Pattern(data_bytes));
  };
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]})", 12)),
              HasSubstr("tensor 'w': data_offsets [0, 16) extend past the end of the data"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [4], "data_offsets": [16, 0]})", 16)),
              HasSubstr("begin <= end"));
  EXPECT_THAT(
      ParseError(one(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 12]})", 16)),
      HasSubstr("tensor 'w': data_offsets [0, 12) hold 12 bytes but 4 F32 elements need 16"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "I64", "shape": [2], "data_offsets": [0, 16]})", 16)),
              HasSubstr("tensor 'w': unsupported dtype 'I64'"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]})", 16)),
              HasSubstr("shape[0] is not a non-negative integer"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 1.5]})", 16)),
              HasSubstr("begin <= end"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [4]})", 16)),
              HasSubstr("'data_offsets' must be an array"));
  EXPECT_THAT(ParseError(one(R"({"shape": [4], "data_offsets": [0, 16]})", 16)),
              HasSubstr("missing or non-string 'dtype'"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [4294967296, 4294967296],)"
                             R"( "data_offsets": [0, 16]})",
                             16)),
              HasSubstr("overflows"));
  EXPECT_THAT(ParseError(one(R"({"dtype": "F32", "shape": [18446744073709551615],)"
                             R"( "data_offsets": [0, 16]})",
                             16)),
              HasSubstr("shape[0]"));
  EXPECT_THAT(ParseError(one("3", 0)), HasSubstr("tensor 'w': expected a JSON object"));
  EXPECT_THAT(ParseError(Make(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                              R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                              Pattern(16))),
              HasSubstr("tensor 'b': data overlaps tensor 'a'"));
  EXPECT_THAT(ParseError(Make(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                              R"( "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                              Pattern(8))),
              HasSubstr("duplicate key 'a'"));
  EXPECT_THAT(ParseError(Make(R"({"__metadata__": {"k": 1}})", {})),
              HasSubstr("'__metadata__' entry 'k' is not a string"));
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::path(::testing::TempDir()) /
        ("st_ckpt_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream out(dir_ / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void WriteText(const std::string& name, const std::string& text) {
    Write(name, std::vector<uint8_t>(text.begin(), text.end()));
  }
  static std::vector<uint8_t> Shard(const std::string& tensor, uint8_t seed) {
    return Make(R"({")" + tensor + R"(": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                Pattern(8, seed));
  }

  std::filesystem::path dir_;
};

TEST_F(CheckpointTest, SingleFile) {
  Write("model.safetensors", Shard("x", 3));
  auto c = SafetensorsCheckpoint::OpenFolder(dir_.string());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ((*c)->shards().size(), 1u);
  const TensorView* x = (*c)->FindTensor("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->data[0], 3);
  EXPECT_EQ((*c)->tensors().size(), 1u);
}

TEST_F(CheckpointTest, ShardedIndex) {
  Write("model-00001-of-00002.safetensors",
        Make(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
             R"( "b": {"dtype": "F16", "shape": [2], "data_offsets": [8, 12]}})",
             Pattern(12, 1)));
  Write("model-00002-of-00002.safetensors", Shard("c", 50));
  WriteText("model.safetensors.index.json",
            R"({"metadata": {"total_size": 20}, "weight_map": {)"
            R"("a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",)"
            R"( "c": "model-00002-of-00002.safetensors"}})");
  Write("model.safetensors", Shard("ignored", 0));  // the index wins
  auto c = SafetensorsCheckpoint::OpenFolder(dir_.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->shards().size(), 2u);  // each shard opened once
  EXPECT_EQ((*c)->tensors().size(), 3u);
  EXPECT_EQ((*c)->FindTensor("a")->data[0], 1);
  EXPECT_EQ((*c)->FindTensor("b")->data[0], 9);
  EXPECT_EQ((*c)->FindTensor("b")->dtype, DType::kF16);
  EXPECT_EQ((*c)->FindTensor("c")->data[0], 50);
  EXPECT_EQ((*c)->FindTensor("ignored"), nullptr);
}

TEST_F(CheckpointTest, IndexErrors) {
  Write("shard.safetensors", Shard("a", 0));
  const std::string index = "model.safetensors.index.json";
  WriteText(index, R"({"weight_map": {"a": "../shard.safetensors"}})");
  auto c = SafetensorsCheckpoint::OpenFolder(dir_.string());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("weight_map entry 'a' names shard '../shard.safetensors', which is not"));
  WriteText(index, R"({"weight_map": {"a": "sub/../../x.safetensors"}})");
  EXPECT_FALSE(SafetensorsCheckpoint::OpenFolder(dir_.string()).ok());
  WriteText(index, R"({"weight_map": {"a": "/etc/passwd"}})");
  EXPECT_THAT(std::string(SafetensorsCheckpoint::OpenFolder(dir_.string()).status().message()),
              HasSubstr("'/etc/passwd'"));
  WriteText(index, R"({"weight_map": {"zz": "shard.safetensors"}})");
  EXPECT_THAT(std::string(SafetensorsCheckpoint::OpenFolder(dir_.string()).status().message()),
              HasSubstr("tensor 'zz' is not in its shard 'shard.safetensors'"));
  WriteText(index, R"({"weight_map": {"a": "missing.safetensors"}})");
  EXPECT_EQ(SafetensorsCheckpoint::OpenFolder(dir_.string()).status().code(),
            absl::StatusCode::kNotFound);
  WriteText(index, R"({"weight_map": [1]})");
  EXPECT_THAT(std::string(SafetensorsCheckpoint::OpenFolder(dir_.string()).status().message()),
              HasSubstr("'weight_map'"));
  WriteText(index, R"({"weight_map": {"a": 3}})");
  EXPECT_FALSE(SafetensorsCheckpoint::OpenFolder(dir_.string()).ok());
  WriteText(index, "not json");
  EXPECT_THAT(std::string(SafetensorsCheckpoint::OpenFolder(dir_.string()).status().message()),
              HasSubstr("invalid JSON"));
  std::filesystem::remove(dir_ / index);
  EXPECT_EQ(SafetensorsCheckpoint::OpenFolder(dir_.string()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infer
