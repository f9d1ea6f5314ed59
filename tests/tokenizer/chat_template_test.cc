// Unit tests of the chat-template engine: language features, Python value semantics, error
// reporting and resource limits. Exactness against Python jinja2 on real templates is
// test_chat_template_reference.py.
#include "libinfer/chat/chat_template.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace infer {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

// Renders `source` with `context`; the error message on failure (prefixed "ERROR: ").
std::string Render(std::string_view source, const Json& context = Json::object(),
                   ChatTemplateOptions options = {}) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source, std::move(options));
  if (!t.ok()) return "PARSE ERROR: " + std::string(t.status().message());
  absl::StatusOr<std::string> out = t->Render(context);
  if (!out.ok()) return "ERROR: " + std::string(out.status().message());
  return *out;
}

absl::Status RenderStatus(std::string_view source, const Json& context = Json::object(),
                          ChatTemplateOptions options = {}) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(source, std::move(options));
  if (!t.ok()) return t.status();
  return t->Render(context).status();
}

std::string ReadTemplate(const std::string& name) {
  const char* root = std::getenv("INFER_TEST_DATA");
  std::ifstream in(std::string(root ? root : "tests/data") + "/chat_templates/" + name,
                   std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ChatTemplateTest, OutputsTextAndExpressions) {
  EXPECT_EQ(Render("Hello {{ name }}!", {{"name", "world"}}), "Hello world!");
  EXPECT_EQ(Render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }}"),
            "7 3 -4 2 3.5");
  EXPECT_EQ(Render("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }}"), "a1None abab [1, 2]");
  EXPECT_EQ(Render("{{ 2 ** 10 }} {{ 10 / 4 }} {{ 4 / 2 }} {{ 1e20 }} {{ 0.1 + 0.2 }}"),
            "1024 2.5 2.0 1e+20 0.30000000000000004");
}

TEST(ChatTemplateTest, PrintsValuesAsPythonStr) {
  EXPECT_EQ(Render("{{ [1, 'a', none, true, 1.5, (1,), {'k': \"it's\"}] }}"),
            "[1, 'a', None, True, 1.5, (1,), {'k': \"it's\"}]");
  EXPECT_EQ(Render("{{ x }}", {{"x", Json::parse(R"({"b": [1, null, false], "a": 2.0})")}}),
            "{'b': [1, None, False], 'a': 2.0}");
  EXPECT_EQ(Render("{{ ['a\\nb', '\\x01'] }}"), "['a\\nb', '\\x01']");
}

TEST(ChatTemplateTest, PythonEqualityAndTruthiness) {
  EXPECT_EQ(Render("{{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} {{ 'a' != 'b' }}"),
            "True True True True");
  EXPECT_EQ(Render("{% if [] or '' or 0 or none or missing %}t{% else %}f{% endif %}"), "f");
  EXPECT_EQ(Render("{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ not none }}"), "x b True");
}

TEST(ChatTemplateTest, UndefinedBehavesLikeJinja2Default) {
  EXPECT_EQ(Render("[{{ missing }}] {{ missing is defined }} {{ missing|length }}"), "[] False 0");
  EXPECT_EQ(Render("{{ d.nope }}|{{ d.nope is defined }}", {{"d", Json::object()}}), "|False");
  EXPECT_THAT(Render("{{ missing.attr }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(Render("{{ missing.strip() }}"), HasSubstr("'missing' is undefined"));
  EXPECT_THAT(Render("{{ missing + 1 }}"), HasSubstr("'missing' is undefined"));
}

TEST(ChatTemplateTest, ForLoopVariablesFilterElseAndUnpacking) {
  const Json ctx = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(Render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}",
                   ctx),
            "103TrueFalse3a;212FalseFalse3b;321FalseTrue3c;");
  EXPECT_EQ(Render("{% for x in xs if x != 'b' %}{{ loop.index }}/{{ loop.length }}{{ x }} "
                   "{% endfor %}",
                   ctx),
            "1/2a 2/2c ");
  EXPECT_EQ(Render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(Render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
                   {{"d", Json::parse(R"({"z": 1, "a": 2})")}}),
            "z=1,a=2,");
  EXPECT_EQ(Render("{% for i in range(10) %}{% if i == 1 %}{% continue %}{% endif %}"
                   "{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "023");
}

TEST(ChatTemplateTest, ScopingSetNamespaceAndMacros) {
  // A set inside a loop does not leak out of it; a namespace attribute does.
  EXPECT_EQ(Render("{% set x = 1 %}{% for i in range(2) %}{% set x = 5 %}{% endfor %}{{ x }}"),
            "1");
  EXPECT_EQ(Render("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
                   "{% endfor %}{{ ns.n }}"),
            "3");
  EXPECT_EQ(
      Render("{% macro m(a, b='d') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}"),
      "<1d><23>");
  EXPECT_EQ(Render("{% set t %}  in {{ 1 }}{% endset %}[{{ t }}]"), "[  in 1]");
  EXPECT_EQ(Render("{% set a, b = 1, 2 %}{{ b }}{{ a }}"), "21");
}

TEST(ChatTemplateTest, FiltersAndMethods) {
  EXPECT_EQ(
      Render("{{ ' x '|trim }}|{{ 'ab'|upper }}|{{ 'hello world'|title }}|{{ [3,1,2]|sort }}"),
      "x|AB|Hello World|[1, 2, 3]");
  EXPECT_EQ(Render("{{ ms|selectattr('role', 'equalto', 'user')|map(attribute='c')|join(',') }}",
                   {{"ms", Json::parse(R"([{"role":"user","c":"a"},{"role":"x","c":"b"},
                                          {"role":"user","c":"c"}])")}}),
            "a,c");
  EXPECT_EQ(Render("{{ 'a,b'.split(',') }} {{ ' y '.strip() }} {{ 'abc'.startswith('ab') }} "
                   "{{ d.get('k', 0) }} {{ 'abc'[::-1] }} {{ [1,2,3][1:] }}",
                   {{"d", Json::object()}}),
            "['a', 'b'] y True 0 cba [2, 3]");
  EXPECT_EQ(Render("{{ missing|default('dflt') }} {{ '42'|int + 1 }} {{ 2.5|round }} {{ -3|abs }}"),
            "dflt 43 2.0 3");
}

TEST(ChatTemplateTest, ToJsonFollowsHuggingFace) {
  // No HTML escaping, non-ASCII kept, keys in document order, indent as json.dumps.
  const Json ctx = {{"x", Json::parse(R"({"b": "<é>", "a": [1, 2.0, null]})")}};
  EXPECT_EQ(Render("{{ x|tojson }}", ctx), R"({"b": "<é>", "a": [1, 2.0, null]})");
  EXPECT_EQ(Render("{{ x|tojson(indent=2) }}", ctx),
            "{\n  \"b\": \"<é>\",\n  \"a\": [\n    1,\n    2.0,\n    null\n  ]\n}");
  EXPECT_EQ(Render("{{ x|tojson(sort_keys=true, ensure_ascii=true) }}", ctx),
            R"({"a": [1, 2.0, null], "b": "<\u00e9>"})");
  EXPECT_THAT(Render("{{ missing|tojson }}"), HasSubstr("not JSON serializable"));
}

TEST(ChatTemplateTest, WhitespaceControlAndOptions) {
  const std::string source = "<\n  {% if true %}\n  x\n  {% endif %}\n>";
  EXPECT_EQ(Render(source), "<\n  x\n>");  // Hugging Face: trim_blocks + lstrip_blocks
  ChatTemplateOptions jinja_defaults;
  jinja_defaults.trim_blocks = false;
  jinja_defaults.lstrip_blocks = false;
  EXPECT_EQ(Render(source, Json::object(), jinja_defaults), "<\n  \n  x\n  \n>");
  EXPECT_EQ(Render("a  {%- if true -%}  b  {%- endif %}  c"), "ab  c");
  EXPECT_EQ(Render("a {{- ' b ' -}} c"), "a b c");
  EXPECT_EQ(Render("a{# comment #}b{% raw %}{{ x }}{% endraw %}"), "ab{{ x }}");
  EXPECT_EQ(Render("line\n"), "line");  // jinja2 drops one trailing newline
}

TEST(ChatTemplateTest, ParseErrorsNameLineColumnAndExpectation) {
  absl::Status s = RenderStatus("ok\n{% for x in xs %}\n{{ x }}");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 3"));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("expected 'else' or 'endfor' to close the 'for' at line 2"));

  s = RenderStatus("{{ 1 + }}");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("line 1, column 8: expected an expression, got '}}'"));
  EXPECT_THAT(std::string(RenderStatus("{{ x|no_such_filter }}").message()),
              HasSubstr("no filter named 'no_such_filter'"));
  EXPECT_THAT(std::string(RenderStatus("{{ x is no_such_test }}").message()),
              HasSubstr("no test named 'no_such_test'"));
  EXPECT_THAT(std::string(RenderStatus("a\n  {% frobnicate %}").message()),
              HasSubstr("line 2, column 6: unknown tag 'frobnicate'"));
  EXPECT_THAT(std::string(RenderStatus("{% include 'x' %}").message()), HasSubstr("not supported"));
  EXPECT_THAT(std::string(RenderStatus("{{ 'open }}").message()), HasSubstr("unterminated string"));
  EXPECT_THAT(std::string(RenderStatus("{% break %}").message()), HasSubstr("outside of a loop"));
  EXPECT_THAT(std::string(RenderStatus("{# never closed").message()),
              HasSubstr("missing end of comment"));
}

TEST(ChatTemplateTest, RenderErrorsAreStatuses) {
  absl::Status s = RenderStatus("{{ raise_exception('Roles must alternate!') }}");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "Roles must alternate!");  // verbatim, for the API's error message

  s = RenderStatus("\n{{ 1 + 'a' }}");
  EXPECT_THAT(std::string(s.message()), HasSubstr("line 2"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("unsupported operand"));
  EXPECT_THAT(std::string(RenderStatus("{{ 1 / 0 }}").message()), HasSubstr("division by zero"));
  EXPECT_THAT(std::string(RenderStatus("{{ 5() }}").message()), HasSubstr("not callable"));
  EXPECT_THAT(std::string(RenderStatus("{{ 9223372036854775807 + 1 }}").message()),
              HasSubstr("overflow"));
  EXPECT_EQ(RenderStatus("{{ x }}", Json::array()).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, MutationFollowsTheSandbox) {
  EXPECT_EQ(RenderStatus("{% set l = [] %}{{ l.append(1) }}").code(),
            absl::StatusCode::kPermissionDenied);
  ChatTemplateOptions options;
  options.allow_mutation = true;
  EXPECT_EQ(Render("{% set l = [] %}{% set _ = l.append(1) %}{{ l }}", Json::object(), options),
            "[1]");
}

TEST(ChatTemplateTest, LimitsBoundRecursionLoopsAndOutput) {
  EXPECT_EQ(RenderStatus("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").code(),
            absl::StatusCode::kResourceExhausted);
  ChatTemplateOptions small;
  small.max_iterations = 1000;
  EXPECT_EQ(RenderStatus("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}"
                         "{% endfor %}",
                         Json::object(), small)
                .code(),
            absl::StatusCode::kResourceExhausted);
  small.max_output_bytes = 100;
  EXPECT_EQ(RenderStatus("{{ 'x' * 1000 }}", Json::object(), small).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(
      RenderStatus("{% for i in range(50) %}0123456789{% endfor %}", Json::object(), small).code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(RenderStatus("{{ range(200000)|length }}").code(),
            absl::StatusCode::kResourceExhausted);
  // Nesting too deep for the parser is refused at Parse, not by overflowing the stack.
  EXPECT_EQ(
      RenderStatus("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").code(),
      absl::StatusCode::kInvalidArgument);
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  EXPECT_EQ(RenderStatus(chain + " }}").code(), absl::StatusCode::kInvalidArgument);
  std::string nested;
  for (int i = 0; i < 500; ++i) nested += "{% if true %}";
  EXPECT_EQ(RenderStatus(nested).code(), absl::StatusCode::kInvalidArgument);
  // Deep JSON input is refused instead of recursing without bound.
  Json deep = Json::array();
  for (int i = 0; i < 1000; ++i) deep = Json::array({deep});
  EXPECT_EQ(RenderStatus("{{ x }}", {{"x", deep}}).code(), absl::StatusCode::kInvalidArgument);
  // A namespace holding itself prints (bounded) and is freed.
  EXPECT_THAT(Render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"),
              HasSubstr("<Namespace {'me': <Namespace"));
}

TEST(ChatTemplateTest, StrftimeNowUsesTheInjectedClock) {
  ChatTemplateOptions options;
  options.clock = [] {
    return std::chrono::system_clock::time_point(std::chrono::hours(24 * 365));
  };
  const std::string out = Render("{{ strftime_now('%Y') }}", Json::object(), options);
  EXPECT_TRUE(out == "1971" || out == "1970") << out;  // local time zone
}

TEST(ChatTemplateTest, RenderChatPassesHuggingFaceVariables) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(ReadTemplate("smollm2.jinja"));
  ASSERT_TRUE(t.ok()) << t.status();
  ChatTemplateInputs inputs;
  inputs.messages = Json::parse(R"([{"role": "user", "content": "Hi"}])");
  inputs.add_generation_prompt = true;
  absl::StatusOr<std::string> out = t->RenderChat(inputs);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");

  absl::StatusOr<ChatTemplate> tools = ChatTemplate::Parse(
      "{{ tools is none }} {{ documents is none }} {{ bos_token }}{{ add_generation_prompt }}");
  ASSERT_TRUE(tools.ok());
  inputs.bos_token = "<s>";
  EXPECT_EQ(*tools->RenderChat(inputs), "True True <s>True");
  inputs.messages = "not an array";
  EXPECT_EQ(tools->RenderChat(inputs).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChatTemplateTest, EveryCommittedTemplateParses) {
  for (const char* name :
       {"smollm2.jinja", "chatml.jinja", "llama3.1.jinja", "llama3.2.jinja", "mistral-v0.3.jinja",
        "mistral-v7.jinja", "qwen2.5.jinja", "gemma2.jinja", "gemma3.jinja"}) {
    const std::string source = ReadTemplate(name);
    ASSERT_FALSE(source.empty()) << name;
    EXPECT_TRUE(ChatTemplate::Parse(source).ok()) << name;
  }
}

TEST(ChatTemplateTest, ConcurrentRendersShareOneTemplate) {
  absl::StatusOr<ChatTemplate> t = ChatTemplate::Parse(ReadTemplate("qwen2.5.jinja"));
  ASSERT_TRUE(t.ok());
  ChatTemplateInputs inputs;
  inputs.messages = Json::parse(R"([{"role": "user", "content": "Hi"}])");
  const std::string expected = *t->RenderChat(inputs);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) {
        absl::StatusOr<std::string> out = t->RenderChat(inputs);
        if (!out.ok() || *out != expected) ++mismatches[static_cast<size_t>(i)];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace infer
