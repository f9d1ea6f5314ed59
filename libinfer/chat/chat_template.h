// Chat templates: the Jinja template a model ships (GGUF `tokenizer.chat_template`, or
// `chat_template` in tokenizer_config.json) that turns a conversation into the prompt text.
//
// ChatTemplate is a Jinja-subset engine whose output equals Python jinja2's as Hugging Face
// transformers configures it for apply_chat_template (trim_blocks, lstrip_blocks, an immutable
// sandbox, `loopcontrols`, a tojson that does not escape HTML, and the raise_exception and
// strftime_now globals). It covers what published chat templates use: `{{ }}`, `{% %}`, `{# #}`
// with whitespace control; if/elif/else; for with `loop.*`, unpacking, an inline `if` filter,
// `else`, break/continue; set (also `{% set %}...{% endset %}` and namespace attributes); macros;
// with; filter blocks; Python expressions, literals, slicing, string/list/dict methods; jinja2's
// filters and tests. Unsupported: template inheritance and includes (`extends`, `include`,
// `import`, `block`), `call` blocks, recursive loops, printf-style `%` formatting, autoescaping.
//
// Parse the template once when the model loads: a template that cannot be parsed (syntax
// error, unknown tag, filter or test) fails there, with its line and column. Rendering returns
// a Status for anything the template does at run time that fails (raise_exception, a type
// error, calling a method of an undefined value) and for templates that exceed the limits in
// ChatTemplateOptions; it never throws, aborts or recurses without bound.
//
// Thread-safety: a ChatTemplate is immutable after Parse; Render and RenderChat may be called
// from many threads at once. Copies share the parsed template.
#ifndef INFER_CHAT_CHAT_TEMPLATE_H_
#define INFER_CHAT_CHAT_TEMPLATE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "infer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace infer {

struct ChatTemplateOptions {
  // Whitespace handling, fixed at Parse. The defaults are Hugging Face's; jinja2's own defaults
  // are all false.
  // Drop the first newline after a block tag or comment.
  bool trim_blocks = true;
  // Strip spaces and tabs before a block tag or comment that starts a line.
  bool lstrip_blocks = true;
  // Keep one trailing newline at the end of the template (jinja2 drops it).
  bool keep_trailing_newline = false;

  // Render limits; exceeding one is ResourceExhausted.
  // Largest rendered prompt (and largest string value) in bytes.
  size_t max_output_bytes = 16 << 20;
  // Most loop iterations (and list elements built) in one render.
  int64_t max_iterations = 1 << 20;
  // Deepest macro call nesting.
  int max_call_depth = 32;

  // Allow list/dict mutation (`x.append(y)`, `d.update(...)`). Hugging Face's sandbox refuses
  // it (PermissionDenied), so templates that rely on it do not work there either.
  bool allow_mutation = false;
  // Clock for strftime_now() (formatted in local time); null means the system clock. Tests
  // inject a fixed time.
  std::function<std::chrono::system_clock::time_point()> clock;
};

// The variables Hugging Face's apply_chat_template passes to a template.
//
// JSON here is nlohmann::ordered_json because key order is visible in the prompt (`tool |
// tojson` prints keys in document order, as Python's dicts keep them). A plain nlohmann::json
// converts implicitly, but its keys are already sorted: parse requests with ordered_json.
struct ChatTemplateInputs {
  // The conversation: an array of {"role", "content", ...} objects, passed through as is
  // (content may be a string, null, or a list of parts; tool_calls etc. are kept).
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // Tool (function) JSON schemas; null renders as `tools = none`, as HF passes None.
  nlohmann::ordered_json tools = nullptr;
  // Retrieval documents; null renders as `documents = none`.
  nlohmann::ordered_json documents = nullptr;
  // Append the header that opens the assistant's turn.
  bool add_generation_prompt = false;
  // The tokenizer's special tokens, as text.
  std::string bos_token;
  std::string eos_token;
  // More template variables (e.g. "enable_thinking", "date_string", other special tokens). A
  // JSON object; the fields above take precedence over keys of the same name.
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
};

// The inputs every conversation of a model shares: its tokenizer's BOS and EOS text, and the
// generation prompt on.
ChatTemplateInputs BaseChatInputs(const Tokenizer& tokenizer);

class ChatTemplate {
 public:
  // Parses `source`. InvalidArgument "template syntax error at line L, column C: ..." when it
  // cannot be parsed, names an unknown filter/test/tag, or nests beyond the engine's limits.
  static absl::StatusOr<ChatTemplate> Parse(std::string_view source,
                                            ChatTemplateOptions options = {});

  // Renders with the top-level variables of `context` (a JSON object, keys in document order;
  // see ChatTemplateInputs). Errors:
  // InvalidArgument for a context that is not an object or a template failure (the message of
  // a raise_exception() call verbatim; otherwise "template error at line L, column C: ...");
  // PermissionDenied for refused mutation; ResourceExhausted beyond the limits.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context) const;

  // Renders a conversation with the variables apply_chat_template passes (see
  // ChatTemplateInputs). Errors as Render, plus InvalidArgument when `messages` is not an array.
  absl::StatusOr<std::string> RenderChat(const ChatTemplateInputs& inputs) const;

  // The template text as given to Parse.
  const std::string& source() const;

 private:
  struct Impl;
  explicit ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

  std::shared_ptr<const Impl> impl_;
};

}  // namespace infer

#endif  // INFER_CHAT_CHAT_TEMPLATE_H_
