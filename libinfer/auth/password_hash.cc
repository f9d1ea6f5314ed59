#include "libinfer/auth/password_hash.h"

#include <argon2.h>

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/util/crypto.h"
#include "libinfer/util/status_macros.h"

namespace infer::auth {
namespace {

constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// Strict unsigned decimal: digits only, no sign, no leading zero, fits in uint32_t.
bool ParseUint32(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

absl::Status Malformed(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed password hash: ", why));
}

absl::StatusOr<ParsedHash> ParseArgon2id(std::string_view stored) {
  // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, tag
  const std::vector<std::string_view> parts = Split(stored, '$');
  if (parts.size() != 6) {
    return Malformed("expected $argon2id$v=19$m=<kib>,t=<iterations>,p=<lanes>$<salt>$<hash>");
  }
  if (parts[2] != "v=19") {
    return Malformed("only argon2 version 19 (v=19) is supported");
  }
  const std::vector<std::string_view> params = Split(parts[3], ',');
  ParsedHash out;
  out.kind = HashKind::kArgon2id;
  if (params.size() != 3 || params[0].substr(0, 2) != "m=" || params[1].substr(0, 2) != "t=" ||
      params[2].substr(0, 2) != "p=" || !ParseUint32(params[0].substr(2), &out.params.memory_kib) ||
      !ParseUint32(params[1].substr(2), &out.params.iterations) ||
      !ParseUint32(params[2].substr(2), &out.params.parallelism)) {
    return Malformed("parameters must read m=<kib>,t=<iterations>,p=<lanes>");
  }
  INFER_RETURN_IF_ERROR(ValidateArgon2Params(out.params));
  auto salt = crypto::Base64DecodeUnpadded(parts[4], crypto::Base64Alphabet::kStandard);
  auto tag = crypto::Base64DecodeUnpadded(parts[5], crypto::Base64Alphabet::kStandard);
  if (!salt || !tag) return Malformed("salt and hash must be base64 without padding");
  if (salt->size() < kMinArgon2SaltBytes || salt->size() > kMaxArgon2SaltBytes) {
    return Malformed(
        absl::StrFormat("salt must be %d to %d bytes", kMinArgon2SaltBytes, kMaxArgon2SaltBytes));
  }
  if (tag->size() < kMinArgon2TagBytes || tag->size() > kMaxArgon2TagBytes) {
    return Malformed(
        absl::StrFormat("hash must be %d to %d bytes", kMinArgon2TagBytes, kMaxArgon2TagBytes));
  }
  out.salt = std::move(*salt);
  out.tag = std::move(*tag);
  return out;
}

absl::StatusOr<ParsedHash> ParseLegacy(std::string_view stored) {
  const size_t dollar = stored.find('$');
  const std::string_view salt = stored.substr(0, dollar);
  const std::string_view hex = stored.substr(dollar + 1);
  if (salt.empty() || salt.size() > kMaxLegacySaltChars) {
    return Malformed(
        absl::StrFormat("legacy salt must be 1 to %d characters", kMaxLegacySaltChars));
  }
  for (char c : salt) {
    if (c < 0x21 || c > 0x7e) return Malformed("legacy salt must be printable ASCII");
  }
  auto digest = crypto::HexDecode(hex);
  if (hex.size() != 2 * crypto::kSha256Bytes || !digest) {
    return Malformed("legacy hash must be <salt>$<64 hex digits of sha256(salt + password)>");
  }
  ParsedHash out;
  out.kind = HashKind::kLegacySha256;
  out.salt = std::string(salt);
  out.tag = std::move(*digest);
  return out;
}

absl::StatusOr<std::string> Argon2idTag(const Argon2Params& params, std::string_view password,
                                        std::string_view salt, size_t tag_bytes) {
  std::string tag(tag_bytes, '\0');
  const int rc =
      argon2id_hash_raw(params.iterations, params.memory_kib, params.parallelism, password.data(),
                        password.size(), salt.data(), salt.size(), tag.data(), tag.size());
  if (rc != ARGON2_OK) {
    return absl::InternalError(absl::StrCat("argon2id failed: ", argon2_error_message(rc)));
  }
  return tag;
}

absl::Status CheckPassword(std::string_view password) {
  if (password.empty()) return absl::InvalidArgumentError("the password is empty");
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the password is longer than %d bytes", kMaxPasswordBytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateArgon2Params(const Argon2Params& p) {
  if (p.memory_kib < kMinArgon2MemoryKib || p.memory_kib > kMaxArgon2MemoryKib) {
    return absl::InvalidArgumentError(
        absl::StrFormat("argon2id memory m=%d KiB is outside %d..%d (OWASP minimum 19 MiB)",
                        p.memory_kib, kMinArgon2MemoryKib, kMaxArgon2MemoryKib));
  }
  if (p.iterations < kMinArgon2Iterations || p.iterations > kMaxArgon2Iterations) {
    return absl::InvalidArgumentError(
        absl::StrFormat("argon2id iterations t=%d is outside %d..%d (OWASP minimum 2)",
                        p.iterations, kMinArgon2Iterations, kMaxArgon2Iterations));
  }
  if (p.parallelism < kMinArgon2Parallelism || p.parallelism > kMaxArgon2Parallelism) {
    return absl::InvalidArgumentError(absl::StrFormat("argon2id parallelism p=%d is outside %d..%d",
                                                      p.parallelism, kMinArgon2Parallelism,
                                                      kMaxArgon2Parallelism));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedHash> ParsePasswordHash(std::string_view stored) {
  if (stored.substr(0, kArgon2idPrefix.size()) == kArgon2idPrefix) return ParseArgon2id(stored);
  if (stored.substr(0, 7) == "$argon2") {
    return Malformed("only argon2id is accepted (not argon2i or argon2d)");
  }
  if (!stored.empty() && stored[0] != '$' && stored.find('$') != std::string_view::npos) {
    return ParseLegacy(stored);
  }
  return Malformed(
      "expected an argon2id PHC string ($argon2id$v=19$...) or a legacy <salt>$<sha256 hex> hash "
      "(make one with `infer-cli gen-password`)");
}

absl::StatusOr<bool> VerifyParsedHash(const ParsedHash& hash, std::string_view password) {
  if (hash.kind == HashKind::kLegacySha256) {
    std::string salted = hash.salt;
    salted.append(password.data(), password.size());
    INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest digest, crypto::Sha256(salted));
    return crypto::ConstantTimeEquals(crypto::AsBytes(digest), hash.tag);
  }
  INFER_ASSIGN_OR_RETURN(const std::string tag,
                         Argon2idTag(hash.params, password, hash.salt, hash.tag.size()));
  return crypto::ConstantTimeEquals(tag, hash.tag);
}

absl::StatusOr<ParsedHash> MakeDummyHash(const Argon2Params& params) {
  INFER_RETURN_IF_ERROR(ValidateArgon2Params(params));
  ParsedHash out;
  out.kind = HashKind::kArgon2id;
  out.params = params;
  INFER_ASSIGN_OR_RETURN(out.salt, crypto::RandomBytes(kArgon2SaltBytes));
  INFER_ASSIGN_OR_RETURN(out.tag, crypto::RandomBytes(kArgon2TagBytes));
  return out;
}

}  // namespace infer::auth

namespace infer {

absl::StatusOr<std::string> HashPassword(std::string_view password, const Argon2Params& params) {
  INFER_RETURN_IF_ERROR(auth::CheckPassword(password));
  INFER_RETURN_IF_ERROR(auth::ValidateArgon2Params(params));
  INFER_ASSIGN_OR_RETURN(const std::string salt, crypto::RandomBytes(auth::kArgon2SaltBytes));
  INFER_ASSIGN_OR_RETURN(const std::string tag,
                         auth::Argon2idTag(params, password, salt, auth::kArgon2TagBytes));
  return absl::StrFormat("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", params.memory_kib,
                         params.iterations, params.parallelism,
                         crypto::Base64EncodeUnpadded(salt, crypto::Base64Alphabet::kStandard),
                         crypto::Base64EncodeUnpadded(tag, crypto::Base64Alphabet::kStandard));
}

absl::StatusOr<std::string> HashPasswordLegacySha256(std::string_view password) {
  INFER_RETURN_IF_ERROR(auth::CheckPassword(password));
  INFER_ASSIGN_OR_RETURN(const std::string salt_bytes, crypto::RandomBytes(16));
  std::string salted = crypto::HexEncode(salt_bytes);
  const std::string salt = salted;
  salted.append(password.data(), password.size());
  INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest digest, crypto::Sha256(salted));
  return absl::StrCat(salt, "$", crypto::HexEncode(crypto::AsBytes(digest)));
}

absl::StatusOr<bool> VerifyPassword(std::string_view stored_hash, std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the password is longer than %d bytes", kMaxPasswordBytes));
  }
  INFER_ASSIGN_OR_RETURN(const auth::ParsedHash parsed, auth::ParsePasswordHash(stored_hash));
  return auth::VerifyParsedHash(parsed, password);
}

absl::StatusOr<std::string> GenerateJwtKey() {
  INFER_ASSIGN_OR_RETURN(const std::string bytes, crypto::RandomBytes(48));
  return crypto::Base64EncodeUnpadded(bytes, crypto::Base64Alphabet::kUrl);
}

}  // namespace infer
