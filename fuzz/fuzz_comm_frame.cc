// libFuzzer target: the communicator's wire-format parsers on arbitrary bytes must return a
// Status (never crash, read out of bounds or hit undefined behaviour), and whatever they accept
// must encode back to the same bytes.
//
// The first byte picks the parser: 0 frame header, 1 Hello, 2 Challenge, 3 Proof, 4 PeerTable,
// 5 a sealed frame (then a mode byte, bit 0 = encrypted, the 24-byte header, the 16-byte seal
// and the payload) opened under the fixed key kFuzzLinkKey, and what opens must seal back to the
// same bytes (others: the frame header with a small length limit).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libinfer/comm/frame.h"
#include "libinfer/comm/frame_seal.h"

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
    case 5: {
      if (input.size() < 1 + kFrameHeaderBytes + kFrameSealBytes) break;
      const bool encrypt = (input[0] & 1) != 0;
      LinkKey key;
      key.fill(0x42);  // kFuzzLinkKey, as the seeds are sealed
      const auto* bytes = reinterpret_cast<const uint8_t*>(input.data()) + 1;
      const std::span<const uint8_t> header(bytes, kFrameHeaderBytes);
      SealTag tag;
      std::memcpy(tag.data(), bytes + kFrameHeaderBytes, tag.size());
      const size_t n = input.size() - 1 - kFrameHeaderBytes - kFrameSealBytes;
      const uint8_t* wire = bytes + kFrameHeaderBytes + kFrameSealBytes;
      std::vector<uint8_t> payload(wire, wire + n);
      FrameSealer in(key, encrypt);
      if (in.Open(header, payload, tag).ok()) {
        FrameSealer out(key, encrypt);
        std::vector<uint8_t> again(n);
        auto resealed = out.Seal(header, payload, encrypt ? again.data() : nullptr);
        if (!resealed.ok() || *resealed != tag) __builtin_trap();
        if (encrypt && std::memcmp(again.data(), wire, n) != 0) __builtin_trap();
      }
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
