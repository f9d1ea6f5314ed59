#include "libinfer/serve/tool_calls.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libinfer/serve/structured_output.h"

namespace infer::serve {
namespace {

using nlohmann::json;
using Ordered = nlohmann::ordered_json;

// Checks each tool: {"type": "function", "function": {"name", "description"?, "parameters"?}}.
std::optional<ApiError> CheckTools(const Ordered& tools) {
  absl::flat_hash_set<std::string> names;
  for (size_t k = 0; k < tools.size(); ++k) {
    const Ordered& t = tools[k];
    const std::string where = absl::StrCat("tools[", k, "]");
    if (!t.is_object() || !MemberIs(t, "type", "function") || !t.contains("function") ||
        !t["function"].is_object()) {
      return BadRequest(
          where,
          absl::StrCat("'", where, "' must be {\"type\": \"function\", \"function\": {...}}"));
    }
    const Ordered& f = t["function"];
    if (!f.contains("name") || !f["name"].is_string() ||
        !chat::ValidToolName(f["name"].get<std::string>())) {
      return BadRequest(
          where + ".function.name",
          absl::StrCat("'", where, ".function.name' must be 1 to 64 letters, digits, '_' or '-'"));
    }
    if (!names.insert(f["name"].get<std::string>()).second) {
      return BadRequest(where + ".function.name",
                        absl::StrCat("two tools are named '", f["name"].get<std::string>(), "'"));
    }
    if (f.contains("parameters") && !f["parameters"].is_null() && !f["parameters"].is_object()) {
      return BadRequest(
          where + ".function.parameters",
          absl::StrCat("'", where, ".function.parameters' must be a JSON Schema object"));
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ParseChoice(const json& body, chat::ToolRequest* tools) {
  auto it = body.find("tool_choice");
  tools->choice =
      tools->tools.is_null() ? chat::ToolRequest::Choice::kNone : chat::ToolRequest::Choice::kAuto;
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    const std::string c = it->get<std::string>();
    if (c == "none") {
      tools->choice = chat::ToolRequest::Choice::kNone;
    } else if (c == "auto") {
      tools->choice = chat::ToolRequest::Choice::kAuto;
    } else if (c == "required") {
      tools->choice = chat::ToolRequest::Choice::kRequired;
    } else {
      return BadRequest(
          "tool_choice",
          absl::StrCat("'tool_choice' must be none, auto, required or a function, got '", c, "'"));
    }
  } else if (it->is_object() && MemberIs(*it, "type", "function") && it->contains("function") &&
             (*it)["function"].is_object() && (*it)["function"].contains("name") &&
             (*it)["function"]["name"].is_string()) {
    tools->choice = chat::ToolRequest::Choice::kNamed;
    tools->named = (*it)["function"]["name"].get<std::string>();
  } else {
    return BadRequest("tool_choice",
                      "'tool_choice' must be none, auto, required or {\"type\": \"function\", "
                      "\"function\": {\"name\": ...}}");
  }
  if (tools->choice != chat::ToolRequest::Choice::kNone && tools->tools.is_null()) {
    return BadRequest("tool_choice", "'tool_choice' needs 'tools'");
  }
  if (tools->choice == chat::ToolRequest::Choice::kNamed) {
    bool found = false;
    for (const Ordered& t : tools->tools) found = found || t["function"]["name"] == tools->named;
    if (!found) {
      return BadRequest("tool_choice", absl::StrCat("'tool_choice' names '", tools->named,
                                                    "', which is not in 'tools'"));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseTools(OrderedBody& ordered, const json& body, bool chat,
                                   chat::ToolRequest* tools,
                                   std::shared_ptr<const Grammar>* grammar) {
  *tools = chat::ToolRequest();
  if (const json* t = PresentField(body, "tools")) {
    if (!t->is_array()) return BadRequest("tools", "'tools' must be an array");
    if (!t->empty()) {
      if (!chat) return BadRequest("tools", "'tools' applies to /v1/chat/completions only");
      // In document order: the template prints the tools as given.
      const Ordered* in_order = ordered.Find({"tools"});
      if (in_order == nullptr || !in_order->is_array()) {
        return BadRequest("tools", "'tools' is given twice");
      }
      tools->tools = *in_order;
      if (auto e = CheckTools(tools->tools)) return e;
    }
  }
  if (auto it = body.find("parallel_tool_calls"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean())
      return BadRequest("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
    tools->parallel = it->get<bool>();
  }
  if (auto e = ParseChoice(body, tools)) return e;
  if (!tools->active()) return std::nullopt;
  if (*grammar != nullptr) {
    return BadRequest(
        "tools",
        "'tools' (with tool_choice other than none) and a structured-output field both "
        "constrain the output; give one");
  }
  absl::StatusOr<std::shared_ptr<const Grammar>> calls = chat::CallsGrammar(*tools);
  if (!calls.ok()) return BadRequest("tools", std::string(calls.status().message()));
  *grammar = *std::move(calls);
  return std::nullopt;
}

}  // namespace infer::serve
