// Which role may call which route: a table, deny by default.
#include <gtest/gtest.h>

#include "infer/auth.h"

namespace infer {
namespace {

TEST(RoutePolicyTest, ParseRole) {
  EXPECT_EQ(ParseRole("admin"), Role::kAdmin);
  EXPECT_EQ(ParseRole("Admin"), Role::kAdmin);
  EXPECT_EQ(ParseRole("user"), Role::kUser);
  EXPECT_EQ(ParseRole("guest"), Role::kUser);  // the seed's name for ordinary users
  EXPECT_EQ(ParseRole("root"), std::nullopt);
  EXPECT_EQ(ParseRole(""), std::nullopt);
  EXPECT_EQ(ParseRole("admin "), std::nullopt);
  EXPECT_EQ(RoleName(Role::kAdmin), "admin");
  EXPECT_EQ(RoleName(Role::kUser), "user");
}

TEST(RoutePolicyTest, Table) {
  struct Case {
    const char* path;
    bool user;
    bool admin;
  };
  const Case cases[] = {
      {"/v1/chat/completions", true, true},
      {"/v1/completions", true, true},
      {"/v1/models", true, true},
      {"/v1/models/smollm2", true, true},
      {"/v1/chat/completions?stream=true", true, true},
      {"/v1/admin/users", false, true},
      {"/v1/admin/reload", false, true},
      {"/v1/admin/", false, false},
      {"/v1/admin", false, false},
      {"/v1/embeddings", false, false},
      {"/v1/chat/completions/", false, false},
      {"/v1/models/", false, false},
      {"/v1/models/a/b", false, false},
      {"/v1/models/..", false, false},
      {"/v1/models/../admin/users", false, false},
      {"/v1/chat/../admin/users", false, false},
      {"/V1/chat/completions", false, false},
      {"/token", false, false},
      {"", false, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsRouteAllowed(Role::kUser, c.path), c.user) << c.path;
    EXPECT_EQ(IsRouteAllowed(Role::kAdmin, c.path), c.admin) << c.path;
    EXPECT_EQ(IsRouteAllowed("guest", c.path), c.user) << c.path;
    EXPECT_EQ(IsRouteAllowed("admin", c.path), c.admin) << c.path;
    EXPECT_FALSE(IsRouteAllowed("superuser", c.path)) << c.path;  // unknown role: nothing
    EXPECT_FALSE(IsRouteAllowed("", c.path)) << c.path;
  }
}

}  // namespace
}  // namespace infer
