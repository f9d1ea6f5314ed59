// The server's built-in routes, stated once: path, methods and who may call each. The dispatch
// (server.cc), the 405 answers' Allow header, the role policy (IsRouteAllowed) and the access
// log's quiet paths all read this table.
#ifndef INFER_SERVE_ROUTES_H_
#define INFER_SERVE_ROUTES_H_

#include <optional>
#include <string_view>

namespace infer::serve {

enum class RouteId {
  kHealth,
  kReady,
  kMetrics,
  kToken,
  kChatCompletions,
  kCompletions,
  kModels,
  kModel,
  kAdminUsers,
  kAdminReload,
  kAdminDevices,
  kAdminModels,
  kAdminModel,
  kAdminModelScale,
  kChatPage,
  kUiAsset,
};

// Who may call a route when the server has an AuthStore (without one every route is open).
enum class RouteAccess {
  kOpen,     // no credential (probes, the chat page's files)
  kMetrics,  // open unless ServerOptions::metrics_require_auth; then any role
  kLogin,    // the login itself: a form, no bearer
  kAnyRole,  // a bearer of any role
  kAdmin,    // a bearer with the admin role
};

struct Route {
  RouteId id;
  // Exact path; "{}" stands for one segment: non-empty, no '/', not "." or "..".
  std::string_view pattern;
  // The methods it answers, as an Allow header lists them; "*" for any method.
  std::string_view methods;
  RouteAccess access;
  bool needs_auth;  // exists only when the server has an AuthStore
  bool quiet;       // not written to the access log (probes and scrapes)
};

struct RouteMatch {
  const Route* route = nullptr;
  std::string_view param;  // what "{}" matched; empty when the pattern has none
};

// The route whose pattern `path` matches (compared byte for byte: no normalisation of ".." or
// percent-escapes), whatever the method; nullopt for any other path.
std::optional<RouteMatch> MatchRoute(std::string_view path);

// Whether `route` answers `method`.
bool RouteAllows(const Route& route, std::string_view method);

// Paths under this prefix are admin-only, built-in or added by the host.
inline constexpr std::string_view kAdminPrefix = "/v1/admin/";

}  // namespace infer::serve

#endif  // INFER_SERVE_ROUTES_H_
