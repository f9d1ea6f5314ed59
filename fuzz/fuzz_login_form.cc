// libFuzzer target: the `POST /token` body parser on arbitrary Content-Type values and bodies
// must return a Status or two bounded fields (never crash, leak or read out of bounds).
// Input: "<Content-Type>\n<body>"; with no newline, the whole input is a body under each of the
// two supported content types.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libinfer/serve/login_form.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const infer::serve::LoginFormLimits limits;
  const auto check = [&](std::string_view content_type, std::string_view body) {
    auto form = infer::serve::ParseLoginForm(content_type, body, limits);
    if (form.ok() && (form->username.empty() || form->password.empty() ||
                      form->username.size() > limits.max_field_bytes ||
                      form->password.size() > limits.max_field_bytes)) {
      __builtin_trap();
    }
  };
  const size_t nl = input.find('\n');
  if (nl == std::string_view::npos) {
    check("application/x-www-form-urlencoded", input);
    check("multipart/form-data; boundary=XyZ", input);
    return 0;
  }
  check(input.substr(0, nl), input.substr(nl + 1));
  return 0;
}
