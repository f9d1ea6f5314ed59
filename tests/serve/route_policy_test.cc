// Which role may call which route: a table, deny by default.
#include <gtest/gtest.h>

#include "infer/server.h"
#include "libinfer/serve/routes.h"

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
      {"/v1/admin/models/a/scale", false, true},
      {"/v1/admin/host-added", false, true},
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

TEST(RouteTableTest, MatchesExactPathsAndOneSegmentHoles) {
  using serve::MatchRoute;
  using serve::RouteId;
  struct Case {
    const char* path;
    std::optional<RouteId> id;
    const char* param;
  };
  const Case cases[] = {
      {"/health", RouteId::kHealth, ""},
      {"/v1/chat/completions", RouteId::kChatCompletions, ""},
      {"/v1/models/smollm2", RouteId::kModel, "smollm2"},
      {"/v1/admin/models/a", RouteId::kAdminModel, "a"},
      {"/v1/admin/models/a/scale", RouteId::kAdminModelScale, "a"},
      {"/v1/admin/models", RouteId::kAdminModels, ""},
      {"/v1/models/", std::nullopt, ""},
      {"/v1/models/a/b", std::nullopt, ""},
      {"/v1/models/..", std::nullopt, ""},
      {"/v1/admin/models//scale", std::nullopt, ""},
      {"/v1/admin/models/../scale", std::nullopt, ""},
      {"/v1/admin/models/a/b/scale", std::nullopt, ""},
      {"/v1/chat/completions/", std::nullopt, ""},
      {"/healthz", std::nullopt, ""},
  };
  for (const Case& c : cases) {
    const auto m = MatchRoute(c.path);
    ASSERT_EQ(m.has_value(), c.id.has_value()) << c.path;
    if (!m) continue;
    EXPECT_EQ(m->route->id, *c.id) << c.path;
    EXPECT_EQ(m->param, c.param) << c.path;
  }
}

TEST(RouteTableTest, MethodsAreTheAllowHeadersList) {
  const auto models = serve::MatchRoute("/v1/admin/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->route->methods, "GET, POST, DELETE");
  for (const char* m : {"GET", "POST", "DELETE"})
    EXPECT_TRUE(serve::RouteAllows(*models->route, m));
  EXPECT_FALSE(serve::RouteAllows(*models->route, "PUT"));
  EXPECT_FALSE(serve::RouteAllows(*models->route, "GE"));
  EXPECT_FALSE(serve::RouteAllows(*models->route, "GET, POST"));
  const auto chat = serve::MatchRoute("/v1/chat/completions");
  EXPECT_TRUE(serve::RouteAllows(*chat->route, "POST"));
  EXPECT_FALSE(serve::RouteAllows(*chat->route, "GET"));
  EXPECT_TRUE(serve::RouteAllows(*serve::MatchRoute("/ready")->route, "HEAD"));
}

}  // namespace
}  // namespace infer
