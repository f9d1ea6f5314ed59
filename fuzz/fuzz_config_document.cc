// libFuzzer target: the configuration documents (users file, model set) in both formats must
// parse into a tree or return a Status: never crash, recurse without bound, or expand an alias
// bomb. Input: the first byte picks JSON (odd) or YAML (even), the rest is the document; the
// model set reader then runs on what parsed, without touching the file system.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libinfer/config/document.h"
#include "libinfer/model_set/model_set_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view path = (data[0] & 1) != 0 ? "fuzz.json" : "fuzz.yaml";
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto doc = infer::config::ParseConfigDocument(path, text);
  if (doc.ok()) (void)infer::ParseModelSet(path, text, /*check_files=*/false);
  return 0;
}
