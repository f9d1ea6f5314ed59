// libFuzzer target: CompileRegex on arbitrary text returns a Status; a pattern that compiles runs
// through the matcher (masks and advances agree, nothing overflows).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_grammar.h"
#include "libinfer/grammar/compilers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<infer::grammar::Rules> rules = infer::grammar::CompileRegex(text);
  if (rules.ok()) infer::fuzz::Walk(*std::move(rules), text);
  return 0;
}
