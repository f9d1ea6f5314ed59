#include "libinfer/auth/auth_config.h"

#include <exception>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "libinfer/auth/jwt.h"
#include "libinfer/config/document.h"
#include "libinfer/util/crypto.h"
#include "libinfer/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace infer::auth {
namespace {

using Json = nlohmann::json;

// The sample key of the seed deployment's auth.yaml (its base64 decodes to "default_jwt_Key";
// compared case-insensitively, so either spelling is refused).
constexpr std::string_view kSeedSampleJwtKey = "default_jwt_key";
constexpr size_t kMinJwtKeyBytes = 32;

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

// A value safe to quote in a message: printable ASCII, at most 40 characters.
std::string Quote(std::string_view s) { return config::QuoteForMessage(s); }

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

bool HasOuterSpace(std::string_view s) { return TrimSpace(s).size() != s.size(); }

std::string OuterSpaceError(const std::string& name) {
  return absl::StrCat(name,
                      " has leading or trailing whitespace (a newline from `echo ... | base64`? "
                      "encode with `echo -n` or `printf %s`)");
}

bool IsAliasChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Standard base64 with correct padding (Kubernetes Secret `data`).
std::optional<std::string> DecodeSecretValue(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  return crypto::Base64DecodeUnpadded(text.substr(0, text.size() - pad),
                                      crypto::Base64Alphabet::kStandard);
}

// A scalar setting of the users document: a string, or a number / boolean written as one.
RawSetting ScalarSetting(const Json& doc, const std::string& key,
                         std::vector<std::string>* errors) {
  RawSetting s{key, std::nullopt};
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return s;
  if (it->is_string()) {
    s.value = it->get<std::string>();
  } else if (it->is_boolean()) {
    s.value = it->get<bool>() ? "true" : "false";
  } else if (it->is_number_integer()) {
    s.value = it->dump();
  } else {
    errors->push_back(absl::StrCat(key, " must be a string, an integer or a boolean"));
  }
  return s;
}

RawAuthConfig ReadUsersDocument(const Json& doc) {
  RawAuthConfig raw;
  static const std::set<std::string> kTopKeys = {"jwt_key", "access_token_expire_minutes",
                                                 "skip_exp_check", "users"};
  for (const auto& [key, unused] : doc.items()) {
    if (kTopKeys.count(key) == 0) {
      raw.errors.push_back(absl::StrCat("unknown key ", Quote(key),
                                        " (expected jwt_key, access_token_expire_minutes, "
                                        "skip_exp_check, users)"));
    }
  }
  raw.jwt_key = ScalarSetting(doc, "jwt_key", &raw.errors);
  raw.token_lifetime_minutes = ScalarSetting(doc, "access_token_expire_minutes", &raw.errors);
  raw.skip_exp_check = ScalarSetting(doc, "skip_exp_check", &raw.errors);
  const auto users = doc.find("users");
  if (users == doc.end()) {
    raw.errors.push_back("users is not set (a list of {username, password_hash, role})");
    return raw;
  }
  if (users->is_null()) return raw;  // `users:` with nothing under it: no users
  if (!users->is_array()) {
    raw.errors.push_back("users must be a list of {username, password_hash, role}");
    return raw;
  }
  for (size_t i = 0; i < users->size(); ++i) {
    const Json& entry = (*users)[i];
    const std::string origin = absl::StrCat("users[", i, "]");
    if (!entry.is_object()) {
      raw.errors.push_back(
          absl::StrCat(origin, " must be a mapping {username, password_hash, role}"));
      continue;
    }
    RawUser user;
    user.origin = origin;
    bool ok = true;
    for (const auto& [key, value] : entry.items()) {
      RawSetting* slot = key == "username"        ? &user.username
                         : key == "password_hash" ? &user.password_hash
                         : key == "role"          ? &user.role
                                                  : nullptr;
      if (slot == nullptr) {
        raw.errors.push_back(absl::StrCat(origin, ": unknown key ", Quote(key),
                                          " (expected username, password_hash, role)"));
        ok = false;
      } else if (!value.is_string()) {
        raw.errors.push_back(absl::StrCat(origin, ".", key, " must be a string"));
        ok = false;
      } else {
        slot->value = value.get<std::string>();
      }
    }
    user.username.name = origin + ".username";
    user.password_hash.name = origin + ".password_hash";
    user.role.name = origin + ".role";
    if (ok) raw.users.push_back(std::move(user));
  }
  return raw;
}

absl::StatusOr<RawAuthConfig> ReadSecretManifest(const Json& doc) {
  Environment env;
  std::vector<std::string> errors;
  if (const auto data = doc.find("data"); data != doc.end() && !data->is_null()) {
    if (!data->is_object()) return absl::InvalidArgumentError("the Secret's data is not a mapping");
    for (const auto& [key, value] : data->items()) {
      std::optional<std::string> decoded;
      if (value.is_null()) {
        decoded = "";
      } else if (value.is_string()) {
        decoded = DecodeSecretValue(value.get<std::string>());
      }
      if (!decoded) {
        errors.push_back(absl::StrCat("data.", key, " is not base64 (Secret data values are)"));
        continue;
      }
      env[key] = std::move(*decoded);
    }
  }
  // Like Kubernetes: stringData entries are written over data entries.
  if (const auto sd = doc.find("stringData"); sd != doc.end() && !sd->is_null()) {
    if (!sd->is_object())
      return absl::InvalidArgumentError("the Secret's stringData is not a mapping");
    for (const auto& [key, value] : sd->items()) {
      if (!value.is_string()) {
        errors.push_back(absl::StrCat("stringData.", key, " is not a string"));
        continue;
      }
      env[key] = value.get<std::string>();
    }
  }
  RawAuthConfig raw = ReadEnvironmentConfig(env);
  raw.errors.insert(raw.errors.begin(), errors.begin(), errors.end());
  return raw;
}

void CheckTextSetting(const RawSetting& s, const std::string& label,
                      std::vector<std::string>* errors, bool* ok) {
  if (!s.value) {
    errors->push_back(absl::StrCat(s.name, label, " is not set"));
    *ok = false;
  } else if (HasOuterSpace(*s.value)) {
    errors->push_back(OuterSpaceError(absl::StrCat(s.name, label)));
    *ok = false;
  }
}

}  // namespace

absl::Status CheckJwtKey(std::string_view name, std::string_view key) {
  const std::string how =
      "make one with `infer-cli gen-password --jwt-key` (or `openssl rand -base64 48`)";
  if (absl::EqualsIgnoreCase(
          absl::string_view(key.data(), key.size()),
          absl::string_view(kSeedSampleJwtKey.data(), kSeedSampleJwtKey.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(name),
        " is the sample key `default_jwt_key` from the example Secret, which anyone can use "
        "to forge tokens; ",
        how));
  }
  if (key.size() < kMinJwtKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is %d bytes; it must be at least %d bytes of random data: %s",
                        std::string(name), key.size(), kMinJwtKeyBytes, how));
  }
  return absl::OkStatus();
}

RawAuthConfig ReadEnvironmentConfig(const Environment& env) {
  RawAuthConfig raw;
  const auto get = [&env](const std::string& name) {
    const auto it = env.find(name);
    return RawSetting{name,
                      it == env.end() ? std::nullopt : std::optional<std::string>(it->second)};
  };
  raw.jwt_key = get("JWT_KEY");
  raw.token_lifetime_minutes = get("ACCESS_TOKEN_EXPIRE_MINUTES");
  raw.skip_exp_check = get("SKIP_EXP_CHECK");
  const auto list = env.find("USER_LIST");
  if (list == env.end()) {
    raw.errors.push_back(
        "USER_LIST is not set (the comma-separated aliases of the users, e.g. \"ALICE, BOB\"; "
        "set it empty for no users)");
    return raw;
  }
  std::set<std::string> seen;
  std::string_view rest = list->second;
  while (true) {
    const size_t comma = rest.find(',');
    const std::string_view alias = TrimSpace(rest.substr(0, comma));
    if (!alias.empty()) {
      const std::string a(alias);
      bool valid = alias.size() <= 64;
      for (char c : alias) valid = valid && IsAliasChar(c);
      if (!valid) {
        raw.errors.push_back(absl::StrCat("USER_LIST: alias ", Quote(alias),
                                          " must be letters, digits and '_' (at most 64)"));
      } else if (!seen.insert(a).second) {
        raw.errors.push_back(absl::StrCat("USER_LIST: alias ", Quote(alias), " is listed twice"));
      } else {
        raw.users.push_back(
            RawUser{a, get(a + "_USERNAME"), get(a + "_HASHED_PASSWORD"), get(a + "_ROLE")});
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return raw;
}

absl::StatusOr<RawAuthConfig> ReadFileConfig(std::string_view path, std::string_view contents) {
  INFER_ASSIGN_OR_RETURN(Json doc, config::ParseConfigDocument(path, contents));
  if (const auto kind = doc.find("kind"); kind != doc.end() && *kind == "Secret") {
    auto raw = ReadSecretManifest(doc);
    if (!raw.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(path), ": ", raw.status().message()));
    return raw;
  }
  return ReadUsersDocument(doc);
}

namespace {

// The signing key: the users file's (or the environment's), else the options'.
void ReadJwtKey(const RawAuthConfig& raw, const AuthOptions& options, AuthConfig* config,
                std::vector<std::string>* errors) {
  if (raw.jwt_key.value) {
    if (absl::Status s = CheckJwtKey(raw.jwt_key.name, *raw.jwt_key.value); !s.ok()) {
      errors->emplace_back(s.message());
    }
    config->jwt_key = *raw.jwt_key.value;
  } else if (!options.jwt_key.empty()) {
    if (absl::Status s = CheckJwtKey("AuthOptions::jwt_key", options.jwt_key); !s.ok()) {
      errors->emplace_back(s.message());
    }
    config->jwt_key = options.jwt_key;
  } else {
    errors->push_back(absl::StrCat(raw.jwt_key.name,
                                   " is not set: tokens need a key of at least 32 random bytes; "
                                   "make one with `infer-cli gen-password --jwt-key`"));
  }
}

// Token lifetime and the expiry switch.
void ReadTokenSettings(const RawAuthConfig& raw, const AuthOptions& options, AuthConfig* config,
                       std::vector<std::string>* errors) {
  config->token_lifetime_minutes = options.default_token_lifetime_minutes;
  if (const auto& v = raw.token_lifetime_minutes.value) {
    int64_t minutes = 0;
    const std::string_view text = *v;
    bool ok = !text.empty() && text.size() <= 6 && text[0] != '0';
    for (char c : text) ok = ok && c >= '0' && c <= '9';
    if (ok) minutes = std::stoll(std::string(text));
    if (!ok || minutes < 1 || minutes > kMaxTokenLifetimeMinutes) {
      errors->push_back(absl::StrFormat("%s must be a whole number of minutes from 1 to %d, not %s",
                                        raw.token_lifetime_minutes.name, kMaxTokenLifetimeMinutes,
                                        Quote(text)));
    } else {
      config->token_lifetime_minutes = minutes;
    }
  }

  if (const auto& v = raw.skip_exp_check.value) {
    const std::string lower = absl::AsciiStrToLower(absl::string_view(v->data(), v->size()));
    if (lower == "true" || lower == "1") {
      config->skip_exp_check = true;
    } else if (lower != "false" && lower != "0") {
      errors->push_back(
          absl::StrCat(raw.skip_exp_check.name, " must be true or false, not ", Quote(*v)));
    }
  }
  if (config->skip_exp_check && !options.allow_insecure) {
    errors->push_back(absl::StrCat(
        raw.skip_exp_check.name,
        "=true turns token expiry off, so a leaked token works forever; it is refused unless "
        "insecure mode is allowed explicitly (--insecure / AuthOptions::allow_insecure)"));
  }
}

// One user's entry: its record when every field is good. `name_ok` says whether the username
// itself was usable (the duplicate check needs it even when another field is bad).
std::optional<UserRecord> ReadUser(const RawUser& u, bool* name_ok,
                                   std::vector<std::string>* errors) {
  bool& ok = *name_ok;
  ok = true;
  std::string label;
  CheckTextSetting(u.username, "", errors, &ok);
  if (ok) {
    const std::string& name = *u.username.value;
    if (name.size() > kMaxUsernameBytes || !IsValidUtf8(name)) {
      errors->push_back(absl::StrFormat("%s must be valid UTF-8 of at most %d bytes",
                                        u.username.name, kMaxUsernameBytes));
      ok = false;
    } else {
      for (char c : name) {
        if (static_cast<uint8_t>(c) < 0x20 || c == 0x7f) {
          errors->push_back(absl::StrCat(u.username.name, " contains a control character"));
          ok = false;
          break;
        }
      }
    }
    if (ok) label = absl::StrCat(" (user ", Quote(name), ")");
  }
  UserRecord record;
  record.origin = u.origin;
  bool hash_ok = true;
  CheckTextSetting(u.password_hash, label, errors, &hash_ok);
  if (hash_ok) {
    auto parsed = ParsePasswordHash(*u.password_hash.value);
    if (!parsed.ok()) {
      errors->push_back(absl::StrCat(u.password_hash.name, label, ": ", parsed.status().message()));
      hash_ok = false;
    } else {
      record.hash = std::move(*parsed);
      record.hash_text = *u.password_hash.value;
    }
  }
  bool role_ok = true;
  CheckTextSetting(u.role, label, errors, &role_ok);
  if (role_ok) {
    const std::optional<Role> role = ParseRole(*u.role.value);
    if (!role) {
      errors->push_back(absl::StrCat(u.role.name, label, ": unknown role ", Quote(*u.role.value),
                                     " (expected admin, user or guest)"));
      role_ok = false;
    } else {
      record.role = *role;
    }
  }
  if (!ok || !hash_ok || !role_ok) return std::nullopt;
  record.username = *u.username.value;
  return record;
}

}  // namespace

absl::StatusOr<AuthConfig> ValidateAuthConfig(const RawAuthConfig& raw,
                                              const AuthOptions& options) {
  std::vector<std::string> errors = raw.errors;
  AuthConfig config;
  ReadJwtKey(raw, options, &config, &errors);
  ReadTokenSettings(raw, options, &config, &errors);
  std::map<std::string, std::string> owner;  // username -> origin
  for (const RawUser& u : raw.users) {
    bool name_ok = false;
    std::optional<UserRecord> record = ReadUser(u, &name_ok, &errors);
    if (!name_ok) continue;
    const std::string& name = *u.username.value;
    if (const auto [it, inserted] = owner.emplace(name, u.origin); !inserted) {
      errors.push_back(absl::StrCat(u.username.name, " (user ", Quote(name),
                                    "): the username is also used by ", it->second));
      continue;
    }
    if (record) config.users.push_back(std::move(*record));
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid auth configuration (", errors.size(),
                     errors.size() == 1 ? " error): " : " errors): ", absl::StrJoin(errors, "; ")));
  }
  return config;
}

}  // namespace infer::auth
