// The model set's admin routes (the admin role only, as every route under /v1/admin/):
//
//   GET    /v1/admin/devices                 each device: total, free, reserved, its replicas
//   GET    /v1/admin/models                  each model and replica, and the last refused change
//   POST   /v1/admin/models                  deploy (or replace) one model: a models.yaml entry
//                                            as JSON, e.g. {"name": "coder", "path": "...",
//                                            "replicas": 2}
//   POST   /v1/admin/models/<name>/scale     {"replicas": N}
//   DELETE /v1/admin/models/<name>           drain and unload one model
//   DELETE /v1/admin/models                  drain and unload every model of the set's own
//
// A change is answered with its plan ({"plan": {"unloads": [...], "loads": [...]}}) once done,
// or with the reason it was refused (409 "insufficient_memory" when it does not fit; nothing
// changed then). Changes load models and drain replicas: they run on a thread of their own,
// one at a time, never on an I/O thread.
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libinfer/serve/server_impl.h"

namespace infer {

using nlohmann::json;
using serve::Clock;
using serve::Error;
using serve::ErrorResponse;
using serve::JsonResponse;

namespace {

json StepJson(const ModelSetPlan::Step& s) {
  return {{"model", s.model},
          {"replica", s.replica},
          {"devices", s.devices},
          {"bytes_per_rank", s.bytes_per_rank},
          {"cost", s.cost}};
}

json PlanJson(const ModelSetPlan& plan) {
  json unloads = json::array(), loads = json::array();
  for (const auto& s : plan.unloads) unloads.push_back(StepJson(s));
  for (const auto& s : plan.loads) loads.push_back(StepJson(s));
  return {{"unloads", std::move(unloads)},
          {"loads", std::move(loads)},
          {"description", plan.Describe()}};
}

HttpResponse ChangeError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kResourceExhausted:
      return ErrorResponse(
          Error(409, std::string(s.message()), "invalid_request_error", "", "insufficient_memory"));
    case absl::StatusCode::kNotFound:
      return ErrorResponse(
          Error(404, std::string(s.message()), "NotFoundError", "model", "model_not_found"));
    case absl::StatusCode::kInvalidArgument:
      return ErrorResponse(Error(400, std::string(s.message()), "invalid_request_error"));
    default:
      return ErrorResponse(Error(500, std::string(s.message()), "server_error"));
  }
}

}  // namespace

HttpResponse Server::Impl::AdminDevices() const {
  const ModelSetState state = models_.State();
  json data = json::array();
  for (const DeviceState& d : state.devices) {
    data.push_back({{"id", d.id},
                    {"name", d.name},
                    {"kind", d.kind},
                    {"total_bytes", d.total_bytes},
                    {"free_bytes", d.free_bytes},
                    {"reserved_bytes", d.reserved_bytes},
                    {"replicas", d.replicas}});
  }
  return JsonResponse(200, {{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse Server::Impl::AdminModels() const {
  const ModelSetState state = models_.State();
  json data = json::array();
  for (const ModelState& m : state.models) {
    json replicas = json::array();
    for (const ReplicaState& r : m.replicas) {
      replicas.push_back({{"replica", r.index},
                          {"devices", r.devices},
                          {"reserved_bytes_per_rank", r.reserved_bytes_per_rank},
                          {"cost", r.cost},
                          {"adopted", r.adopted},
                          {"draining", r.draining},
                          {"outstanding", r.outstanding},
                          {"running", r.stats.running},
                          {"waiting", r.stats.waiting},
                          {"kv_blocks_used", r.stats.kv_blocks_used},
                          {"kv_blocks_total", r.stats.kv_blocks_total}});
    }
    data.push_back({{"name", m.name},
                    {"path", m.path},
                    {"context_length", m.context_length},
                    {"max_replicas", m.max_replicas},
                    {"replicas", std::move(replicas)}});
  }
  json body = {{"object", "list"}, {"data", std::move(data)}};
  body["last_refused_change"] =
      state.last_refused_change.empty() ? json(nullptr) : json(state.last_refused_change);
  return JsonResponse(200, body);
}

void Server::Impl::ModelAdmin(const serve::RouteMatch& route, const HttpRequest& req,
                              const std::shared_ptr<serve::Responder>& out,
                              Clock::time_point start) {
  const serve::RouteId id = route.route->id;
  if (id == serve::RouteId::kAdminDevices) return Answer(req, *out, AdminDevices(), start);
  if (id == serve::RouteId::kAdminModels && req.method == "GET") {
    return Answer(req, *out, AdminModels(), start);
  }

  // A change: what it is, checked here; done on the change thread.
  std::function<absl::StatusOr<ModelSetPlan>()> change;
  if (id == serve::RouteId::kAdminModels && req.method == "POST") {
    json entry = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (entry.is_discarded() || !entry.is_object()) {
      return Answer(req, *out,
                    ErrorResponse(Error(400, "the body must be a JSON object: one model entry",
                                        "invalid_request_error")),
                    start);
    }
    auto spec = ParseModelSet("request.json", json{{"models", json::array({entry})}}.dump());
    if (!spec.ok()) return Answer(req, *out, ChangeError(spec.status()), start);
    change = [this, model = spec->models[0]] { return models_.Deploy(model); };
  } else if (id == serve::RouteId::kAdminModels) {  // DELETE
    change = [this] { return models_.RemoveAll(); };
  } else if (id == serve::RouteId::kAdminModelScale) {
    const std::string name(route.param);
    json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded() || !body.is_object() || !body.contains("replicas") ||
        !body["replicas"].is_number_integer() || body["replicas"].get<int64_t>() < 0 ||
        body["replicas"].get<int64_t>() > 1024) {
      return Answer(req, *out,
                    ErrorResponse(Error(400, "the body must be {\"replicas\": N}, N in [0, 1024]",
                                        "invalid_request_error", "replicas")),
                    start);
    }
    change = [this, name, n = body["replicas"].get<int>()] { return models_.Scale(name, n); };
  } else {  // kAdminModel, DELETE
    change = [this, name = std::string(route.param)] { return models_.Remove(name); };
  }
  const HttpRequest http = serve::ForLogLine(req);
  auto job = [this, http, out, start, change = std::move(change)] {
    absl::StatusOr<ModelSetPlan> plan = change();
    if (!plan.ok()) return Answer(http, *out, ChangeError(plan.status()), start);
    Answer(http, *out, JsonResponse(200, {{"plan", PlanJson(*plan)}}), start);
  };
  auto failed = [this, http, out, start](const absl::Status& s) {
    Answer(http, *out, ErrorResponse(Error(500, std::string(s.message()), "server_error")), start);
  };
  if (!changes_->TryPost(std::move(job), std::move(failed))) {
    Answer(req, *out,
           ErrorResponse(Error(503, "too many model set changes queued", "server_error")), start);
  }
}

}  // namespace infer
