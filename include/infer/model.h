// libinfer — Model: weights, tokenizer and the forward pass of one LLM.
//
//   infer::ModelOptions options;
//   options.path = "SmolLM2-135M-Instruct.Q4_1.gguf";
//   auto model = infer::Model::Load(options);            // absl::StatusOr<std::unique_ptr<Model>>
//   if (!model.ok()) { /* model.status().message() names the file and the problem */ }
//   infer::SamplingParams params;
//   params.temperature = 0;
//   auto done = (*model)->Generate("Hello", params, [](const infer::TokenEvent& e) {
//     std::fputs(e.text.c_str(), stdout);
//     return true;                                        // false cancels the generation
//   });
//
// Two Models in one process are independent: no global state. A Model's const methods are
// thread-safe; Generate() may be called from several threads at once (each call has its own KV
// cache) but they share the Model's worker threads, so concurrent calls run one at a time.
#ifndef INFER_MODEL_H_
#define INFER_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/chat.h"
#include "infer/sampling.h"
#include "infer/tokenizer.h"

namespace infer {

class Cluster;

struct ModelOptions {
  // A GGUF file, or a Hugging Face folder (config.json, *.safetensors, tokenizer files).
  std::string path;
  // Worker threads for the forward pass; 0: one per physical core the process may use.
  int num_threads = 0;
  // Where the forward pass runs: "cpu", "cuda" (GPU 0) or "cuda:N". A GPU holds the weights
  // (F32/F16/BF16/Q8_0/Q4_0/Q4_1 matrices; other types are refused naming the tensor's type),
  // the activations and the KV cache. Load fails, saying why, when the device is not there; it
  // never falls back to another device silently. Not with `cluster` (its ranks run on CPUs).
  std::string device = "cpu";
  // Context length to serve; 0: the model's own. Larger than the model's is an error.
  int64_t max_context = 0;
  // The cluster this process is a rank of (include/infer/cluster.h), or null for one process.
  // On the leader, Load waits for every rank, has each load its own slice of `path` (the same
  // path on every host, e.g. a shared volume) and returns a Model whose forward pass runs on all
  // of them. Not owned; must outlive the Model.
  Cluster* cluster = nullptr;
  // Called with (bytes done, bytes total) while weights are read in; may be empty.
  std::function<void(uint64_t done, uint64_t total)> on_progress;
};

// What the model is, as read from its file.
struct ModelInfo {
  std::string path;
  std::string format;        // "gguf" or "safetensors"
  std::string architecture;  // the file's architecture: "llama", "qwen3", "gemma3", "phi3", ...
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t context_length = 0;  // what this Model serves (ModelOptions::max_context or native)
  int64_t native_context_length = 0;
  float rope_theta = 0;
  bool tied_embeddings = false;
  // The file's type as llama.cpp names its mixes ("Q4_K_M"): GGUF's general.file_type, else the
  // type of most weight matrices ("BF16" for a safetensors checkpoint).
  std::string file_type;
  std::string weight_types;  // e.g. "Q4_1 x210, F32 x61, Q8_0 x1"
  uint64_t parameter_count = 0;
  uint64_t weight_bytes = 0;            // bytes of all weight tensors as stored
  uint64_t weight_bytes_per_token = 0;  // weight bytes one decode step reads (roofline figures)
  // K + V cache bytes one position takes in an F32 cache (SchedulerOptions::kv_cache_dtype's
  // default); a KvCacheDType::kFloat16 cache takes half.
  uint64_t kv_bytes_per_token = 0;
  std::string cpu_kernels;  // the kernel level: "amx", "avx512", "avx2" or "portable"
  std::string cpu_model;    // the processor's name as CPUID gives it, or "unknown"
  int num_threads = 0;
  std::string device;  // where the forward pass runs: "cpu (N threads)", "cuda:0 (NVIDIA H100 ...)"
};

// One token as Generate() produces it.
struct TokenEvent {
  SampledToken token;
  std::string text;  // decoded text that became complete with this token (whole UTF-8 chars)
};

// Return false to stop the generation early (finish reason kCancelled).
using TokenCallback = std::function<bool(const TokenEvent&)>;

enum class FinishReason {
  kStop,       // an end-of-generation or stop token
  kLength,     // max_tokens or the context length was reached
  kCancelled,  // the callback returned false, or the request was cancelled or timed out
  kError,      // the engine failed (the result's status says how)
};

// How many FinishReason values there are (arrays indexed by reason have this size).
inline constexpr int kFinishReasonCount = 4;

// The one name of each reason, used by the HTTP API, the CLI's JSON and the metrics labels:
// "stop" and "length" as OpenAI's API names them; "abort" for kCancelled, as vLLM's
// OpenAI-compatible server names a request ended before its end (OpenAI has no such value);
// "error" for kError (an HTTP client gets an error object, not this name).
const char* FinishReasonName(FinishReason reason);

// The result of one Generate() call.
struct Completion {
  // All generated text (special tokens omitted); for a chat whose tools were active, the content
  // before the calls (the calls are in tool_calls).
  std::string text;
  // A chat with active tools (ChatOptions::tools, tool_choice other than kNone): the calls read
  // from the output, in order; empty when the model answered in text.
  std::vector<ToolCall> tool_calls;
  std::vector<TokenId> prompt_token_ids;
  std::vector<SampledToken> tokens;  // the generated tokens, with logprobs when asked
  FinishReason finish_reason = FinishReason::kLength;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double prefill_seconds = 0;  // time to the first generated token's logits
  double decode_seconds = 0;   // time for the remaining tokens
};

class Model {
 public:
  // Loads a GGUF file or an HF folder. Errors name the file and what is wrong; a bad file never
  // crashes the process.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const ModelOptions& options);

  virtual ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  const Tokenizer& tokenizer() const;
  // The model's Jinja chat template (GGUF `tokenizer.chat_template`, HF tokenizer_config.json);
  // "" when it has none.
  const std::string& chat_template() const;

  // Generates from `prompt` text (tokenized with the model's rules: BOS when the model asks for
  // it, special-token text such as "<|im_start|>" recognised). Blocks until done. `on_token`
  // (optional) sees every generated token in order, on the calling thread.
  // InvalidArgument for bad parameters (naming the field) or a prompt longer than the context.
  absl::StatusOr<Completion> Generate(std::string_view prompt, const SamplingParams& params,
                                      const TokenCallback& on_token = {});

  // The same for a conversation, rendered with the model's chat template as RenderChat does (the
  // prompt's BOS is the template's). With active tools (options.tools, tool_choice other than
  // kNone) the output is constrained to text or Hermes-format calls (kAuto), or calls only
  // (kRequired, kNamed), and the calls are read into Completion::tool_calls; then
  // params.grammar must be unset. Errors: RenderChat's, InvalidArgument naming a bad tool or
  // option, and Generate's.
  absl::StatusOr<Completion> Generate(std::span<const ChatMessage> messages,
                                      const ChatOptions& options, const SamplingParams& params,
                                      const TokenCallback& on_token = {});

  // The same for a prompt given as token ids.
  absl::StatusOr<Completion> GenerateFromTokens(std::vector<TokenId> prompt_ids,
                                                const SamplingParams& params,
                                                const TokenCallback& on_token = {});

  // Teacher-forced logits: runs `ids` through the model from an empty cache and returns the
  // logits at every position, row-major [ids.size(), vocab_size]. For tests and scoring.
  absl::StatusOr<std::vector<float>> ComputeLogits(std::span<const TokenId> ids);

  // Renders `messages` with the model's chat template (the variables Hugging Face's
  // apply_chat_template passes: the tokenizer's BOS and EOS text, `tools`, the assistant's header
  // when options.add_generation_prompt, and options.template_variables): the prompt the server
  // runs for the same messages and tools (include/infer/chat.h). FailedPrecondition when the
  // model has no chat template or it does not parse; InvalidArgument for a bad message, tool or
  // option (naming it, e.g. "tools[1].parameters") or when the template rejects the
  // conversation (its raise_exception message, or the line and column of the failure).
  absl::StatusOr<std::string> RenderChat(std::span<const ChatMessage> messages,
                                         const ChatOptions& options = {}) const;

 protected:
  // Models come from Load only: the library's own subclass holds what a model is made of.
  Model() = default;
};

// Validates sampling parameters; InvalidArgument naming the field and the allowed range.
absl::Status ValidateSamplingParams(const SamplingParams& params, int64_t vocab_size);

}  // namespace infer

#endif  // INFER_MODEL_H_
