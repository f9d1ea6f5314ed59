#include "libinfer/chat/conversation.h"

#include <random>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/grammar/cache.h"
#include "libinfer/grammar/compilers.h"
#include "libinfer/grammar/grammar_impl.h"

namespace infer::chat {
namespace {

using nlohmann::json;
using Ordered = nlohmann::ordered_json;

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

bool ValidToolName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
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
  return grammar::CachedGrammar(key, [&]() -> absl::StatusOr<std::shared_ptr<const Grammar>> {
    absl::StatusOr<grammar::Rules> rules = grammar::CompileToolCalls(schemas, mode, parallel);
    if (!rules.ok()) return rules.status();
    return std::make_shared<const GrammarImpl>("tool_calls", *std::move(rules));
  });
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

nlohmann::ordered_json MessagesForTemplate(const Ordered& messages, const ToolRequest& tools,
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
  // A system turn that took the tools' description is not repeated.
  const bool merged_system =
      !out.empty() && !messages.empty() && messages[0].value("role", "") == "system";
  for (size_t i = merged_system ? 1 : 0; i < messages.size(); ++i) {
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

absl::StatusOr<Ordered> MessagesJson(std::span<const ChatMessage> messages) {
  Ordered out = Ordered::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "].role is empty"));
    }
    Ordered j = {{"role", m.role}, {"content", m.content}};
    if (!m.tool_calls.empty()) {
      Ordered calls = Ordered::array();
      for (size_t k = 0; k < m.tool_calls.size(); ++k) {
        const ToolCall& c = m.tool_calls[k];
        if (c.name.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("messages[", i, "].tool_calls[", k, "].name is empty"));
        }
        calls.push_back({{"id", c.id},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      j["tool_calls"] = std::move(calls);
    }
    if (!m.tool_call_id.empty()) j["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) j["name"] = m.name;
    out.push_back(std::move(j));
  }
  return out;
}

absl::StatusOr<ToolRequest> ToolRequestOf(const ChatOptions& options) {
  ToolRequest out;
  out.parallel = options.parallel_tool_calls;
  if (options.tools.empty()) {
    if (options.tool_choice == ToolChoice::kRequired || options.tool_choice == ToolChoice::kNamed) {
      return absl::InvalidArgumentError("tool_choice: required and named choices need tools");
    }
    return out;
  }
  out.tools = Ordered::array();
  absl::flat_hash_set<std::string> names;
  for (size_t k = 0; k < options.tools.size(); ++k) {
    const ChatTool& t = options.tools[k];
    if (!ValidToolName(t.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tools[", k, "].name must be 1 to 64 letters, digits, '_' or '-', got '", t.name, "'"));
    }
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("tools[", k, "].name: two tools are named '", t.name, "'"));
    }
    Ordered f = {{"name", t.name}};
    if (!t.description.empty()) f["description"] = t.description;
    if (!t.parameters.empty()) {
      Ordered p = Ordered::parse(t.parameters, nullptr, /*allow_exceptions=*/false);
      if (p.is_discarded() || !p.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tools[", k, "].parameters must be a JSON Schema object's text"));
      }
      f["parameters"] = std::move(p);
    }
    out.tools.push_back({{"type", "function"}, {"function", std::move(f)}});
  }
  switch (options.tool_choice) {
    case ToolChoice::kAuto:
      out.choice = ToolRequest::Choice::kAuto;
      break;
    case ToolChoice::kNone:
      out.choice = ToolRequest::Choice::kNone;
      break;
    case ToolChoice::kRequired:
      out.choice = ToolRequest::Choice::kRequired;
      break;
    case ToolChoice::kNamed:
      out.choice = ToolRequest::Choice::kNamed;
      out.named = options.tool_name;
      if (!names.contains(options.tool_name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("tool_name '", options.tool_name, "' is not one of the tools"));
      }
      break;
  }
  return out;
}

absl::StatusOr<Ordered> TemplateVariablesOf(const ChatOptions& options) {
  if (options.template_variables.empty()) return Ordered::object();
  Ordered v = Ordered::parse(options.template_variables, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !v.is_object()) {
    return absl::InvalidArgumentError("template_variables must be a JSON object's text");
  }
  return v;
}

}  // namespace infer::chat
