// The table of model families: names unique, lookups exact, the list an error message gives.
#include "libinfer/format/architecture.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace infer {
namespace {

TEST(ArchitectureTest, EveryNameOnceAndFoundExactly) {
  std::set<std::string_view> names;
  for (const Architecture& a : Architectures()) {
    EXPECT_TRUE(names.insert(a.name).second) << a.name;
    EXPECT_EQ(FindArchitecture(a.name), &a);
  }
  EXPECT_GE(names.size(), 3u);
  EXPECT_EQ(FindArchitecture("gpt2"), nullptr);
  EXPECT_EQ(FindArchitecture("Llama"), nullptr);  // the formats' names are lower case
  EXPECT_EQ(FindArchitecture(""), nullptr);
}

TEST(ArchitectureTest, FamilyFactsTheReadersUse) {
  ASSERT_NE(FindArchitecture("qwen2"), nullptr);
  EXPECT_FALSE(FindArchitecture("qwen2")->gguf_rope_interleaved);
  EXPECT_TRUE(FindArchitecture("qwen2")->always_attention_bias);
  EXPECT_TRUE(FindArchitecture("llama")->gguf_rope_interleaved);
  EXPECT_EQ(FindArchitecture("mistral")->hf_sliding_window, HfSlidingWindow::kSlidingWindow);
}

TEST(ArchitectureTest, NamesForErrorsListEveryFamily) {
  const std::string list = ArchitectureNames();
  EXPECT_EQ(list, "llama, mistral, qwen2, qwen3, gemma2, gemma3 or phi3");
  for (const Architecture& a : Architectures()) {
    EXPECT_NE(list.find(a.name), std::string::npos) << a.name;
  }
}

}  // namespace
}  // namespace infer
