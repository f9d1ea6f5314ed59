// Structured output in the OpenAI protocol: `response_format` (text, json_object, json_schema)
// and vLLM's `guided_json`, `guided_regex`, `guided_choice` and `structured_outputs`, read into
// a Grammar for the request's sampling.
#ifndef INFER_SERVE_STRUCTURED_OUTPUT_H_
#define INFER_SERVE_STRUCTURED_OUTPUT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "infer/grammar.h"
#include "libinfer/serve/openai_api.h"
#include "nlohmann/json.hpp"

namespace infer::serve {

// Reads the structured-output fields of `body` into `*grammar` (null when the request asks for
// none); schemas are taken from `ordered`, the same body in document order, so that their
// members keep it. At most one of them may be given; a schema or pattern the grammar engine
// cannot honour is a 400 naming the field and the keyword. Compiled grammars are shared by
// requests with the same source (a small LRU), so their token masks are computed once.
std::optional<ApiError> ParseStructuredOutput(OrderedBody& ordered, const nlohmann::json& body,
                                              std::shared_ptr<const Grammar>* grammar);

}  // namespace infer::serve

#endif  // INFER_SERVE_STRUCTURED_OUTPUT_H_
