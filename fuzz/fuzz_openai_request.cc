// libFuzzer target: the server's main untrusted input. ParseCompletionRequest (chat or
// completions, by the first byte) on arbitrary bodies returns a request or an error answer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "libinfer/serve/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool chat = (data[0] & 1) != 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  infer::serve::CompletionRequest request;
  (void)infer::serve::ParseCompletionRequest(body, chat, 8, &request);
  return 0;
}
