// libFuzzer target: SafetensorsFile::Parse on arbitrary bytes must return a Status (never crash,
// leak, read out of bounds or hit undefined behaviour).
#include <cstddef>
#include <cstdint>
#include <span>

#include "libinfer/format/safetensors.h"

// Keeps the reads above from being optimized away.
volatile size_t g_sink = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file =
      infer::SafetensorsFile::Parse(std::span<const uint8_t>(data, size), "fuzz.safetensors");
  if (!file.ok()) return 0;
  size_t sink = 0;
  for (const infer::TensorView& t : (*file)->tensors()) {
    if (t.nbytes > 0) sink += t.data[0] + t.data[t.nbytes - 1];
    sink += (*file)->FindTensor(t.name) == &t;
  }
  for (const auto& [key, value] : (*file)->metadata()) sink += key.size() + value.size();
  g_sink = sink;
  return 0;
}
