// POST /token bodies: urlencoded and multipart (as curl --form sends), bounds and clear errors.
#include "libinfer/serve/login_form.h"

#include <gtest/gtest.h>

#include <string>

namespace infer::serve {
namespace {

constexpr char kUrlEncoded[] = "application/x-www-form-urlencoded";

// What `curl --form 'username="admin"' --form 'password="password"'` sends (curl strips the
// double quotes of its -F syntax).
std::string CurlMultipart(const std::string& boundary, const std::string& user,
                          const std::string& pass) {
  return "--" + boundary + "\r\n" + "Content-Disposition: form-data; name=\"username\"\r\n\r\n" +
         user + "\r\n" + "--" + boundary + "\r\n" +
         "Content-Disposition: form-data; name=\"password\"\r\n\r\n" + pass + "\r\n" + "--" +
         boundary + "--\r\n";
}

constexpr char kCurlBoundary[] = "------------------------d74496d66958873e";

TEST(LoginFormTest, UrlEncodedFields) {
  struct Case {
    const char* body;
    const char* user;
    const char* pass;
  };
  const Case cases[] = {
      {"username=alice&password=secret", "alice", "secret"},
      {"password=secret&username=alice", "alice", "secret"},
      {"username=alice+smith&password=a%20b%2Bc%26d%3D", "alice smith", "a b+c&d="},
      {"grant_type=password&username=alice&password=p&scope=&client_id=", "alice", "p"},
      {"username=%E2%82%AC&password=%c3%a9", "\xe2\x82\xac", "\xc3\xa9"},
      {"&username=alice&&password=x&", "alice", "x"},
      {"user%6Eame=alice&password=x", "alice", "x"},  // names are decoded too
  };
  for (const Case& c : cases) {
    auto form = ParseLoginForm(kUrlEncoded, c.body);
    ASSERT_TRUE(form.ok()) << c.body << ": " << form.status();
    EXPECT_EQ(form->username, c.user) << c.body;
    EXPECT_EQ(form->password, c.pass) << c.body;
  }
  // Media type case and parameters do not matter.
  EXPECT_TRUE(
      ParseLoginForm("Application/X-WWW-Form-URLEncoded; charset=UTF-8", "username=a&password=b")
          .ok());
}

TEST(LoginFormTest, UrlEncodedErrors) {
  struct Case {
    const char* body;
    absl::StatusCode code;
    const char* message_part;
  };
  const Case cases[] = {
      {"username=alice", absl::StatusCode::kInvalidArgument, "'password'"},
      {"password=x", absl::StatusCode::kInvalidArgument, "'username'"},
      {"username=&password=x", absl::StatusCode::kInvalidArgument, "empty"},
      {"username=a&password=", absl::StatusCode::kInvalidArgument, "empty"},
      {"username=a&username=b&password=x", absl::StatusCode::kInvalidArgument, "repeats"},
      {"username=a&password=x%", absl::StatusCode::kInvalidArgument, "percent"},
      {"username=a&password=x%4", absl::StatusCode::kInvalidArgument, "percent"},
      {"username=a&password=x%zz", absl::StatusCode::kInvalidArgument, "percent"},
      {"username=a%00b&password=x", absl::StatusCode::kInvalidArgument, "NUL"},
      {"", absl::StatusCode::kInvalidArgument, "'username'"},
  };
  for (const Case& c : cases) {
    auto form = ParseLoginForm(kUrlEncoded, c.body);
    EXPECT_EQ(form.status().code(), c.code) << c.body;
    EXPECT_NE(std::string(form.status().message()).find(c.message_part), std::string::npos)
        << c.body << ": " << form.status();
  }
}

TEST(LoginFormTest, Bounds) {
  LoginFormLimits limits;
  limits.max_body_bytes = 64;
  limits.max_field_bytes = 8;
  limits.max_fields = 3;
  EXPECT_EQ(ParseLoginForm(kUrlEncoded, "username=a&password=" + std::string(60, 'x'), limits)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ParseLoginForm(kUrlEncoded, "username=a&password=123456789", limits).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(ParseLoginForm(kUrlEncoded, "username=a&password=12345678", limits).ok());
  EXPECT_EQ(
      ParseLoginForm(kUrlEncoded, "a=1&b=2&c=3&username=a&password=b", limits).status().code(),
      absl::StatusCode::kResourceExhausted);
  // Defaults: a 1 MB body is refused before parsing.
  EXPECT_EQ(ParseLoginForm(kUrlEncoded, std::string(1 << 20, 'a')).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(LoginFormTest, MultipartAsCurlSendsIt) {
  const std::string ct = std::string("multipart/form-data; boundary=") + kCurlBoundary;
  auto form = ParseLoginForm(ct, CurlMultipart(kCurlBoundary, "admin", "password"));
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->username, "admin");
  EXPECT_EQ(form->password, "password");

  // Values keep their bytes: spaces, CRLF inside, '--' inside, UTF-8.
  form = ParseLoginForm(ct, CurlMultipart(kCurlBoundary, "al ice", "p\r\nw--x\xc3\xa9"));
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->username, "al ice");
  EXPECT_EQ(form->password, "p\r\nw--x\xc3\xa9");
}

TEST(LoginFormTest, MultipartVariants) {
  // Quoted boundary, preamble, extra headers and fields, epilogue, header name case.
  const std::string body =
      "preamble to ignore\r\n"
      "--abc 123\r\n"
      "content-disposition: form-data; name=grant_type\r\n\r\npassword\r\n"
      "--abc 123\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Disposition: form-data; name=\"username\"\r\n\r\nbob\r\n"
      "--abc 123  \r\n"
      "Content-Disposition: form-data; name=\"password\"\r\n\r\nhunter2\r\n"
      "--abc 123--\r\nepilogue";
  auto form = ParseLoginForm("multipart/form-data; boundary=\"abc 123\"", body);
  ASSERT_TRUE(form.ok()) << form.status();
  EXPECT_EQ(form->username, "bob");
  EXPECT_EQ(form->password, "hunter2");
}

TEST(LoginFormTest, MultipartErrors) {
  const std::string b = "XyZ";
  const std::string ct = "multipart/form-data; boundary=" + b;
  const std::string good = CurlMultipart(b, "u", "p");
  // A username and a password first, then the broken part: a parser that skipped what it
  // could not read would accept these bodies.
  const std::string whole =
      "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nu\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\np\r\n";
  struct Case {
    std::string content_type;
    std::string body;
    absl::StatusCode code;
    std::string message;  // a part of the error's message
  };
  const Case cases[] = {
      {"multipart/form-data", good, absl::StatusCode::kInvalidArgument,
       "needs a boundary parameter"},
      {"multipart/form-data; boundary=", good, absl::StatusCode::kInvalidArgument,
       "malformed Content-Type header"},
      {"multipart/form-data; boundary=" + std::string(71, 'a'), good,
       absl::StatusCode::kInvalidArgument, "of 1 to 70 characters"},
      {"multipart/form-data; boundary=a; boundary=b", good, absl::StatusCode::kInvalidArgument,
       "malformed Content-Type header"},
      {"multipart/form-data; boundary=\"XyZ", good, absl::StatusCode::kInvalidArgument,
       "malformed Content-Type header"},
      {ct, good.substr(0, good.size() - 9), absl::StatusCode::kInvalidArgument,
       "not closed by a boundary"},
      {ct, "no boundary here", absl::StatusCode::kInvalidArgument, "no boundary line found"},
      {ct, whole + "--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\nu\r\n--XyZ--",
       absl::StatusCode::kInvalidArgument, "bad part header line"},
      {ct, whole + "--XyZ\r\nContent-Disposition: form-data; name=\"x\"",
       absl::StatusCode::kInvalidArgument, "unterminated part headers"},
      {ct, whole + "--XyZ\r\nX-Other: 1\r\n\r\nu\r\n--XyZ--", absl::StatusCode::kInvalidArgument,
       "has no Content-Disposition header"},
      {ct, whole + "--XyZ\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nu\r\n--XyZ--",
       absl::StatusCode::kInvalidArgument, "bad Content-Disposition"},
      {ct, whole + "--XyZ\r\nContent-Disposition: form-data\r\n\r\nu\r\n--XyZ--",
       absl::StatusCode::kInvalidArgument, "Content-Disposition has no name"},
      {ct,
       "--XyZ\nContent-Disposition: form-data; name=\"username\"\n\nu\n--XyZ\n"
       "Content-Disposition: form-data; name=\"password\"\n\np\n--XyZ--",
       absl::StatusCode::kInvalidArgument, "does not end in CRLF"},  // bare LF
      {ct,
       "--XyZ\r\nContent-Disposition: form-data; name=\"password\"; filename=\"pw.txt\"\r\n\r\n"
       "p\r\n--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nu\r\n--XyZ--",
       absl::StatusCode::kInvalidArgument, "'password' field is a file upload"},
      {ct, CurlMultipart(b, "u", "p") + CurlMultipart(b, "u", "p"), absl::StatusCode::kOk,
       ""},  // parsing stops at the first close delimiter
      {ct, whole + "--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nb\r\n--XyZ--",
       absl::StatusCode::kInvalidArgument, "repeats the field 'username'"},
      {"text/plain", "username=a&password=b", absl::StatusCode::kUnimplemented,
       "unsupported Content-Type"},
      {"application/json", R"({"username":"a","password":"b"})", absl::StatusCode::kUnimplemented,
       "unsupported Content-Type"},
      {"", "username=a&password=b", absl::StatusCode::kInvalidArgument,
       "malformed Content-Type header"},
  };
  for (const Case& c : cases) {
    const auto form = ParseLoginForm(c.content_type, c.body);
    EXPECT_EQ(form.status().code(), c.code) << c.content_type << " | " << c.body;
    EXPECT_NE(std::string(form.status().message()).find(c.message), std::string::npos)
        << form.status() << " | expected '" << c.message << "' | " << c.body;
  }
  LoginFormLimits few_headers;
  few_headers.max_part_headers = 1;
  EXPECT_EQ(ParseLoginForm(ct,
                           "--XyZ\r\nA: 1\r\nContent-Disposition: form-data; name=\"username\""
                           "\r\n\r\nu\r\n--XyZ--",
                           few_headers)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace infer::serve
