// libinfer — conversations: messages, tools and the options of one chat, for Model::RenderChat,
// Model::Generate and a Scheduler Request (include/infer/scheduler.h).
//
//   const infer::ChatMessage chat[] = {{"system", "Be brief."}, {"user", "Name three colours."}};
//   auto prompt = model->RenderChat(chat);                 // the model's own chat template
//   auto reply = model->Generate(chat, {}, params);        // renders, then generates
//
// The rendering is the server's: the same template variables (the tokenizer's BOS and EOS text,
// `tools`, `add_generation_prompt`), and for a template that renders no tools, the same system
// message describing them. Tool calls are written and read in the Hermes format
// (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`): with tools and a tool choice other
// than kNone, the output is constrained to that format and the calls are read back into
// Completion::tool_calls.
#ifndef INFER_CHAT_H_
#define INFER_CHAT_H_

#include <string>
#include <utility>
#include <vector>

namespace infer {

// One call the model made (OpenAI's `tool_calls[i]`).
struct ToolCall {
  std::string id;         // "call_" and 24 hex digits when the library made it
  std::string name;       // the function
  std::string arguments;  // a JSON object's text
};

// One turn of a conversation.
struct ChatMessage {
  ChatMessage() = default;
  ChatMessage(std::string role, std::string content)
      : role(std::move(role)), content(std::move(content)) {}

  std::string role;  // "system", "user", "assistant", "tool", ...
  std::string content;
  // An assistant turn's calls (its content may then be empty).
  std::vector<ToolCall> tool_calls;
  // A "tool" turn: the id of the call it answers, and the function's name (both optional).
  std::string tool_call_id;
  std::string name;
};

// A function the model may call (OpenAI's `tools[i].function`).
struct ChatTool {
  std::string name;         // 1 to 64 letters, digits, '_' or '-'; unique among the tools
  std::string description;  // optional
  std::string parameters;   // a JSON Schema object's text; "" for no arguments schema
};

enum class ToolChoice {
  kAuto,      // the model answers in text or calls tools
  kNone,      // the tools are shown to the template but the output is not constrained or read
  kRequired,  // at least one call
  kNamed,     // exactly one call of ChatOptions::tool_name
};

struct ChatOptions {
  // Append the header that opens the assistant's turn.
  bool add_generation_prompt = true;
  // Functions the model may call; empty: none.
  std::vector<ChatTool> tools;
  ToolChoice tool_choice = ToolChoice::kAuto;
  std::string tool_name;            // kNamed: the function
  bool parallel_tool_calls = true;  // several calls in one answer
  // More template variables, a JSON object's text (e.g. `{"enable_thinking": false}` for Qwen3);
  // "" for none. The variables above take precedence over keys of the same name.
  std::string template_variables;
};

}  // namespace infer

#endif  // INFER_CHAT_H_
