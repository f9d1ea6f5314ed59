// The routes each role may use (declared in include/infer/auth.h): an HTTP concern, so it lives
// with the server.
#include <string_view>

#include "infer/auth.h"

namespace infer {
namespace {

// Routes for every authenticated role. Exact paths: "/v1/chat/completions/" or
// "/v1/../v1/models" are not these routes and are refused (deny by default).
constexpr std::string_view kInferenceRoutes[] = {"/v1/chat/completions", "/v1/completions",
                                                 "/v1/models"};
constexpr std::string_view kModelPrefix = "/v1/models/";
constexpr std::string_view kAdminPrefix = "/v1/admin/";

}  // namespace

bool IsRouteAllowed(Role role, std::string_view path) {
  path = path.substr(0, path.find('?'));
  for (std::string_view route : kInferenceRoutes) {
    if (path == route) return true;
  }
  // GET /v1/models/{id}: one non-empty segment, nothing that could walk elsewhere.
  if (path.substr(0, kModelPrefix.size()) == kModelPrefix) {
    const std::string_view id = path.substr(kModelPrefix.size());
    return !id.empty() && id.find('/') == std::string_view::npos && id != "." && id != "..";
  }
  if (path.substr(0, kAdminPrefix.size()) == kAdminPrefix) {
    return role == Role::kAdmin && path.size() > kAdminPrefix.size();
  }
  return false;
}

bool IsRouteAllowed(std::string_view role_name, std::string_view path) {
  const std::optional<Role> role = ParseRole(role_name);
  return role.has_value() && IsRouteAllowed(*role, path);
}

}  // namespace infer
