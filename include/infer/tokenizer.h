// libinfer — tokenizers.
//
// One interface over the tokenizers real models ship: SentencePiece (Llama 2, Mistral; HF
// `tokenizer.model` or a GGUF `llama` vocabulary) and byte-level BPE (GPT-2, SmolLM2, Llama 3,
// Qwen2; HF `tokenizer.json` or a GGUF `gpt2` vocabulary). A Tokenizer is immutable after
// construction and safe to use from many threads at once.
#ifndef INFER_TOKENIZER_H_
#define INFER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infer {

// A token id: an index into the vocabulary, 0 <= id < vocab_size().
using TokenId = int32_t;

struct EncodeOptions {
  // Prepend the beginning-of-sequence token when the model's rules ask for one (GGUF
  // `tokenizer.ggml.add_bos_token`, HF `add_bos_token` / post-processor). Also governs the
  // EOS token appended when the model asks for one (TokenizerSpec::add_eos).
  bool add_bos = true;
  // Recognise the text of special and added tokens (e.g. "<|im_start|>") and map each to its
  // single id. Off: such text is tokenized as ordinary characters (use for untrusted user text).
  bool parse_special = true;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text -> token ids. `text` must be valid UTF-8 (InvalidArgument otherwise, with the byte
  // offset of the first bad sequence).
  virtual absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                                      const EncodeOptions& options = {}) const = 0;

  // Token ids -> text. Control tokens (BOS, EOS, ...) are omitted unless `keep_special`.
  // OutOfRange for an id outside the vocabulary. The result may end inside a multi-byte UTF-8
  // character if the ids do; use StreamDecoder to emit text token by token.
  virtual absl::StatusOr<std::string> Decode(std::span<const TokenId> ids,
                                             bool keep_special = false) const = 0;

  // The raw bytes one token stands for when decoded (after byte-fallback / byte-level mapping),
  // "" for control tokens. `id` must be in range.
  virtual std::string TokenBytes(TokenId id) const = 0;

  // The vocabulary entry as stored in the model (e.g. "Ġthe", "▁the", "<|im_end|>").
  virtual std::string_view TokenText(TokenId id) const = 0;

  virtual int32_t vocab_size() const = 0;
  // -1 when the model defines none.
  virtual TokenId bos_id() const = 0;
  virtual TokenId eos_id() const = 0;
  // True for tokens that end a generation: EOS and end-of-turn tokens such as "<|im_end|>",
  // "<|eot_id|>", "<|end_of_text|>" that the vocabulary marks as such.
  virtual bool IsEndOfGeneration(TokenId id) const = 0;
  // True for control / special tokens (never part of the decoded text).
  virtual bool IsSpecial(TokenId id) const = 0;
};

// Turns a stream of token ids into text pieces that are always whole UTF-8 characters: bytes of
// an incomplete character are held back until the token that completes them arrives.
// Not thread-safe; one per generation. The Tokenizer must outlive it.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Appends one token; returns the text that became complete (possibly empty).
  std::string Push(TokenId id);

  // Text still held back at the end of the stream: an invalid or truncated UTF-8 tail is
  // returned as U+FFFD replacement characters.
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
  bool at_start_ = true;
};

}  // namespace infer

#endif  // INFER_TOKENIZER_H_
