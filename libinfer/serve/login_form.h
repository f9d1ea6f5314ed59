// The body of `POST /token`: the username and password fields of an HTML form, sent either as
// application/x-www-form-urlencoded (OAuth2 password flow, `curl --data`) or as
// multipart/form-data (`curl --form`, as the seed deployment's examples do).
//
// Strict and bounded: the body, each field and the number of fields have limits; a malformed
// body is an error with the reason, never a partial result. Fields other than username and
// password (grant_type, scope, client_id, ...) are ignored; a second username or password field
// is an error (two parsers in front of each other must not pick different ones).
#ifndef INFER_SERVE_LOGIN_FORM_H_
#define INFER_SERVE_LOGIN_FORM_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace infer::serve {

struct LoginForm {
  std::string username;
  std::string password;
};

struct LoginFormLimits {
  // Largest body accepted, in bytes.
  size_t max_body_bytes = 16 * 1024;
  // Largest decoded username or password, in bytes.
  size_t max_field_bytes = 1024;
  // Most fields (form pairs or multipart parts) in one body.
  size_t max_fields = 32;
  // Most header lines in one multipart part.
  size_t max_part_headers = 8;
};

// Parses `body` according to `content_type` (the request's Content-Type header value; media type
// compared case-insensitively; for multipart the `boundary` parameter, quoted or not, 1 to 70
// characters). Both fields must be present and non-empty and must not contain NUL bytes.
// InvalidArgument with the reason for a malformed body or a missing field; Unimplemented for
// another media type (the server answers 415); ResourceExhausted when a limit is exceeded (413).
absl::StatusOr<LoginForm> ParseLoginForm(std::string_view content_type, std::string_view body,
                                         const LoginFormLimits& limits = {});

}  // namespace infer::serve

#endif  // INFER_SERVE_LOGIN_FORM_H_
