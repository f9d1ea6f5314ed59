// The family-agnostic helpers of model_runner.h.
#include "libinfer/model/model_runner.h"

#include <algorithm>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"

namespace infer {

absl::StatusOr<RunnerLayout> LayoutOfRank(const ModelConfig& config, int tensor_parallel,
                                          int pipeline_parallel, int rank) {
  if (tensor_parallel < 1 || pipeline_parallel < 1 || rank < 0 ||
      rank >= tensor_parallel * pipeline_parallel) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " of tensor ", tensor_parallel,
                                                   " x pipeline ", pipeline_parallel));
  }
  if (pipeline_parallel > config.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline-parallel size ", pipeline_parallel,
                                                   " exceeds the model's ", config.num_layers,
                                                   " layers"));
  }
  const int stage = rank / tensor_parallel;
  RunnerLayout layout;
  std::tie(layout.first_layer, layout.end_layer) =
      ShareOf(config.num_layers, stage, pipeline_parallel);
  layout.first_stage = stage == 0;
  layout.last_stage = stage == pipeline_parallel - 1;
  layout.tp_rank = rank % tensor_parallel;
  layout.tp_size = tensor_parallel;
  return layout;
}

void FlattenBatch(const ForwardBatch& batch, FlatBatch& plan) {
  plan.tokens.assign(batch.tokens.begin(), batch.tokens.end());
  plan.positions.clear();
  plan.table_begin.clear();
  plan.block_tables.clear();
  plan.logit_tokens.clear();
  plan.max_position = 0;
  int32_t first_token = 0;
  for (const BatchSequence& s : batch.sequences) {
    const auto table = static_cast<int32_t>(plan.block_tables.size());
    plan.block_tables.insert(plan.block_tables.end(), s.block_table.begin(), s.block_table.end());
    for (int64_t t = 0; t < s.num_tokens; ++t) {
      const auto pos = static_cast<int32_t>(s.start_pos + t);
      plan.positions.push_back(pos);
      plan.table_begin.push_back(table);
      plan.max_position = std::max(plan.max_position, pos);
    }
    for (int64_t t = s.num_tokens - s.num_logits; t < s.num_tokens; ++t) {
      plan.logit_tokens.push_back(first_token + static_cast<int32_t>(t));
    }
    first_token += static_cast<int32_t>(s.num_tokens);
  }
}

absl::Status CheckBatch(const ForwardBatch& batch, const ModelConfig& config,
                        const KvCache& cache) {
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  int64_t next = 0;
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& s = batch.sequences[i];
    if (s.num_tokens <= 0 || s.num_logits < 0 || s.num_logits > s.num_tokens || s.start_pos < 0) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, ": bad counts (start_pos ",
                                                     s.start_pos, ", num_tokens ", s.num_tokens,
                                                     ", num_logits ", s.num_logits, ")"));
    }
    const int64_t end = s.start_pos + s.num_tokens;
    if (end > config.context_length) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, ": positions up to ", end,
                                                     " exceed the context length ",
                                                     config.context_length));
    }
    const int64_t blocks = BlocksFor(end, cache.block_size());
    if (static_cast<int64_t>(s.block_table.size()) < blocks) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, ": ", s.block_table.size(),
                                                     " blocks cannot hold ", end, " positions"));
    }
    for (int64_t b = s.start_pos / cache.block_size(); b < blocks; ++b) {
      if (s.block_table[b] < 0 || s.block_table[b] >= cache.num_blocks()) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", i, ": block ", s.block_table[b],
                                                       " is outside the cache [0, ",
                                                       cache.num_blocks(), ")"));
      }
    }
    next += s.num_tokens;
    if (next > n) break;
  }
  if (next != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("the sequences claim ", next, " tokens, the batch has ", n));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= config.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", batch.tokens[i], " at index ", i,
                                                     " is outside the vocabulary [0, ",
                                                     config.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status RunSequence(ModelRunner& runner, std::span<const int32_t> tokens, int64_t start_pos,
                         std::span<const int32_t> block_table, KvCache& cache, bool all_logits,
                         std::vector<float>& logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  const int64_t vocab = runner.config().vocab_size;
  std::vector<float> all;
  ForwardBatch batch;
  std::vector<float> chunk_logits;
  for (int64_t begin = 0; begin < n; begin += kMaxChunkTokens) {
    const int64_t count = std::min(kMaxChunkTokens, n - begin);
    const bool last_chunk = begin + count == n;
    batch.Clear();
    batch.tokens.assign(tokens.begin() + begin, tokens.begin() + begin + count);
    BatchSequence seq;
    seq.block_table = block_table;
    seq.start_pos = start_pos + begin;
    seq.num_tokens = count;
    seq.num_logits = all_logits ? count : (last_chunk ? 1 : 0);
    batch.sequences.push_back(seq);
    INFER_RETURN_IF_ERROR(runner.Forward(batch, cache, {}, chunk_logits));
    if (all_logits) all.insert(all.end(), chunk_logits.begin(), chunk_logits.end());
  }
  if (all_logits) {
    logits = std::move(all);
  } else {
    logits.assign(chunk_logits.end() - vocab, chunk_logits.end());
  }
  return absl::OkStatus();
}

}  // namespace infer
