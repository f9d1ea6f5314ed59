#include "libinfer/serve/routes.h"

#include "infer/server.h"

namespace infer {
namespace serve {
namespace {

constexpr Route kRoutes[] = {
    {RouteId::kHealth, "/health", "*", RouteAccess::kOpen, false, true},
    {RouteId::kReady, "/ready", "*", RouteAccess::kOpen, false, true},
    {RouteId::kMetrics, "/metrics", "GET", RouteAccess::kMetrics, false, true},
    {RouteId::kToken, "/token", "POST", RouteAccess::kLogin, true, false},
    {RouteId::kChatCompletions, "/v1/chat/completions", "POST", RouteAccess::kAnyRole, false,
     false},
    {RouteId::kCompletions, "/v1/completions", "POST", RouteAccess::kAnyRole, false, false},
    {RouteId::kModels, "/v1/models", "GET", RouteAccess::kAnyRole, false, false},
    {RouteId::kModel, "/v1/models/{}", "GET", RouteAccess::kAnyRole, false, false},
    {RouteId::kAdminUsers, "/v1/admin/users", "GET", RouteAccess::kAdmin, true, false},
    {RouteId::kAdminReload, "/v1/admin/reload", "POST", RouteAccess::kAdmin, true, false},
    {RouteId::kAdminDevices, "/v1/admin/devices", "GET", RouteAccess::kAdmin, false, false},
    {RouteId::kAdminModels, "/v1/admin/models", "GET, POST, DELETE", RouteAccess::kAdmin, false,
     false},
    {RouteId::kAdminModel, "/v1/admin/models/{}", "DELETE", RouteAccess::kAdmin, false, false},
    {RouteId::kAdminModelScale, "/v1/admin/models/{}/scale", "POST", RouteAccess::kAdmin, false,
     false},
    // The chat page (ServerOptions::chat_page); it logs in through /token itself.
    {RouteId::kChatPage, "/", "GET", RouteAccess::kOpen, false, false},
    {RouteId::kUiAsset, "/ui/{}", "GET", RouteAccess::kOpen, false, true},
};

bool IsSegment(std::string_view s) {
  return !s.empty() && s.find('/') == std::string_view::npos && s != "." && s != "..";
}

// `path` against `pattern`; the "{}" segment's text in `param`.
bool Matches(std::string_view pattern, std::string_view path, std::string_view* param) {
  const size_t hole = pattern.find("{}");
  if (hole == std::string_view::npos) return path == pattern;
  const std::string_view head = pattern.substr(0, hole);
  const std::string_view tail = pattern.substr(hole + 2);
  if (path.size() < head.size() + tail.size() || path.substr(0, head.size()) != head ||
      path.substr(path.size() - tail.size()) != tail) {
    return false;
  }
  *param = path.substr(head.size(), path.size() - head.size() - tail.size());
  return IsSegment(*param);
}

}  // namespace

std::optional<RouteMatch> MatchRoute(std::string_view path) {
  for (const Route& r : kRoutes) {
    std::string_view param;
    if (Matches(r.pattern, path, &param)) return RouteMatch{&r, param};
  }
  return std::nullopt;
}

bool RouteAllows(const Route& route, std::string_view method) {
  if (route.methods == "*") return true;
  std::string_view rest = route.methods;  // "GET, POST, DELETE"
  while (!rest.empty()) {
    const size_t comma = rest.find(", ");
    if (rest.substr(0, comma) == method) return true;
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
  }
  return false;
}

}  // namespace serve

bool IsRouteAllowed(Role role, std::string_view path) {
  path = path.substr(0, path.find('?'));
  if (const std::optional<serve::RouteMatch> m = serve::MatchRoute(path)) {
    switch (m->route->access) {
      case serve::RouteAccess::kAnyRole:
        return true;
      case serve::RouteAccess::kAdmin:
        return role == Role::kAdmin;
      case serve::RouteAccess::kOpen:
      case serve::RouteAccess::kMetrics:
      case serve::RouteAccess::kLogin:
        return false;  // the server's decision, not a role's
    }
  }
  // A host's route under /v1/admin/ (or one not built in): admins only.
  if (path.substr(0, serve::kAdminPrefix.size()) == serve::kAdminPrefix) {
    return role == Role::kAdmin && path.size() > serve::kAdminPrefix.size();
  }
  return false;
}

bool IsRouteAllowed(std::string_view role_name, std::string_view path) {
  const std::optional<Role> role = ParseRole(role_name);
  return role.has_value() && IsRouteAllowed(*role, path);
}

}  // namespace infer
