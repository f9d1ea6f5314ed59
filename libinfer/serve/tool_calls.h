// Tool calls in the OpenAI protocol: `tools`, `tool_choice` and `parallel_tool_calls` read into
// a chat::ToolRequest and a grammar. The call format, the rendering of conversations with tools
// and the reading of calls from the output are the chat layer's (libinfer/chat/conversation.h),
// shared with the library's chat API.
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
                                   chat::ToolRequest* tools,
                                   std::shared_ptr<const Grammar>* grammar);

}  // namespace infer::serve

#endif  // INFER_SERVE_TOOL_CALLS_H_
