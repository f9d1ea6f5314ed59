// libinfer — authentication: users, password hashes, access tokens, roles.
//
// AuthStore holds the users a server accepts (username, password hash, role), issues JSON Web
// Tokens when one logs in, and checks the bearer token of every request. It keeps the layout of
// the Kubernetes Secret that the Python deployment libinfer replaces working unchanged:
//
//   USER_LIST="ALICE, BOB"              aliases, comma separated
//   ALICE_USERNAME=alice                one triple per alias
//   ALICE_HASHED_PASSWORD=$argon2id$... an argon2id PHC string, or the legacy seed format below
//   ALICE_ROLE=admin                    admin, user, or guest (= user)
//   JWT_KEY=...                         HMAC key, at least 32 bytes
//   ACCESS_TOKEN_EXPIRE_MINUTES=60      token lifetime (optional)
//   SKIP_EXP_CHECK=false                true only together with AuthOptions::allow_insecure
//
// and reads the same settings from a users file (YAML or JSON) for installs without Kubernetes.
// The store reloads at run time (Reload(), ReloadIfChanged()); a reload with any bad entry is
// refused as a whole and the store in use stays.
//
// Security properties (each one is tested):
//   * Passwords are argon2id (libargon2) PHC strings; the cost parameters are read back from the
//     string and must be at least OWASP's minimum (m=19456 KiB, t=2, p=1) and below DoS bounds.
//   * Legacy seed hashes (`<salt>$<hex sha256(salt + password)>`) still verify, with a warning
//     naming the user, so an old Secret keeps working while users are rehashed.
//   * Every secret comparison is constant-time; an unknown user costs the same argon2id work as
//     a wrong password, and both fail with the same status code and message.
//   * Tokens are HS256 only; `alg` is never taken from the token. exp/nbf are checked with at most
//     60 s leeway, iss/aud always. A token stops verifying when its user is removed or the user's
//     password hash or role changes (a per-user epoch claim bound to the stored hash).
//   * Failed logins are limited per username and per client address with decaying limits.
//
// The library only decides; the HTTP server maps the results: Unauthenticated -> 401,
// ResourceExhausted with RetryAfterSeconds() -> 429 + Retry-After, a role the server's route policy
// refuses (IsRouteAllowed in infer/server.h) -> 403.
#ifndef INFER_AUTH_H_
#define INFER_AUTH_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer {

// ---- Roles and routes ----------------------------------------------------------------------

// What a principal may do. Users run inference; admins also reach the /v1/admin/* routes.
enum class Role { kUser, kAdmin };

// "admin" -> kAdmin; "user" and the seed's "guest" -> kUser (ASCII case-insensitive).
// nullopt for anything else: an unknown role is never given access.
std::optional<Role> ParseRole(std::string_view name);

// "admin" or "user": the name written into tokens and shown by the admin API.
std::string_view RoleName(Role role);

// ---- Password hashes -------------------------------------------------------------------------

// Longest password accepted, in bytes, by HashPassword, VerifyPassword and AuthStore::Login.
inline constexpr size_t kMaxPasswordBytes = 1024;

// argon2id cost parameters. Defaults are OWASP's current minimum for argon2id.
struct Argon2Params {
  // Memory cost in KiB: at least 19456 (19 MiB), at most 1048576 (1 GiB).
  uint32_t memory_kib = 19456;
  // Passes over the memory: at least 2, at most 64.
  uint32_t iterations = 2;
  // Lanes (and threads libargon2 uses): at least 1, at most 16.
  uint32_t parallelism = 1;
};

// Hashes `password` with argon2id, a fresh 16-byte random salt and a 32-byte tag. Returns the
// PHC string, e.g. "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<tag>" (standard base64, no padding).
// InvalidArgument for parameters outside the bounds of Argon2Params or a password that is empty
// or longer than kMaxPasswordBytes; Internal if libargon2 or the random generator fails.
absl::StatusOr<std::string> HashPassword(std::string_view password,
                                         const Argon2Params& params = {});

// The seed deployment's legacy format, for old deployments only: `<salt>$<hash>` where <salt> is
// 32 lowercase hex characters (16 random bytes, as Python's secrets.token_hex(16) makes) and
// <hash> is the 64 lowercase hex characters of SHA-256 over the UTF-8 bytes of salt followed by
// password, i.e. hashlib.sha256((salt + password).encode("utf-8")).hexdigest(). The salt text is
// hashed as written (its hex characters, not the bytes they encode). One SHA-256 is fast to brute
// force: prefer HashPassword. Same errors as HashPassword.
absl::StatusOr<std::string> HashPasswordLegacySha256(std::string_view password);

// Checks `password` against a stored hash in either format. Returns true on a match, false on a
// mismatch; InvalidArgument when `stored_hash` is malformed or its argon2id parameters are below
// the minimum or above the bounds of Argon2Params (the reason is in the message). Constant-time in
// the comparison of the tags.
absl::StatusOr<bool> VerifyPassword(std::string_view stored_hash, std::string_view password);

// A fresh random JWT_KEY: 48 random bytes as base64url without padding (64 characters).
// Internal if the system random generator fails.
absl::StatusOr<std::string> GenerateJwtKey();

// ---- AuthStore -------------------------------------------------------------------------------

// Environment variables by name (the Secret layout above). Other names are ignored.
using Environment = std::map<std::string, std::string>;

// Produces the current environment; called at creation and at every Reload().
using EnvironmentProvider = std::function<Environment()>;

// The wall clock the store reads for token times and the login limiter; injectable for tests.
using AuthClock = std::function<std::chrono::system_clock::time_point()>;

// A static API key for service accounts (vLLM's --api-key). Several may be configured.
struct ApiKey {
  // Shown as the principal's subject ("api-key:<name>") and in error messages; never the key.
  std::string name;
  // The key itself, at least 16 bytes. Only its SHA-256 is kept after creation.
  std::string key;
  // The role requests with this key get.
  Role role = Role::kUser;
};

// Limits on failed logins. Each username and each client address has a bucket of `burst`
// attempts that refills continuously at one attempt per `refill_seconds`; a failed login takes
// one attempt, and while a bucket is empty logins are refused with a retry-after. Buckets only
// ever refill, so nobody is locked out for longer than `refill_seconds` at a time.
struct LoginLimitOptions {
  // False turns the limiter off (benchmarks, trusted networks).
  bool enabled = true;
  // Failed attempts per username before waiting, and the refill interval in seconds.
  int32_t username_burst = 10;
  double username_refill_seconds = 30.0;
  // Failed attempts per client address before waiting, and the refill interval in seconds.
  int32_t address_burst = 30;
  double address_refill_seconds = 5.0;
  // Buckets remembered per kind (usernames, addresses); bounds memory under a spray of names.
  // When full, buckets that are already full are dropped first, then the fullest ones.
  size_t max_tracked = 10000;
};

struct AuthOptions {
  // `iss` written into tokens and required when verifying.
  std::string issuer = "libinfer";
  // `aud` written into tokens and required when verifying.
  std::string audience = "libinfer";
  // Lifetime of issued tokens in minutes when the source has no ACCESS_TOKEN_EXPIRE_MINUTES.
  // 1 .. 10080 (one week).
  int64_t default_token_lifetime_minutes = 60;
  // Clock skew tolerated on exp, nbf and iat, in seconds: 0 .. 60.
  int64_t leeway_seconds = 60;
  // Lets the source switch expiry checks off (SKIP_EXP_CHECK=true); the server's --insecure.
  // Without it such a source is refused; with it, every creation and reload logs a warning.
  bool allow_insecure = false;
  // HMAC key used when the source defines none (a users file without jwt_key). Same rules as
  // JWT_KEY: at least 32 bytes, not the seed's sample key.
  std::string jwt_key;
  // Static API keys accepted by Authenticate().
  std::vector<ApiKey> api_keys;
  // Failed-login limits.
  LoginLimitOptions login_limits;
  // Longest bearer token accepted, in bytes (longer ones are refused before any work).
  size_t max_token_bytes = 8192;
  // Time source; empty means std::chrono::system_clock::now.
  AuthClock clock;
};

// What a verified token or API key says about its bearer.
struct Claims {
  // The username (`sub`), or "api-key:<name>" for a static API key.
  std::string subject;
  Role role = Role::kUser;
  // `iss`, `aud` and `jti` (128 random bits, base64url); empty for API keys.
  std::string issuer;
  std::string audience;
  std::string token_id;
  // `iat`, `nbf`, `exp` in Unix seconds; 0 for API keys.
  int64_t issued_at = 0;
  int64_t not_before = 0;
  int64_t expires_at = 0;
  // True when the bearer presented a static API key rather than a token.
  bool from_api_key = false;
};

// The answer to a successful login (the body of `POST /token`).
struct IssuedToken {
  std::string access_token;
  std::string token_type = "bearer";
  // Seconds until the token expires.
  int64_t expires_in = 0;
  Claims claims;
};

// A user as the admin API may show it: never the hash.
struct UserInfo {
  std::string username;
  Role role = Role::kUser;
};

// When `status` is a login refused by the failed-login limiter (ResourceExhausted), the seconds
// the client should wait (>= 1), for a Retry-After header; nullopt for any other status.
std::optional<int64_t> RetryAfterSeconds(const absl::Status& status);

// Users, keys and token policy. Thread-safe: Login, Verify, Authenticate and the accessors may
// run concurrently from any number of threads, also while Reload runs (they see the old or the
// new users, never a mix, and wait at most for a pointer copy).
class AuthStore {
 public:
  // From this process's environment (the Secret layout). Reload() reads the environment again.
  static absl::StatusOr<std::unique_ptr<AuthStore>> FromEnvironment(
      const AuthOptions& options = {});

  // From an injected environment; `provider` is called now and on every Reload().
  // InvalidArgument naming every bad entry when the environment is invalid: USER_LIST unset, an
  // alias without <ALIAS>_USERNAME / _HASHED_PASSWORD / _ROLE, an unknown role, a malformed or
  // too weak hash, a duplicate username, a JWT_KEY shorter than 32 bytes or equal to the seed's
  // `default_jwt_key` (make one with `infer-cli gen-password --jwt-key`), a bad
  // ACCESS_TOKEN_EXPIRE_MINUTES or SKIP_EXP_CHECK, or SKIP_EXP_CHECK=true without allow_insecure.
  static absl::StatusOr<std::unique_ptr<AuthStore>> FromEnvironment(EnvironmentProvider provider,
                                                                    const AuthOptions& options);

  // From a users file, re-read by Reload(). The format follows the extension: `.json` is JSON,
  // `.yaml` / `.yml` (or anything else) is YAML. Either holds
  //   {jwt_key, access_token_expire_minutes, skip_exp_check,
  //    users: [{username, password_hash, role}, ...]}
  // (all but `users` optional; unknown keys are errors), or, YAML only, a Kubernetes Secret
  // manifest (`kind: Secret`) whose `data` (base64) and `stringData` hold the environment layout,
  // so the deployment's auth.yaml works as is. NotFound when the file cannot be read;
  // InvalidArgument as for FromEnvironment, entries named by position and username.
  static absl::StatusOr<std::unique_ptr<AuthStore>> FromFile(const std::string& path,
                                                             const AuthOptions& options = {});

  // With static API keys only (`options.api_keys`, at least one) and no users: Authenticate()
  // accepts those keys, Login() fails as for an unknown user and no token verifies. For service
  // accounts (`infer-cli serve --api-key`) without a user list. InvalidArgument without keys or
  // for a bad key (shorter than 16 bytes, unnamed, repeated).
  static absl::StatusOr<std::unique_ptr<AuthStore>> FromApiKeys(const AuthOptions& options);

  // The process environment as a map (what FromEnvironment() reads).
  static Environment ProcessEnvironment();

  ~AuthStore();
  AuthStore(const AuthStore&) = delete;
  AuthStore& operator=(const AuthStore&) = delete;

  // Checks a username and password and issues a token. Errors:
  //   Unauthenticated "incorrect username or password": unknown user or wrong password (the two
  //     are indistinguishable, also in time: unknown users are checked against a dummy hash);
  //   ResourceExhausted: too many failed logins for this username or `client_address`; see
  //     RetryAfterSeconds(). Refused attempts do no hashing and do not extend the wait.
  //   Internal: libargon2 or the random generator failed.
  // `client_address` is whatever identifies the peer (IP address); empty skips that limit.
  // A login with a legacy SHA-256 hash succeeds and logs a warning naming the user.
  absl::StatusOr<IssuedToken> Login(std::string_view username, std::string_view password,
                                    std::string_view client_address);

  // Verifies an access token issued by this store (or another with the same key, issuer and
  // audience). Unauthenticated, with the reason, for a token that is too long, malformed, not
  // HS256, badly signed, expired, not yet valid, for another issuer or audience, or whose user
  // was removed or had the password or role changed since it was issued.
  absl::StatusOr<Claims> Verify(std::string_view token) const;

  // Verifies the credential of an `Authorization: Bearer <credential>` header: a static API key
  // (compared by SHA-256 in constant time against every configured key) or else a token as in
  // Verify(). Unauthenticated when neither.
  absl::StatusOr<Claims> Authenticate(std::string_view bearer) const;

  // Reads the source again (file, or environment provider) and swaps the new users in
  // atomically. On any error the current users stay and the Status names every bad entry.
  // Concurrent calls are serialised. Tokens of users whose entry changed stop verifying.
  absl::Status Reload();

  // Cheap check whether the source changed since the last successful load: for a file, its
  // modification time and size, and when those moved, the SHA-256 of its contents; for an
  // environment, a hash of the variables read. NotFound / Internal when the file is unreadable.
  absl::StatusOr<bool> SourceChanged() const;

  // Reload() if SourceChanged(); returns whether a reload happened. Errors as for Reload().
  absl::StatusOr<bool> ReloadIfChanged();

  // The users currently loaded, sorted by username.
  std::vector<UserInfo> ListUsers() const;

  // True when expiry checks are off (SKIP_EXP_CHECK=true with allow_insecure).
  bool expiry_checks_disabled() const;

  // Lifetime of tokens issued now, in seconds.
  int64_t token_lifetime_seconds() const;

 private:
  struct Impl;
  explicit AuthStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infer

#endif  // INFER_AUTH_H_
