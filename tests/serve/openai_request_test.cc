// The OpenAI request surface without a server: the field rule, structured output and tool
// requests read into grammars, tool calls read back from an output, and conversations with
// tools prepared for a chat template.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "libinfer/serve/openai_api.h"
#include "libinfer/serve/request_fields.h"
#include "libinfer/serve/tool_calls.h"

namespace infer::serve {
namespace {

using chat::ExtractedCalls;
using chat::ExtractToolCalls;
using chat::MessagesForTemplate;
using chat::StreamableContent;
using chat::ToolRequest;
using nlohmann::json;
using ::testing::HasSubstr;

const char* kTools = R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "now"}}])";

std::optional<ApiError> Parse(const std::string& extra, CompletionRequest* r, bool chat = true) {
  const std::string body = chat
                               ? R"({"messages": [{"role": "user", "content": "hi"}])" + extra + "}"
                               : R"({"prompt": "hi")" + extra + "}";
  return ParseCompletionRequest(body, chat, 8, r);
}

TEST(RequestFieldsTest, EveryFieldWorksOrIsRefusedByName) {
  EXPECT_FALSE(CheckRequestFields(json::parse(R"({"model": "m", "messages": [], "store": false,
      "metadata": {"a": "b"}, "service_tier": "auto", "modalities": ["text"], "audio": null})"),
                                  true));
  for (const auto& [body, param, words] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {R"({"frobnicate": 1})", "frobnicate", "unknown fields are refused"},
           {R"({"prompt": "x"})", "prompt", "other route"},
           {R"({"store": true})", "store", "only as false"},
           {R"({"modalities": ["audio"]})", "modalities", "only as"},
           {R"({"reasoning_effort": "high"})", "reasoning_effort", "not supported"},
           {R"({"metadata": {"a": 1}})", "metadata", "string values"}}) {
    std::optional<ApiError> e = CheckRequestFields(json::parse(body), true);
    ASSERT_TRUE(e.has_value()) << body;
    EXPECT_EQ(e->param, param);
    EXPECT_THAT(e->message, HasSubstr(words)) << body;
  }
  EXPECT_TRUE(CheckRequestFields(json::parse(R"({"messages": []})"), false).has_value());
  EXPECT_TRUE(CheckRequestFields(json::parse(R"({"best_of": 2})"), false).has_value());
  EXPECT_FALSE(CheckRequestFields(json::parse(R"({"best_of": 1, "echo": true})"), false));
}

TEST(StructuredOutputTest, FieldsBecomeSharedGrammars) {
  CompletionRequest a, b, c;
  const std::string schema =
      R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "x",
          "schema": {"type": "object", "properties": {"b": {"type": "integer"}}}}})";
  ASSERT_FALSE(Parse(schema, &a));
  ASSERT_FALSE(Parse(schema, &b));
  ASSERT_NE(a.sampling.grammar, nullptr);
  EXPECT_EQ(a.sampling.grammar->kind(), "json_schema");
  EXPECT_EQ(a.sampling.grammar, b.sampling.grammar) << "the same schema compiles once";
  ASSERT_FALSE(Parse(R"(, "guided_choice": ["x", "y"])", &c, /*chat=*/false));
  EXPECT_EQ(c.sampling.grammar->kind(), "choice");
  CompletionRequest d;
  std::optional<ApiError> e = Parse(R"(, "guided_regex": "a", "guided_choice": ["a"])", &d);
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->message, HasSubstr("give one"));
}

TEST(ToolRequestTest, ChoicesGrammarsAndRefusals) {
  CompletionRequest r;
  ASSERT_FALSE(Parse(absl::StrCat(R"(, "tools": )", kTools), &r));
  EXPECT_EQ(r.tools.choice, ToolRequest::Choice::kAuto);
  ASSERT_NE(r.sampling.grammar, nullptr);
  EXPECT_EQ(r.sampling.grammar->kind(), "tool_calls");
  CompletionRequest none;
  ASSERT_FALSE(Parse(absl::StrCat(R"(, "tool_choice": "none", "tools": )", kTools), &none));
  EXPECT_FALSE(none.tools.active());
  EXPECT_EQ(none.sampling.grammar, nullptr);
  EXPECT_FALSE(none.tools.tools.is_null()) << "the template still sees the tools";
  CompletionRequest named;
  ASSERT_FALSE(Parse(absl::StrCat(R"(, "tool_choice": {"type": "function", "function":
      {"name": "now"}}, "tools": )",
                                  kTools),
                     &named));
  EXPECT_EQ(named.tools.choice, ToolRequest::Choice::kNamed);
  EXPECT_NE(named.sampling.grammar, r.sampling.grammar);
  for (const auto& [extra, param] : std::vector<std::pair<std::string, std::string>>{
           {R"(, "tool_choice": {"type": "function", "function": {"name": "x"}}, "tools": )",
            "tool_choice"},
           {R"(, "response_format": {"type": "json_object"}, "tools": )", "tools"},
           {R"(, "parallel_tool_calls": 1, "tools": )", "parallel_tool_calls"},
           // Members of the wrong type are refused, never thrown on (the fuzzer's finds).
           {R"(, "tool_choice": {"type": {}, "function": {"name": "now"}}, "tools": )",
            "tool_choice"}}) {
    CompletionRequest bad;
    std::optional<ApiError> e = Parse(extra + kTools, &bad);
    ASSERT_TRUE(e.has_value()) << extra;
    EXPECT_EQ(e->param, param) << extra;
  }
  CompletionRequest wrong_type;
  std::optional<ApiError> typed =
      Parse(R"(, "tools": [{"type": 1, "function": {"name": "now"}}])", &wrong_type);
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->param, "tools[0]");
  typed = ParseCompletionRequest(
      R"({"messages": [{"role": "user", "content": [{"type": 5, "text": "x"}]}]})", true, 8,
      &wrong_type);
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->param, "messages[0].content[0]");
  CompletionRequest completions;
  std::optional<ApiError> e =
      Parse(absl::StrCat(R"(, "tools": )", kTools), &completions, /*chat=*/false);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "tools");
}

TEST(ExtractToolCallsTest, ContentThenWholeCalls) {
  const ExtractedCalls two = ExtractToolCalls(
      "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n"
      "</tool_call>");
  EXPECT_EQ(two.content, "Let me look.");
  ASSERT_EQ(two.calls.size(), 2u);
  EXPECT_EQ(two.calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(two.calls[0].arguments), json::parse(R"({"city": "Paris"})"));
  EXPECT_EQ(two.calls[1].arguments, "{}");
  EXPECT_NE(two.calls[0].id, two.calls[1].id);
  EXPECT_EQ(two.calls[0].id.rfind("call_", 0), 0u);
  EXPECT_EQ(two.calls[0].id.size(), 29u);
  // Cut short, or not a call: all content.
  const std::string cut = "x <tool_call>\n{\"name\": \"now\", \"argu";
  EXPECT_TRUE(ExtractToolCalls(cut).calls.empty());
  EXPECT_EQ(ExtractToolCalls(cut).content, cut);
  EXPECT_TRUE(ExtractToolCalls("<tool_call>oops</tool_call>").calls.empty());
  EXPECT_EQ(ExtractToolCalls("plain").content, "plain");
}

TEST(ExtractToolCallsTest, StreamableContentHoldsBackWhatMayStartACall) {
  EXPECT_EQ(StreamableContent("Hello"), 5u);
  EXPECT_EQ(StreamableContent("Hello <tool_c"), 5u);
  EXPECT_EQ(StreamableContent("Hello <"), 5u);
  EXPECT_EQ(StreamableContent("a < b"), 5u);
  EXPECT_EQ(StreamableContent("Hi <tool_call>\n{"), 2u);
  EXPECT_EQ(StreamableContent("Hi \n"), 2u);
  EXPECT_EQ(StreamableContent(""), 0u);
}

TEST(MessagesForTemplateTest, ToolsDescribedOrPassedThrough) {
  ToolRequest tools;
  tools.tools = nlohmann::ordered_json::parse(kTools);
  tools.choice = ToolRequest::Choice::kAuto;
  const json messages = json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}])");
  const nlohmann::ordered_json plain = MessagesForTemplate(messages, tools, false);
  ASSERT_EQ(plain.size(), 4u);
  const std::string system = plain[0]["content"];
  EXPECT_EQ(system.rfind("Be brief.\n\n# Tools", 0), 0u) << system;
  EXPECT_THAT(system, HasSubstr("\"name\":\"get_weather\""));
  EXPECT_EQ(plain[2]["content"],
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\"}}\n"
            "</tool_call>");
  EXPECT_EQ(plain[3]["role"], "user");
  EXPECT_EQ(plain[3]["content"], "<tool_response>\nsunny\n</tool_response>");
  const nlohmann::ordered_json native = MessagesForTemplate(messages, tools, true);
  ASSERT_EQ(native.size(), 4u);
  EXPECT_EQ(native[0]["content"], "Be brief.");
  EXPECT_EQ(native[2]["tool_calls"][0]["function"]["arguments"]["city"], "Oslo");
  EXPECT_EQ(native[3]["role"], "tool");
  // No system message of its own: one is added in front.
  const nlohmann::ordered_json added =
      MessagesForTemplate(json::parse(R"([{"role": "user", "content": "x"}])"), tools, false);
  ASSERT_EQ(added.size(), 2u);
  EXPECT_EQ(added[0]["role"], "system");
}

}  // namespace
}  // namespace infer::serve
