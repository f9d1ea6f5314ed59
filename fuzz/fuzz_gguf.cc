// libFuzzer target: GgufFile::Parse and ModelConfigFromGguf on arbitrary bytes must return a
// Status (never crash, leak, read out of bounds or hit undefined behaviour).
#include <cstddef>
#include <cstdint>
#include <span>

#include "libinfer/format/gguf.h"
#include "libinfer/format/gguf_config.h"

// Keeps the reads above from being optimized away.
volatile size_t g_sink = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = infer::GgufFile::Parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (!file.ok()) return 0;
  const infer::GgufFile& g = **file;
  size_t sink = 0;
  for (const auto& [key, value] : g.metadata()) {
    sink += value.Summary().size();
    (void)g.GetString(key);
    (void)g.GetInt64(key);
    (void)g.GetUint64(key);
    (void)g.GetFloat(key);
    (void)g.GetBool(key);
    (void)g.GetStringArray(key);
    (void)g.GetFloatArray(key);
    (void)g.GetInt32Array(key);
  }
  // Touch the first and last byte of every tensor: ASan flags any view outside the input.
  for (const infer::TensorView& t : g.tensors()) {
    if (t.nbytes > 0) sink += t.data[0] + t.data[t.nbytes - 1];
    sink += g.FindTensor(t.name) == &t;
  }
  (void)infer::ModelConfigFromGguf(g);
  g_sink = sink;
  return 0;
}
