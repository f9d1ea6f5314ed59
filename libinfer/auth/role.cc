// Roles by name (declared in include/infer/auth.h).
#include <string_view>

#include "absl/strings/match.h"
#include "infer/auth.h"

namespace infer {

std::optional<Role> ParseRole(std::string_view name) {
  const absl::string_view n(name.data(), name.size());
  if (absl::EqualsIgnoreCase(n, "admin")) return Role::kAdmin;
  // The seed deployment calls its ordinary users "guest".
  if (absl::EqualsIgnoreCase(n, "user") || absl::EqualsIgnoreCase(n, "guest")) return Role::kUser;
  return std::nullopt;
}

std::string_view RoleName(Role role) { return role == Role::kAdmin ? "admin" : "user"; }

}  // namespace infer
