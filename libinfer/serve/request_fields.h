// The one rule for the fields of a completion request: each field of OpenAI's chat and
// completions requests (and of vLLM's extensions) either works or is refused with a 400 naming
// it; a field this server does not know is refused too, as OpenAI refuses it. Fields whose only
// effect this server has anyway (store: false, n-best of 1, ...) pass with that value only.
#ifndef INFER_SERVE_REQUEST_FIELDS_H_
#define INFER_SERVE_REQUEST_FIELDS_H_

#include <optional>

#include "libinfer/serve/openai_api.h"
#include "nlohmann/json.hpp"

namespace infer::serve {

// Checks the names (and, for the fields accepted only with a neutral value, the values) of the
// top-level fields of `body`; null values count as absent. The fields it lets through are
// checked by the request parser.
std::optional<ApiError> CheckRequestFields(const nlohmann::json& body, bool chat);

}  // namespace infer::serve

#endif  // INFER_SERVE_REQUEST_FIELDS_H_
