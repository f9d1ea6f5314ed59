// Tool calls in the OpenAI protocol: `tools`, `tool_choice` and `parallel_tool_calls` read into
// a ToolRequest and a grammar; calls read back from the output; conversations with tools
// rendered through the model's chat template.
//
// Calls are written in the Hermes format (libinfer/grammar/compilers.h): templates that render
// `tools` (Qwen2.5, Hermes) describe them to the model themselves; for a template that knows no
// tools, the tools and the format are described in a system message, and earlier calls and
// results are written into the conversation as text in the same format.
#ifndef INFER_SERVE_TOOL_CALLS_H_
#define INFER_SERVE_TOOL_CALLS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infer/grammar.h"
#include "libinfer/serve/openai_api.h"
#include "nlohmann/json.hpp"

namespace infer::serve {

// Reads `tools`, `tool_choice` and `parallel_tool_calls` from `body` (the tools themselves from
// `ordered`, the body in document order). With tool_choice auto, required or a named function,
// sets `*grammar` to the grammar of the calls (a request that also asks for structured output is
// refused: give one). 400s name the field.
std::optional<ApiError> ParseTools(OrderedBody& ordered, const nlohmann::json& body, bool chat,
                                   ToolRequest* tools, std::shared_ptr<const Grammar>* grammar);

// The calls at the end of `text` and the content before them. No calls: the whole text is
// content. Each call gets a fresh id.
struct ExtractedCalls {
  std::string content;
  std::vector<ToolCall> calls;
};
ExtractedCalls ExtractToolCalls(std::string_view text);

// How much of a streamed choice's `text` may go out as content now: up to the first call, short
// of a tail that could be the start of one, and short of trailing whitespace.
size_t StreamableContent(std::string_view text);

// The conversation as the template should see it. `template_knows_tools`: the template renders
// tools itself; then only the arguments of earlier calls are turned from JSON text into objects
// (templates print them with `tojson`). Otherwise the tools are described in a system message
// and calls and results are written as text.
nlohmann::ordered_json MessagesForTemplate(const nlohmann::json& messages, const ToolRequest& tools,
                                           bool template_knows_tools);

}  // namespace infer::serve

#endif  // INFER_SERVE_TOOL_CALLS_H_
