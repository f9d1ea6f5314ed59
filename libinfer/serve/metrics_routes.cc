// GET /metrics: the server's counters, each replica's Scheduler counters (labelled with its model
// and replica) and the devices' memory, in the Prometheus text format.
#include "absl/strings/str_cat.h"
#include "libinfer/serve/server_impl.h"

namespace infer {
namespace {

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

struct Series {
  std::string labels;  // `model="chat",replica="0"`
  const ReplicaState* replica;
};

void Header(std::string* out, const char* name, const char* help, const char* type) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void AppendHistogram(std::string* out, const std::string& name, const std::string& labels,
                     const Histogram& h) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    absl::StrAppend(out, name, "_bucket{", labels, ",le=\"", h.bounds[i], "\"} ", cumulative, "\n");
  }
  cumulative += h.counts.empty() ? 0 : h.counts.back();
  absl::StrAppend(out, name, "_bucket{", labels, ",le=\"+Inf\"} ", cumulative, "\n", name, "_sum{",
                  labels, "} ", h.sum, "\n", name, "_count{", labels, "} ", h.count, "\n");
}

using R = const ReplicaState&;

// A value of each replica's state, one line a replica.
struct ReplicaMetric {
  const char* name;
  const char* help;
  const char* type;
  double (*value)(R);
};

double Ratio(double part, double whole) { return whole > 0 ? part / whole : 0.0; }

constexpr ReplicaMetric kReplicaMetrics[] = {
    {"infer_num_requests_waiting", "Requests waiting to be scheduled.", "gauge",
     [](R r) -> double { return r.stats.waiting; }},
    {"infer_num_requests_running", "Requests in the running batch.", "gauge",
     [](R r) -> double { return r.stats.running; }},
    {"infer_queue_oldest_wait_seconds",
     "How long the request waiting longest has waited to start (what an autoscaler scales on).",
     "gauge", [](R r) -> double { return r.stats.oldest_waiting_seconds; }},
    {"infer_queue_timeouts_total",
     "Requests answered 503 because they waited past the queue timeout.", "counter",
     [](R r) -> double { return r.stats.queue_timeouts_total; }},
    {"infer_replica_outstanding_requests", "Requests routed to the replica and not yet answered.",
     "gauge", [](R r) -> double { return r.outstanding; }},
    {"infer_replica_draining", "1 while the replica drains before it unloads.", "gauge",
     [](R r) -> double { return r.draining ? 1 : 0; }},
    {"infer_replica_reserved_bytes", "Memory reserved for the replica on each device.", "gauge",
     [](R r) -> double { return static_cast<double>(r.reserved_bytes_per_rank); }},
    {"infer_num_preemptions_total", "Sequences preempted for KV blocks.", "counter",
     [](R r) -> double { return r.stats.preempted_total; }},
    {"infer_kv_cache_blocks_used", "KV cache blocks held by running requests.", "gauge",
     [](R r) -> double { return r.stats.kv_blocks_used; }},
    {"infer_kv_cache_blocks_total", "KV cache blocks.", "gauge",
     [](R r) -> double { return r.stats.kv_blocks_total; }},
    {"infer_kv_cache_usage_ratio", "Fraction of KV cache blocks in use.", "gauge",
     [](R r) {
       return Ratio(static_cast<double>(r.stats.kv_blocks_used),
                    static_cast<double>(r.stats.kv_blocks_total));
     }},
    {"infer_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", "counter",
     [](R r) -> double { return r.stats.prefix_cache_queried_tokens; }},
    {"infer_prefix_cache_hits_total", "Prompt tokens found in the prefix cache.", "counter",
     [](R r) -> double { return r.stats.prefix_cache_hit_tokens; }},
    {"infer_prefix_cache_hit_rate", "Prefix cache hits / queries (tokens).", "gauge",
     [](R r) {
       return Ratio(static_cast<double>(r.stats.prefix_cache_hit_tokens),
                    static_cast<double>(r.stats.prefix_cache_queried_tokens));
     }},
    {"infer_prompt_tokens_total", "Prompt tokens processed.", "counter",
     [](R r) -> double { return r.stats.prompt_tokens_total; }},
    {"infer_generation_tokens_total", "Tokens generated.", "counter",
     [](R r) -> double { return r.stats.generation_tokens_total; }},
};

// A value of each device placement sees, one line a device.
struct DeviceMetric {
  const char* name;
  const char* help;
  double (*value)(const DeviceState&);
};

constexpr DeviceMetric kDeviceMetrics[] = {
    {"infer_device_memory_total_bytes", "Memory of the device this process may use.",
     [](const DeviceState& d) { return static_cast<double>(d.total_bytes); }},
    {"infer_device_memory_free_bytes", "Memory a new replica may still reserve on the device.",
     [](const DeviceState& d) { return static_cast<double>(d.free_bytes); }},
    {"infer_device_memory_reserved_bytes", "Memory the replicas reserved on the device.",
     [](const DeviceState& d) { return static_cast<double>(d.reserved_bytes); }},
};

void AppendReplicaMetrics(std::string* out, const std::vector<Series>& series) {
  for (const ReplicaMetric& m : kReplicaMetrics) {
    Header(out, m.name, m.help, m.type);
    for (const Series& s : series) {
      absl::StrAppend(out, m.name, "{", s.labels, "} ", m.value(*s.replica), "\n");
    }
  }
  Header(out, "infer_requests_finished_total", "Requests finished, by reason.", "counter");
  for (const Series& s : series) {
    for (int r = 0; r < kFinishReasonCount; ++r) {
      absl::StrAppend(out, "infer_requests_finished_total{", s.labels, ",finish_reason=\"",
                      FinishReasonName(static_cast<FinishReason>(r)), "\"} ",
                      s.replica->stats.requests_finished[r], "\n");
    }
  }
  Header(out, "infer_time_to_first_token_seconds", "Time to the first token.", "histogram");
  for (const Series& s : series) {
    AppendHistogram(out, "infer_time_to_first_token_seconds", s.labels,
                    s.replica->stats.time_to_first_token);
  }
  Header(out, "infer_time_per_output_token_seconds", "Time between output tokens.", "histogram");
  for (const Series& s : series) {
    AppendHistogram(out, "infer_time_per_output_token_seconds", s.labels,
                    s.replica->stats.time_per_output_token);
  }
}

void AppendDeviceMetrics(std::string* out, const std::vector<DeviceState>& devices) {
  for (const DeviceMetric& m : kDeviceMetrics) {
    Header(out, m.name, m.help, "gauge");
    for (const DeviceState& d : devices) {
      absl::StrAppend(out, m.name, "{device=\"", LabelValue(d.id), "\"} ", m.value(d), "\n");
    }
  }
}

}  // namespace

HttpResponse Server::Impl::Metrics() {
  const ModelSetState state = models_.State();
  std::vector<Series> series;
  for (const ModelState& m : state.models) {
    for (const ReplicaState& r : m.replicas) {
      series.push_back(
          {absl::StrCat("model=\"", LabelValue(m.name), "\",replica=\"", r.index, "\""), &r});
    }
  }
  std::string out;
  Header(&out, "infer_http_requests_total", "HTTP requests answered, by status.", "counter");
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    for (const auto& [status, n] : requests_by_status_) {
      absl::StrAppend(&out, "infer_http_requests_total{status=\"", status, "\"} ", n, "\n");
    }
  }
  AppendReplicaMetrics(&out, series);
  AppendDeviceMetrics(&out, state.devices);
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

}  // namespace infer
