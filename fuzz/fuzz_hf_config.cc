// libFuzzer target: ModelConfigFromHfConfigJson on arbitrary text must return a Status.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libinfer/format/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)infer::ModelConfigFromHfConfigJson(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  return 0;
}
