// GET /metrics: the server's and the Scheduler's counters in the Prometheus text format.
#include "absl/strings/str_cat.h"
#include "libinfer/serve/server_impl.h"

namespace infer {
namespace {

void AppendHistogram(std::string* out, const std::string& name, const std::string& help,
                     const Histogram& h) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    absl::StrAppend(out, name, "_bucket{le=\"", h.bounds[i], "\"} ", cumulative, "\n");
  }
  cumulative += h.counts.empty() ? 0 : h.counts.back();
  absl::StrAppend(out, name, "_bucket{le=\"+Inf\"} ", cumulative, "\n", name, "_sum ", h.sum, "\n",
                  name, "_count ", h.count, "\n");
}

}  // namespace

HttpResponse Server::Impl::Metrics() {
  const SchedulerStats s = scheduler_.stats();
  std::string out;
  auto gauge = [&](const char* name, const char* help, double v, const char* type = "gauge") {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                    v, "\n");
  };
  absl::StrAppend(&out, "# HELP infer_http_requests_total HTTP requests answered, by status.\n",
                  "# TYPE infer_http_requests_total counter\n");
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    for (const auto& [status, n] : requests_by_status_) {
      absl::StrAppend(&out, "infer_http_requests_total{status=\"", status, "\"} ", n, "\n");
    }
  }
  gauge("infer_num_requests_waiting", "Requests waiting to be scheduled.", s.waiting);
  gauge("infer_num_requests_running", "Requests in the running batch.", s.running);
  gauge("infer_num_preemptions_total", "Sequences preempted for KV blocks.", s.preempted_total,
        "counter");
  gauge("infer_kv_cache_blocks_used", "KV cache blocks held by running requests.",
        s.kv_blocks_used);
  gauge("infer_kv_cache_blocks_total", "KV cache blocks.", s.kv_blocks_total);
  gauge("infer_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.",
        s.kv_blocks_total > 0 ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0);
  gauge("infer_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
        s.prefix_cache_queried_tokens, "counter");
  gauge("infer_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
        s.prefix_cache_hit_tokens, "counter");
  gauge("infer_prefix_cache_hit_rate", "Prefix cache hits / queries (tokens).",
        s.prefix_cache_queried_tokens > 0
            ? static_cast<double>(s.prefix_cache_hit_tokens) / s.prefix_cache_queried_tokens
            : 0.0);
  gauge("infer_prompt_tokens_total", "Prompt tokens processed.", s.prompt_tokens_total, "counter");
  gauge("infer_generation_tokens_total", "Tokens generated.", s.generation_tokens_total, "counter");
  absl::StrAppend(&out, "# HELP infer_requests_finished_total Requests finished, by reason.\n",
                  "# TYPE infer_requests_finished_total counter\n");
  for (int r = 0; r < 4; ++r) {
    absl::StrAppend(&out, "infer_requests_finished_total{finish_reason=\"",
                    FinishReasonName(static_cast<FinishReason>(r)), "\"} ", s.requests_finished[r],
                    "\n");
  }
  AppendHistogram(&out, "infer_time_to_first_token_seconds", "Time to the first token.",
                  s.time_to_first_token);
  AppendHistogram(&out, "infer_time_per_output_token_seconds", "Time between output tokens.",
                  s.time_per_output_token);
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

}  // namespace infer
