#include "libinfer/cluster/step_protocol.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace infer::cluster {
namespace {

// Little-endian writer and a bounds-checked reader.
class Writer {
 public:
  template <typename T>
  void Put(T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));
  }
  void PutBytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  }
  std::vector<uint8_t> out;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    if (in_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetBytes(void* p, uint64_t n) {
    if (in_.size() - pos_ < n) return false;
    if (n == 0) return true;
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  uint64_t left() const { return in_.size() - pos_; }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

absl::Status Bad(const char* what, const std::string& detail) {
  return absl::InvalidArgumentError(absl::StrCat(what, " command: ", detail));
}

}  // namespace

std::array<uint8_t, kCommandHeaderBytes> EncodeHeader(const CommandHeader& h) {
  std::array<uint8_t, kCommandHeaderBytes> out{};
  const uint32_t kind = static_cast<uint32_t>(h.kind);
  std::memcpy(out.data(), &kind, 4);
  std::memcpy(out.data() + 8, &h.payload_bytes, 8);
  return out;
}

absl::StatusOr<CommandHeader> DecodeHeader(std::span<const uint8_t> bytes,
                                           uint64_t max_payload_bytes) {
  if (bytes.size() != kCommandHeaderBytes) {
    return Bad("a", absl::StrCat("header of ", bytes.size(), " bytes"));
  }
  uint32_t kind;
  CommandHeader h;
  std::memcpy(&kind, bytes.data(), 4);
  std::memcpy(&h.payload_bytes, bytes.data() + 8, 8);
  if (kind < 1 || kind > 6) return Bad("a", absl::StrCat("unknown kind ", kind));
  h.kind = static_cast<CommandKind>(kind);
  if (h.payload_bytes > max_payload_bytes) {
    return Bad("a", absl::StrCat("payload of ", h.payload_bytes, " bytes exceeds the limit of ",
                                 max_payload_bytes));
  }
  return h;
}

std::vector<uint8_t> Encode(const LoadCommand& c) {
  Writer w;
  w.Put<uint64_t>(c.path.size());
  w.PutBytes(c.path.data(), c.path.size());
  return std::move(w.out);
}

absl::StatusOr<LoadCommand> DecodeLoad(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  LoadCommand c;
  uint64_t n;
  if (!r.Get(&n) || n != r.left() || n > 4096) {
    return Bad("load", "malformed path or sizes");
  }
  c.path.resize(n);
  r.GetBytes(c.path.data(), n);
  return c;
}

std::vector<uint8_t> Encode(const CacheCommand& c) {
  Writer w;
  w.Put(c.id);
  w.Put(c.block_size);
  w.Put(c.num_blocks);
  return std::move(w.out);
}

absl::StatusOr<CacheCommand> DecodeCache(std::span<const uint8_t> bytes) {
  Reader r(bytes);
  CacheCommand c;
  if (!r.Get(&c.id) || !r.Get(&c.block_size) || !r.Get(&c.num_blocks) || r.left() != 0) {
    return Bad("cache", absl::StrCat("payload of ", bytes.size(), " bytes, expected 24"));
  }
  return c;
}

std::vector<uint8_t> Encode(uint64_t cache_id, const ForwardBatch& batch) {
  Writer w;
  w.Put(cache_id);
  w.Put<uint64_t>(batch.tokens.size());
  w.Put<uint64_t>(batch.sequences.size());
  w.PutBytes(batch.tokens.data(), batch.tokens.size() * sizeof(int32_t));
  for (const BatchSequence& s : batch.sequences) {
    w.Put(s.start_pos);
    w.Put(s.num_tokens);
    w.Put(s.num_logits);
    w.Put<uint64_t>(s.block_table.size());
    w.PutBytes(s.block_table.data(), s.block_table.size() * sizeof(int32_t));
  }
  return std::move(w.out);
}

absl::Status DecodeForward(std::span<const uint8_t> bytes, ForwardCommand* out) {
  Reader r(bytes);
  uint64_t num_tokens, num_seqs;
  if (!r.Get(&out->cache_id) || !r.Get(&num_tokens) || !r.Get(&num_seqs)) {
    return Bad("forward", "truncated header");
  }
  if (num_tokens > r.left() / sizeof(int32_t)) {
    return Bad("forward", absl::StrCat(num_tokens, " tokens in ", r.left(), " bytes"));
  }
  out->batch.Clear();
  out->batch.tokens.resize(num_tokens);
  r.GetBytes(out->batch.tokens.data(), num_tokens * sizeof(int32_t));
  // Each sequence takes at least 32 bytes: bounds the count before anything is reserved.
  if (num_seqs > r.left() / 32) {
    return Bad("forward", absl::StrCat(num_seqs, " sequences in ", r.left(), " bytes"));
  }
  std::vector<std::pair<size_t, size_t>> spans;  // (offset into tables, length) per sequence
  out->tables.clear();
  for (uint64_t i = 0; i < num_seqs; ++i) {
    BatchSequence s;
    uint64_t table_len;
    if (!r.Get(&s.start_pos) || !r.Get(&s.num_tokens) || !r.Get(&s.num_logits) ||
        !r.Get(&table_len) || table_len > r.left() / sizeof(int32_t)) {
      return Bad("forward", absl::StrCat("sequence ", i, " is truncated"));
    }
    const size_t at = out->tables.size();
    out->tables.resize(at + table_len);
    r.GetBytes(out->tables.data() + at, table_len * sizeof(int32_t));
    spans.push_back({at, table_len});
    out->batch.sequences.push_back(s);
  }
  if (r.left() != 0) return Bad("forward", absl::StrCat(r.left(), " trailing bytes"));
  for (size_t i = 0; i < spans.size(); ++i) {
    out->batch.sequences[i].block_table =
        std::span<const int32_t>(out->tables.data() + spans[i].first, spans[i].second);
  }
  return absl::OkStatus();
}

}  // namespace infer::cluster
