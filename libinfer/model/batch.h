// What the engine hands the forward pass each step: every token of the step in one flat array
// (prefill chunks and decode tokens together), and per sequence where its tokens are, where its
// cache is and which logits it wants. One shape for every device (see DESIGN.md).
#ifndef INFER_MODEL_BATCH_H_
#define INFER_MODEL_BATCH_H_

#include <cstdint>
#include <span>
#include <vector>

namespace infer {

struct BatchSequence {
  // Blocks of the PagedKvCache holding this sequence's positions, in order; must cover
  // [0, start_pos + num_tokens).
  std::span<const int32_t> block_table;
  // Positions already in the cache; this step's tokens go to [start_pos, start_pos + num_tokens).
  int64_t start_pos = 0;
  // This sequence's tokens: the next num_tokens entries of ForwardBatch::tokens.
  int64_t num_tokens = 0;
  // Logits wanted for the last num_logits of those tokens (0: none; 1: the next-token logits;
  // num_tokens: every position, for scoring).
  int64_t num_logits = 0;
};

struct ForwardBatch {
  std::vector<int32_t> tokens;  // the sequences' tokens, one sequence after another
  std::vector<BatchSequence> sequences;

  void Clear() {
    tokens.clear();
    sequences.clear();
  }
  // Rows of logits Forward() writes: the sum of num_logits.
  int64_t num_logit_rows() const {
    int64_t n = 0;
    for (const BatchSequence& s : sequences) n += s.num_logits;
    return n;
  }
};

}  // namespace infer

#endif  // INFER_MODEL_BATCH_H_
