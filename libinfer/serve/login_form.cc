#include "libinfer/serve/login_form.h"

#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/util/status_macros.h"

namespace infer::serve {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kUrlEncoded = "application/x-www-form-urlencoded";
constexpr std::string_view kMultipart = "multipart/form-data";
constexpr std::string_view kCrlf = "\r\n";
// RFC 2046 section 5.1.1: a boundary is 1 to 70 characters.
constexpr size_t kMaxBoundaryChars = 70;

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  return absl::AsciiStrToLower(absl::string_view(s.data(), s.size()));
}

bool IsTokenChar(char c) {
  // RFC 9110 tchar.
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Parses `type; name=value; name="quoted \" value"` (Content-Type, Content-Disposition) into the
// lowercased type and the parameters (names lowercased, values unquoted). False when malformed
// or when a parameter name repeats.
bool ParseHeaderValue(std::string_view value, std::string* type, Params* params) {
  const size_t semi = value.find(';');
  *type = Lower(TrimOws(value.substr(0, semi)));
  if (type->empty()) return false;
  size_t i = semi == std::string_view::npos ? value.size() : semi + 1;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == ';')) ++i;
    if (i == value.size()) break;
    const size_t name_start = i;
    while (i < value.size() && IsTokenChar(value[i])) ++i;
    if (i == name_start || i == value.size() || value[i] != '=') return false;
    std::string name = Lower(value.substr(name_start, i - name_start));
    ++i;  // '='
    std::string param;
    if (i < value.size() && value[i] == '"') {
      ++i;
      bool closed = false;
      while (i < value.size()) {
        const char c = value[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i == value.size()) return false;
          param.push_back(value[i++]);
        } else {
          param.push_back(c);
        }
      }
      if (!closed) return false;
    } else {
      const size_t start = i;
      while (i < value.size() && IsTokenChar(value[i])) ++i;
      if (i == start) return false;
      param = std::string(value.substr(start, i - start));
    }
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    if (i < value.size() && value[i] != ';') return false;
    for (const auto& [existing, unused] : *params) {
      if (existing == name) return false;
    }
    params->emplace_back(std::move(name), std::move(param));
  }
  return true;
}

const std::string* FindParam(const Params& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

// Collects the two fields and enforces the per-field limits.
class FieldSink {
 public:
  explicit FieldSink(const LoginFormLimits& limits) : limits_(limits) {}

  absl::Status Add(const std::string& name, std::string value) {
    if (++fields_ > limits_.max_fields) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("the form has more than %d fields", limits_.max_fields));
    }
    std::string* slot = nullptr;
    bool* seen = nullptr;
    if (name == "username") {
      slot = &form_.username;
      seen = &have_username_;
    } else if (name == "password") {
      slot = &form_.password;
      seen = &have_password_;
    } else {
      return absl::OkStatus();  // grant_type, scope, client_id, ...: not ours to judge
    }
    if (*seen)
      return absl::InvalidArgumentError(absl::StrCat("the form repeats the field '", name, "'"));
    if (value.size() > limits_.max_field_bytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the field '%s' is longer than %d bytes", std::string(name), limits_.max_field_bytes));
    }
    if (value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("the field '", name, "' contains a NUL byte"));
    }
    *seen = true;
    *slot = std::move(value);
    return absl::OkStatus();
  }

  absl::StatusOr<LoginForm> Finish() && {
    for (const auto& [have, value, name] :
         {std::tuple{have_username_, &form_.username, "username"},
          std::tuple{have_password_, &form_.password, "password"}}) {
      if (!have)
        return absl::InvalidArgumentError(absl::StrCat("the form has no '", name, "' field"));
      if (value->empty()) {
        return absl::InvalidArgumentError(absl::StrCat("the form's '", name, "' field is empty"));
      }
    }
    return std::move(form_);
  }

 private:
  const LoginFormLimits& limits_;
  size_t fields_ = 0;
  bool have_username_ = false;
  bool have_password_ = false;
  LoginForm form_;
};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding of one name or value: '+' is a space, "%XY" a byte.
absl::StatusOr<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (s.size() - i < 3 || HexDigit(s[i + 1]) < 0 || HexDigit(s[i + 2]) < 0) {
        return absl::InvalidArgumentError("bad percent-escape in the form (expected %XY)");
      }
      out.push_back(static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<LoginForm> ParseUrlEncoded(std::string_view body, const LoginFormLimits& limits) {
  FieldSink sink(limits);
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view pair = body.substr(start, end - start);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      INFER_ASSIGN_OR_RETURN(const std::string name, UrlDecode(pair.substr(0, eq)));
      std::string value;
      if (eq != std::string_view::npos) {
        INFER_ASSIGN_OR_RETURN(value, UrlDecode(pair.substr(eq + 1)));
      }
      INFER_RETURN_IF_ERROR(sink.Add(name, std::move(value)));
    }
    start = end + 1;
  }
  return std::move(sink).Finish();
}

bool IsBoundaryChar(char c) {
  // RFC 2046 bchars.
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

absl::Status Malformed(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("malformed multipart/form-data body: ", why));
}

absl::StatusOr<LoginForm> ParseMultipart(std::string_view body, const std::string& boundary,
                                         const LoginFormLimits& limits) {
  const std::string delimiter = absl::StrCat("--", boundary);
  const std::string next_delimiter = "\r\n" + delimiter;
  FieldSink sink(limits);
  // The first delimiter opens the body or follows a preamble (ignored) and a CRLF.
  size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = 0;
  } else {
    pos = body.find(next_delimiter);
    if (pos == std::string_view::npos) return Malformed("no boundary line found");
    pos += kCrlf.size();
  }
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return std::move(sink).Finish();  // close delimiter
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != kCrlf) return Malformed("a boundary line does not end in CRLF");
    pos += 2;
    // Part headers, up to the empty line.
    std::string name;
    bool have_disposition = false;
    bool is_file = false;
    for (size_t lines = 0;; ++lines) {
      const size_t eol = body.find(kCrlf, pos);
      if (eol == std::string_view::npos) return Malformed("unterminated part headers");
      const std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      if (lines >= limits.max_part_headers) {
        return absl::ResourceExhaustedError(
            absl::StrFormat("a multipart part has more than %d headers", limits.max_part_headers));
      }
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0 || line[0] == ' ' || line[0] == '\t') {
        return Malformed("bad part header line");
      }
      if (Lower(TrimOws(line.substr(0, colon))) != "content-disposition") continue;
      std::string type;
      Params params;
      if (have_disposition || !ParseHeaderValue(line.substr(colon + 1), &type, &params) ||
          type != "form-data") {
        return Malformed("bad Content-Disposition (expected one `form-data; name=\"...\"`)");
      }
      const std::string* n = FindParam(params, "name");
      if (n == nullptr) return Malformed("a part's Content-Disposition has no name");
      have_disposition = true;
      name = *n;
      is_file = FindParam(params, "filename") != nullptr;
    }
    if (!have_disposition) return Malformed("a part has no Content-Disposition header");
    const size_t end = body.find(next_delimiter, pos);
    if (end == std::string_view::npos) return Malformed("a part is not closed by a boundary");
    if (is_file && (name == "username" || name == "password")) {
      return absl::InvalidArgumentError(
          absl::StrCat("the form's '", name, "' field is a file upload, not a value"));
    }
    INFER_RETURN_IF_ERROR(sink.Add(name, std::string(body.substr(pos, end - pos))));
    pos = end + kCrlf.size();
  }
}

}  // namespace

absl::StatusOr<LoginForm> ParseLoginForm(std::string_view content_type, std::string_view body,
                                         const LoginFormLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("the login form is larger than %d bytes", limits.max_body_bytes));
  }
  std::string type;
  Params params;
  if (!ParseHeaderValue(content_type, &type, &params)) {
    return absl::InvalidArgumentError("malformed Content-Type header");
  }
  if (type == kUrlEncoded) return ParseUrlEncoded(body, limits);
  if (type == kMultipart) {
    const std::string* boundary = FindParam(params, "boundary");
    if (boundary == nullptr || boundary->empty() || boundary->size() > kMaxBoundaryChars ||
        boundary->back() == ' ') {
      return absl::InvalidArgumentError(
          "multipart/form-data needs a boundary parameter of 1 to 70 characters");
    }
    for (char c : *boundary) {
      if (!IsBoundaryChar(c)) {
        return absl::InvalidArgumentError(
            "the multipart boundary has a character RFC 2046 forbids");
      }
    }
    return ParseMultipart(body, *boundary, limits);
  }
  return absl::UnimplementedError(
      "unsupported Content-Type for the login form (use application/x-www-form-urlencoded or "
      "multipart/form-data)");
}

}  // namespace infer::serve
