// Reading and validating an AuthStore's source: the environment (Kubernetes Secret layout), a
// users file (JSON or YAML), or a Kubernetes Secret manifest. Reading produces RawAuthConfig
// (strings as found, with the name each came from); ValidateAuthConfig turns it into an
// AuthConfig or one InvalidArgument that names every bad entry, so an operator fixes all of them
// in one pass and a half-valid source is never loaded.
#ifndef INFER_AUTH_AUTH_CONFIG_H_
#define INFER_AUTH_AUTH_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/auth.h"
#include "libinfer/auth/password_hash.h"

namespace infer::auth {

// Longest username accepted, in bytes.
inline constexpr size_t kMaxUsernameBytes = 256;
// Longest accepted token lifetime, in minutes (one week).
inline constexpr int64_t kMaxTokenLifetimeMinutes = 7 * 24 * 60;
// Largest users file read, in bytes.
inline constexpr size_t kMaxUsersFileBytes = 16 << 20;

// One setting as found: its value (nullopt when absent) and the name to report it by
// ("ALICE_ROLE", "users[0].role").
struct RawSetting {
  std::string name;
  std::optional<std::string> value;
};

struct RawUser {
  // Where the entry is, for messages: the alias ("ALICE") or the position ("users[0]").
  std::string origin;
  RawSetting username;
  RawSetting password_hash;
  RawSetting role;
};

struct RawAuthConfig {
  // Problems found while reading (a bad alias, an unknown key, a value of the wrong type).
  std::vector<std::string> errors;
  RawSetting jwt_key;
  RawSetting token_lifetime_minutes;
  RawSetting skip_exp_check;
  std::vector<RawUser> users;
};

struct UserRecord {
  std::string username;
  Role role = Role::kUser;
  // The stored hash as written (bound into the user's token epoch) and parsed.
  std::string hash_text;
  ParsedHash hash;
  // Where the user came from, for messages ("ALICE", "users[0]").
  std::string origin;
};

struct AuthConfig {
  std::vector<UserRecord> users;
  std::string jwt_key;
  int64_t token_lifetime_minutes = 60;
  bool skip_exp_check = false;
};

// The Secret layout: USER_LIST, <ALIAS>_USERNAME / _HASHED_PASSWORD / _ROLE, JWT_KEY,
// ACCESS_TOKEN_EXPIRE_MINUTES, SKIP_EXP_CHECK.
RawAuthConfig ReadEnvironmentConfig(const Environment& env);

// A users file's contents; `path` picks the format by extension (.json: JSON; else YAML) and
// names the file in messages. InvalidArgument when the text does not parse at all; problems with
// single entries land in RawAuthConfig::errors.
absl::StatusOr<RawAuthConfig> ReadFileConfig(std::string_view path, std::string_view contents);

// Validates everything; `options` supplies the fallback key and lifetime and whether insecure
// settings are allowed. InvalidArgument listing every problem (each prefixed by its setting's
// name and, for users, the username) otherwise. Values of secrets are never echoed.
absl::StatusOr<AuthConfig> ValidateAuthConfig(const RawAuthConfig& raw, const AuthOptions& options);

// The rules for a JWT key (JWT_KEY, jwt_key, AuthOptions::jwt_key): at least 32 bytes and not the
// seed's sample key. The message says how to make a good one.
absl::Status CheckJwtKey(std::string_view name, std::string_view key);

}  // namespace infer::auth

#endif  // INFER_AUTH_AUTH_CONFIG_H_
