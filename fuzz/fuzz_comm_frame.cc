// libFuzzer target: the communicator's wire-format parsers on arbitrary bytes must return a
// Status (never crash, read out of bounds or hit undefined behaviour), and whatever they accept
// must encode back to the same bytes.
//
// The first byte picks the parser: 0 frame header, 1 Hello, 2 Challenge, 3 Proof, 4 PeerTable
// (others: the frame header with a small length limit).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libinfer/comm/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  using namespace infer::comm;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 0: {
      auto h = ParseFrameHeader(input);
      if (h.ok()) {
        const auto again = EncodeFrameHeader(*h);
        if (std::string_view(reinterpret_cast<const char*>(again.data()), again.size()) !=
            input.substr(0, kFrameHeaderBytes)) {
          __builtin_trap();
        }
      }
      break;
    }
    case 1: {
      auto m = DecodeHello(input);
      if (m.ok() && EncodeHello(*m) != input) __builtin_trap();
      break;
    }
    case 2: {
      auto m = DecodeChallenge(input);
      if (m.ok() && EncodeChallenge(*m) != input) __builtin_trap();
      break;
    }
    case 3: {
      auto m = DecodeProof(input);
      if (m.ok() && EncodeProof(*m) != input) __builtin_trap();
      break;
    }
    case 4: {
      auto m = DecodePeerTable(input);
      if (m.ok() && EncodePeerTable(*m) != input) __builtin_trap();
      break;
    }
    default: {
      auto h = ParseFrameHeader(input, 4096);
      if (h.ok() && h->length > 4096) __builtin_trap();
      break;
    }
  }
  return 0;
}
