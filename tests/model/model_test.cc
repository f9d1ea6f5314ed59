// Model API behaviour on the real SmolLM2 file (skips without it) and on bad inputs.
#include "infer/model.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/engine/tiny_model.h"

namespace infer {
namespace {

const char* SmolLm2Path() {
  const char* path = std::getenv("INFER_SMOLLM2_GGUF");
  return path != nullptr && std::filesystem::exists(path) ? path : nullptr;
}

constexpr char kChatPrompt[] =
    "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n";

class SmolLm2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (SmolLm2Path() == nullptr) {
      GTEST_SKIP() << "INFER_SMOLLM2_GGUF is not set (scripts/fetch_model.sh fetches the model)";
    }
  }
  static std::unique_ptr<Model> Load(int threads = 2) {
    ModelOptions options;
    options.path = SmolLm2Path();
    options.num_threads = threads;
    auto model = Model::Load(options);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *std::move(model) : nullptr;
  }
  static std::vector<TokenId> Ids(const Completion& c) {
    std::vector<TokenId> ids;
    for (const SampledToken& t : c.tokens) ids.push_back(t.id);
    return ids;
  }
};

TEST_F(SmolLm2Test, TwoModelsInOneProcessGiveTheSameTextConcurrently) {
  auto a = Load(1);
  auto b = Load(1);
  ASSERT_TRUE(a && b);
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 24;
  params.ignore_eos = true;
  auto alone = a->Generate(kChatPrompt, params);
  ASSERT_TRUE(alone.ok()) << alone.status();
  absl::StatusOr<Completion> ra, rb;
  std::thread ta([&] { ra = a->Generate(kChatPrompt, params); });
  std::thread tb([&] { rb = b->Generate(kChatPrompt, params); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(Ids(*ra), Ids(*alone));
  EXPECT_EQ(Ids(*rb), Ids(*alone));
  EXPECT_EQ(ra->completion_tokens, 24);
  EXPECT_EQ(ra->finish_reason, FinishReason::kLength);
}

TEST_F(SmolLm2Test, SameSeedSameTextAndCallbackCancels) {
  auto model = Load();
  ASSERT_TRUE(model);
  SamplingParams params;
  params.temperature = 0.9f;
  params.top_p = 0.95f;
  params.seed = 1234;
  params.max_tokens = 32;
  params.ignore_eos = true;
  auto first = model->Generate(kChatPrompt, params);
  auto second = model->Generate(kChatPrompt, params);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->text, second->text);
  params.seed = 999;
  auto other = model->Generate(kChatPrompt, params);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(Ids(*other), Ids(*first));  // 32 sampled tokens: a collision is astronomically rare

  int seen = 0;
  std::string streamed;
  auto cancelled = model->Generate(kChatPrompt, params, [&](const TokenEvent& e) {
    streamed += e.text;
    return ++seen < 5;
  });
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(cancelled->completion_tokens, 5);
  EXPECT_EQ(streamed + "", cancelled->text.substr(0, streamed.size()));
}

TEST_F(SmolLm2Test, StopsAtEndOfTurnAndReportsLogprobs) {
  auto model = Load();
  ASSERT_TRUE(model);
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 200;
  params.logprobs = 3;
  auto done = model->Generate(kChatPrompt, params);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->finish_reason, FinishReason::kStop);
  ASSERT_FALSE(done->tokens.empty());
  EXPECT_TRUE(model->tokenizer().IsEndOfGeneration(done->tokens.back().id));
  for (const SampledToken& t : done->tokens) {
    ASSERT_EQ(t.top.size(), 3u);
    EXPECT_EQ(t.top[0].id, t.id);  // greedy picks the most likely token
    EXPECT_LE(t.logprob, 0.0f);
    EXPECT_GE(t.top[0].logprob, t.top[1].logprob);
  }
}

TEST_F(SmolLm2Test, RejectsBadRequestsWithClearErrors) {
  auto model = Load();
  ASSERT_TRUE(model);
  SamplingParams params;
  auto bad_id = model->GenerateFromTokens({1, 2, 999999}, params);
  EXPECT_EQ(bad_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad_id.status().message()).find("999999"), std::string::npos);
  std::vector<TokenId> too_long(static_cast<size_t>(model->info().context_length), 42);
  auto long_prompt = model->GenerateFromTokens(too_long, params);
  EXPECT_EQ(long_prompt.status().code(), absl::StatusCode::kInvalidArgument);
  params.top_p = 2;
  auto bad_param = model->Generate("hi", params);
  EXPECT_NE(std::string(bad_param.status().message()).find("top_p"), std::string::npos);
  auto bad_utf8 = model->Generate("\xff\xfe", SamplingParams{});
  EXPECT_EQ(bad_utf8.status().code(), absl::StatusCode::kInvalidArgument);
  // The model is still usable afterwards.
  SamplingParams ok;
  ok.max_tokens = 2;
  EXPECT_TRUE(model->Generate("hi", ok).ok());
}

// A truncated copy of a real model file is an error naming the file, never a crash.
TEST_F(SmolLm2Test, TruncatedFileIsAnError) {
  const std::string copy = ::testing::TempDir() + "/truncated.gguf";
  {
    std::ifstream in(SmolLm2Path(), std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    std::vector<char> buffer(50 << 20);  // half the file
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    out.write(buffer.data(), in.gcount());
  }
  ModelOptions options;
  options.path = copy;
  auto model = Model::Load(options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(std::string(model.status().message()).find("truncated.gguf"), std::string::npos)
      << model.status();
  std::remove(copy.c_str());
}

TEST(ModelLoadTest, MissingPathAndBadOptions) {
  ModelOptions options;
  options.path = "/nonexistent/model.gguf";
  auto missing = Model::Load(options);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent/model.gguf"),
            std::string::npos);
  options.num_threads = -1;
  EXPECT_EQ(Model::Load(options).status().code(), absl::StatusCode::kInvalidArgument);
}

// The names a client sees: OpenAI's for a natural end, vLLM's "abort" for a cut one; each
// reason has its own, and the metrics labels use the same function.
TEST(FinishReasonTest, NamesAreOpenAisAndDistinct) {
  EXPECT_STREQ(FinishReasonName(FinishReason::kStop), "stop");
  EXPECT_STREQ(FinishReasonName(FinishReason::kLength), "length");
  EXPECT_STREQ(FinishReasonName(FinishReason::kCancelled), "abort");
  EXPECT_STREQ(FinishReasonName(FinishReason::kError), "error");
  std::set<std::string> names;
  for (int r = 0; r < kFinishReasonCount; ++r) {
    names.insert(FinishReasonName(static_cast<FinishReason>(r)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kFinishReasonCount));
}

// The public chat rendering: the model's own template with the server's variables. (That the
// server's rendering equals Python jinja2's is test_server.py's; both go through the same
// parsed template and inputs.)
TEST_F(SmolLm2Test, RenderChatUsesTheModelsTemplate) {
  auto model = Load();
  ASSERT_TRUE(model);
  const ChatMessage messages[] = {{"system", "Be brief."}, {"user", "Name three colours."}};
  auto prompt = model->RenderChat(messages);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(*prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nName three "
            "colours.<|im_end|>\n<|im_start|>assistant\n");
  ChatOptions no_generation_prompt;
  no_generation_prompt.add_generation_prompt = false;
  auto no_header = model->RenderChat(messages, no_generation_prompt);
  ASSERT_TRUE(no_header.ok());
  EXPECT_EQ(*no_header + "<|im_start|>assistant\n", *prompt);
  // Without a system turn the template adds its own, then the user's.
  const ChatMessage user_only[] = {{"user", "Name three colours."}};
  auto rendered = model->RenderChat(user_only);
  ASSERT_TRUE(rendered.ok());
  EXPECT_NE(rendered->find("<|im_start|>user\nName three colours.<|im_end|>\n"), std::string::npos)
      << *rendered;
}

TEST(ModelChatTest, AModelWithoutATemplateSaysSo) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("infer_tiny_chat_" + std::to_string(getpid()) + ".gguf"))
                               .string();
  testing::WriteTinyModel(path);
  ModelOptions options;
  options.path = path;
  options.num_threads = 1;
  auto model = Model::Load(options);
  ASSERT_TRUE(model.ok()) << model.status();
  const ChatMessage hi[] = {{"user", "hi"}};
  auto rendered = (*model)->RenderChat(hi);
  EXPECT_EQ(rendered.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(rendered.status().message().find("no chat template"), std::string::npos)
      << rendered.status();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace infer
