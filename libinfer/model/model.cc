#include <algorithm>
#include <map>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "infer/cluster.h"
#include "infer/model.h"
#include "libinfer/chat/conversation.h"
#include "libinfer/model/model_impl.h"
#include "libinfer/model/parallelism.h"
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

// What ModelInfo says of the files (the threads and context as `options` ask).
ModelInfo DescribeModel(const ModelOptions& options, const LoadedModelFiles& files) {
  const ModelConfig& config = files.config;
  ModelInfo info;
  info.path = options.path;
  info.format = std::string(files.weights->format());
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
  info.tied_embeddings = files.weights->Find("output.weight") == nullptr;
  info.context_length = options.max_context > 0 ? options.max_context : config.context_length;
  info.kv_bytes_per_token = WholeModelKvShape(config).BytesPerBlock(1);
  std::map<std::string, int> type_counts;
  std::map<std::string, int> matrix_types;  // tensors of two or more dimensions
  for (const TensorView* t : files.weights->All()) {
    info.parameter_count += static_cast<uint64_t>(t->numel());
    info.weight_bytes += t->nbytes;
    ++type_counts[std::string(DTypeName(t->dtype))];
    if (t->shape.size() >= 2) ++matrix_types[std::string(DTypeName(t->dtype))];
  }
  info.file_type = config.file_type;
  if (info.file_type.empty() && !matrix_types.empty()) {
    info.file_type =
        std::max_element(matrix_types.begin(), matrix_types.end(),
                         [](const auto& a, const auto& b) { return a.second < b.second; })
            ->first;
  }
  std::vector<std::pair<std::string, int>> by_count(type_counts.begin(), type_counts.end());
  std::sort(by_count.begin(), by_count.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  info.weight_types = absl::StrJoin(by_count, ", ", [](std::string* out, const auto& p) {
    absl::StrAppend(out, p.first, " x", p.second);
  });
  info.cpu_kernels = CpuLevelName();
  info.cpu_model = CpuModelName();
  info.num_threads = options.num_threads > 0 ? options.num_threads : DefaultThreads();
  return info;
}

// The chat template parsed; null when there is none, the parse error when it does not parse.
absl::StatusOr<std::shared_ptr<const ChatTemplate>> ParseChatTemplate(const std::string& text) {
  if (text.empty()) return std::shared_ptr<const ChatTemplate>();
  absl::StatusOr<ChatTemplate> parsed = ChatTemplate::Parse(text);
  if (!parsed.ok()) return parsed.status();
  return std::make_shared<const ChatTemplate>(*std::move(parsed));
}

}  // namespace

Model::~Model() = default;

const ModelInfo& Model::info() const { return ImplOf(*this).info; }
const Tokenizer& Model::tokenizer() const { return *ImplOf(*this).tokenizer; }
const std::string& Model::chat_template() const { return ImplOf(*this).chat_template; }

absl::StatusOr<const ChatTemplate*> ChatTemplateOf(const Model& model) {
  const ModelImpl& impl = ImplOf(model);
  if (!impl.parsed_chat_template.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(impl.info.path, ": the model's chat template does not parse: ",
                     impl.parsed_chat_template.status().message()));
  }
  if (*impl.parsed_chat_template == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(impl.info.path, ": the model has no chat template"));
  }
  return impl.parsed_chat_template->get();
}

namespace {

// Renders as the server does; `tools` receives the options' tools as a ToolRequest.
absl::StatusOr<std::string> RenderWithOptions(const Model& model,
                                              std::span<const ChatMessage> messages,
                                              const ChatOptions& options,
                                              chat::ToolRequest* tools) {
  INFER_ASSIGN_OR_RETURN(const ChatTemplate* chat_template, ChatTemplateOf(model));
  return chat::RenderMessages(*chat_template, BaseChatInputs(model.tokenizer()), messages, options,
                              tools);
}

}  // namespace

absl::StatusOr<std::string> Model::RenderChat(std::span<const ChatMessage> messages,
                                              const ChatOptions& options) const {
  chat::ToolRequest tools;
  return RenderWithOptions(*this, messages, options, &tools);
}

absl::StatusOr<ChatPrompt> PrepareChat(const Model& model, std::span<const ChatMessage> messages,
                                       const ChatOptions& options, bool has_grammar) {
  if (messages.empty()) return absl::InvalidArgumentError("messages: none given");
  chat::ToolRequest tools;
  INFER_ASSIGN_OR_RETURN(const std::string text,
                         RenderWithOptions(model, messages, options, &tools));
  ChatPrompt out;
  EncodeOptions eo;
  eo.add_bos = false;  // the template writes BOS itself where the model wants it
  INFER_ASSIGN_OR_RETURN(out.ids, model.tokenizer().Encode(text, eo));
  if (tools.active()) {
    if (has_grammar) {
      return absl::InvalidArgumentError(
          "tools: active tools (tool_choice other than kNone) and SamplingParams::grammar both "
          "constrain the output; give one");
    }
    INFER_ASSIGN_OR_RETURN(out.calls_grammar, chat::CallsGrammar(tools));
    out.reads_calls = true;
  }
  return out;
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const ModelOptions& options) {
  ModelParallelism* parallel = options.cluster ? FindModelParallelism(options.cluster) : nullptr;
  if (options.cluster != nullptr && parallel == nullptr) {
    return absl::InvalidArgumentError(
        "ModelOptions::cluster: only the leader (rank 0) loads a Model; a worker calls "
        "Cluster::RunWorker");
  }
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_threads must be >= 0, got ", options.num_threads));
  }
  INFER_RETURN_IF_ERROR(CpuLevelSettingStatus());
  auto prefix = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(options.path, ": ", s.message()));
  };
  if (parallel != nullptr) INFER_RETURN_IF_ERROR(parallel->StartLoad(options));
  absl::StatusOr<LoadedModelFiles> files = OpenModelFiles(options.path);
  if (!files.ok()) return files.status();  // format readers already name the file
  const ModelConfig& config = files->config;
  if (absl::Status s = CheckConfig(config); !s.ok()) return prefix(s);

  if (options.max_context > config.context_length) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": max_context ", options.max_context,
                     " exceeds the model's context length ", config.context_length));
  }
  auto impl = std::make_unique<ModelImpl>();
  impl->info = DescribeModel(options, *files);
  ModelInfo& info = impl->info;

  if (static_cast<int64_t>(files->tokenizer.tokens.size()) > config.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.path, ": the tokenizer has ", files->tokenizer.tokens.size(),
                     " tokens but the model's vocabulary (embedding rows) is ", config.vocab_size));
  }
  impl->chat_template = files->tokenizer.chat_template;
  impl->parsed_chat_template = ParseChatTemplate(impl->chat_template);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = CreateTokenizer(files->tokenizer);
  if (!tokenizer.ok()) return prefix(tokenizer.status());
  impl->tokenizer = *std::move(tokenizer);

  RunnerLayout layout;
  layout.end_layer = config.num_layers;
  comm::Communicator* tp_comm = nullptr;
  comm::Timeout timeout{0};
  if (parallel != nullptr) {
    absl::StatusOr<RunnerLayout> l = parallel->LayoutFor(config);
    if (!l.ok()) return prefix(l.status());
    layout = *l;
    tp_comm = parallel->tensor_parallel_comm();
    timeout = parallel->timeout();
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      CreateBackend(options.device, info.num_threads);
  if (!backend.ok()) return prefix(backend.status());
  if (parallel != nullptr && !(*backend)->host_memory()) {
    return prefix(absl::InvalidArgumentError(
        absl::StrCat("device ", options.device,
                     ": a cluster's ranks run on CPUs so far (their communicators carry host "
                     "memory); load with device cpu")));
  }
  info.device = (*backend)->name();
  absl::StatusOr<std::unique_ptr<ModelRunner>> runner = CreateModelRunner(
      config, *files->weights, layout, tp_comm, timeout, info.num_threads, *std::move(backend));
  if (!runner.ok()) return prefix(runner.status());
  INFER_RETURN_IF_ERROR((*runner)->Prepare(options.on_progress));
  info.weight_bytes_per_token = (*runner)->weight_bytes_per_token();
  if (parallel != nullptr) {
    INFER_ASSIGN_OR_RETURN(impl->runner, parallel->FinishLoad(*std::move(runner)));
  } else {
    impl->runner = *std::move(runner);
  }
  impl->weights = std::move(files->weights);
  INFER_LOG(kInfo, "%s: %s %s, %d layers, %s, on %s, %s kernels", options.path, info.format,
            info.architecture, info.num_layers, info.weight_types, info.device, info.cpu_kernels);
  return std::unique_ptr<Model>(std::move(impl));
}

absl::StatusOr<std::vector<float>> Model::ComputeLogits(std::span<const TokenId> ids) {
  if (ids.empty()) return absl::InvalidArgumentError("ComputeLogits: no tokens");
  if (static_cast<int64_t>(ids.size()) > ImplOf(*this).info.context_length) {
    return absl::InvalidArgumentError(absl::StrCat("ComputeLogits: ", ids.size(),
                                                   " tokens exceed the context length ",
                                                   ImplOf(*this).info.context_length));
  }
  const int64_t blocks = BlocksFor(static_cast<int64_t>(ids.size()), kDefaultKvBlockSize);
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  for (int64_t b = 0; b < blocks; ++b) table[b] = static_cast<int32_t>(b);
  std::vector<float> logits;
  std::lock_guard<std::mutex> lock(ImplOf(*this).forward_mu);
  INFER_ASSIGN_OR_RETURN(
      std::unique_ptr<KvCache> cache,
      ImplOf(*this).runner->CreateKvCache(kDefaultKvBlockSize, blocks, kHostKvDType));
  INFER_RETURN_IF_ERROR(
      RunSequence(*ImplOf(*this).runner, ids, 0, table, *cache, /*all_logits=*/true, logits));
  return logits;
}

}  // namespace infer
