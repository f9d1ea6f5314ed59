#include "libinfer/serve/tool_calls.h"

#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/grammar/compilers.h"
#include "libinfer/grammar/grammar_impl.h"
#include "libinfer/serve/structured_output.h"

namespace infer::serve {
namespace {

using nlohmann::json;
using Ordered = nlohmann::ordered_json;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Checks each tool: {"type": "function", "function": {"name", "description"?, "parameters"?}}.
std::optional<ApiError> CheckTools(const Ordered& tools) {
  absl::flat_hash_set<std::string> names;
  for (size_t k = 0; k < tools.size(); ++k) {
    const Ordered& t = tools[k];
    const std::string where = absl::StrCat("tools[", k, "]");
    if (!t.is_object() || t.value("type", "") != "function" || !t.contains("function") ||
        !t["function"].is_object()) {
      return BadRequest(
          where,
          absl::StrCat("'", where, "' must be {\"type\": \"function\", \"function\": {...}}"));
    }
    const Ordered& f = t["function"];
    if (!f.contains("name") || !f["name"].is_string() || !ValidName(f["name"].get<std::string>())) {
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

std::optional<ApiError> ParseChoice(const json& body, ToolRequest* tools) {
  auto it = body.find("tool_choice");
  tools->choice = tools->tools.is_null() ? ToolRequest::Choice::kNone : ToolRequest::Choice::kAuto;
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    const std::string c = it->get<std::string>();
    if (c == "none") {
      tools->choice = ToolRequest::Choice::kNone;
    } else if (c == "auto") {
      tools->choice = ToolRequest::Choice::kAuto;
    } else if (c == "required") {
      tools->choice = ToolRequest::Choice::kRequired;
    } else {
      return BadRequest(
          "tool_choice",
          absl::StrCat("'tool_choice' must be none, auto, required or a function, got '", c, "'"));
    }
  } else if (it->is_object() && it->value("type", "") == "function" && it->contains("function") &&
             (*it)["function"].is_object() && (*it)["function"].contains("name") &&
             (*it)["function"]["name"].is_string()) {
    tools->choice = ToolRequest::Choice::kNamed;
    tools->named = (*it)["function"]["name"].get<std::string>();
  } else {
    return BadRequest("tool_choice",
                      "'tool_choice' must be none, auto, required or {\"type\": \"function\", "
                      "\"function\": {\"name\": ...}}");
  }
  if (tools->choice != ToolRequest::Choice::kNone && tools->tools.is_null()) {
    return BadRequest("tool_choice", "'tool_choice' needs 'tools'");
  }
  if (tools->choice == ToolRequest::Choice::kNamed) {
    bool found = false;
    for (const Ordered& t : tools->tools) found = found || t["function"]["name"] == tools->named;
    if (!found) {
      return BadRequest("tool_choice", absl::StrCat("'tool_choice' names '", tools->named,
                                                    "', which is not in 'tools'"));
    }
  }
  return std::nullopt;
}

absl::StatusOr<std::shared_ptr<const Grammar>> CallsGrammar(const ToolRequest& tools) {
  std::vector<grammar::ToolSchema> schemas;
  for (const Ordered& t : tools.tools) {
    const Ordered& f = t["function"];
    const std::string name = f["name"].get<std::string>();
    if (tools.choice == ToolRequest::Choice::kNamed && name != tools.named) continue;
    const bool has_parameters = f.contains("parameters") && !f["parameters"].is_null();
    schemas.push_back({name, has_parameters ? f["parameters"].dump() : ""});
  }
  const grammar::ToolCallMode mode = tools.choice == ToolRequest::Choice::kAuto
                                         ? grammar::ToolCallMode::kAuto
                                         : grammar::ToolCallMode::kRequired;
  const bool parallel = tools.parallel && tools.choice != ToolRequest::Choice::kNamed;
  std::string key = absl::StrCat("tool_calls\n", static_cast<int>(mode), parallel ? "p" : "1");
  for (const grammar::ToolSchema& s : schemas)
    absl::StrAppend(&key, "\n", s.name, "\n", s.parameters);
  return CachedGrammar(key, [&]() -> absl::StatusOr<std::shared_ptr<const Grammar>> {
    absl::StatusOr<grammar::Rules> rules = grammar::CompileToolCalls(schemas, mode, parallel);
    if (!rules.ok()) return rules.status();
    return std::make_shared<const GrammarImpl>("tool_calls", *std::move(rules));
  });
}

std::string NewCallId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("call_%016x%08x", rng(), static_cast<uint32_t>(rng()));
}

// One call block's text, as the model writes it.
std::string CallBlock(const std::string& name, const Ordered& arguments) {
  return absl::StrCat(std::string(grammar::kToolCallOpen), "\n{\"name\": ", Ordered(name).dump(),
                      ", \"arguments\": ", arguments.dump(), "}\n",
                      std::string(grammar::kToolCallClose));
}

// A call's arguments as an object: the API carries them as JSON text.
Ordered ArgumentsOf(const Ordered& function) {
  if (!function.contains("arguments")) return Ordered::object();
  const Ordered& a = function["arguments"];
  if (!a.is_string()) return a;
  Ordered parsed = Ordered::parse(a.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? a : parsed;
}

// A message's text content ("" when it has none, or parts).
template <typename Json>
std::string ContentOf(const Json& m) {
  auto it = m.find("content");
  return it != m.end() && it->is_string() ? it->template get<std::string>() : std::string();
}

std::string ToolsSystemText(const Ordered& tools) {
  std::string text =
      "# Tools\n\nYou can call the functions described below to help with the answer. Their "
      "signatures, as JSON, are inside <tools></tools>:\n<tools>";
  for (const Ordered& t : tools) absl::StrAppend(&text, "\n", t.dump());
  absl::StrAppend(&text,
                  "\n</tools>\n\nTo call a function, answer with its name and a JSON object of its "
                  "arguments inside <tool_call></tool_call> tags:\n<tool_call>\n{\"name\": "
                  "<function name>, \"arguments\": <arguments object>}\n</tool_call>");
  return text;
}

}  // namespace

std::optional<ApiError> ParseTools(OrderedBody& ordered, const json& body, bool chat,
                                   ToolRequest* tools, std::shared_ptr<const Grammar>* grammar) {
  *tools = ToolRequest();
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
  absl::StatusOr<std::shared_ptr<const Grammar>> calls = CallsGrammar(*tools);
  if (!calls.ok()) return BadRequest("tools", std::string(calls.status().message()));
  *grammar = *std::move(calls);
  return std::nullopt;
}

ExtractedCalls ExtractToolCalls(std::string_view text) {
  ExtractedCalls out;
  const size_t first = text.find(grammar::kToolCallOpen);
  if (first == std::string_view::npos) {
    out.content = std::string(text);
    return out;
  }
  size_t at = first;
  while (at != std::string_view::npos) {
    const size_t body = at + grammar::kToolCallOpen.size();
    const size_t close = text.find(grammar::kToolCallClose, body);
    if (close == std::string_view::npos) break;  // cut short (max_tokens): not a call
    const json call = json::parse(text.substr(body, close - body), nullptr, false);
    if (!call.is_object() || !call.contains("name") || !call["name"].is_string()) break;
    out.calls.push_back({NewCallId(), call["name"].get<std::string>(),
                         call.contains("arguments") ? call["arguments"].dump() : "{}"});
    at = text.find(grammar::kToolCallOpen, close);
  }
  if (at != std::string_view::npos || out.calls.empty()) {
    // Something that is not a whole call: the text is all content.
    out.calls.clear();
    out.content = std::string(text);
    return out;
  }
  out.content = std::string(text.substr(0, first));
  const size_t end = out.content.find_last_not_of(" \n\t\r");
  out.content.resize(end == std::string::npos ? 0 : end + 1);
  return out;
}

size_t StreamableContent(std::string_view text) {
  const std::string_view open = grammar::kToolCallOpen;
  size_t end = text.find(open);
  if (end == std::string_view::npos) {
    end = text.size();
    for (size_t l = std::min(open.size() - 1, text.size()); l > 0; --l) {
      if (text.substr(text.size() - l) == open.substr(0, l)) {
        end = text.size() - l;
        break;
      }
    }
  }
  // Whitespace waits too: before a call it is not part of the content (ExtractToolCalls).
  while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\t' ||
                     text[end - 1] == '\r')) {
    --end;
  }
  return end;
}

nlohmann::ordered_json MessagesForTemplate(const json& messages, const ToolRequest& tools,
                                           bool template_knows_tools) {
  Ordered out = Ordered::array();
  if (!template_knows_tools && tools.active()) {
    const std::string described = ToolsSystemText(tools.tools);
    if (!messages.empty() && messages[0].value("role", "") == "system") {
      Ordered first = messages[0];
      first["content"] = absl::StrCat(ContentOf(messages[0]), "\n\n", described);
      out.push_back(std::move(first));
    } else {
      out.push_back({{"role", "system"}, {"content", described}});
    }
  }
  for (size_t i = out.empty() ? 0 : (messages[0].value("role", "") == "system" ? 1 : 0);
       i < messages.size(); ++i) {
    Ordered m = messages[i];
    const std::string role = m.value("role", "");
    const bool has_calls = m.contains("tool_calls") && m["tool_calls"].is_array();
    if (template_knows_tools) {
      if (has_calls) {
        for (Ordered& c : m["tool_calls"]) {
          if (c.contains("function")) c["function"]["arguments"] = ArgumentsOf(c["function"]);
        }
      }
    } else if (role == "assistant" && has_calls) {
      std::string text = ContentOf(m);
      for (const Ordered& c : m["tool_calls"]) {
        if (!c.contains("function")) continue;
        absl::StrAppend(&text, text.empty() ? "" : "\n",
                        CallBlock(c["function"].value("name", ""), ArgumentsOf(c["function"])));
      }
      m = {{"role", "assistant"}, {"content", text}};
    } else if (role == "tool") {
      m = {{"role", "user"},
           {"content", absl::StrCat("<tool_response>\n", ContentOf(m), "\n</tool_response>")}};
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace infer::serve
