#include <algorithm>
#include <map>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "infer/model.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

absl::Status CheckConfig(const ModelConfig& c) {
  auto positive = [](int64_t v, const char* field) -> absl::Status {
    if (v > 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(field, " must be positive, got ", v));
  };
  INFER_RETURN_IF_ERROR(positive(c.vocab_size, "vocab_size"));
  INFER_RETURN_IF_ERROR(positive(c.hidden_size, "hidden_size"));
  INFER_RETURN_IF_ERROR(positive(c.num_layers, "num_layers"));
  INFER_RETURN_IF_ERROR(positive(c.num_heads, "num_heads"));
  INFER_RETURN_IF_ERROR(positive(c.num_kv_heads, "num_kv_heads"));
  INFER_RETURN_IF_ERROR(positive(c.head_dim, "head_dim"));
  INFER_RETURN_IF_ERROR(positive(c.context_length, "context_length"));
  if (c.num_heads % c.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_heads ", c.num_heads, " is not a multiple of num_kv_heads ", c.num_kv_heads));
  }
  return absl::OkStatus();
}

int DefaultThreads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u));
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

const ModelInfo& Model::info() const { return impl_->info; }
const Tokenizer& Model::tokenizer() const { return *impl_->tokenizer; }
const std::string& Model::chat_template() const { return impl_->chat_template; }

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const ModelOptions& options) {
  const ParallelLayout& par = options.parallel;
  if (par.tensor_parallel_size < 1 || par.tensor_parallel_rank < 0 ||
      par.tensor_parallel_rank >= par.tensor_parallel_size || par.pipeline_parallel_size < 1 ||
      par.pipeline_parallel_rank < 0 || par.pipeline_parallel_rank >= par.pipeline_parallel_size) {
    return absl::InvalidArgumentError("parallel layout: every rank must be in [0, size)");
  }
  if (par.tensor_parallel_size != 1 || par.pipeline_parallel_size != 1) {
    return absl::UnimplementedError(
        "tensor / pipeline parallel sizes above 1 need a communicator, which the CPU backend "
        "does not have yet");
  }
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_threads must be >= 0, got ", options.num_threads));
  }
  auto prefix = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(options.path, ": ", s.message()));
  };
  absl::StatusOr<LoadedModelFiles> files = OpenModelFiles(options.path);
  if (!files.ok()) return files.status();  // format readers already name the file
  const ModelConfig& config = files->config;
  if (absl::Status s = CheckConfig(config); !s.ok()) return prefix(s);

  auto impl = std::make_unique<Impl>();
  ModelInfo& info = impl->info;
  info.path = options.path;
  info.format = std::string(files->weights->format());
  info.architecture = config.architecture;
  info.name = config.name;
  info.vocab_size = config.vocab_size;
  info.hidden_size = config.hidden_size;
  info.intermediate_size = config.intermediate_size;
  info.num_layers = config.num_layers;
  info.num_heads = config.num_heads;
  info.num_kv_heads = config.num_kv_heads;
  info.head_dim = config.head_dim;
  info.native_context_length = config.context_length;
  info.rope_theta = config.rope_theta;
  info.tied_embeddings = files->weights->Find("output.weight") == nullptr;
  if (options.max_context > config.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": max_context ", options.max_context,
                     " exceeds the model's context length ", config.context_length));
  }
  info.context_length = options.max_context > 0 ? options.max_context : config.context_length;
  info.kv_bytes_per_token =
      static_cast<uint64_t>(2 * config.num_layers * config.num_kv_heads * config.head_dim) *
      sizeof(float);
  std::map<std::string, int> type_counts;
  for (const TensorView* t : files->weights->All()) {
    info.parameter_count += static_cast<uint64_t>(t->numel());
    info.weight_bytes += t->nbytes;
    ++type_counts[std::string(DTypeName(t->dtype))];
  }
  std::vector<std::pair<std::string, int>> by_count(type_counts.begin(), type_counts.end());
  std::sort(by_count.begin(), by_count.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  info.weight_types = absl::StrJoin(by_count, ", ", [](std::string* out, const auto& p) {
    absl::StrAppend(out, p.first, " x", p.second);
  });
  info.cpu_kernels = CpuLevelName();
  info.num_threads = options.num_threads > 0 ? options.num_threads : DefaultThreads();

  if (static_cast<int64_t>(files->tokenizer.tokens.size()) > config.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": the tokenizer has ", files->tokenizer.tokens.size(),
                     " tokens but the model's vocabulary (embedding rows) is ", config.vocab_size));
  }
  impl->chat_template = files->tokenizer.chat_template;
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer(files->tokenizer);
  if (!tokenizer.ok()) return prefix(tokenizer.status());
  impl->tokenizer = *std::move(tokenizer);

  LlamaSlice slice;
  slice.first_layer = 0;
  slice.end_layer = config.num_layers;
  slice.tp_rank = par.tensor_parallel_rank;
  slice.tp_size = par.tensor_parallel_size;
  absl::StatusOr<std::unique_ptr<LlamaModel>> llama =
      LlamaModel::Create(config, *files->weights, slice);
  if (!llama.ok()) return prefix(llama.status());
  impl->llama = *std::move(llama);
  info.weight_bytes_per_token = impl->llama->weight_bytes_per_token();
  impl->weights = std::move(files->weights);
  impl->pool = std::make_unique<ThreadPool>(info.num_threads);
  // Touch every page of the weights now, so the first request does not pay for page faults
  // (and a host sees real progress while a large file is read from disk).
  {
    uint64_t done = 0;
    uint64_t reported = 0;
    uint8_t sink = 0;
    for (const TensorView* t : impl->weights->All()) {
      for (size_t off = 0; off < t->nbytes; off += 4096) sink ^= t->data[off];
      done += t->nbytes;
      if (options.on_progress && (done - reported) * 100 >= info.weight_bytes) {
        options.on_progress(done, info.weight_bytes);
        reported = done;
      }
    }
    if (options.on_progress && reported != done) options.on_progress(done, info.weight_bytes);
    asm volatile("" : : "r"(sink));  // keep the reads
  }
  INFER_LOG(kInfo, "%s: %s %s, %d layers, %s, %d threads, %s kernels", options.path, info.format,
            info.architecture, info.num_layers, info.weight_types, info.num_threads,
            info.cpu_kernels);
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

absl::StatusOr<std::vector<float>> Model::ComputeLogits(std::span<const TokenId> ids) {
  if (ids.empty()) return absl::InvalidArgumentError("ComputeLogits: no tokens");
  if (static_cast<int64_t>(ids.size()) > impl_->info.context_length) {
    return absl::InvalidArgumentError(absl::StrCat("ComputeLogits: ", ids.size(),
                                                   " tokens exceed the context length ",
                                                   impl_->info.context_length));
  }
  const ModelConfig& c = impl_->llama->config();
  INFER_ASSIGN_OR_RETURN(SequenceKvCache kv,
                         SequenceKvCache::Create(c, static_cast<int64_t>(ids.size())));
  std::vector<float> logits;
  std::lock_guard<std::mutex> lock(impl_->forward_mu);
  INFER_RETURN_IF_ERROR(impl_->llama->ForwardSequence(ids, 0, kv.block_table, *kv.cache,
                                                      /*all_logits=*/true, logits,
                                                      impl_->pool.get()));
  return logits;
}

}  // namespace infer
