#include "libinfer/format/gguf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "tests/format/gguf_test_writer.h"

namespace infer {
namespace {

using testing::ByteWriter;
using testing::GgufBuilder;
using testing::GgufTestTensor;
using ::testing::HasSubstr;
using testing::Pattern;

absl::StatusOr<std::unique_ptr<GgufFile>> ParseBytes(const std::vector<uint8_t>& b) {
  return GgufFile::Parse(std::span<const uint8_t>(b.data(), b.size()), "t.gguf");
}

// The error message of parsing `b` (fails the test when parsing succeeds).
std::string ParseError(const std::vector<uint8_t>& b) {
  auto r = ParseBytes(b);
  EXPECT_FALSE(r.ok()) << "parse unexpectedly succeeded";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

std::vector<uint8_t> Nested(int levels) {
  ByteWriter w;
  if (levels == 1) {
    w.U32(testing::kTU8).U64(1).Put<uint8_t>(7);
  } else {
    w.U32(testing::kTArray).U64(1).Raw(Nested(levels - 1));
  }
  return w.bytes;
}

GgufBuilder AllTypesBuilder() {
  GgufBuilder b;
  b.Kv<uint8_t>("u8", testing::kTU8, 200)
      .Kv<int8_t>("i8", testing::kTI8, -100)
      .Kv<uint16_t>("u16", testing::kTU16, 60000)
      .Kv<int16_t>("i16", testing::kTI16, -30000)
      .Kv<uint32_t>("u32", testing::kTU32, 4000000000u)
      .Kv<int32_t>("i32", testing::kTI32, -2000000000)
      .Kv<float>("f32", testing::kTF32, 1.5f)
      .Kv<uint8_t>("bool", testing::kTBool, 1)
      .KvString("str", "hello")
      .Kv<uint64_t>("u64", testing::kTU64, std::numeric_limits<uint64_t>::max())
      .Kv<int64_t>("i64", testing::kTI64, -5)
      .Kv<double>("f64", testing::kTF64, 0.25)
      .KvStringArray("strs", {"a", "", "ccc"})
      .KvArray<float>("floats", testing::kTF32, {1.0f, -2.5f})
      .KvArray<double>("doubles", testing::kTF64, {3.0})
      .KvArray<int32_t>("ints", testing::kTI32, {1, -2, 3})
      .KvArray<uint64_t>("bigs", testing::kTU64, {uint64_t{1} << 40})
      .KvRaw("nested", testing::kTArray,
             ByteWriter()
                 .U32(testing::kTArray)
                 .U64(2)
                 .U32(testing::kTU16)
                 .U64(2)
                 .Put<uint16_t>(1)
                 .Put<uint16_t>(2)
                 .U32(testing::kTString)
                 .U64(1)
                 .Str("x")
                 .bytes);
  return b;
}

TEST(GgufTest, AllValueTypesRoundTrip) {
  const std::vector<uint8_t> bytes = AllTypesBuilder().Build();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(*g.GetUint64("u8"), 200u);
  EXPECT_EQ(*g.GetInt64("i8"), -100);
  EXPECT_EQ(*g.GetUint64("u16"), 60000u);
  EXPECT_EQ(*g.GetInt64("i16"), -30000);
  EXPECT_EQ(*g.GetUint64("u32"), 4000000000u);
  EXPECT_EQ(*g.GetInt64("u32"), 4000000000);
  EXPECT_EQ(*g.GetInt64("i32"), -2000000000);
  EXPECT_EQ(*g.GetFloat("f32"), 1.5);
  EXPECT_EQ(*g.GetBool("bool"), true);
  EXPECT_EQ(*g.GetString("str"), "hello");
  EXPECT_EQ(*g.GetUint64("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*g.GetInt64("i64"), -5);
  EXPECT_EQ(*g.GetFloat("f64"), 0.25);
  EXPECT_EQ(*g.GetStringArray("strs"), (std::vector<std::string_view>{"a", "", "ccc"}));
  EXPECT_EQ(*g.GetFloatArray("floats"), (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(*g.GetFloatArray("doubles"), (std::vector<float>{3.0f}));
  EXPECT_EQ(*g.GetInt32Array("ints"), (std::vector<int32_t>{1, -2, 3}));

  const GgufValue* nested = g.Find("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->type(), GgufType::kArray);
  EXPECT_EQ(nested->element_type(), GgufType::kArray);
  ASSERT_EQ(nested->size(), 2u);
  EXPECT_EQ(nested->At(0).element_type(), GgufType::kUint16);
  EXPECT_EQ(*nested->At(0).At(1).AsUint64(), 2u);
  EXPECT_EQ(*nested->At(1).At(0).AsString(), "x");
  EXPECT_EQ(nested->Summary(),
            "array<array>[2] [array<uint16>[2] [1, 2], array<string>[1] [\"x\"]]");

  // Iteration in file order, with printable summaries.
  ASSERT_EQ(g.metadata().size(), 18u);
  EXPECT_EQ(g.metadata()[0].first, "u8");
  EXPECT_EQ(g.metadata()[0].second.Summary(), "200");
  EXPECT_EQ(g.metadata()[1].second.Summary(), "-100");
  EXPECT_EQ(g.Find("f32")->Summary(), "1.5");
  EXPECT_EQ(g.Find("bool")->Summary(), "true");
  EXPECT_EQ(g.Find("str")->Summary(), "\"hello\"");
  EXPECT_EQ(g.Find("strs")->Summary(2), "array<string>[3] [\"a\", \"\", ...]");
  EXPECT_TRUE(g.Has("i64"));
  EXPECT_FALSE(g.Has("missing"));
  EXPECT_TRUE(g.tensors().empty());
}

TEST(GgufTest, TypedLookupErrorsNameKeyAndTypes) {
  const std::vector<uint8_t> bytes = AllTypesBuilder().Build();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.GetString("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(g.GetString("nope").status().message()), HasSubstr("'nope'"));
  auto s = g.GetString("u32");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("t.gguf: key 'u32': expected string, got uint32 4000000000"));
  EXPECT_THAT(std::string(g.GetInt64("u64").status().message()), HasSubstr("fits int64"));
  EXPECT_THAT(std::string(g.GetUint64("i64").status().message()), HasSubstr("non-negative"));
  EXPECT_FALSE(g.GetFloat("i32").ok());
  EXPECT_FALSE(g.GetBool("u8").ok());
  EXPECT_THAT(std::string(g.GetStringArray("ints").status().message()),
              HasSubstr("expected array of string, got array of int32"));
  EXPECT_FALSE(g.GetFloatArray("ints").ok());
  EXPECT_THAT(std::string(g.GetInt32Array("bigs").status().message()),
              HasSubstr("element 0 expected an integer that fits int32"));
  EXPECT_FALSE(g.GetInt32Array("floats").ok());
  EXPECT_FALSE(g.GetStringArray("str").ok());
}

// One tensor of each supported type; checks shapes (reversed), dtypes, sizes and data pointers.
GgufBuilder TensorBuilder() {
  GgufBuilder b;
  b.KvString("general.architecture", "llama");
  b.Tensor({"f32", 0, {3, 2}, Pattern(24, 1)})
      .Tensor({"f16", 1, {4}, Pattern(8, 2)})
      .Tensor({"bf16", 30, {2, 2}, Pattern(8, 3)})
      .Tensor({"q8_0", 8, {32, 2}, Pattern(68, 4)})
      .Tensor({"q4_0", 2, {32}, Pattern(18, 5)})
      .Tensor({"q4_1", 3, {64, 1, 1, 1}, Pattern(40, 6)})
      .Tensor({"q5_0", 6, {64}, Pattern(44, 7)})
      .Tensor({"q5_1", 7, {32, 3}, Pattern(72, 8)})
      .Tensor({"q2_k", 10, {256}, Pattern(84, 9)})
      .Tensor({"q3_k", 11, {256, 2}, Pattern(220, 10)})
      .Tensor({"q4_k", 12, {512}, Pattern(288, 11)})
      .Tensor({"q5_k", 13, {256}, Pattern(176, 12)})
      .Tensor({"q6_k", 14, {256}, Pattern(210, 13)})
      .Tensor({"iq4_nl", 20, {64}, Pattern(36, 14)})
      .Tensor({"iq4_xs", 23, {256}, Pattern(136, 15)});
  return b;
}

TEST(GgufTest, TensorsShapesAndData) {
  const std::vector<uint8_t> bytes = TensorBuilder().Build();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  ASSERT_EQ(g.tensors().size(), 15u);
  EXPECT_EQ(g.data_offset() % 32, 0u);
  struct Want {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t nbytes;
    uint8_t seed;
  };
  const Want wants[] = {
      {"f32", DType::kF32, {2, 3}, 24, 1},        {"f16", DType::kF16, {4}, 8, 2},
      {"bf16", DType::kBF16, {2, 2}, 8, 3},       {"q8_0", DType::kQ8_0, {2, 32}, 68, 4},
      {"q4_0", DType::kQ4_0, {32}, 18, 5},        {"q4_1", DType::kQ4_1, {1, 1, 1, 64}, 40, 6},
      {"q5_0", DType::kQ5_0, {64}, 44, 7},        {"q5_1", DType::kQ5_1, {3, 32}, 72, 8},
      {"q2_k", DType::kQ2_K, {256}, 84, 9},       {"q3_k", DType::kQ3_K, {2, 256}, 220, 10},
      {"q4_k", DType::kQ4_K, {512}, 288, 11},     {"q5_k", DType::kQ5_K, {256}, 176, 12},
      {"q6_k", DType::kQ6_K, {256}, 210, 13},     {"iq4_nl", DType::kIQ4_NL, {64}, 36, 14},
      {"iq4_xs", DType::kIQ4_XS, {256}, 136, 15},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(w.name);
    const TensorView* t = g.FindTensor(w.name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, w.dtype);
    EXPECT_EQ(t->shape, w.shape);
    EXPECT_EQ(t->nbytes, w.nbytes);
    ASSERT_GE(t->data, bytes.data());
    ASSERT_LE(t->data + t->nbytes, bytes.data() + bytes.size());
    EXPECT_EQ((t->data - bytes.data()) % 32, 0);  // aligned within the file
    EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + t->nbytes), Pattern(w.nbytes, w.seed));
  }
  EXPECT_EQ(g.FindTensor("nope"), nullptr);
  EXPECT_EQ(g.tensors()[0].name, "f32");  // file order
}

TEST(GgufTest, CustomAlignment) {
  GgufBuilder b;
  b.alignment = 64;
  b.Kv<uint32_t>("general.alignment", testing::kTU32, 64);
  b.Tensor({"a", 0, {3}, Pattern(12)}).Tensor({"b", 0, {5}, Pattern(20, 9)});
  const std::vector<uint8_t> bytes = b.Build();
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->data_offset() % 64, 0u);
  EXPECT_EQ((*f)->FindTensor("b")->data - bytes.data(),
            static_cast<ptrdiff_t>((*f)->data_offset() + 64));
  EXPECT_EQ(*(*f)->FindTensor("b")->data, Pattern(1, 9)[0]);

  GgufBuilder bad;
  bad.Kv<uint32_t>("general.alignment", testing::kTU32, 48);
  EXPECT_THAT(ParseError(bad.Build()), HasSubstr("general.alignment"));
  GgufBuilder zero;
  zero.Kv<uint32_t>("general.alignment", testing::kTU32, 0);
  EXPECT_THAT(ParseError(zero.Build()), HasSubstr("power of two"));
  GgufBuilder str;
  str.KvString("general.alignment", "32");
  EXPECT_THAT(ParseError(str.Build()), HasSubstr("general.alignment"));
}

TEST(GgufTest, Version2Accepted) {
  GgufBuilder b = TensorBuilder();
  b.version = 2;
  const std::vector<uint8_t> bytes = b.Build();  // outlives the parsed file
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 2u);
}

TEST(GgufTest, BadHeader) {
  GgufBuilder b;
  b.magic = 0x46554746;
  EXPECT_THAT(ParseError(b.Build()), HasSubstr("t.gguf: not a GGUF file"));
  for (uint32_t v : {1u, 4u, 0x03000000u}) {
    GgufBuilder bv;
    bv.version = v;
    EXPECT_THAT(ParseError(bv.Build()), HasSubstr("unsupported GGUF version"));
  }
  GgufBuilder tc;
  tc.tensor_count_override = uint64_t{1} << 62;
  EXPECT_THAT(ParseError(tc.Build()), HasSubstr("tensor_count"));
  GgufBuilder kc;
  kc.kv_count_override = std::numeric_limits<uint64_t>::max();
  EXPECT_THAT(ParseError(kc.Build()), HasSubstr("metadata_kv_count"));
  EXPECT_THAT(ParseError({}), HasSubstr("magic"));
}

TEST(GgufTest, BadMetadata) {
  {  // key length past the end of the file
    GgufBuilder b;
    b.kv_count_override = 1;
    std::vector<uint8_t> bytes = b.Build();
    ByteWriter w;
    w.U64(1000).Raw(std::vector<uint8_t>(20, 'k'));
    bytes.insert(bytes.end(), w.bytes.begin(), w.bytes.end());
    EXPECT_THAT(ParseError(bytes), HasSubstr("metadata key #0: string length 1000"));
  }
  {  // string value length overflow
    GgufBuilder b;
    b.KvRaw("s", testing::kTString, ByteWriter().U64(~uint64_t{0}).Raw({1, 2, 3}).bytes);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("key 's': string length 18446744073709551615"));
  }
  {  // unknown value type
    GgufBuilder b;
    b.KvRaw("k", 13, ByteWriter().U64(0).bytes);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("key 'k': unknown value type 13"));
  }
  {  // array of unknown element type
    GgufBuilder b;
    b.KvRaw("arr", testing::kTArray, ByteWriter().U32(99).U64(1).U64(0).bytes);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("key 'arr': unknown array element type 99"));
  }
  {  // hostile array count
    GgufBuilder b;
    b.KvRaw("arr", testing::kTArray, ByteWriter().U32(testing::kTU64).U64(uint64_t{1} << 61).bytes);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("cannot fit in the rest of the file"));
    GgufBuilder s;
    s.KvRaw("arr", testing::kTArray,
            ByteWriter().U32(testing::kTString).U64(uint64_t{1} << 40).Str("x").bytes);
    EXPECT_THAT(ParseError(s.Build()), HasSubstr("key 'arr': array of 1099511627776 string"));
  }
  {  // nesting: kGgufMaxArrayDepth levels are fine, one more is not
    GgufBuilder ok;
    ok.KvRaw("deep", testing::kTArray, Nested(kGgufMaxArrayDepth));
    const std::vector<uint8_t> bytes = ok.Build();  // outlives the parsed file
    auto f = ParseBytes(bytes);
    ASSERT_TRUE(f.ok()) << f.status();
    GgufValue v = *(*f)->Find("deep");
    for (int i = 1; i < kGgufMaxArrayDepth; ++i) v = v.At(0);
    EXPECT_EQ(*v.At(0).AsUint64(), 7u);
    GgufBuilder deep;
    deep.KvRaw("deep", testing::kTArray, Nested(kGgufMaxArrayDepth + 1));
    EXPECT_THAT(ParseError(deep.Build()), HasSubstr("nested deeper than"));
  }
  {  // too many nested arrays in total (each costs far more memory than its 12 bytes)
    ByteWriter w;
    w.U32(testing::kTArray).U64(kGgufMaxNestedArrays + 1);
    for (uint64_t i = 0; i <= kGgufMaxNestedArrays; ++i) w.U32(testing::kTU8).U64(0);
    GgufBuilder b;
    b.KvRaw("many", testing::kTArray, w.bytes);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("key 'many': more than 1048576 nested arrays"));
  }
  {  // duplicate key; bad bool
    GgufBuilder b;
    b.Kv<uint32_t>("k", testing::kTU32, 1).Kv<uint32_t>("k", testing::kTU32, 2);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("duplicate key 'k'"));
    GgufBuilder bb;
    bb.Kv<uint8_t>("b", testing::kTBool, 2);
    EXPECT_THAT(ParseError(bb.Build()), HasSubstr("key 'b': bool value 2"));
  }
  {  // empty key
    GgufBuilder b;
    b.Kv<uint32_t>("", testing::kTU32, 1);
    EXPECT_THAT(ParseError(b.Build()), HasSubstr("metadata key #0 has length 0"));
  }
}

TEST(GgufTest, BadTensorInfos) {
  auto one = [](GgufTestTensor t) {
    GgufBuilder b;
    b.Tensor(std::move(t));
    return b.Build();
  };
  {  // offset past the end of the file
    std::vector<uint8_t> bytes = one({"w", 0, {4}, Pattern(16), 0});
    bytes.erase(bytes.end() - 4, bytes.end());
    EXPECT_THAT(ParseError(bytes), HasSubstr("tensor 'w': data [offset 0 + data section"));
    EXPECT_THAT(ParseError(bytes), HasSubstr("extends past the end of the file"));
    EXPECT_THAT(ParseError(one({"w", 0, {4}, Pattern(16), uint64_t{1} << 63})),
                HasSubstr("tensor 'w'"));
    EXPECT_THAT(ParseError(one({"w", 0, {4}, Pattern(16), ~uint64_t{0} - 31})),
                HasSubstr("extends past the end"));
  }
  EXPECT_THAT(ParseError(one({"w", 0, {4}, Pattern(16), 8})),
              HasSubstr("tensor 'w': data offset 8 is not a multiple of the alignment 32"));
  EXPECT_THAT(ParseError(one({"w", 0, {uint64_t{1} << 32, uint64_t{1} << 32}, {}})),
              HasSubstr("tensor 'w': element count overflows"));
  EXPECT_THAT(ParseError(one({"w", 0, {~uint64_t{0}}, {}})), HasSubstr("ne[0]"));
  EXPECT_THAT(ParseError(one({"w", 0, {uint64_t{1} << 62}, {}})), HasSubstr("byte size"));
  EXPECT_THAT(ParseError(one({"w", 0, {1, 1, 1, 1, 1}, Pattern(4)})),
              HasSubstr("tensor 'w': n_dims is 5 (expected 1..4)"));
  EXPECT_THAT(ParseError(one({"w", 0, {}, Pattern(4)})), HasSubstr("n_dims is 0"));
  EXPECT_THAT(ParseError(one({"w", 0, {4, 0}, {}})), HasSubstr("tensor 'w': dimension ne[1] = 0"));
  EXPECT_THAT(ParseError(one({"blk.0.ffn_down.weight", 16, {256}, Pattern(66)})),
              HasSubstr("tensor 'blk.0.ffn_down.weight': unsupported tensor type IQ2_XXS (16)"));
  EXPECT_THAT(ParseError(one({"w", 77, {4}, Pattern(16)})),
              HasSubstr("tensor 'w': unsupported tensor type 77"));
  EXPECT_THAT(ParseError(one({"w", 8, {48}, Pattern(51)})),
              HasSubstr("row length ne[0] = 48 is not a multiple of the Q8_0 block size 32"));
  EXPECT_THAT(ParseError(one({"w", 12, {576}, Pattern(324)})),
              HasSubstr("row length ne[0] = 576 is not a multiple of the Q4_K block size 256"));
  EXPECT_THAT(ParseError(one({"w", 14, {256}, Pattern(200)})), HasSubstr("'w'"));
  EXPECT_THAT(ParseError(one({"", 0, {4}, Pattern(16)})), HasSubstr("empty name"));

  GgufBuilder dup;
  dup.Tensor({"w", 0, {4}, Pattern(16)}).Tensor({"w", 0, {4}, Pattern(16)});
  EXPECT_THAT(ParseError(dup.Build()), HasSubstr("duplicate tensor 'w'"));
  GgufBuilder overlap;
  overlap.Tensor({"a", 0, {16}, Pattern(64), 0}).Tensor({"b", 0, {4}, Pattern(16), 32});
  EXPECT_THAT(ParseError(overlap.Build()), HasSubstr("overlaps"));
  GgufBuilder many;
  many.tensor_count_override = uint64_t{1} << 40;
  many.Tensor({"w", 0, {4}, Pattern(16)});
  EXPECT_THAT(ParseError(many.Build()), HasSubstr("tensor_count"));
}

TEST(GgufTest, EveryTruncationFails) {
  GgufBuilder b = AllTypesBuilder();
  b.Kv<uint32_t>("general.alignment", testing::kTU32, 16);
  b.alignment = 16;
  b.Tensor({"x", 0, {3, 2}, Pattern(24)}).Tensor({"q", 8, {32}, Pattern(34)});
  const std::vector<uint8_t> bytes = b.Build();
  ASSERT_TRUE(ParseBytes(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    // A separate heap copy so reading past the prefix is caught by sanitizers.
    const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + n);
    auto r = ParseBytes(prefix);
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(r.status().message()).rfind("t.gguf: ", 0), 0u) << r.status();
  }
}

TEST(GgufTest, OpenFromDisk) {
  const std::string path = ::testing::TempDir() + "/gguf_test_open.gguf";
  const std::vector<uint8_t> bytes = TensorBuilder().Build();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->display_name(), path);
  EXPECT_EQ((*f)->bytes().size(), bytes.size());
  EXPECT_EQ(*(*f)->GetString("general.architecture"), "llama");
  const TensorView* t = (*f)->FindTensor("q8_0");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(std::vector<uint8_t>(t->data, t->data + t->nbytes), Pattern(68, 4));
  std::remove(path.c_str());

  auto missing = GgufFile::Open(path + ".nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(GgufTest, TypeNames) {
  EXPECT_EQ(GgufTypeName(GgufType::kFloat64), "float64");
  EXPECT_EQ(GgufTypeName(static_cast<GgufType>(40)), "type(40)");
  EXPECT_EQ(GgmlTypeName(12), "Q4_K");
  EXPECT_EQ(GgmlTypeName(30), "BF16");
  EXPECT_FALSE(GgmlTypeName(4).has_value());
}

}  // namespace
}  // namespace infer
