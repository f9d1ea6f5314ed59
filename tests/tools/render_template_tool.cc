// infer_render_template: renders a chat template with libinfer's engine; used by the chat
// template reference test (tests/tokenizer/test_chat_template_reference.py).
//
//   infer_render_template < request.json
//
// The request is a JSON object: "template" (the template text), and either "context" (the
// variables, rendered with ChatTemplate::Render) or "chat" (ChatTemplateInputs fields:
// messages, tools, documents, add_generation_prompt, bos_token, eos_token, extra_context;
// rendered with RenderChat). Optional: "now" (seconds since the epoch for strftime_now),
// "trim_blocks", "lstrip_blocks", "keep_trailing_newline" (Hugging Face's settings by default).
// Prints the rendering to stdout and exits 0; on a parse or render error prints
// "PARSE ERROR: <message>" or "RENDER ERROR: <message>" to stderr and exits 1.
#include <chrono>
#include <iostream>
#include <iterator>
#include <string>

#include "libinfer/chat/chat_template.h"
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
  if (request.contains("chat")) {
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
