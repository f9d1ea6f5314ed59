// The authentication routes: POST /token (the login, its password check on the login
// threads), GET /v1/admin/users and POST /v1/admin/reload.
#include "absl/strings/str_cat.h"
#include "libinfer/serve/login_form.h"
#include "libinfer/serve/server_impl.h"
#include "libinfer/util/logging.h"

namespace infer {

using nlohmann::json;
using serve::ApiError;
using serve::ClientIp;
using serve::Clock;
using serve::Error;
using serve::ErrorResponse;
using serve::JsonResponse;
using serve::Responder;
using serve::Unauthorized;

void Server::Impl::Login(const HttpRequest& req, const std::shared_ptr<Responder>& out,
                         Clock::time_point start) {
  auto form = serve::ParseLoginForm(req.Header("Content-Type"), req.body);
  if (!form.ok()) {
    const absl::StatusCode code = form.status().code();
    const int status = code == absl::StatusCode::kUnimplemented       ? 415
                       : code == absl::StatusCode::kResourceExhausted ? 413
                                                                      : 400;
    return Answer(
        req, *out,
        ErrorResponse(Error(status, absl::StrCat("POST /token: ", form.status().message()),
                            "invalid_request_error")),
        start);
  }
  // What the log line needs travels with the job (not the body: it holds the password).
  HttpRequest http = serve::ForLogLine(req);
  // The answer when the login fails inside (an error of the store, or the job throwing).
  auto failed = [this, out, start, http](const absl::Status&) {
    Answer(http, *out, ErrorResponse(Error(500, "login failed: internal error", "server_error")),
           start);
  };
  auto job = [this, out, start, form = std::move(*form), http = std::move(http), failed] {
    auto token = options_.auth->Login(form.username, form.password, ClientIp(http.client_address));
    if (token.ok()) {
      HttpResponse r = JsonResponse(200, {{"access_token", token->access_token},
                                          {"token_type", token->token_type},
                                          {"expires_in", token->expires_in}});
      // RFC 6749 section 5.1: token answers are never cached.
      r.headers.push_back({"Cache-Control", "no-store"});
      r.headers.push_back({"Pragma", "no-cache"});
      return Answer(http, *out, std::move(r), start);
    }
    const absl::Status& st = token.status();
    if (const std::optional<int64_t> wait = RetryAfterSeconds(st)) {
      return Answer(http, *out,
                    ErrorResponse(Error(429, std::string(st.message()), "rate_limit_error", "",
                                        "rate_limit_exceeded"),
                                  *wait),
                    start);
    }
    if (st.code() == absl::StatusCode::kUnauthenticated) {
      return Answer(http, *out,
                    Unauthorized(std::string(st.message()), "invalid_credentials", false), start);
    }
    INFER_LOG(kError, "POST /token: %s", st.message());
    failed(st);
  };
  if (!logins_->TryPost(std::move(job), std::move(failed))) {
    Answer(req, *out, ErrorResponse(Error(503, "too many logins in progress", "server_error")),
           start);
  }
}

HttpResponse Server::Impl::AdminUsers() const {
  json data = json::array();
  for (const UserInfo& u : options_.auth->ListUsers()) {
    data.push_back({{"username", u.username}, {"role", std::string(RoleName(u.role))}});
  }
  return JsonResponse(200, {{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse Server::Impl::AdminReload() {
  const absl::Status s = options_.auth->Reload();
  if (!s.ok()) {
    return ErrorResponse(Error(
        400, absl::StrCat("reload refused, the users loaded before stay in use: ", s.message()),
        "invalid_request_error", "", "reload_failed"));
  }
  return JsonResponse(200, {{"status", "reloaded"},
                            {"users", static_cast<int64_t>(options_.auth->ListUsers().size())}});
}

}  // namespace infer
