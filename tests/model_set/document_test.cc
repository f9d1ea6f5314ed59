// Configuration documents: strict JSON and YAML read alike, duplicates and bombs refused.
#include "libinfer/config/document.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infer::config {
namespace {

using ::testing::HasSubstr;

TEST(DocumentTest, YamlAndJsonGiveTheSameTree) {
  auto yaml = ParseConfigDocument("set.yaml", "a: 1\nb: [x, y]\nc: {d: true}\n");
  auto json = ParseConfigDocument("set.json", R"({"a": "1", "b": ["x", "y"], "c": {"d": "true"}})");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*yaml, *json);
}

TEST(DocumentTest, DuplicateKeysAreRefusedInBothFormats) {
  EXPECT_THAT(ParseConfigDocument("x.yaml", "a: 1\na: 2\n").status().message(),
              HasSubstr("duplicate YAML key 'a'"));
  EXPECT_THAT(ParseConfigDocument("x.JSON", R"({"a": {"b": 1, "b": 2}})").status().message(),
              HasSubstr("duplicate key"));
}

TEST(DocumentTest, TheTopLevelMustBeAMapping) {
  EXPECT_THAT(ParseConfigDocument("x.yaml", "- 1\n- 2\n").status().message(),
              HasSubstr("x.yaml: the document is not a mapping"));
  EXPECT_THAT(ParseConfigDocument("x.json", "[1]").status().message(), HasSubstr("x.json: "));
}

TEST(DocumentTest, InvalidYamlIsAnErrorNotACrash) {
  auto bad = ParseConfigDocument("x.yaml", "a: [1, 2\nb: }");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("invalid YAML"));
}

TEST(DocumentTest, AliasBombsAreBounded) {
  // Each level doubles the nodes through aliases: 2^20 nodes from a few lines.
  std::string doc = "l0: &l0 [x, x]\n";
  for (int i = 1; i <= 20; ++i) {
    absl::StrAppend(&doc, "l", i, ": &l", i, " [*l", i - 1, ", *l", i - 1, "]\n");
  }
  EXPECT_THAT(ParseConfigDocument("bomb.yaml", doc).status().message(),
              HasSubstr("too large or too deeply nested"));
}

TEST(DocumentTest, JsonDepthIsBounded) {
  std::string deep = "{\"a\":";
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  deep += "}";
  EXPECT_THAT(ParseStrictJsonObject(deep).status().message(), HasSubstr("deeper than 32"));
  EXPECT_TRUE(ParseStrictJsonObject(deep, 64).ok());
}

}  // namespace
}  // namespace infer::config
