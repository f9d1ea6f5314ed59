// infer_render_template: renders a chat template with libinfer's engine; used by the chat
// template reference test (tests/tokenizer/test_chat_template_reference.py).
//
//   infer_render_template < request.json
//
// The request is a JSON object: "template" (the template text), and either "context" (the
// variables, rendered with ChatTemplate::Render) or "chat" (ChatTemplateInputs fields:
// messages, tools, documents, add_generation_prompt, bos_token, eos_token, extra_context;
// rendered with RenderChat), or "api" (the library's chat API: "messages" of
// {role, content, tool_calls: [{id, name, arguments}], tool_call_id, name}, "tools" of
// {name, description, parameters}, "tool_choice" ("auto", "none", "required"),
// "add_generation_prompt", "template_variables" (an object), "bos_token", "eos_token"; rendered
// with chat::RenderMessages, what Model::RenderChat runs). Optional: "now" (seconds since the epoch
// for strftime_now), "trim_blocks", "lstrip_blocks", "keep_trailing_newline" (Hugging Face's
// settings by default). Prints the rendering to stdout and exits 0; on a parse or render error
// prints "PARSE ERROR: <message>" or "RENDER ERROR: <message>" to stderr and exits 1.
#include <chrono>
#include <iostream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "infer/chat.h"
#include "libinfer/chat/chat_template.h"
#include "libinfer/chat/conversation.h"
#include "nlohmann/json.hpp"

int main() {
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  // Exceptions are fine in a test tool: a malformed request ends the program with its message.
  const nlohmann::ordered_json request = nlohmann::ordered_json::parse(input);
  infer::ChatTemplateOptions options;
  options.trim_blocks = request.value("trim_blocks", true);
  options.lstrip_blocks = request.value("lstrip_blocks", true);
  options.keep_trailing_newline = request.value("keep_trailing_newline", false);
  if (request.contains("now")) {
    const auto now =
        std::chrono::system_clock::time_point(std::chrono::seconds(request["now"].get<int64_t>()));
    options.clock = [now] { return now; };
  }
  auto parsed = infer::ChatTemplate::Parse(request.at("template").get<std::string>(), options);
  if (!parsed.ok()) {
    std::cerr << "PARSE ERROR: " << parsed.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::string> rendered;
  if (request.contains("api")) {
    const nlohmann::ordered_json& api = request["api"];
    std::vector<infer::ChatMessage> messages;
    for (const auto& m : api.value("messages", nlohmann::ordered_json::array())) {
      infer::ChatMessage message(m.value("role", ""), m.value("content", ""));
      for (const auto& c : m.value("tool_calls", nlohmann::ordered_json::array())) {
        message.tool_calls.push_back(
            {c.value("id", ""), c.value("name", ""), c.value("arguments", "")});
      }
      message.tool_call_id = m.value("tool_call_id", "");
      message.name = m.value("name", "");
      messages.push_back(std::move(message));
    }
    infer::ChatOptions options;
    for (const auto& t : api.value("tools", nlohmann::ordered_json::array())) {
      options.tools.push_back({t.value("name", ""), t.value("description", ""),
                               t.contains("parameters") ? t["parameters"].dump() : ""});
    }
    const std::string choice = api.value("tool_choice", "auto");
    options.tool_choice = choice == "none"       ? infer::ToolChoice::kNone
                          : choice == "required" ? infer::ToolChoice::kRequired
                                                 : infer::ToolChoice::kAuto;
    options.add_generation_prompt = api.value("add_generation_prompt", true);
    if (api.contains("template_variables")) {
      options.template_variables = api["template_variables"].dump();
    }
    infer::ChatTemplateInputs base;
    base.bos_token = api.value("bos_token", "");
    base.eos_token = api.value("eos_token", "");
    rendered = infer::chat::RenderMessages(*parsed, base, messages, options);
  } else if (request.contains("chat")) {
    const nlohmann::ordered_json& chat = request["chat"];
    infer::ChatTemplateInputs inputs;
    inputs.messages = chat.value("messages", nlohmann::ordered_json::array());
    inputs.tools = chat.value("tools", nlohmann::ordered_json());
    inputs.documents = chat.value("documents", nlohmann::ordered_json());
    inputs.add_generation_prompt = chat.value("add_generation_prompt", false);
    inputs.bos_token = chat.value("bos_token", "");
    inputs.eos_token = chat.value("eos_token", "");
    inputs.extra_context = chat.value("extra_context", nlohmann::ordered_json::object());
    rendered = parsed->RenderChat(inputs);
  } else {
    rendered = parsed->Render(request.value("context", nlohmann::ordered_json::object()));
  }
  if (!rendered.ok()) {
    std::cerr << "RENDER ERROR: " << rendered.status().message() << "\n";
    return 1;
  }
  std::cout << *rendered;
  return 0;
}
