// AuthStore: an immutable snapshot of users and token settings behind a shared_ptr that Reload()
// swaps, plus the failed-login limiter. Readers copy the pointer under a mutex held for nothing
// else, so a reload (file read, parsing, hashing of epochs) never makes a request wait.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "infer/auth.h"
#include "libinfer/auth/auth_config.h"
#include "libinfer/auth/jwt.h"
#include "libinfer/auth/login_limiter.h"
#include "libinfer/auth/password_hash.h"
#include "libinfer/util/crypto.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace {

using Json = nlohmann::json;

// Status payload carrying the limiter's wait (see RetryAfterSeconds()).
constexpr std::string_view kRetryAfterUrl = "type.libinfer.dev/auth.RetryAfterSeconds";
// The one message for an unknown user and a wrong password.
constexpr char kLoginFailed[] = "incorrect username or password";
constexpr int64_t kMaxLeewaySeconds = 60;
constexpr size_t kMinApiKeyBytes = 16;
// Bytes of the per-user epoch claim (`uev`): HMAC-SHA256 truncated to 128 bits.
constexpr size_t kEpochBytes = 16;

struct UserEntry {
  auth::UserRecord record;
  // base64url of HMAC(jwt_key, "libinfer-user-epoch" 0 username 0 role 0 stored hash): changes
  // when the user's hash or role changes, so older tokens stop verifying.
  std::string epoch;
};

// Everything a request reads; never modified after it is published.
struct Snapshot {
  absl::flat_hash_map<std::string, UserEntry> users;
  std::string jwt_key;
  int64_t token_lifetime_seconds = 0;
  bool skip_exp_check = false;
  // Unknown users are verified against this so they cost what a known user costs.
  auth::ParsedHash dummy;
};

struct ApiKeyEntry {
  std::string name;
  crypto::Sha256Digest digest;
  Role role;
};

// The identity of a file as stat() sees it, for the cheap half of SourceChanged().
struct FileStamp {
  int64_t mtime_ns = -1;
  int64_t size = -1;
  bool operator==(const FileStamp&) const = default;
};

struct FileContents {
  std::string data;
  FileStamp stamp;
};

absl::Status FileError(const std::string& path, const char* what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat("cannot ", what, " users file ",
                                                                 path, ": ", std::strerror(err)));
}

absl::StatusOr<FileStamp> StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return FileError(path, "stat", errno);
  return FileStamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                   static_cast<int64_t>(st.st_size)};
}

// Reads the whole file through one descriptor, so the stamp belongs to the bytes read.
absl::StatusOr<FileContents> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(path, "open", errno);
  FileContents out;
  struct stat st {};
  absl::Status status = absl::OkStatus();
  if (::fstat(fd, &st) != 0) {
    status = FileError(path, "stat", errno);
  } else if (!S_ISREG(st.st_mode)) {
    status =
        absl::InvalidArgumentError(absl::StrCat("users file ", path, " is not a regular file"));
  } else if (static_cast<uint64_t>(st.st_size) > auth::kMaxUsersFileBytes) {
    status = absl::InvalidArgumentError(
        absl::StrFormat("users file %s is larger than %d bytes", path, auth::kMaxUsersFileBytes));
  } else {
    out.stamp = {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                 static_cast<int64_t>(st.st_size)};
    char buf[16384];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = FileError(path, "read", errno);
        break;
      }
      if (n == 0) break;
      out.data.append(buf, static_cast<size_t>(n));
      if (out.data.size() > auth::kMaxUsersFileBytes) {
        status = absl::InvalidArgumentError(absl::StrCat("users file ", path, " grew while read"));
        break;
      }
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return out;
}

// A digest of the variables an environment source reads (the Secret layout's names).
absl::StatusOr<std::string> EnvironmentFingerprint(const Environment& env) {
  std::string all;
  for (const auto& [name, value] : env) {
    const bool relevant = name == "USER_LIST" || name == "JWT_KEY" ||
                          name == "ACCESS_TOKEN_EXPIRE_MINUTES" || name == "SKIP_EXP_CHECK" ||
                          name.ends_with("_USERNAME") || name.ends_with("_HASHED_PASSWORD") ||
                          name.ends_with("_ROLE");
    if (!relevant) continue;
    // Length-prefixed, so no two environments serialise alike.
    absl::StrAppend(&all, name.size(), ":", name, value.size(), ":", value);
  }
  INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest d, crypto::Sha256(all));
  return std::string(crypto::AsBytes(d));
}

absl::Status Unauthenticated(const std::string& why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", why));
}

absl::Status ValidateOptions(const AuthOptions& o) {
  std::vector<std::string> errors;
  if (o.issuer.empty() || o.audience.empty()) errors.push_back("issuer and audience must be set");
  if (o.leeway_seconds < 0 || o.leeway_seconds > kMaxLeewaySeconds) {
    errors.push_back(absl::StrFormat("leeway_seconds must be 0..%d", kMaxLeewaySeconds));
  }
  if (o.default_token_lifetime_minutes < 1 ||
      o.default_token_lifetime_minutes > auth::kMaxTokenLifetimeMinutes) {
    errors.push_back(absl::StrFormat("default_token_lifetime_minutes must be 1..%d",
                                     auth::kMaxTokenLifetimeMinutes));
  }
  if (o.max_token_bytes < 256) errors.push_back("max_token_bytes must be at least 256");
  const LoginLimitOptions& l = o.login_limits;
  if (l.username_burst < 1 || l.address_burst < 1 || !(l.username_refill_seconds > 0) ||
      !(l.address_refill_seconds > 0) || l.max_tracked < 1) {
    errors.push_back("login_limits: bursts, refill intervals and max_tracked must be positive");
  }
  for (size_t i = 0; i < o.api_keys.size(); ++i) {
    const ApiKey& k = o.api_keys[i];
    const std::string label =
        k.name.empty() ? absl::StrCat("api_keys[", i, "]") : absl::StrCat("API key '", k.name, "'");
    if (k.name.empty()) errors.push_back(absl::StrCat(label, " has no name"));
    if (k.key.size() < kMinApiKeyBytes) {
      errors.push_back(absl::StrFormat("%s is shorter than %d bytes", label, kMinApiKeyBytes));
    }
    for (size_t j = 0; j < i; ++j) {
      if (crypto::ConstantTimeEquals(o.api_keys[j].key, k.key)) {
        errors.push_back(absl::StrCat(label, " repeats the key of api_keys[", j, "]"));
      }
    }
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid AuthOptions: ", absl::StrJoin(errors, "; ")));
  }
  return absl::OkStatus();
}

// The argon2id parameters most users have: the dummy hash uses them, so an unknown user costs
// what a typical known user costs.
Argon2Params TypicalParams(const std::vector<auth::UserRecord>& users) {
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, size_t> counts;
  for (const auth::UserRecord& u : users) {
    if (u.hash.kind == auth::HashKind::kArgon2id) {
      ++counts[{u.hash.params.memory_kib, u.hash.params.iterations, u.hash.params.parallelism}];
    }
  }
  if (counts.empty()) return Argon2Params{};
  const auto best =
      std::max_element(counts.begin(), counts.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
  const auto [m, t, p] = best->first;
  return Argon2Params{m, t, p};
}

absl::StatusOr<std::string> UserEpoch(std::string_view key, const auth::UserRecord& u) {
  std::string material = "libinfer-user-epoch";
  for (std::string_view part :
       {std::string_view(u.username), RoleName(u.role), std::string_view(u.hash_text)}) {
    material.push_back('\0');
    material.append(part.data(), part.size());
  }
  INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest mac, crypto::HmacSha256(key, material));
  return crypto::Base64EncodeUnpadded(crypto::AsBytes(mac).substr(0, kEpochBytes),
                                      crypto::Base64Alphabet::kUrl);
}

absl::StatusOr<std::shared_ptr<const Snapshot>> BuildSnapshot(auth::AuthConfig config) {
  auto snap = std::make_shared<Snapshot>();
  snap->jwt_key = std::move(config.jwt_key);
  snap->token_lifetime_seconds = config.token_lifetime_minutes * 60;
  snap->skip_exp_check = config.skip_exp_check;
  INFER_ASSIGN_OR_RETURN(snap->dummy, auth::MakeDummyHash(TypicalParams(config.users)));
  std::vector<std::string> legacy;
  for (auth::UserRecord& u : config.users) {
    if (u.hash.kind == auth::HashKind::kLegacySha256) legacy.push_back(u.username);
    INFER_ASSIGN_OR_RETURN(std::string epoch, UserEpoch(snap->jwt_key, u));
    std::string name = u.username;
    snap->users.emplace(std::move(name), UserEntry{std::move(u), std::move(epoch)});
  }
  if (snap->skip_exp_check) {
    INFER_LOG(kWarning,
              "auth: SKIP_EXP_CHECK=true in insecure mode: token expiry is NOT checked, a leaked "
              "token stays valid until JWT_KEY changes");
  }
  if (!legacy.empty()) {
    INFER_LOG(kWarning,
              "auth: %d user(s) have legacy salted SHA-256 password hashes (%s); rehash with "
              "`infer-cli gen-password` and replace their hashes",
              legacy.size(), absl::StrJoin(legacy, ", "));
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

int64_t ClaimInt(const Json& payload, const char* name, bool* ok) {
  const auto it = payload.find(name);
  if (it == payload.end() || !it->is_number_integer()) {
    *ok = false;
    return 0;
  }
  return it->is_number_unsigned()
             ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), INT64_MAX))
             : it->get<int64_t>();
}

std::string ClaimString(const Json& payload, const char* name, bool* ok) {
  const auto it = payload.find(name);
  if (it == payload.end() || !it->is_string()) {
    *ok = false;
    return {};
  }
  return it->get<std::string>();
}

absl::StatusOr<std::vector<ApiKeyEntry>> DigestApiKeys(const AuthOptions& options) {
  std::vector<ApiKeyEntry> out;
  for (const ApiKey& k : options.api_keys) {
    INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest d, crypto::Sha256(k.key));
    out.push_back({k.name, d, k.role});
  }
  return out;
}

}  // namespace

struct AuthStore::Impl {
  AuthOptions options;
  // At most one source; neither for a store of API keys only.
  EnvironmentProvider environment;
  std::string path;
  std::vector<ApiKeyEntry> api_keys;

  mutable std::mutex snapshot_mu;
  std::shared_ptr<const Snapshot> snapshot;  // guarded by snapshot_mu
  // What the published snapshot was built from: file stamp and content (or env) digest.
  mutable std::mutex source_mu;
  mutable FileStamp stamp;  // guarded by source_mu
  std::string fingerprint;  // guarded by source_mu

  std::mutex reload_mu;  // serialises Reload()

  std::mutex limiter_mu;
  auth::LoginLimiter limiter;  // guarded by limiter_mu

  explicit Impl(const AuthOptions& o) : options(o), limiter(o.login_limits) {
    options.api_keys.clear();  // only the digests are kept
  }

  // Validates the options, keeps the digests of the API keys and loads the source: the
  // environment `provider`, else the users file `path`, else none (API keys only).
  static absl::StatusOr<std::unique_ptr<Impl>> Open(const AuthOptions& options,
                                                    EnvironmentProvider provider,
                                                    std::string path) {
    INFER_RETURN_IF_ERROR(ValidateOptions(options));
    auto impl = std::make_unique<Impl>(options);
    INFER_ASSIGN_OR_RETURN(impl->api_keys, DigestApiKeys(options));
    impl->environment = std::move(provider);
    impl->path = std::move(path);
    INFER_ASSIGN_OR_RETURN(Loaded loaded, impl->Load());
    impl->Publish(std::move(loaded));
    return impl;
  }

  std::shared_ptr<const Snapshot> Current() const {
    std::lock_guard<std::mutex> lock(snapshot_mu);
    return snapshot;
  }

  std::chrono::system_clock::time_point Now() const {
    return options.clock ? options.clock() : std::chrono::system_clock::now();
  }
  int64_t NowSeconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
  }
  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Now().time_since_epoch()).count();
  }

  struct Loaded {
    std::shared_ptr<const Snapshot> snapshot;
    FileStamp stamp;
    std::string fingerprint;
  };

  // Reads and validates the source; publishes nothing.
  absl::StatusOr<Loaded> Load() const {
    Loaded loaded;
    if (!environment && path.empty()) {
      // API keys only (FromApiKeys): no users, no token key; tokens never verify.
      auto snap = std::make_shared<Snapshot>();
      INFER_ASSIGN_OR_RETURN(snap->dummy, auth::MakeDummyHash(Argon2Params{}));
      loaded.snapshot = std::move(snap);
      return loaded;
    }
    auth::RawAuthConfig raw;
    if (environment) {
      const Environment env = environment();
      INFER_ASSIGN_OR_RETURN(loaded.fingerprint, EnvironmentFingerprint(env));
      raw = auth::ReadEnvironmentConfig(env);
    } else {
      INFER_ASSIGN_OR_RETURN(FileContents file, ReadFile(path));
      INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest d, crypto::Sha256(file.data));
      loaded.fingerprint = std::string(crypto::AsBytes(d));
      loaded.stamp = file.stamp;
      INFER_ASSIGN_OR_RETURN(raw, auth::ReadFileConfig(path, file.data));
    }
    auto config = auth::ValidateAuthConfig(raw, options);
    if (!config.ok()) {
      if (environment) return config.status();
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
    }
    INFER_ASSIGN_OR_RETURN(loaded.snapshot, BuildSnapshot(std::move(*config)));
    return loaded;
  }

  void Publish(Loaded loaded) {
    {
      std::lock_guard<std::mutex> lock(source_mu);
      stamp = loaded.stamp;
      fingerprint = std::move(loaded.fingerprint);
    }
    std::shared_ptr<const Snapshot> old;
    {
      std::lock_guard<std::mutex> lock(snapshot_mu);
      old = std::exchange(snapshot, std::move(loaded.snapshot));
    }
    // `old` is released here, outside the lock (its last reader may be elsewhere).
  }

  absl::StatusOr<IssuedToken> Issue(const Snapshot& snap, const UserEntry& user) const {
    IssuedToken out;
    Claims& c = out.claims;
    c.subject = user.record.username;
    c.role = user.record.role;
    c.issuer = options.issuer;
    c.audience = options.audience;
    INFER_ASSIGN_OR_RETURN(const std::string jti, crypto::RandomBytes(16));
    c.token_id = crypto::Base64EncodeUnpadded(jti, crypto::Base64Alphabet::kUrl);
    c.issued_at = NowSeconds();
    c.not_before = c.issued_at;
    c.expires_at = c.issued_at + snap.token_lifetime_seconds;
    const Json payload = {{"sub", c.subject},    {"role", std::string(RoleName(c.role))},
                          {"iat", c.issued_at},  {"nbf", c.not_before},
                          {"exp", c.expires_at}, {"iss", c.issuer},
                          {"aud", c.audience},   {"jti", c.token_id},
                          {"uev", user.epoch}};
    INFER_ASSIGN_OR_RETURN(out.access_token, auth::SignJwtHs256(payload, snap.jwt_key));
    out.expires_in = snap.token_lifetime_seconds;
    return out;
  }
};

AuthStore::AuthStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuthStore::~AuthStore() = default;

Environment AuthStore::ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

absl::StatusOr<std::unique_ptr<AuthStore>> AuthStore::FromEnvironment(const AuthOptions& options) {
  return FromEnvironment(&AuthStore::ProcessEnvironment, options);
}

absl::StatusOr<std::unique_ptr<AuthStore>> AuthStore::FromEnvironment(EnvironmentProvider provider,
                                                                      const AuthOptions& options) {
  if (!provider) return absl::InvalidArgumentError("AuthStore: the environment provider is empty");
  INFER_ASSIGN_OR_RETURN(auto impl, Impl::Open(options, std::move(provider), ""));
  return std::unique_ptr<AuthStore>(new AuthStore(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<AuthStore>> AuthStore::FromFile(const std::string& path,
                                                               const AuthOptions& options) {
  if (path.empty()) return absl::InvalidArgumentError("AuthStore: the users file path is empty");
  INFER_ASSIGN_OR_RETURN(auto impl, Impl::Open(options, nullptr, path));
  return std::unique_ptr<AuthStore>(new AuthStore(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<AuthStore>> AuthStore::FromApiKeys(const AuthOptions& options) {
  if (options.api_keys.empty()) {
    return absl::InvalidArgumentError("AuthStore::FromApiKeys: no API keys given");
  }
  INFER_ASSIGN_OR_RETURN(auto impl, Impl::Open(options, nullptr, ""));
  return std::unique_ptr<AuthStore>(new AuthStore(std::move(impl)));
}

absl::StatusOr<IssuedToken> AuthStore::Login(std::string_view username, std::string_view password,
                                             std::string_view client_address) {
  Impl& impl = *impl_;
  const int64_t now_ms = impl.NowMs();
  int64_t wait = 0;
  {
    std::lock_guard<std::mutex> lock(impl.limiter_mu);
    wait = impl.limiter.Check(username, client_address, now_ms);
  }
  if (wait > 0) {
    absl::Status status = absl::ResourceExhaustedError(absl::StrFormat(
        "too many failed logins; try again in %d second%s", wait, wait == 1 ? "" : "s"));
    status.SetPayload(absl::string_view(kRetryAfterUrl.data(), kRetryAfterUrl.size()),
                      absl::Cord(absl::StrCat(wait)));
    return status;
  }

  const std::shared_ptr<const Snapshot> snap = impl.Current();
  const auto it = snap->users.find(absl::string_view(username.data(), username.size()));
  const UserEntry* user = it == snap->users.end() ? nullptr : &it->second;
  // The same argon2id work whatever the outcome: a known user with an argon2id hash, or the
  // dummy hash for an unknown user, a legacy user (whose SHA-256 alone would be fast) and an
  // over-long password.
  const std::string_view checked = password.substr(0, kMaxPasswordBytes);
  bool match = false;
  if (user != nullptr && user->record.hash.kind == auth::HashKind::kArgon2id) {
    INFER_ASSIGN_OR_RETURN(match, auth::VerifyParsedHash(user->record.hash, checked));
  } else {
    INFER_ASSIGN_OR_RETURN(const bool unused, auth::VerifyParsedHash(snap->dummy, checked));
    (void)unused;
    if (user != nullptr) {
      INFER_ASSIGN_OR_RETURN(match, auth::VerifyParsedHash(user->record.hash, checked));
    }
  }
  match = match && password.size() <= kMaxPasswordBytes;
  if (!match) {
    std::lock_guard<std::mutex> lock(impl.limiter_mu);
    impl.limiter.RecordFailure(username, client_address, impl.NowMs());
    return absl::UnauthenticatedError(kLoginFailed);
  }
  {
    std::lock_guard<std::mutex> lock(impl.limiter_mu);
    impl.limiter.RecordSuccess(username);
  }
  if (user->record.hash.kind == auth::HashKind::kLegacySha256) {
    INFER_LOG(kWarning,
              "auth: user '%s' (%s) logged in with a legacy salted SHA-256 password hash; rehash "
              "with `infer-cli gen-password` and replace the stored hash",
              user->record.username, user->record.origin);
  }
  return impl.Issue(*snap, *user);
}

absl::StatusOr<Claims> AuthStore::Verify(std::string_view token) const {
  const Impl& impl = *impl_;
  const std::shared_ptr<const Snapshot> snap = impl.Current();
  if (snap->jwt_key.empty()) return Unauthenticated("this server accepts API keys only");
  auth::JwtPolicy policy;
  policy.max_token_bytes = impl.options.max_token_bytes;
  policy.issuer = impl.options.issuer;
  policy.audience = impl.options.audience;
  policy.check_expiry = !snap->skip_exp_check;
  policy.leeway_seconds = impl.options.leeway_seconds;
  INFER_ASSIGN_OR_RETURN(const Json payload,
                         auth::VerifyJwtHs256(token, snap->jwt_key, policy, impl.NowSeconds()));
  bool ok = true;
  Claims c;
  c.subject = ClaimString(payload, "sub", &ok);
  const std::string role = ClaimString(payload, "role", &ok);
  const std::string epoch = ClaimString(payload, "uev", &ok);
  c.token_id = ClaimString(payload, "jti", &ok);
  c.issuer = ClaimString(payload, "iss", &ok);
  c.audience = ClaimString(payload, "aud", &ok);
  c.issued_at = ClaimInt(payload, "iat", &ok);
  c.not_before = ClaimInt(payload, "nbf", &ok);
  c.expires_at = ClaimInt(payload, "exp", &ok);
  if (!ok) {
    return Unauthenticated("missing or mistyped claims (sub, role, iat, nbf, exp, iss, aud, jti)");
  }
  const auto it = snap->users.find(absl::string_view(c.subject.data(), c.subject.size()));
  if (it == snap->users.end()) return Unauthenticated("the token's user no longer exists");
  const UserEntry& user = it->second;
  if (!crypto::ConstantTimeEquals(epoch, user.epoch)) {
    return Unauthenticated("revoked (the user's password or role changed)");
  }
  const std::optional<Role> parsed_role = ParseRole(role);
  if (!parsed_role || *parsed_role != user.record.role) return Unauthenticated("wrong role");
  c.role = user.record.role;
  return c;
}

absl::StatusOr<Claims> AuthStore::Authenticate(std::string_view bearer) const {
  if (bearer.empty()) return absl::UnauthenticatedError("missing bearer credential");
  if (bearer.size() > impl_->options.max_token_bytes) {
    return Unauthenticated(absl::StrFormat("longer than %d bytes", impl_->options.max_token_bytes));
  }
  if (!impl_->api_keys.empty()) {
    INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest d, crypto::Sha256(bearer));
    // Every key is compared, whatever matched, so the time says nothing about which one.
    const ApiKeyEntry* found = nullptr;
    for (const ApiKeyEntry& k : impl_->api_keys) {
      const bool eq = crypto::ConstantTimeEquals(crypto::AsBytes(d), crypto::AsBytes(k.digest));
      found = eq ? &k : found;
    }
    if (found != nullptr) {
      Claims c;
      c.subject = absl::StrCat("api-key:", found->name);
      c.role = found->role;
      c.from_api_key = true;
      return c;
    }
  }
  return Verify(bearer);
}

absl::Status AuthStore::Reload() {
  std::lock_guard<std::mutex> lock(impl_->reload_mu);
  auto loaded = impl_->Load();
  if (!loaded.ok()) {
    INFER_LOG(kWarning, "auth: reload refused, the users loaded before stay in use: %s",
              loaded.status().message());
    return loaded.status();
  }
  impl_->Publish(std::move(*loaded));
  return absl::OkStatus();
}

absl::StatusOr<bool> AuthStore::SourceChanged() const {
  const Impl& impl = *impl_;
  if (impl.environment) {
    INFER_ASSIGN_OR_RETURN(const std::string now, EnvironmentFingerprint(impl.environment()));
    std::lock_guard<std::mutex> lock(impl.source_mu);
    return now != impl.fingerprint;
  }
  if (impl.path.empty()) return false;  // API keys only: nothing to read again
  INFER_ASSIGN_OR_RETURN(const FileStamp stamp, StatFile(impl.path));
  {
    std::lock_guard<std::mutex> lock(impl.source_mu);
    if (stamp == impl.stamp) return false;
  }
  // Touched or rewritten: compare the contents (a rewrite with the same bytes is no change).
  INFER_ASSIGN_OR_RETURN(const FileContents file, ReadFile(impl.path));
  INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest d, crypto::Sha256(file.data));
  std::lock_guard<std::mutex> lock(impl.source_mu);
  if (crypto::AsBytes(d) != impl.fingerprint) return true;
  impl.stamp = file.stamp;  // same bytes: remember the new stamp so the next check is cheap
  return false;
}

absl::StatusOr<bool> AuthStore::ReloadIfChanged() {
  INFER_ASSIGN_OR_RETURN(const bool changed, SourceChanged());
  if (!changed) return false;
  INFER_RETURN_IF_ERROR(Reload());
  return true;
}

std::vector<UserInfo> AuthStore::ListUsers() const {
  const std::shared_ptr<const Snapshot> snap = impl_->Current();
  std::vector<UserInfo> out;
  out.reserve(snap->users.size());
  for (const auto& [name, user] : snap->users) out.push_back({name, user.record.role});
  std::sort(out.begin(), out.end(),
            [](const UserInfo& a, const UserInfo& b) { return a.username < b.username; });
  return out;
}

bool AuthStore::expiry_checks_disabled() const { return impl_->Current()->skip_exp_check; }

int64_t AuthStore::token_lifetime_seconds() const {
  return impl_->Current()->token_lifetime_seconds;
}

std::optional<int64_t> RetryAfterSeconds(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return std::nullopt;
  const auto payload =
      status.GetPayload(absl::string_view(kRetryAfterUrl.data(), kRetryAfterUrl.size()));
  int64_t seconds = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &seconds) || seconds < 1) {
    return std::nullopt;
  }
  return seconds;
}

}  // namespace infer
