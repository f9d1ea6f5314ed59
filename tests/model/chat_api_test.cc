// The public chat API on the real SmolLM2 file (skips without it): Model::Generate and a
// Scheduler Request given messages render them as Model::RenderChat does and run that prompt;
// tools constrain the output to Hermes calls, which come back parsed; bad options are refused
// by name.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "infer/chat.h"
#include "infer/grammar.h"
#include "infer/model.h"
#include "infer/scheduler.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace {

using ::testing::HasSubstr;

class ChatApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* path = std::getenv("INFER_SMOLLM2_GGUF");
    if (path == nullptr || !std::filesystem::exists(path)) return;
    ModelOptions options;
    options.path = path;
    options.num_threads = 2;
    auto loaded = Model::Load(options);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    model_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_ == nullptr) {
      GTEST_SKIP() << "INFER_SMOLLM2_GGUF is not set (scripts/fetch_model.sh fetches the model)";
    }
  }
  static SamplingParams Greedy(int max_tokens) {
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = max_tokens;
    return p;
  }
  static ChatOptions WeatherTools(ToolChoice choice) {
    ChatOptions o;
    o.tools.push_back({"get_weather", "Get the current weather in a city.",
                       R"({"type": "object", "properties": {"city": {"enum": ["Paris", "Berlin",
                           "Tokyo"]}}, "required": ["city"]})"});
    o.tools.push_back({"get_time", "The time now in a city.",
                       R"({"type": "object", "properties": {"city": {"enum": ["Paris", "Tokyo"]}},
                           "required": ["city"]})"});
    o.tool_choice = choice;
    return o;
  }
  static Model* model_;
};

Model* ChatApiTest::model_ = nullptr;

const std::vector<ChatMessage> kAsk = {{"system", "You are a helpful assistant."},
                                       {"user", "What is the weather in Paris?"}};

// Generate(messages) runs exactly the rendered prompt (the template writes BOS where the model
// wants it): the same prompt tokens and the same greedy tokens as the prompt given by hand.
TEST_F(ChatApiTest, GenerateFromMessagesRunsTheRenderedPrompt) {
  auto text = model_->RenderChat(kAsk);
  ASSERT_TRUE(text.ok()) << text.status();
  EncodeOptions eo;
  eo.add_bos = false;
  auto ids = model_->tokenizer().Encode(*text, eo);
  ASSERT_TRUE(ids.ok());
  auto by_hand = model_->GenerateFromTokens(*ids, Greedy(24));
  auto by_messages = model_->Generate(kAsk, {}, Greedy(24));
  ASSERT_TRUE(by_hand.ok() && by_messages.ok()) << by_messages.status();
  EXPECT_EQ(by_messages->prompt_token_ids, *ids);
  EXPECT_EQ(by_messages->text, by_hand->text);
  EXPECT_FALSE(by_messages->text.empty());
  EXPECT_TRUE(by_messages->tool_calls.empty());
}

// SmolLM2's template renders no tools: they are described in the system turn, and the output,
// constrained to calls, comes back as parsed calls with arguments valid for the schema.
TEST_F(ChatApiTest, RequiredToolsGiveParsedCalls) {
  const ChatOptions options = WeatherTools(ToolChoice::kRequired);
  auto prompt = model_->RenderChat(kAsk, options);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_THAT(*prompt, HasSubstr("You are a helpful assistant.\n\n# Tools\n"));
  EXPECT_THAT(*prompt, HasSubstr(R"("name":"get_weather")"));
  auto done = model_->Generate(kAsk, options, Greedy(96));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_FALSE(done->tool_calls.empty()) << done->text;
  EXPECT_EQ(done->text, "");
  for (const ToolCall& call : done->tool_calls) {
    EXPECT_TRUE(call.name == "get_weather" || call.name == "get_time") << call.name;
    EXPECT_EQ(call.id.rfind("call_", 0), 0u) << call.id;
    const nlohmann::json args = nlohmann::json::parse(call.arguments);
    ASSERT_TRUE(args.is_object()) << call.arguments;
    EXPECT_TRUE(args.contains("city")) << call.arguments;
  }
  // A named tool: exactly one call, of that function.
  ChatOptions named = WeatherTools(ToolChoice::kNamed);
  named.tool_name = "get_time";
  auto one = model_->Generate(kAsk, named, Greedy(96));
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->tool_calls.size(), 1u) << one->text;
  EXPECT_EQ(one->tool_calls[0].name, "get_time");
  // kNone: the tools are not described and the output is not read.
  auto none = model_->RenderChat(kAsk, WeatherTools(ToolChoice::kNone));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->find("# Tools"), std::string::npos);
}

// Earlier calls and their results, for a template without tools, are written in the Hermes
// format the model was told to use.
TEST_F(ChatApiTest, EarlierCallsAndResultsAreRendered) {
  std::vector<ChatMessage> messages = kAsk;
  ChatMessage call("assistant", "");
  call.tool_calls.push_back({"call_1", "get_weather", R"({"city": "Paris"})"});
  messages.push_back(call);
  ChatMessage result("tool", R"({"temperature": 21})");
  result.tool_call_id = "call_1";
  messages.push_back(result);
  auto prompt = model_->RenderChat(messages, WeatherTools(ToolChoice::kAuto));
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_THAT(*prompt, HasSubstr("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", "
                                 "\"arguments\": {\"city\":\"Paris\"}}\n</tool_call><|im_end|>"));
  EXPECT_THAT(*prompt, HasSubstr("<|im_start|>user\n<tool_response>\n{\"temperature\": "
                                 "21}\n</tool_response><|im_end|>"));
}

TEST_F(ChatApiTest, BadOptionsAreRefusedByName) {
  struct Case {
    ChatOptions options;
    const char* names;
  };
  std::vector<Case> cases;
  ChatOptions bad_name;
  bad_name.tools.push_back({"get weather", "", ""});
  cases.push_back({bad_name, "tools[0].name"});
  ChatOptions twice = WeatherTools(ToolChoice::kAuto);
  twice.tools.push_back(twice.tools[0]);
  cases.push_back({twice, "tools[2].name"});
  ChatOptions bad_schema = WeatherTools(ToolChoice::kAuto);
  bad_schema.tools[1].parameters = "[1, 2]";
  cases.push_back({bad_schema, "tools[1].parameters"});
  ChatOptions unknown = WeatherTools(ToolChoice::kNamed);
  unknown.tool_name = "get_news";
  cases.push_back({unknown, "tool_name"});
  ChatOptions required_without_tools;
  required_without_tools.tool_choice = ToolChoice::kRequired;
  cases.push_back({required_without_tools, "tool_choice"});
  ChatOptions variables;
  variables.template_variables = "[true]";
  cases.push_back({variables, "template_variables"});
  for (const Case& c : cases) {
    auto done = model_->Generate(kAsk, c.options, Greedy(4));
    EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument) << c.names;
    EXPECT_THAT(std::string(done.status().message()), HasSubstr(c.names));
  }
  // Tools and a grammar both constrain the output.
  SamplingParams with_grammar = Greedy(4);
  with_grammar.grammar = Grammar::AnyJson(/*object_only=*/true);
  auto both = model_->Generate(kAsk, WeatherTools(ToolChoice::kAuto), with_grammar);
  EXPECT_EQ(both.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(both.status().message()), HasSubstr("tools"));
  // A message without a role; no messages.
  const std::vector<ChatMessage> no_role = {{"", "hi"}};
  EXPECT_THAT(std::string(model_->Generate(no_role, {}, Greedy(4)).status().message()),
              HasSubstr("messages[0].role"));
  EXPECT_THAT(
      std::string(model_->Generate(std::vector<ChatMessage>{}, {}, Greedy(4)).status().message()),
      HasSubstr("messages"));
}

// A Scheduler Request given messages: the same answer as Generate, calls included.
TEST_F(ChatApiTest, SchedulerRequestTakesMessages) {
  auto scheduler = Scheduler::Create(*model_, {});
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  for (const ToolChoice choice : {ToolChoice::kNone, ToolChoice::kRequired}) {
    const ChatOptions options = WeatherTools(choice);
    Request request;
    request.messages = kAsk;
    request.chat = options;
    request.sampling = Greedy(128);
    auto handle = (*scheduler)->Submit(request);
    ASSERT_TRUE(handle.ok()) << handle.status();
    const RequestResult& result = handle->Wait();
    auto direct = model_->Generate(kAsk, options, Greedy(128));
    ASSERT_TRUE(direct.ok() && result.status.ok());
    EXPECT_EQ(result.text, direct->text);
    ASSERT_EQ(result.tool_calls.size(), direct->tool_calls.size());
    for (size_t i = 0; i < result.tool_calls.size(); ++i) {
      EXPECT_EQ(result.tool_calls[i].name, direct->tool_calls[i].name);
      EXPECT_EQ(result.tool_calls[i].arguments, direct->tool_calls[i].arguments);
    }
    EXPECT_EQ(choice == ToolChoice::kRequired, !result.tool_calls.empty()) << result.text;
  }
  Request both;
  both.messages = kAsk;
  both.prompt = {1, 2, 3};
  auto refused = (*scheduler)->Submit(both);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("prompt and messages"));
}

}  // namespace
}  // namespace infer
