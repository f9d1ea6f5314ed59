// A conversation as a model's chat template sees it, with tools: the one rendering the server
// (the OpenAI chat API) and the library (Model::RenderChat / Generate, a Scheduler Request) share.
//
// Calls are written in the Hermes format (libinfer/grammar/compilers.h): templates that render
// `tools` (Qwen2.5, Qwen3, Hermes) describe them to the model themselves; for a template that
// knows no tools, the tools and the format are described in a system message, and earlier calls
// and results are written into the conversation as text in the same format.
#ifndef INFER_CHAT_CONVERSATION_H_
#define INFER_CHAT_CONVERSATION_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/chat.h"
#include "infer/grammar.h"
#include "libinfer/chat/chat_template.h"
#include "nlohmann/json.hpp"

namespace infer::chat {

// The tools of one conversation and how the model may call them.
// NOLINTNEXTLINE(bugprone-exception-escape): its JSON member allocates; a bad_alloc ends the call
struct ToolRequest {
  enum class Choice { kNone, kAuto, kRequired, kNamed };
  Choice choice = Choice::kNone;
  // OpenAI's `tools` array (members in document order, for the chat template); null for none.
  nlohmann::ordered_json tools;
  std::string named;     // kNamed: the function
  bool parallel = true;  // parallel_tool_calls
  // Calls are constrained and read back from the output.
  bool active() const { return !tools.is_null() && choice != Choice::kNone; }
};

// A function name OpenAI accepts: 1 to 64 letters, digits, '_' or '-'.
bool ValidToolName(std::string_view name);

// The grammar of the calls `tools` allows (active() must hold); compiled once per distinct
// request (grammar::CachedGrammar). InvalidArgument for a parameters schema the grammar engine
// cannot honour.
absl::StatusOr<std::shared_ptr<const Grammar>> CallsGrammar(const ToolRequest& tools);

// The calls at the end of `text` and the content before them. No calls: the whole text is
// content. Each call gets a fresh id.
struct ExtractedCalls {
  std::string content;
  std::vector<ToolCall> calls;
};
ExtractedCalls ExtractToolCalls(std::string_view text);

// How much of a streamed answer's `text` may go out as content now: up to the first call, short
// of a tail that could be the start of one, and short of trailing whitespace.
size_t StreamableContent(std::string_view text);

// The conversation as the template sees it. `template_knows_tools`: the template renders tools
// itself; then only the arguments of earlier calls are turned from JSON text into objects
// (templates print them with `tojson`). Otherwise active tools are described in a system message
// and calls and results are written as text.
nlohmann::ordered_json MessagesForTemplate(const nlohmann::ordered_json& messages,
                                           const ToolRequest& tools, bool template_knows_tools);

// Renders OpenAI-shaped `messages` (role, content, tool_calls, tool_call_id, name) with `tools`
// through `chat_template`, on top of `base` (BaseChatInputs: BOS/EOS text, generation prompt,
// extra variables). Errors are the template's (ChatTemplate::RenderChat).
absl::StatusOr<std::string> RenderConversation(const ChatTemplate& chat_template,
                                               ChatTemplateInputs base,
                                               const nlohmann::ordered_json& messages,
                                               const ToolRequest& tools);

// The library's chat API (Model::RenderChat): `messages` and `options` as JSON, then
// RenderConversation on top of `base` (its add_generation_prompt and extra variables replaced by
// the options'). `tools` (optional) receives the options' tools.
absl::StatusOr<std::string> RenderMessages(const ChatTemplate& chat_template,
                                           ChatTemplateInputs base,
                                           std::span<const ChatMessage> messages,
                                           const ChatOptions& options,
                                           ToolRequest* tools = nullptr);

// The library's structs as OpenAI-shaped JSON: messages (an assistant's calls with
// "type": "function"), and the options' tools and choice. InvalidArgument names the field
// ("messages[2].role", "tools[0].name", "tools[1].parameters", "tool_name", "template_variables").
absl::StatusOr<nlohmann::ordered_json> MessagesJson(std::span<const ChatMessage> messages);
absl::StatusOr<ToolRequest> ToolRequestOf(const ChatOptions& options);
absl::StatusOr<nlohmann::ordered_json> TemplateVariablesOf(const ChatOptions& options);

}  // namespace infer::chat

#endif  // INFER_CHAT_CONVERSATION_H_
