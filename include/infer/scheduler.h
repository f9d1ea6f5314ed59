// libinfer — Scheduler: many concurrent requests on one Model (continuous batching over a paged
// KV cache, chunked prefill, automatic prefix caching, preemption by recomputation).
//
//   auto scheduler = infer::Scheduler::Create(*model, {});   // absl::StatusOr<unique_ptr<...>>
//   infer::Request request;
//   request.prompt = model->tokenizer().Encode("Hello").value();
//   request.sampling.max_tokens = 64;
//   auto handle = (*scheduler)->Submit(std::move(request));  // returns at once
//   while (auto event = handle->Next()) std::fputs(event->text.c_str(), stdout);
//   const infer::RequestResult& result = handle->Wait();     // finish reason, usage
//
// One thread of the Scheduler's own runs the steps: each step admits waiting requests while KV
// blocks and the step's token budget allow, splits long prompts into chunks mixed with the
// running sequences' decode tokens, runs one batched forward pass over all of them, samples
// each request's next token and streams it. When KV blocks run out, the newest running
// sequences are preempted (their blocks freed; they are recomputed later, keeping their output).
// Full blocks of tokens are hashed with their prefix and shared between requests; freed blocks
// stay cached until their space is needed.
//
// Thread-safety: Submit, Cancel, stats and Shutdown may be called from any thread at once.
#ifndef INFER_SCHEDULER_H_
#define INFER_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "infer/model.h"
#include "infer/sampling.h"

namespace infer {

// The KV cache's element type. kFloat16 halves the cache's bytes (twice the positions in the same
// memory) and what attention reads per step, rounding each K and V value to F16 (llama.cpp's
// default cache type; values beyond F16's range, 65504, would become infinite).
enum class KvCacheDType { kFloat32, kFloat16 };

// The type a name gives: "auto" or "float32" (kFloat32), "float16" (kFloat16), as the CLI's
// --kv-cache-dtype and the Python binding take them. InvalidArgument naming the accepted ones.
absl::StatusOr<KvCacheDType> ParseKvCacheDType(std::string_view name);

struct SchedulerOptions {
  // KV cache memory in bytes. 0: room for max_num_seqs sequences of the full context, at most
  // kv_cache_memory_fraction of the host memory free when the Scheduler is created (the
  // process's cgroup limit counts, not the node's RAM), and never less than one full-context
  // sequence: Create fails with ResourceExhausted naming the numbers when even that is not free.
  // The number of blocks follows from it and the model's shape (logged at start, and in
  // stats()).
  uint64_t kv_cache_bytes = 0;
  double kv_cache_memory_fraction = 0.25;
  // On a GPU (ModelOptions::device) the default cache instead takes what is left of this share
  // of the device's whole memory once the weights, the activations of the largest step and
  // whatever else holds device memory are counted (vLLM's gpu_memory_utilization), and
  // kv_cache_memory_fraction does not apply. In (0, 1].
  double gpu_memory_utilization = 0.9;
  // Prefix of /proc and /sys/fs/cgroup where free memory is measured ("/"; tests give a fake).
  std::string system_root = "/";
  // The cache's element type (a cluster's ranks hold kFloat32 only).
  KvCacheDType kv_cache_dtype = KvCacheDType::kFloat32;
  // Positions per KV block.
  int32_t block_size = 16;
  // Sequences running in one step at most (vLLM's max_num_seqs).
  int32_t max_num_seqs = 64;
  // Tokens (prefill chunks + decode tokens) in one step at most (vLLM's max_num_batched_tokens).
  int32_t max_num_batched_tokens = 512;
  // Serve at most this context length (prompt + generated tokens); 0: the model's
  // (ModelInfo::context_length). Lower than the model's, the default KV cache is sized for it.
  int64_t max_context = 0;
  // Split prompts longer than the step's remaining budget into chunks. Off: a prompt is admitted
  // only whole, and prompts longer than max_num_batched_tokens are rejected.
  bool enable_chunked_prefill = true;
  // Share full blocks of identical prefixes between requests.
  bool enable_prefix_caching = true;
  // Requests waiting to start at most (besides max_num_seqs running); Submit answers
  // ResourceExhausted beyond it (the server: 503 with Retry-After). A bounded queue keeps an
  // overloaded server answering "come back later" at once rather than after minutes.
  int32_t max_waiting = 256;
  // How long a request may wait before its first step; past it the request finishes with
  // FinishReason::kError and an Unavailable status naming the wait (the server: 503 with
  // Retry-After). A preempted request that already started is not cut. Zero: no limit.
  std::chrono::milliseconds queue_timeout{std::chrono::seconds(60)};

  bool operator==(const SchedulerOptions&) const = default;
};

// One streamed token.
struct StreamEvent {
  SampledToken token;
  // Text that became final with this token: whole UTF-8 characters, with any text that might be
  // the start of a stop string held back until it is known not to be; may be empty.
  std::string text;
};

struct Request {
  // The prompt as token ids (at least one; each < vocab_size), or empty when `messages` is given.
  std::vector<TokenId> prompt;
  // Or a conversation, rendered at Submit with the model's chat template as Model::RenderChat
  // does, with `chat`'s options. With active tools (chat.tools, tool_choice other than kNone)
  // the output is constrained to the calls' format (sampling.grammar must then be unset), the
  // events stream the raw text and the result splits it into content and tool_calls.
  std::vector<ChatMessage> messages;
  ChatOptions chat;
  // Every sampling option, max_tokens, stop_token_ids and seed included.
  SamplingParams sampling;
  // Stop strings: generation ends where the generated text first contains one; the text is cut
  // before it. Matched across token boundaries.
  std::vector<std::string> stop;
  // Lower runs first (as vLLM's priority); equal priorities run in arrival order.
  int32_t priority = 0;
  // When set and passed, the request finishes with kCancelled and a DeadlineExceeded status.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Caller's id and user, for logs, metrics and fairness; the id need not be unique.
  std::string id;
  std::string user;
  // Optional push delivery, called on the Scheduler's thread (keep it short; never call the
  // Scheduler's blocking methods from it). When on_event is set, events are not queued for
  // RequestHandle::Next().
  std::function<void(const StreamEvent&)> on_event;
  std::function<void(const struct RequestResult&)> on_finish;
};

struct RequestUsage {
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens whose K/V came from the prefix cache
  int64_t completion_tokens = 0;
  double time_to_first_token = 0;   // seconds from Submit to the first token
  std::vector<double> token_times;  // seconds from Submit to each generated token
  int32_t preemptions = 0;          // times the request was preempted and recomputed
};

struct RequestResult {
  FinishReason finish_reason = FinishReason::kLength;
  absl::Status status;  // OK unless finish_reason is kError, or a deadline passed
  std::string text;     // generated text, stop string cut (a chat's content before its calls)
  std::vector<ToolCall> tool_calls;  // a chat with active tools: the calls read from the output
  std::vector<SampledToken> tokens;
  RequestUsage usage;
};

// A submitted request. Copyable; all copies refer to the same request.
class RequestHandle {
 public:
  // The next streamed event; blocks until there is one. nullopt once the request has finished
  // and every event was taken (or when events go to Request::on_event).
  std::optional<StreamEvent> Next();
  // Like Next, but gives up after `timeout`: then `*timed_out` is set and nullopt returned.
  std::optional<StreamEvent> NextFor(std::chrono::milliseconds timeout, bool* timed_out);
  // Asks the Scheduler to stop the request; it finishes with kCancelled within one step and
  // its KV blocks are freed. No effect once finished.
  void Cancel();
  // Blocks until the request has finished; the result stays valid while a handle exists.
  const RequestResult& Wait();
  bool finished() const;
  const std::string& id() const;

  struct State;
  explicit RequestHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

// Bucketed counts of a duration, Prometheus-style (cumulative only when exported).
struct Histogram {
  std::vector<double> bounds;    // upper bounds in seconds, increasing
  std::vector<uint64_t> counts;  // counts[i]: observations <= bounds[i] and > bounds[i-1];
                                 // counts.back(): above every bound
  double sum = 0;
  uint64_t count = 0;
};

struct SchedulerStats {
  int64_t waiting = 0;
  int64_t running = 0;
  // How long the request that has waited longest has been waiting, in seconds (0: none waits).
  double oldest_waiting_seconds = 0;
  int64_t queue_timeouts_total = 0;  // requests that waited past queue_timeout
  int64_t preempted_total = 0;       // preemptions since start
  int64_t kv_blocks_used = 0;        // held by running sequences
  int64_t kv_blocks_total = 0;
  int64_t kv_block_size = 0;
  uint64_t kv_cache_bytes = 0;
  int64_t prefix_cache_queried_tokens = 0;  // prompt tokens looked up in the prefix cache
  int64_t prefix_cache_hit_tokens = 0;      // of those, found
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  // By FinishReason: stop, length, abort, error.
  int64_t requests_finished[kFinishReasonCount] = {};
  Histogram time_to_first_token;
  Histogram time_per_output_token;
  // Where the step thread's time goes, cumulative seconds since start: choosing each step's work
  // (the policy, prefix lookups, block tables), the forward passes, and sampling and delivering
  // the tokens (stop strings, events, finishing). `steps_total` counts the steps that ran a batch.
  double step_plan_seconds = 0;
  double step_forward_seconds = 0;
  double step_sample_seconds = 0;
  int64_t steps_total = 0;
};

class Scheduler {
 public:
  // Reserves the KV cache and starts the step thread. InvalidArgument for bad options (naming
  // the field); ResourceExhausted when the budget holds no whole block or cannot be reserved.
  // The Model must outlive the Scheduler.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(Model& model,
                                                           const SchedulerOptions& options);
  // Cancels what is still running (Shutdown(kCancel)) and joins the thread.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request and returns at once. InvalidArgument (naming the field) for a bad request:
  // empty prompt, ids outside the vocabulary, bad sampling options, prompt + max_tokens beyond
  // the context length or beyond the whole KV cache; ResourceExhausted when the waiting queue
  // is full; Unavailable after Shutdown.
  absl::StatusOr<RequestHandle> Submit(Request request);

  enum class ShutdownMode {
    kDrain,   // finish running and waiting requests (until the deadline, then cancel the rest)
    kCancel,  // cancel everything now
  };
  // Stops accepting requests, then drains or cancels; returns when the step thread has ended.
  // Safe to call more than once.
  void Shutdown(ShutdownMode mode, std::chrono::milliseconds deadline = std::chrono::seconds(30));

  SchedulerStats stats() const;

  // The context length this Scheduler serves: the model's (ModelInfo::context_length), or less
  // when the KV cache cannot hold one sequence of it (Create then logs a warning): a request
  // needs prompt + max_tokens <= context_length().
  int64_t context_length() const;

 private:
  class Impl;  // the implementation's (not part of the API)
  explicit Scheduler(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infer

#endif  // INFER_SCHEDULER_H_
