// Scheduler: the continuous-batching step loop (see include/infer/scheduler.h).
//
// One thread owns every sequence, the block manager and the KV cache; other threads only touch
// the inbox (new requests, shutdown) and each request's handle state (events, cancel flag), each
// under its own mutex. A step: take new requests and cancellations, ask the policy
// (scheduling_policy.h) what to run, apply its preemptions and admissions, allocate blocks, run
// one forward pass over the whole batch, then sample, stream and finish per request.
#include "infer/scheduler.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/chat/conversation.h"
#include "libinfer/engine/block_manager.h"
#include "libinfer/engine/histogram.h"
#include "libinfer/engine/kv_budget.h"
#include "libinfer/engine/request_handle.h"
#include "libinfer/engine/sampler.h"
#include "libinfer/engine/scheduling_policy.h"
#include "libinfer/engine/stop_matcher.h"
#include "libinfer/grammar/grammar_impl.h"
#include "libinfer/model/batch.h"
#include "libinfer/model/kv_cache.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/util/host_memory.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/thread_guard.h"

namespace infer {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

// A request as Submit hands it to the step thread.
struct SequenceSeed {
  Request request;
  std::unique_ptr<grammar::GrammarMatcher> grammar;  // of request.sampling.grammar
  bool reads_calls = false;                          // messages with active tools
  std::shared_ptr<RequestHandle::State> state;
  Clock::time_point submitted;
  uint64_t arrival = 0;
};

// ---- The step thread's sequences -------------------------------------------------------------

namespace {

struct Sequence {
  Sequence(SequenceSeed seed, const Tokenizer& tokenizer, int64_t vocab)
      : request(std::move(seed.request)),
        state(std::move(seed.state)),
        submitted(seed.submitted),
        arrival(seed.arrival),
        reads_calls(seed.reads_calls),
        prompt_len(static_cast<int64_t>(request.prompt.size())),
        tokens(request.prompt),
        sampler(request.sampling, vocab, request.prompt, std::move(seed.grammar)),
        decoder(tokenizer),
        stops(request.stop) {}

  // Queue order: priority, then arrival.
  bool Before(const Sequence& o) const {
    return request.priority != o.request.priority ? request.priority < o.request.priority
                                                  : arrival < o.arrival;
  }

  Request request;
  std::shared_ptr<RequestHandle::State> state;
  Clock::time_point submitted;
  uint64_t arrival;
  bool reads_calls;  // the result's text is split into content and tool calls
  int64_t prompt_len;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t num_computed = 0;     // positions in the cache
  std::vector<int32_t> blocks;  // block table
  std::vector<uint64_t> names;  // prefix names of the published full blocks
  bool admitted_once = false;
  Sampler sampler;
  StreamDecoder decoder;
  StopMatcher stops;
  std::string text;
  size_t emitted = 0;
  RequestResult result;
  Clock::time_point last_token_time;
};

using SeqPtr = std::unique_ptr<Sequence>;

void InsertOrdered(std::vector<SeqPtr>& list, SeqPtr s) {
  auto at = std::upper_bound(list.begin(), list.end(), s,
                             [](const SeqPtr& a, const SeqPtr& b) { return a->Before(*b); });
  list.insert(at, std::move(s));
}

}  // namespace

class Scheduler::Impl {
 public:
  explicit Impl(const SchedulerOptions& options) : options_(options) {}
  int64_t context_length() const { return context_length_; }

  absl::Status Init(ModelImpl& mi);
  absl::StatusOr<RequestHandle> Submit(Request request);
  void Shutdown(ShutdownMode mode, std::chrono::milliseconds deadline);
  SchedulerStats stats() const;

 private:
  void Loop();
  // Takes new requests; returns false when the loop should end.
  bool TakeInbox();
  void ReapCancelled();
  // One step: plan it (the policy's view of the queues), apply the plan (preempt, admit),
  // build the batch (blocks for its positions), run it and advance each sequence.
  void Step();
  using Scheduled = std::vector<std::pair<Sequence*, int64_t>>;  // sequences, their tokens
  StepPlan PlanThisStep(std::vector<PolicyWaiting>* wait_view);
  Scheduled ApplyPlan(const StepPlan& plan, const std::vector<PolicyWaiting>& wait_view);
  Scheduled BuildBatch(const Scheduled& scheduled);
  void RunBatch(const Scheduled& runnable);
  void FailStep(const absl::Status& status);
  void Preempt(Sequence& s);
  void ReleaseBlocks(Sequence& s);
  void PublishFullBlocks(Sequence& s);
  // Samples the next token of `s` from `logits`; returns true when `s` has finished.
  bool Advance(Sequence& s, std::span<float> logits);
  void Deliver(Sequence& s, StreamEvent event);
  void Finish(Sequence& s, FinishReason reason, absl::Status status);
  void RemoveFinished();
  void UpdateGauges();

  SchedulerOptions options_;
  ModelImpl* mi_ = nullptr;
  int64_t context_length_ = 0;
  int64_t vocab_size_ = 0;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<BlockManager> blocks_;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  uint64_t next_arrival_ = 0;  // under inbox_->mu
  int64_t queued_ = 0;         // requests in the inbox or waiting, under inbox_->mu
  std::thread thread_;
  std::mutex shutdown_mu_;

  // Step thread only.
  std::vector<SeqPtr> running_;  // queue order (oldest first)
  std::vector<SeqPtr> waiting_;  // queue order
  std::vector<Sequence*> finished_;
  ForwardBatch batch_;
  std::vector<float> logits_;

  mutable std::mutex stats_mu_;
  SchedulerStats stats_;
};

namespace {

// The KV cache's bytes when the options give none: on a GPU, what is left of
// gpu_memory_utilization x its memory once everything it holds now is counted (the runner has
// reserved its weights and activations); on the host, kv_cache_memory_fraction of the free memory
// (cgroup-aware). Both through DefaultKvCacheBytes's rule.
absl::StatusOr<uint64_t> DefaultKvBudget(const ModelImpl& mi, const SchedulerOptions& o,
                                         int64_t context_length, uint64_t per_block) {
  KvBudgetInputs in;
  in.one_sequence_bytes =
      static_cast<uint64_t>(BlocksFor(context_length, o.block_size)) * per_block;
  in.max_num_seqs = o.max_num_seqs;
  in.context_length = context_length;
  if (const std::optional<DeviceMemory> device = mi.runner->device_memory(); device.has_value()) {
    const uint64_t used = device->total_bytes - std::min(device->free_bytes, device->total_bytes);
    const auto share =
        static_cast<uint64_t>(o.gpu_memory_utilization * static_cast<double>(device->total_bytes));
    const uint64_t left = share > used ? share - used : 0;
    in.free_bytes = left;
    in.free_fraction = 1.0;
    in.available_bytes = std::min(device->free_bytes, left);
    in.device = absl::StrCat(mi.info.device, " (", o.gpu_memory_utilization,
                             " of its memory, less what it holds)");
    return DefaultKvCacheBytes(in);
  }
  const HostMemory host = ProbeHostMemory(o.system_root);
  in.free_bytes = host.free_bytes;  // 0 where unknown: one sequence, as before
  in.free_fraction = o.kv_cache_memory_fraction;
  in.available_bytes = host.known ? host.free_bytes : UINT64_MAX;
  in.device = absl::StrCat("host memory (", host.source, ")");
  return DefaultKvCacheBytes(in);
}

}  // namespace

absl::Status Scheduler::Impl::Init(ModelImpl& mi) {
  mi_ = &mi;
  context_length_ = mi.info.context_length;
  vocab_size_ = mi.info.vocab_size;
  const SchedulerOptions& o = options_;
  if (o.max_context < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_context: must be >= 0 (0: the model's), got ", o.max_context));
  }
  if (o.max_context > 0) context_length_ = std::min(context_length_, o.max_context);
  if (o.block_size < 1 || o.block_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_size: must be in [1, 1024], got ", o.block_size));
  }
  if (o.max_num_seqs < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_num_seqs: must be >= 1, got ", o.max_num_seqs));
  }
  if (o.max_num_batched_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_num_batched_tokens: must be >= 1, got ", o.max_num_batched_tokens));
  }
  if (o.max_waiting < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_waiting: must be >= 1, got ", o.max_waiting));
  }
  if (o.queue_timeout.count() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("queue_timeout: must be >= 0, got ", o.queue_timeout.count(), " ms"));
  }
  if (!(o.gpu_memory_utilization > 0 && o.gpu_memory_utilization <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu_memory_utilization: must be in (0, 1], got ", o.gpu_memory_utilization));
  }
  if (!(o.kv_cache_memory_fraction > 0 && o.kv_cache_memory_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv_cache_memory_fraction: must be in (0, 1], got ", o.kv_cache_memory_fraction));
  }
  const DType kv_dtype = o.kv_cache_dtype == KvCacheDType::kFloat16 ? DType::kF16 : DType::kF32;
  const uint64_t per_block =
      std::max<uint64_t>(1, mi.runner->KvBytesPerBlock(o.block_size, kv_dtype));
  uint64_t budget = o.kv_cache_bytes;
  if (budget == 0) {
    INFER_ASSIGN_OR_RETURN(budget, DefaultKvBudget(mi, o, context_length_, per_block));
  }
  int64_t num_blocks = static_cast<int64_t>(budget / per_block);
  // More than every sequence at full context could use is never needed.
  const int64_t most =
      static_cast<int64_t>(o.max_num_seqs) * BlocksFor(context_length_, o.block_size);
  num_blocks = std::min(num_blocks, most);
  if (num_blocks < 1) {
    return absl::ResourceExhaustedError(absl::StrCat("KV cache: a budget of ", budget,
                                                     " bytes holds no block of ", o.block_size,
                                                     " positions (", per_block, " bytes)"));
  }
  // Every request must fit in the whole cache. A cache smaller than one full-context sequence
  // would refuse each request that asks for the rest of the context (as a chat without
  // max_tokens does): serve the context the cache holds instead, and say so (vLLM lowers
  // max_model_len the same way).
  if (num_blocks * o.block_size < context_length_) {
    INFER_LOG(kWarning,
              "KV cache: %d blocks of %d positions hold %d positions, fewer than the context "
              "length of %d: serving a context of %d (raise the KV cache budget, or lower "
              "the served context length, to silence this)",
              static_cast<int>(num_blocks), static_cast<int>(o.block_size),
              static_cast<int>(num_blocks * o.block_size), static_cast<int>(context_length_),
              static_cast<int>(num_blocks * o.block_size));
    context_length_ = num_blocks * o.block_size;
  }
  {
    std::lock_guard<std::mutex> lock(mi.forward_mu);
    auto cache = mi.runner->CreateKvCache(o.block_size, num_blocks, kv_dtype);
    if (!cache.ok()) return cache.status();
    cache_ = std::move(*cache);
  }
  blocks_ = std::make_unique<BlockManager>(num_blocks, o.block_size, o.enable_prefix_caching);
  stats_.kv_blocks_total = num_blocks;
  stats_.kv_block_size = o.block_size;
  stats_.kv_cache_bytes = cache_->bytes();
  stats_.time_to_first_token =
      MakeHistogram({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
                     5.0, 7.5, 10.0, 20.0, 40.0, 80.0});
  stats_.time_per_output_token = MakeHistogram(
      {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0});
  INFER_LOG(kInfo, "KV cache: %d blocks of %d positions (%d tokens, %.1f MiB)", num_blocks,
            o.block_size, num_blocks * o.block_size,
            static_cast<double>(cache_->bytes()) / (1 << 20));
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

absl::StatusOr<RequestHandle> Scheduler::Impl::Submit(Request request) {
  bool reads_calls = false;
  if (!request.messages.empty()) {
    if (!request.prompt.empty()) {
      return absl::InvalidArgumentError("prompt and messages: give one of them");
    }
    INFER_ASSIGN_OR_RETURN(ChatPrompt chat, PrepareChat(*mi_, request.messages, request.chat,
                                                        request.sampling.grammar != nullptr));
    request.prompt = std::move(chat.ids);
    if (chat.calls_grammar != nullptr) request.sampling.grammar = std::move(chat.calls_grammar);
    reads_calls = chat.reads_calls;
  }
  const int64_t n = static_cast<int64_t>(request.prompt.size());
  if (n == 0) return absl::InvalidArgumentError("prompt: no tokens");
  for (int64_t i = 0; i < n; ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= vocab_size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt: token id ", request.prompt[i], " at index ", i,
                       " is outside the vocabulary [0, ", vocab_size_, ")"));
    }
  }
  if (absl::Status s = ValidateSamplingParams(request.sampling, vocab_size_); !s.ok()) return s;
  const int64_t max_tokens = request.sampling.max_tokens;
  if (n + max_tokens > context_length_) {
    return absl::InvalidArgumentError(absl::StrCat("prompt (", n, " tokens) + max_tokens (",
                                                   max_tokens, ") exceed the context length of ",
                                                   context_length_, " tokens"));
  }
  if (BlocksFor(n + max_tokens, options_.block_size) > blocks_->num_blocks()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt (", n, " tokens) + max_tokens (", max_tokens, ") need ",
                     BlocksFor(n + max_tokens, options_.block_size), " KV blocks; the cache has ",
                     blocks_->num_blocks()));
  }
  if (!options_.enable_chunked_prefill && n > options_.max_num_batched_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt: ", n, " tokens exceed max_num_batched_tokens (",
                     options_.max_num_batched_tokens, ") and chunked prefill is off"));
  }
  for (const std::string& stop : request.stop) {
    if (stop.size() > 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop: a stop string of ", stop.size(), " bytes (at most 1024)"));
    }
  }
  auto state = std::make_shared<RequestHandle::State>();
  state->id = request.id;
  state->inbox = inbox_;
  auto seed = std::make_shared<SequenceSeed>();
  seed->state = state;
  seed->reads_calls = reads_calls;
  if (request.sampling.grammar != nullptr) {
    // On the caller's thread: the vocabulary trie on first use, and the first mask of a new
    // grammar, are computed here rather than in the step.
    seed->grammar = MakeMatcher(*request.sampling.grammar, mi_->token_trie());
    seed->grammar->Prime();
  }
  seed->submitted = Clock::now();
  if (max_tokens == 0) {
    // Nothing to generate: finished at once, as the OpenAI API answers.
    state->result.finish_reason = FinishReason::kLength;
    state->result.usage.prompt_tokens = n;
    state->finished = true;
    if (request.on_finish) request.on_finish(state->result);
    return RequestHandle(state);
  }
  seed->request = std::move(request);
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    if (!inbox_->accepting) return absl::UnavailableError("the scheduler is shutting down");
    // Accepted and unfinished requests: up to max_num_seqs running plus max_waiting waiting.
    if (queued_ >= static_cast<int64_t>(options_.max_waiting) + options_.max_num_seqs) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the server is overloaded: the waiting queue is full (",
                       options_.max_waiting, " requests); retry later"));
    }
    ++queued_;
    seed->arrival = next_arrival_++;
    inbox_->incoming.push_back(std::move(seed));
    inbox_->cv.notify_all();
  }
  return RequestHandle(state);
}

void Scheduler::Impl::Shutdown(ShutdownMode mode, std::chrono::milliseconds deadline) {
  std::lock_guard<std::mutex> serial(shutdown_mu_);
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->accepting = false;
    if (mode == ShutdownMode::kCancel) {
      inbox_->cancel_all = true;
    } else if (!inbox_->drain) {
      inbox_->drain = true;
      inbox_->drain_deadline = Clock::now() + deadline;
    }
    inbox_->cv.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

SchedulerStats Scheduler::Impl::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

bool Scheduler::Impl::TakeInbox() {
  std::deque<std::shared_ptr<SequenceSeed>> incoming;
  bool cancel_all;
  {
    std::unique_lock<std::mutex> lock(inbox_->mu);
    // With a drain deadline, wake up for it even when idle.
    auto idle = [&] {
      return inbox_->incoming.empty() && !inbox_->cancel_all && !inbox_->poke && running_.empty() &&
             waiting_.empty() && !inbox_->drain;
    };
    inbox_->cv.wait(lock, [&] { return !idle(); });
    inbox_->poke = false;
    incoming.swap(inbox_->incoming);
    cancel_all = inbox_->cancel_all || (inbox_->drain && Clock::now() >= inbox_->drain_deadline);
  }
  for (auto& seed : incoming) {
    InsertOrdered(waiting_,
                  std::make_unique<Sequence>(std::move(*seed), *mi_->tokenizer, vocab_size_));
  }
  if (cancel_all) {
    for (auto* list : {&running_, &waiting_}) {
      for (SeqPtr& s : *list) {
        Finish(*s, FinishReason::kCancelled, absl::CancelledError("the scheduler shut down"));
      }
    }
    RemoveFinished();
  }
  std::lock_guard<std::mutex> lock(inbox_->mu);
  const bool stopping = inbox_->cancel_all || inbox_->drain;
  return !(stopping && running_.empty() && waiting_.empty() && inbox_->incoming.empty());
}

void Scheduler::Impl::ReapCancelled() {
  const Clock::time_point now = Clock::now();
  for (auto* list : {&running_, &waiting_}) {
    for (SeqPtr& s : *list) {
      if (s->state->cancel.load()) {
        Finish(*s, FinishReason::kCancelled, absl::OkStatus());
      } else if (s->request.deadline && now >= *s->request.deadline) {
        Finish(*s, FinishReason::kCancelled,
               absl::DeadlineExceededError("the request's deadline passed"));
      } else if (!s->admitted_once && options_.queue_timeout.count() > 0 &&
                 now - s->submitted >= options_.queue_timeout) {
        {
          std::lock_guard<std::mutex> lock(stats_mu_);
          ++stats_.queue_timeouts_total;
        }
        Finish(*s, FinishReason::kError,
               absl::UnavailableError(absl::StrFormat(
                   "the server is overloaded: the request waited %.0f s without starting (queue "
                   "timeout %.0f s); retry later",
                   Seconds(now - s->submitted),
                   std::chrono::duration<double>(options_.queue_timeout).count())));
      }
    }
  }
  RemoveFinished();
}

void Scheduler::Impl::Loop() {
  while (TakeInbox()) {
    ReapCancelled();
    if (!running_.empty() || !waiting_.empty()) {
      // A step that throws (an allocation that failed, a bug) fails the requests it ran and
      // leaves the loop, and every other request, going. A host callback that throws fails
      // only its own request (Deliver, Finish).
      if (absl::Status s = RunGuarded("scheduler: the step failed", [&] { Step(); }); !s.ok()) {
        FailStep(s);
      }
    }
    UpdateGauges();
  }
  UpdateGauges();
}

void Scheduler::Impl::FailStep(const absl::Status& status) {
  // The step's sequences are the running ones (admission moves a sequence there first).
  std::erase(running_, nullptr);
  std::erase(waiting_, nullptr);
  for (SeqPtr& s : running_) Finish(*s, FinishReason::kError, status);
  RemoveFinished();
}

void Scheduler::Impl::ReleaseBlocks(Sequence& s) {
  for (int32_t b : s.blocks) blocks_->Release(b);
  s.blocks.clear();
  s.names.clear();
  s.num_computed = 0;
}

void Scheduler::Impl::Preempt(Sequence& s) {
  ReleaseBlocks(s);
  ++s.result.usage.preemptions;
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_.preempted_total;
}

void Scheduler::Impl::PublishFullBlocks(Sequence& s) {
  const int64_t bs = options_.block_size;
  const int64_t full = std::min<int64_t>(s.num_computed / bs, s.blocks.size());
  for (int64_t b = static_cast<int64_t>(s.names.size()); b < full; ++b) {
    const uint64_t parent = b == 0 ? 0 : s.names[b - 1];
    const std::span<const int32_t> content(s.tokens.data() + b * bs, static_cast<size_t>(bs));
    const uint64_t name = BlockManager::BlockName(parent, content);
    blocks_->Publish(s.blocks[b], name, parent, content);
    s.names.push_back(name);
  }
}

void Scheduler::Impl::Step() {
  const Clock::time_point start = Clock::now();
  std::vector<PolicyWaiting> wait_view;
  const StepPlan plan = PlanThisStep(&wait_view);
  const Scheduled scheduled = ApplyPlan(plan, wait_view);
  const Scheduled runnable = BuildBatch(scheduled);
  if (!runnable.empty()) {
    const double planned = Seconds(Clock::now() - start);
    RunBatch(runnable);
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.step_plan_seconds += planned;
    ++stats_.steps_total;
  }
  RemoveFinished();
}

StepPlan Scheduler::Impl::PlanThisStep(std::vector<PolicyWaiting>* wait_view) {
  const int64_t bs = options_.block_size;
  // The policy's view.
  std::vector<PolicyRunning> run_view;
  run_view.reserve(running_.size());
  for (size_t i = 0; i < running_.size(); ++i) {
    const Sequence& s = *running_[i];
    run_view.push_back({i, s.num_computed, static_cast<int64_t>(s.tokens.size()),
                        static_cast<int64_t>(s.blocks.size())});
  }
  const size_t candidates = std::min<size_t>(
      waiting_.size(), static_cast<size_t>(std::max<int64_t>(
                           0, options_.max_num_seqs - static_cast<int64_t>(running_.size()))));
  for (size_t i = 0; i < candidates; ++i) {
    const Sequence& s = *waiting_[i];
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    // The last token is always computed: its logits give the next token.
    const BlockManager::PrefixMatch m = blocks_->MatchPrefix(s.tokens, (n - 1) / bs);
    wait_view->push_back({i, n, m.blocks * bs, m.available});
  }
  PolicyLimits limits;
  limits.block_size = bs;
  limits.max_num_seqs = options_.max_num_seqs;
  limits.max_num_batched_tokens = options_.max_num_batched_tokens;
  limits.chunked_prefill = options_.enable_chunked_prefill;
  return PlanStep(run_view, *wait_view, blocks_->num_available(), limits);
}

Scheduler::Impl::Scheduled Scheduler::Impl::ApplyPlan(const StepPlan& plan,
                                                      const std::vector<PolicyWaiting>& wait_view) {
  const int64_t bs = options_.block_size;
  // Scheduled sequences with their token counts; preempted ones go back to the queue.
  Scheduled scheduled;
  for (const StepPlan::Item& item : plan.running) {
    scheduled.push_back({running_[item.id].get(), item.num_tokens});
  }
  std::vector<SeqPtr> preempted;
  for (uint64_t index : plan.preempted) {
    Preempt(*running_[index]);
    preempted.push_back(std::move(running_[index]));
  }
  std::erase(running_, nullptr);
  for (SeqPtr& s : preempted) InsertOrdered(waiting_, std::move(s));
  // Admitted requests are a prefix of the waiting queue's candidates (and preemption stops
  // admission, so the indices still hold).
  std::vector<SeqPtr> admitted;
  for (const StepPlan::Item& item : plan.admitted) {
    SeqPtr s = std::move(waiting_[item.id]);
    const PolicyWaiting& w = wait_view[item.id];
    blocks_->AcquirePrefix(s->tokens, w.cached_tokens / bs, &s->blocks, &s->names);
    s->num_computed = static_cast<int64_t>(s->blocks.size()) * bs;
    if (!s->admitted_once) {
      s->admitted_once = true;
      s->result.usage.cached_prompt_tokens = s->num_computed;
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.prefix_cache_queried_tokens += s->prompt_len;
      stats_.prefix_cache_hit_tokens += s->num_computed;
    }
    scheduled.push_back({s.get(), item.num_tokens});
    admitted.push_back(std::move(s));
  }
  std::erase(waiting_, nullptr);
  for (SeqPtr& s : admitted) InsertOrdered(running_, std::move(s));
  return scheduled;
}

Scheduler::Impl::Scheduled Scheduler::Impl::BuildBatch(const Scheduled& scheduled) {
  const int64_t bs = options_.block_size;
  // Blocks for this step's positions, then the batch.
  batch_.Clear();
  for (const auto& [s, n] : scheduled) {
    const int64_t need = BlocksFor(s->num_computed + n, bs);
    while (static_cast<int64_t>(s->blocks.size()) < need) {
      const std::optional<int32_t> b = blocks_->Allocate();
      if (!b) break;
      s->blocks.push_back(*b);
    }
  }
  Scheduled runnable;
  for (const auto& [s, n] : scheduled) {
    if (static_cast<int64_t>(s->blocks.size()) < BlocksFor(s->num_computed + n, bs)) {
      // The policy counted these blocks as available: an engine bug, not the request's.
      Finish(*s, FinishReason::kError, absl::InternalError("KV blocks ran out unexpectedly"));
      continue;
    }
    runnable.push_back({s, n});
    BatchSequence seq;
    seq.block_table = s->blocks;
    seq.start_pos = s->num_computed;
    seq.num_tokens = n;
    seq.num_logits = s->num_computed + n == static_cast<int64_t>(s->tokens.size()) ? 1 : 0;
    batch_.tokens.insert(batch_.tokens.end(), s->tokens.begin() + s->num_computed,
                         s->tokens.begin() + s->num_computed + n);
    batch_.sequences.push_back(seq);
  }
  return runnable;
}

void Scheduler::Impl::RunBatch(const Scheduled& runnable) {
  absl::Status status;
  const Clock::time_point start = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mi_->forward_mu);
    status = mi_->runner->Forward(batch_, *cache_, {}, logits_);
  }
  const Clock::time_point forwarded = Clock::now();
  int64_t row = 0;
  for (size_t i = 0; i < runnable.size(); ++i) {
    Sequence& s = *runnable[i].first;
    if (!status.ok()) {
      INFER_LOG(kError, "forward pass failed: %s", std::string(status.message()));
      Finish(s, FinishReason::kError, status);
      continue;
    }
    s.num_computed += runnable[i].second;
    PublishFullBlocks(s);
    if (batch_.sequences[i].num_logits == 1) {
      Advance(s, std::span<float>(logits_.data() + row * vocab_size_,
                                  static_cast<size_t>(vocab_size_)));
      ++row;
    }
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.step_forward_seconds += Seconds(forwarded - start);
  stats_.step_sample_seconds += Seconds(Clock::now() - forwarded);
}

void Scheduler::Impl::UpdateGauges() {
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.running = static_cast<int64_t>(running_.size());
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  stats_.kv_blocks_used = blocks_->num_held();
  const Clock::time_point now = Clock::now();
  Clock::time_point oldest = now;
  for (const SeqPtr& s : waiting_) {
    if (s != nullptr) oldest = std::min(oldest, s->submitted);
  }
  stats_.oldest_waiting_seconds = Seconds(now - oldest);
}

bool Scheduler::Impl::Advance(Sequence& s, std::span<float> logits) {
  SampledToken token = s.sampler.Sample(logits);
  if (!s.sampler.status().ok()) {
    Finish(s, FinishReason::kError, s.sampler.status());
    return true;
  }
  const TokenId id = token.id;
  const SamplingParams& p = s.request.sampling;
  const Clock::time_point now = Clock::now();
  s.tokens.push_back(id);
  RequestUsage& usage = s.result.usage;
  ++usage.completion_tokens;
  usage.token_times.push_back(Seconds(now - s.submitted));
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.generation_tokens_total;
    if (usage.completion_tokens == 1) {
      usage.time_to_first_token = usage.token_times.back();
      stats_.prompt_tokens_total += s.prompt_len;
      Observe(stats_.time_to_first_token, usage.time_to_first_token);
    } else {
      Observe(stats_.time_per_output_token, Seconds(now - s.last_token_time));
    }
  }
  s.last_token_time = now;

  const bool stop_token =
      (!p.ignore_eos && mi_->tokenizer->IsEndOfGeneration(id)) ||
      std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), id) != p.stop_token_ids.end();
  const size_t old_size = s.text.size();
  s.text += s.decoder.Push(id);
  const StopMatcher::Result match = s.stops.Check(s.text, old_size);
  std::optional<FinishReason> finish;
  size_t safe_end = match.safe_end;
  if (match.stop_at != std::string::npos) {
    s.text.resize(match.stop_at);
    finish = FinishReason::kStop;
  } else if (stop_token || s.sampler.grammar_finished()) {
    finish = FinishReason::kStop;
  } else if (usage.completion_tokens >= p.max_tokens ||
             static_cast<int64_t>(s.tokens.size()) >= context_length_) {
    finish = FinishReason::kLength;
  }
  if (finish && match.stop_at == std::string::npos) {
    s.text += s.decoder.Flush();
    safe_end = s.text.size();
  }
  StreamEvent event;
  event.token = token;
  if (safe_end > s.emitted) {
    event.text = s.text.substr(s.emitted, safe_end - s.emitted);
    s.emitted = safe_end;
  }
  s.result.tokens.push_back(std::move(token));
  Deliver(s, std::move(event));
  if (finish) Finish(s, *finish, absl::OkStatus());
  return finish.has_value();
}

void Scheduler::Impl::Deliver(Sequence& s, StreamEvent event) {
  if (s.request.on_event) {
    const absl::Status thrown = RunGuarded(
        [&] {
          return absl::StrCat("scheduler: request '", s.request.id,
                              "': its on_event callback threw");
        },
        [&] { s.request.on_event(event); });
    if (!thrown.ok()) Finish(s, FinishReason::kError, thrown);
    return;
  }
  std::lock_guard<std::mutex> lock(s.state->mu);
  s.state->events.push_back(std::move(event));
  s.state->cv.notify_all();
}

void Scheduler::Impl::Finish(Sequence& s, FinishReason reason, absl::Status status) {
  if (std::find(finished_.begin(), finished_.end(), &s) != finished_.end()) return;
  ReleaseBlocks(s);
  {
    // Visible to stats() before the handle reports the request finished.
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.kv_blocks_used = blocks_->num_held();
  }
  RequestResult& r = s.result;
  r.finish_reason = reason;
  r.status = std::move(status);
  r.text = s.text;
  if (s.reads_calls) {
    chat::ExtractedCalls calls = chat::ExtractToolCalls(r.text);
    r.text = std::move(calls.content);
    r.tool_calls = std::move(calls.calls);
  }
  r.usage.prompt_tokens = s.prompt_len;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.requests_finished[static_cast<int>(reason)];
  }
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    --queued_;
  }
  if (s.request.on_finish) {
    // Nothing is left to fail: the request is over either way. The guard logs it.
    (void)RunGuarded(
        [&] {
          return absl::StrCat("scheduler: request '", s.request.id,
                              "': its on_finish callback threw");
        },
        [&] { s.request.on_finish(r); });
  }
  {
    std::lock_guard<std::mutex> lock(s.state->mu);
    s.state->result = r;
    s.state->finished = true;
    s.state->cv.notify_all();
  }
  finished_.push_back(&s);
}

void Scheduler::Impl::RemoveFinished() {
  if (finished_.empty()) return;
  for (auto* list : {&running_, &waiting_}) {
    std::erase_if(*list, [&](const SeqPtr& s) {
      return std::find(finished_.begin(), finished_.end(), s.get()) != finished_.end();
    });
  }
  finished_.clear();
}

// ---- Scheduler -------------------------------------------------------------------------------

Scheduler::Scheduler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Scheduler::~Scheduler() { impl_->Shutdown(ShutdownMode::kCancel, std::chrono::milliseconds(0)); }

absl::StatusOr<KvCacheDType> ParseKvCacheDType(std::string_view name) {
  if (name == "auto" || name == "float32") return KvCacheDType::kFloat32;
  if (name == "float16") return KvCacheDType::kFloat16;
  return absl::InvalidArgumentError(absl::StrCat(
      "kv_cache_dtype: expected auto, float32 or float16, got '", std::string(name), "'"));
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(Model& model,
                                                             const SchedulerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status s = impl->Init(ImplOf(model)); !s.ok()) return s;
  return std::unique_ptr<Scheduler>(new Scheduler(std::move(impl)));
}

absl::StatusOr<RequestHandle> Scheduler::Submit(Request request) {
  return impl_->Submit(std::move(request));
}

void Scheduler::Shutdown(ShutdownMode mode, std::chrono::milliseconds deadline) {
  impl_->Shutdown(mode, deadline);
}

SchedulerStats Scheduler::stats() const { return impl_->stats(); }
int64_t Scheduler::context_length() const { return impl_->context_length(); }

}  // namespace infer
