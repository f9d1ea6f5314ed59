// AuthStore end to end (no HTTP): the Secret layout and users files, errors naming every bad
// entry, reload, revocation, login limits, API keys, insecure settings, concurrency.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infer/auth.h"
#include "infer/log.h"
#include "libinfer/util/crypto.h"
#include "tests/util/log_capture.h"

namespace infer {
namespace {

constexpr char kJwtKey[] = "test-jwt-key-0123456789-abcdefghijklmnopqrstuvwxyz";

// Hashes are slow on purpose; make each once.
const std::string& AliceHash() {
  static const std::string h = HashPassword("alice-pw").value();
  return h;
}
const std::string& AliceNewHash() {
  static const std::string h = HashPassword("alice-new-pw").value();
  return h;
}
const std::string& BobLegacyHash() {
  static const std::string h = HashPasswordLegacySha256("bob-pw").value();
  return h;
}

// The seed's auth.yaml, as environment variables, with real hashes and a real key.
Environment SeedEnvironment() {
  return {{"JWT_KEY", kJwtKey},
          {"ACCESS_TOKEN_EXPIRE_MINUTES", "60"},
          {"SKIP_EXP_CHECK", "false"},
          {"HUGGING_FACE_HUB_TOKEN", ""},
          {"USER_LIST", "ALICE, BOB"},
          {"ALICE_USERNAME", "alice"},
          {"ALICE_HASHED_PASSWORD", AliceHash()},
          {"ALICE_ROLE", "admin"},
          {"BOB_USERNAME", "bob"},
          {"BOB_HASHED_PASSWORD", BobLegacyHash()},
          {"BOB_ROLE", "guest"},
          {"PATH", "/usr/bin"}};
}

// A settable clock (whole seconds since the epoch).
struct FakeClock {
  std::atomic<int64_t> seconds{1700000000};
  AuthClock Fn() {
    return [this] {
      return std::chrono::system_clock::time_point(std::chrono::seconds(seconds.load()));
    };
  }
};

// An environment the test can change between reloads.
struct MutableEnv {
  std::mutex mu;
  Environment env = SeedEnvironment();
  EnvironmentProvider Fn() {
    return [this] {
      std::lock_guard<std::mutex> lock(mu);
      return env;
    };
  }
  void Set(const std::string& k, const std::string& v) {
    std::lock_guard<std::mutex> lock(mu);
    env[k] = v;
  }
};

using ::infer::testing::LogCapture;

bool Contains(const absl::Status& s, const std::string& part) {
  return std::string(s.message()).find(part) != std::string::npos;
}

class AuthStoreTest : public ::testing::Test {
 protected:
  AuthOptions Options() {
    AuthOptions o;
    o.clock = clock_.Fn();
    return o;
  }
  std::unique_ptr<AuthStore> Store(Environment env, AuthOptions options) {
    auto store = AuthStore::FromEnvironment([env] { return env; }, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  absl::Status CreateError(Environment env, AuthOptions options) {
    return AuthStore::FromEnvironment([env] { return env; }, options).status();
  }
  FakeClock clock_;
};

TEST_F(AuthStoreTest, SeedLayoutLogsInAndVerifies) {
  auto store = Store(SeedEnvironment(), Options());
  ASSERT_NE(store, nullptr);
  auto token = store->Login("alice", "alice-pw", "127.0.0.1");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token_type, "bearer");
  EXPECT_EQ(token->expires_in, 3600);
  EXPECT_EQ(token->claims.expires_at, clock_.seconds + 3600);
  auto claims = store->Verify(token->access_token);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->role, Role::kAdmin);
  EXPECT_EQ(claims->issuer, "libinfer");
  EXPECT_EQ(claims->audience, "libinfer");
  EXPECT_EQ(claims->token_id.size(), 22u);  // 128 random bits, base64url
  EXPECT_EQ(claims->not_before, claims->issued_at);
  EXPECT_FALSE(claims->from_api_key);
  // Authenticate takes the same token.
  EXPECT_EQ(store->Authenticate(token->access_token)->subject, "alice");
  // Two logins give two token ids.
  EXPECT_NE(store->Login("alice", "alice-pw", "")->claims.token_id, claims->token_id);

  auto users = store->ListUsers();
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0].username, "alice");
  EXPECT_EQ(users[0].role, Role::kAdmin);
  EXPECT_EQ(users[1].username, "bob");
  EXPECT_EQ(users[1].role, Role::kUser);  // guest
}

TEST_F(AuthStoreTest, TokensExpireWithAtMostAMinuteOfLeeway) {
  auto store = Store(SeedEnvironment(), Options());
  auto token = store->Login("alice", "alice-pw", "").value();
  clock_.seconds += 3600 + 59;
  EXPECT_TRUE(store->Verify(token.access_token).ok());
  clock_.seconds += 2;  // 61 s past exp
  auto expired = store->Verify(token.access_token);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(expired.status(), "expired"));
}

TEST_F(AuthStoreTest, LegacyHashLogsInWithAWarningNamingTheUser) {
  auto store = Store(SeedEnvironment(), Options());
  LogCapture log;
  auto token = store->Login("bob", "bob-pw", "");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(store->Verify(token->access_token)->role, Role::kUser);
  const std::string lines = log.All();
  EXPECT_NE(lines.find("'bob'"), std::string::npos) << lines;
  EXPECT_NE(lines.find("infer-cli gen-password"), std::string::npos) << lines;
}

TEST_F(AuthStoreTest, WrongPasswordAndUnknownUserAreIndistinguishable) {
  auto store = Store(SeedEnvironment(), Options());
  const absl::Status wrong = store->Login("alice", "nope", "").status();
  const absl::Status unknown = store->Login("mallory", "nope", "").status();
  const absl::Status legacy_wrong = store->Login("bob", "nope", "").status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(wrong, unknown);
  EXPECT_EQ(wrong, legacy_wrong);
  EXPECT_EQ(store->Login("alice", std::string(kMaxPasswordBytes + 1, 'x'), "").status(), wrong);
  EXPECT_EQ(store->Login("", "", "").status(), wrong);
}

TEST_F(AuthStoreTest, FailedLoginsAreLimitedAndTheLimitDecays) {
  AuthOptions o = Options();
  auto store = Store(SeedEnvironment(), o);
  const int burst = o.login_limits.username_burst;
  for (int i = 0; i < burst; ++i) {
    EXPECT_EQ(store->Login("alice", "bad", "10.0.0.1").status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  // Now even the right password waits: the limiter answers before any hashing.
  const absl::Status limited = store->Login("alice", "alice-pw", "10.0.0.2").status();
  EXPECT_EQ(limited.code(), absl::StatusCode::kResourceExhausted);
  const std::optional<int64_t> retry = RetryAfterSeconds(limited);
  ASSERT_TRUE(retry.has_value());
  EXPECT_GE(*retry, 1);
  EXPECT_LE(*retry, static_cast<int64_t>(o.login_limits.username_refill_seconds));
  EXPECT_FALSE(RetryAfterSeconds(store->Login("bob", "bad", "").status()).has_value());
  clock_.seconds += *retry;
  EXPECT_TRUE(store->Login("alice", "alice-pw", "10.0.0.2").ok());
  // Success reset the username's bucket.
  EXPECT_EQ(store->Login("alice", "bad", "10.0.0.3").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthStoreTest, TwentyRapidBadLoginsAreLimited) {
  // The issue's acceptance check: 20 rapid bad logins get 429 (ResourceExhausted) at the end.
  auto store = Store(SeedEnvironment(), Options());
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 20; ++i)
    codes.push_back(store->Login("alice", "bad", "192.0.2.7").status().code());
  EXPECT_EQ(codes.front(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(codes.back(), absl::StatusCode::kResourceExhausted);
  // Spread over many usernames from one address, the address limit catches them.
  int limited = 0;
  for (int i = 0; i < 40; ++i) {
    limited += store->Login("user" + std::to_string(i), "bad", "192.0.2.8").status().code() ==
               absl::StatusCode::kResourceExhausted;
  }
  EXPECT_GT(limited, 0);
}

TEST_F(AuthStoreTest, EnvironmentErrorsNameEveryBadEntry) {
  Environment env = SeedEnvironment();
  env["USER_LIST"] = "ALICE, BOB, CAROL, DAVE, EVE, al-ice";
  env["ALICE_ROLE"] = "root";
  env["BOB_HASHED_PASSWORD"] = "fakehashedhash";  // the seed's placeholder
  // CAROL has no variables at all.
  env["DAVE_USERNAME"] = "alice";  // duplicate username
  env["DAVE_HASHED_PASSWORD"] = AliceHash();
  env["DAVE_ROLE"] = "user";
  env["EVE_USERNAME"] = "eve\n";  // `echo eve | base64`
  env["EVE_HASHED_PASSWORD"] =
      "$argon2id$v=19$m=4096,t=1,p=1$bGliaW5mZXItdGVzdC0wMw$Awr2w+dLBSKyqU5CztXq/s0//"
      "Fo1fN8tiz2amAXPSsA";
  env["EVE_ROLE"] = "user";
  const absl::Status s = CreateError(env, Options());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  for (const char* part :
       {"ALICE_ROLE (user 'alice'): unknown role 'root'", "BOB_HASHED_PASSWORD (user 'bob')",
        "CAROL_USERNAME is not set", "CAROL_HASHED_PASSWORD is not set", "CAROL_ROLE is not set",
        "DAVE_USERNAME (user 'alice'): the username is also used by ALICE", "EVE_USERNAME",
        "echo -n", "EVE_HASHED_PASSWORD", "m=4096", "alias 'al-ice'"}) {
    EXPECT_TRUE(Contains(s, part)) << part << "\n" << s;
  }
  // Hashes are never echoed.
  EXPECT_FALSE(Contains(s, "fakehashedhash"));
  EXPECT_FALSE(Contains(s, "Awr2w"));
}

TEST_F(AuthStoreTest, MissingUserListAndEmptyUserList) {
  Environment env = SeedEnvironment();
  env.erase("USER_LIST");
  EXPECT_TRUE(Contains(CreateError(env, Options()), "USER_LIST is not set"));
  env["USER_LIST"] = "";
  auto store = Store(env, Options());
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->ListUsers().empty());
}

TEST_F(AuthStoreTest, WeakOrSampleJwtKeysAreRefusedWithAHint) {
  for (const char* key :
       {"default_jwt_key", "default_jwt_Key", "short", "", "0123456789012345678901234567890"}) {
    Environment env = SeedEnvironment();
    env["JWT_KEY"] = key;
    const absl::Status s = CreateError(env, Options());
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_TRUE(Contains(s, "JWT_KEY")) << s;
    EXPECT_TRUE(Contains(s, "infer-cli gen-password --jwt-key")) << s;
  }
  Environment env = SeedEnvironment();
  env.erase("JWT_KEY");
  EXPECT_TRUE(Contains(CreateError(env, Options()), "infer-cli gen-password --jwt-key"));
  // The options' key is the fallback, under the same rules.
  AuthOptions o = Options();
  o.jwt_key = "default_jwt_key";
  EXPECT_FALSE(AuthStore::FromEnvironment([env] { return env; }, o).ok());
  o.jwt_key = kJwtKey;
  EXPECT_TRUE(AuthStore::FromEnvironment([env] { return env; }, o).ok());
  env["JWT_KEY"] = std::string(32, 'k');
  EXPECT_TRUE(AuthStore::FromEnvironment([env] { return env; }, Options()).ok());
}

TEST_F(AuthStoreTest, SkipExpCheckNeedsInsecureModeAndWarnsEachTime) {
  Environment env = SeedEnvironment();
  env["SKIP_EXP_CHECK"] = "true";
  const absl::Status refused = CreateError(env, Options());
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(refused, "SKIP_EXP_CHECK")) << refused;
  EXPECT_TRUE(Contains(refused, "--insecure")) << refused;

  AuthOptions insecure = Options();
  insecure.allow_insecure = true;
  LogCapture log;
  auto store = Store(env, insecure);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->expiry_checks_disabled());
  EXPECT_NE(log.All().find("SKIP_EXP_CHECK=true"), std::string::npos);
  auto token = store->Login("alice", "alice-pw", "").value();
  clock_.seconds += 365 * 24 * 3600;
  EXPECT_TRUE(store->Verify(token.access_token).ok());
  ASSERT_TRUE(store->Reload().ok());
  size_t warnings = 0;
  for (size_t p = 0; (p = log.All().find("SKIP_EXP_CHECK=true", p)) != std::string::npos; ++p) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 2u);

  env["SKIP_EXP_CHECK"] = "maybe";
  EXPECT_TRUE(Contains(CreateError(env, insecure), "SKIP_EXP_CHECK must be true or false"));
}

TEST_F(AuthStoreTest, TokenLifetimeSetting) {
  Environment env = SeedEnvironment();
  env["ACCESS_TOKEN_EXPIRE_MINUTES"] = "15";
  auto store = Store(env, Options());
  EXPECT_EQ(store->token_lifetime_seconds(), 900);
  EXPECT_EQ(store->Login("alice", "alice-pw", "")->expires_in, 900);
  for (const char* bad : {"0", "-5", "abc", "60 ", "1e3", "10081", "99999999999"}) {
    env["ACCESS_TOKEN_EXPIRE_MINUTES"] = bad;
    EXPECT_TRUE(Contains(CreateError(env, Options()), "ACCESS_TOKEN_EXPIRE_MINUTES")) << bad;
  }
  env.erase("ACCESS_TOKEN_EXPIRE_MINUTES");
  AuthOptions o = Options();
  o.default_token_lifetime_minutes = 5;
  EXPECT_EQ(Store(env, o)->token_lifetime_seconds(), 300);
}

TEST_F(AuthStoreTest, BadOptionsAreRefused) {
  AuthOptions o = Options();
  o.leeway_seconds = 61;
  EXPECT_TRUE(Contains(CreateError(SeedEnvironment(), o), "leeway"));
  o = Options();
  o.api_keys = {{"svc", "too-short", Role::kUser}};
  EXPECT_TRUE(Contains(CreateError(SeedEnvironment(), o), "API key 'svc'"));
  o.api_keys = {{"a", "0123456789abcdef", Role::kUser}, {"b", "0123456789abcdef", Role::kAdmin}};
  EXPECT_TRUE(Contains(CreateError(SeedEnvironment(), o), "repeats"));
}

TEST_F(AuthStoreTest, ReloadKeepsTheOldStoreOnErrorAndRevokesChangedUsers) {
  MutableEnv env;
  auto created = AuthStore::FromEnvironment(env.Fn(), Options());
  ASSERT_TRUE(created.ok()) << created.status();
  AuthStore& store = **created;
  const std::string alice_token = store.Login("alice", "alice-pw", "").value().access_token;
  const std::string bob_token = store.Login("bob", "bob-pw", "").value().access_token;
  EXPECT_FALSE(store.SourceChanged().value());

  // A bad entry: refused, named, and everything keeps working.
  env.Set("BOB_ROLE", "superuser");
  EXPECT_TRUE(store.SourceChanged().value());
  const absl::Status bad = store.Reload();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad, "BOB_ROLE (user 'bob'): unknown role 'superuser'")) << bad;
  EXPECT_TRUE(store.Verify(alice_token).ok());
  EXPECT_TRUE(store.Verify(bob_token).ok());
  EXPECT_TRUE(store.Login("bob", "bob-pw", "").ok());
  EXPECT_EQ(store.ReloadIfChanged().status().code(), absl::StatusCode::kInvalidArgument);

  // Alice's password changes: her old token stops verifying, bob's (unchanged) stays valid.
  env.Set("BOB_ROLE", "guest");
  env.Set("ALICE_HASHED_PASSWORD", AliceNewHash());
  ASSERT_TRUE(store.ReloadIfChanged().value());
  EXPECT_FALSE(store.ReloadIfChanged().value());
  const auto revoked = store.Verify(alice_token);
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(revoked.status(), "revoked")) << revoked.status();
  EXPECT_TRUE(store.Verify(bob_token).ok());
  EXPECT_FALSE(store.Login("alice", "alice-pw", "").ok());
  const std::string new_alice = store.Login("alice", "alice-new-pw", "").value().access_token;
  EXPECT_TRUE(store.Verify(new_alice).ok());

  // A role change revokes too.
  env.Set("ALICE_ROLE", "user");
  ASSERT_TRUE(store.Reload().ok());
  EXPECT_FALSE(store.Verify(new_alice).ok());

  // Removing bob revokes his token.
  env.Set("USER_LIST", "ALICE");
  ASSERT_TRUE(store.Reload().ok());
  const auto removed = store.Verify(bob_token);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(removed.status(), "no longer exists")) << removed.status();
}

TEST_F(AuthStoreTest, TokensFromAnotherKeyOrIssuerAreRejected) {
  auto store = Store(SeedEnvironment(), Options());
  Environment other_env = SeedEnvironment();
  other_env["JWT_KEY"] = std::string(kJwtKey) + "-other";
  auto other = Store(other_env, Options());
  AuthOptions other_iss = Options();
  other_iss.issuer = "someone-else";
  auto third = Store(SeedEnvironment(), other_iss);
  AuthOptions other_aud = Options();
  other_aud.audience = "another-api";
  auto fourth = Store(SeedEnvironment(), other_aud);
  for (AuthStore* s : {other.get(), third.get(), fourth.get()}) {
    const std::string token = s->Login("alice", "alice-pw", "").value().access_token;
    EXPECT_EQ(store->Verify(token).status().code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_FALSE(store->Verify(std::string(100000, 'a')).ok());
  EXPECT_FALSE(store->Authenticate("").ok());
}

TEST_F(AuthStoreTest, StaticApiKeys) {
  AuthOptions o = Options();
  o.api_keys = {{"ci", "ci-key-0123456789abcdef", Role::kUser},
                {"ops", "ops-key-0123456789abcdef", Role::kAdmin}};
  auto store = Store(SeedEnvironment(), o);
  auto ci = store->Authenticate("ci-key-0123456789abcdef");
  ASSERT_TRUE(ci.ok()) << ci.status();
  EXPECT_EQ(ci->subject, "api-key:ci");
  EXPECT_EQ(ci->role, Role::kUser);
  EXPECT_TRUE(ci->from_api_key);
  EXPECT_EQ(store->Authenticate("ops-key-0123456789abcdef")->role, Role::kAdmin);
  EXPECT_EQ(store->Authenticate("ops-key-0123456789abcdeF").status().code(),
            absl::StatusCode::kUnauthenticated);
  // Verify() is for tokens only.
  EXPECT_FALSE(store->Verify("ci-key-0123456789abcdef").ok());
}

// Each kind of secret goes through the constant-time comparison: the argon2id tag, the legacy
// SHA-256, the token's signature and its user epoch, an API key's digest.
TEST_F(AuthStoreTest, EverySecretIsComparedInConstantTime) {
  AuthOptions o = Options();
  o.api_keys = {{"ci", "ci-key-0123456789abcdef", Role::kUser}};
  auto store = Store(SeedEnvironment(), o);
  auto calls_during = [](const std::function<void()>& f) {
    const uint64_t before = crypto::ConstantTimeEqualsCalls();
    f();
    return crypto::ConstantTimeEqualsCalls() - before;
  };
  std::string token;
  EXPECT_GE(calls_during([&] { token = store->Login("alice", "alice-pw", "")->access_token; }), 1u);
  EXPECT_GE(calls_during([&] { EXPECT_TRUE(store->Login("bob", "bob-pw", "").ok()); }), 1u);
  EXPECT_GE(calls_during([&] { EXPECT_FALSE(store->Login("alice", "nope", "").ok()); }), 1u);
  // Signature and epoch.
  EXPECT_GE(calls_during([&] { EXPECT_TRUE(store->Verify(token).ok()); }), 2u);
  EXPECT_GE(calls_during([&] { EXPECT_TRUE(store->Authenticate("ci-key-0123456789abcdef").ok()); }),
            1u);
}

TEST_F(AuthStoreTest, ApiKeysOnlyStore) {
  AuthOptions o = Options();
  EXPECT_EQ(AuthStore::FromApiKeys(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.api_keys = {{"svc", "svc-key-0123456789abcdef", Role::kAdmin}};
  auto store = AuthStore::FromApiKeys(o);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Authenticate("svc-key-0123456789abcdef")->role, Role::kAdmin);
  EXPECT_TRUE((*store)->ListUsers().empty());
  // No users: every login fails as for an unknown user; no token verifies.
  EXPECT_EQ((*store)->Login("alice", "alice-pw", "").status().code(),
            absl::StatusCode::kUnauthenticated);
  auto other = Store(SeedEnvironment(), Options());
  const std::string token = other->Login("alice", "alice-pw", "")->access_token;
  EXPECT_EQ((*store)->Authenticate(token).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*store)->Reload().ok());
  EXPECT_FALSE(*(*store)->SourceChanged());
  // A short key is refused as for any store.
  o.api_keys = {{"svc", "short", Role::kUser}};
  EXPECT_EQ(AuthStore::FromApiKeys(o).status().code(), absl::StatusCode::kInvalidArgument);
}

class AuthFileTest : public AuthStoreTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("infer_auth_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }
  std::filesystem::path dir_;
};

std::string YamlUsers(const std::string& alice_hash, const std::string& bob_role = "guest") {
  return "jwt_key: \"" + std::string(kJwtKey) +
         "\"\n"
         "access_token_expire_minutes: 30\n"
         "users:\n"
         "  - username: alice\n"
         "    password_hash: \"" +
         alice_hash +
         "\"\n"
         "    role: admin\n"
         "  - username: bob\n"
         "    password_hash: \"" +
         BobLegacyHash() +
         "\"\n"
         "    role: " +
         bob_role + "\n";
}

TEST_F(AuthFileTest, YamlUsersFile) {
  const std::string path = Write("users.yaml", YamlUsers(AliceHash()));
  auto store = AuthStore::FromFile(path, Options());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->token_lifetime_seconds(), 1800);
  EXPECT_TRUE((*store)->Login("alice", "alice-pw", "").ok());
  EXPECT_TRUE((*store)->Login("bob", "bob-pw", "").ok());
}

TEST_F(AuthFileTest, JsonUsersFile) {
  const std::string json = R"({"jwt_key": ")" + std::string(kJwtKey) +
                           R"(", "skip_exp_check": false, "access_token_expire_minutes": 45,
      "users": [{"username": "alice", "password_hash": ")" +
                           AliceHash() + R"(", "role": "admin"}]})";
  auto store = AuthStore::FromFile(Write("users.json", json), Options());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->token_lifetime_seconds(), 2700);
  EXPECT_TRUE((*store)->Login("alice", "alice-pw", "").ok());
}

TEST_F(AuthFileTest, KubernetesSecretManifestAsIs) {
  // The seed's auth.yaml, with real values (base64, as in the Secret) and one stringData entry.
  const auto b64 = [](const std::string& s) { return crypto::Base64EncodePadded(s); };
  const std::string manifest =
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: auth-config\n  namespace: "
      "kuberay-projects\n"
      "type: Opaque\ndata:\n"
      "  JWT_KEY: " +
      b64(kJwtKey) +
      "\n"
      "  ACCESS_TOKEN_EXPIRE_MINUTES: NjA=\n"
      "  SKIP_EXP_CHECK: ZmFsc2U=\n"
      "  HUGGING_FACE_HUB_TOKEN: \"\"\n"
      "  USER_LIST: QUxJQ0UsIEJPQg==\n"
      "  ALICE_USERNAME: YWxpY2U=\n"
      "  ALICE_HASHED_PASSWORD: " +
      b64(AliceHash()) +
      "\n"
      "  ALICE_ROLE: YWRtaW4=\n"
      "  BOB_USERNAME: Ym9i\n"
      "  BOB_ROLE: Z3Vlc3Q=\n"
      "stringData:\n"
      "  BOB_HASHED_PASSWORD: \"" +
      BobLegacyHash() + "\"\n";
  auto store = AuthStore::FromFile(Write("auth.yaml", manifest), Options());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Verify((*store)->Login("bob", "bob-pw", "")->access_token)->role,
            Role::kUser);

  // The seed's Secret verbatim is refused, naming the sample key and both placeholder hashes.
  const std::string seed =
      "apiVersion: v1\nkind: Secret\nmetadata:\n  name: auth-config\ntype: Opaque\ndata:\n"
      "  JWT_KEY: ZGVmYXVsdF9qd3RfS2V5\n  ACCESS_TOKEN_EXPIRE_MINUTES: NjA=\n"
      "  SKIP_EXP_CHECK: ZmFsc2U=\n  HUGGING_FACE_HUB_TOKEN: \"\"\n  USER_LIST: QUxJQ0UsIEJPQg==\n"
      "  ALICE_USERNAME: YWxpY2U=\n  ALICE_HASHED_PASSWORD: ZmFrZWhhc2hlZGhhc2g=\n"
      "  ALICE_ROLE: YWRtaW4=\n  BOB_USERNAME: Ym9i\n  BOB_HASHED_PASSWORD: ZmFrZWhhc2hlZGhhc2g=\n"
      "  BOB_ROLE: Z3Vlc3Q=\n";
  const absl::Status s = AuthStore::FromFile(Write("seed.yaml", seed), Options()).status();
  EXPECT_TRUE(Contains(s, "default_jwt_key")) << s;
  EXPECT_TRUE(Contains(s, "ALICE_HASHED_PASSWORD (user 'alice')")) << s;
  EXPECT_TRUE(Contains(s, "BOB_HASHED_PASSWORD (user 'bob')")) << s;
}

TEST_F(AuthFileTest, FileErrorsNameTheEntries) {
  const std::string yaml = "jwt_key: \"" + std::string(kJwtKey) +
                           "\"\nusers:\n"
                           "  - username: alice\n    password_hash: \"" +
                           AliceHash() +
                           "\"\n    role: admin\n"
                           "  - username: bob\n    password_hash: nothash\n    role: boss\n"
                           "  - {username: carol, role: user, pasword_hash: x}\n"
                           "unknown_setting: 1\n";
  const absl::Status s = AuthStore::FromFile(Write("bad.yaml", yaml), Options()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  for (const char* part :
       {"bad.yaml", "users[1].password_hash (user 'bob')",
        "users[1].role (user 'bob'): unknown role 'boss'", "users[2]: unknown key 'pasword_hash'",
        "unknown key 'unknown_setting'"}) {
    EXPECT_TRUE(Contains(s, part)) << part << "\n" << s;
  }
  // Syntax errors, duplicate keys, wrong types, missing files.
  EXPECT_EQ(AuthStore::FromFile(Write("syntax.yaml", "users: [\n"), Options()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      Contains(AuthStore::FromFile(Write("dup.yaml", "users: []\nusers: []\n"), Options()).status(),
               "duplicate"));
  EXPECT_TRUE(Contains(
      AuthStore::FromFile(Write("dup.json", R"({"users":[],"users":[]})"), Options()).status(),
      "duplicate"));
  EXPECT_TRUE(
      Contains(AuthStore::FromFile(Write("type.json", R"({"users":{"a":1}})"), Options()).status(),
               "users must be a list"));
  EXPECT_EQ(AuthStore::FromFile((dir_ / "missing.yaml").string(), Options()).status().code(),
            absl::StatusCode::kNotFound);
  // Alias expansion cannot blow up.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [*" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + ", *" +
            static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + "]\n";
  }
  EXPECT_TRUE(
      Contains(AuthStore::FromFile(Write("bomb.yaml", bomb), Options()).status(), "too large"));
}

TEST_F(AuthFileTest, FileReloadAndChangeDetection) {
  const std::string path = Write("users.yaml", YamlUsers(AliceHash()));
  auto created = AuthStore::FromFile(path, Options());
  ASSERT_TRUE(created.ok()) << created.status();
  AuthStore& store = **created;
  const std::string alice = store.Login("alice", "alice-pw", "").value().access_token;
  EXPECT_FALSE(store.SourceChanged().value());

  // Same bytes rewritten (new mtime): not a change.
  std::filesystem::last_write_time(
      path, std::filesystem::last_write_time(path) + std::chrono::seconds(5));
  EXPECT_FALSE(store.SourceChanged().value());

  // A broken edit is refused and the old users stay.
  Write("users.yaml", YamlUsers(AliceHash(), "boss"));
  EXPECT_TRUE(store.SourceChanged().value());
  const auto refused = store.ReloadIfChanged();
  EXPECT_TRUE(Contains(refused.status(), "users[1].role (user 'bob')")) << refused.status();
  EXPECT_TRUE(store.Verify(alice).ok());
  EXPECT_TRUE(store.Login("bob", "bob-pw", "").ok());

  // A good edit is taken; alice's new password revokes her old token.
  Write("users.yaml", YamlUsers(AliceNewHash()));
  ASSERT_TRUE(store.ReloadIfChanged().value());
  EXPECT_FALSE(store.SourceChanged().value());
  EXPECT_FALSE(store.Verify(alice).ok());
  EXPECT_TRUE(store.Login("alice", "alice-new-pw", "").ok());

  // A vanished file is an error and the users stay.
  std::filesystem::remove(path);
  EXPECT_EQ(store.SourceChanged().status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store.Reload().ok());
  EXPECT_EQ(store.ListUsers().size(), 2u);
}

TEST_F(AuthStoreTest, ConcurrentVerifyDuringReloads) {
  MutableEnv env;
  auto created = AuthStore::FromEnvironment(env.Fn(), Options());
  ASSERT_TRUE(created.ok());
  AuthStore& store = **created;
  const std::string bob = store.Login("bob", "bob-pw", "").value().access_token;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> checks{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        failures += !store.Verify(bob).ok();
        failures += store.ListUsers().empty();
        ++checks;
      }
    });
  }
  // Let every reader get going before the reloads start (the machine may be busy).
  while (checks.load() < 3) std::this_thread::yield();
  for (int i = 0; i < 20; ++i) {
    // Alternate alice's role; bob never changes, so his token must verify throughout.
    env.Set("ALICE_ROLE", i % 2 ? "admin" : "user");
    ASSERT_TRUE(store.Reload().ok());
    env.Set("ALICE_ROLE", "superuser");
    ASSERT_FALSE(store.Reload().ok());
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(checks.load(), 0);
}

TEST(AuthStoreProcessEnvTest, FromTheProcessEnvironment) {
  ::setenv("INFER_AUTH_TEST_MARKER", "x=y", 1);
  const Environment env = AuthStore::ProcessEnvironment();
  ASSERT_TRUE(env.count("INFER_AUTH_TEST_MARKER"));
  EXPECT_EQ(env.at("INFER_AUTH_TEST_MARKER"), "x=y");
  ::unsetenv("INFER_AUTH_TEST_MARKER");
}

}  // namespace
}  // namespace infer
