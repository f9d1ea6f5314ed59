#include "libinfer/chat/chat_template.h"

#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/chat/conversation.h"
#include "libinfer/jinja/interpreter.h"
#include "libinfer/jinja/parser.h"
#include "libinfer/util/status_macros.h"

namespace infer {

struct ChatTemplate::Impl {
  std::string source;
  ChatTemplateOptions options;
  std::unique_ptr<jinja::Program> program;
};

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(std::string_view source,
                                                 ChatTemplateOptions options) {
  jinja::LexerOptions lexer_options;
  lexer_options.trim_blocks = options.trim_blocks;
  lexer_options.lstrip_blocks = options.lstrip_blocks;
  lexer_options.keep_trailing_newline = options.keep_trailing_newline;
  try {
    INFER_ASSIGN_OR_RETURN(std::unique_ptr<jinja::Program> program,
                           jinja::ParseTemplate(source, lexer_options));
    auto impl = std::make_shared<Impl>();
    impl->source = std::string(source);
    impl->options = std::move(options);
    impl->program = std::move(program);
    return ChatTemplate(std::move(impl));
  } catch (const std::exception& e) {  // allocation failure: never throw across the API
    return absl::ResourceExhaustedError(absl::StrCat("parsing the chat template: ", e.what()));
  }
}

const std::string& ChatTemplate::source() const { return impl_->source; }

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) {
    return absl::InvalidArgumentError("chat template context must be a JSON object");
  }
  try {
    INFER_ASSIGN_OR_RETURN(jinja::Value globals, jinja::FromJson(context));
    jinja::InterpreterOptions options;
    options.max_output_bytes = impl_->options.max_output_bytes;
    options.max_iterations = impl_->options.max_iterations;
    options.max_call_depth = impl_->options.max_call_depth;
    options.allow_mutation = impl_->options.allow_mutation;
    options.now = impl_->options.clock;
    jinja::Interpreter interpreter(options);
    absl::StatusOr<std::string> out = interpreter.Render(*impl_->program, globals);
    if (!out.ok()) {
      // Drop the engine's internal payload: callers see code and message only.
      return absl::Status(out.status().code(), out.status().message());
    }
    return out;
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("rendering the chat template: ", e.what()));
  }
}

absl::StatusOr<std::string> ChatTemplate::RenderChat(const ChatTemplateInputs& inputs) const {
  if (!inputs.messages.is_array()) {
    return absl::InvalidArgumentError("chat template: messages must be a JSON array");
  }
  if (!inputs.extra_context.is_object() && !inputs.extra_context.is_null()) {
    return absl::InvalidArgumentError("chat template: extra_context must be a JSON object");
  }
  try {
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    if (inputs.extra_context.is_object()) context = inputs.extra_context;
    context["messages"] = inputs.messages;
    context["tools"] = inputs.tools;
    context["documents"] = inputs.documents;
    context["add_generation_prompt"] = inputs.add_generation_prompt;
    context["bos_token"] = inputs.bos_token;
    context["eos_token"] = inputs.eos_token;
    return Render(context);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("chat template inputs: ", e.what()));
  }
}

ChatTemplateInputs BaseChatInputs(const Tokenizer& tok) {
  ChatTemplateInputs inputs;
  inputs.add_generation_prompt = true;
  if (tok.bos_id() >= 0) inputs.bos_token = std::string(tok.TokenText(tok.bos_id()));
  if (tok.eos_id() >= 0) inputs.eos_token = std::string(tok.TokenText(tok.eos_id()));
  return inputs;
}

// Here rather than in conversation.cc, so that the tool-call code links without the Jinja
// engine (the request parser's fuzzer uses it alone).
absl::StatusOr<std::string> chat::RenderConversation(const ChatTemplate& chat_template,
                                                     ChatTemplateInputs base,
                                                     const nlohmann::ordered_json& messages,
                                                     const ToolRequest& tools) {
  // A template that renders tools gets them; for one that does not, they are described in the
  // conversation itself.
  const bool knows_tools = chat_template.source().find("tools") != std::string::npos;
  base.messages = MessagesForTemplate(messages, tools, knows_tools);
  if (knows_tools && !tools.tools.is_null()) base.tools = tools.tools;
  return chat_template.RenderChat(base);
}

absl::StatusOr<std::string> chat::RenderMessages(const ChatTemplate& chat_template,
                                                 ChatTemplateInputs base,
                                                 std::span<const ChatMessage> messages,
                                                 const ChatOptions& options, ToolRequest* tools) {
  INFER_ASSIGN_OR_RETURN(const nlohmann::ordered_json json_messages, MessagesJson(messages));
  INFER_ASSIGN_OR_RETURN(ToolRequest request, ToolRequestOf(options));
  base.add_generation_prompt = options.add_generation_prompt;
  INFER_ASSIGN_OR_RETURN(base.extra_context, TemplateVariablesOf(options));
  absl::StatusOr<std::string> text =
      RenderConversation(chat_template, std::move(base), json_messages, request);
  if (tools != nullptr) *tools = std::move(request);
  return text;
}

}  // namespace infer
