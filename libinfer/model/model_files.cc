// OpenModelFiles: turns a path into config + tokenizer spec + weights, for GGUF and HF folders.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libinfer/format/gguf.h"
#include "libinfer/format/gguf_config.h"
#include "libinfer/format/hf_config.h"
#include "libinfer/format/safetensors.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

class GgufWeights : public WeightSource {
 public:
  explicit GgufWeights(std::unique_ptr<GgufFile> file) : file_(std::move(file)) {}
  const TensorView* Find(std::string_view name) const override { return file_->FindTensor(name); }
  std::vector<const TensorView*> All() const override {
    std::vector<const TensorView*> out;
    for (const TensorView& t : file_->tensors()) out.push_back(&t);
    return out;
  }
  std::string_view format() const override { return "gguf"; }

 private:
  std::unique_ptr<GgufFile> file_;
};

// Reads `tokenizer.*` metadata into a spec. Missing optional keys keep the spec's defaults.
absl::StatusOr<TokenizerSpec> TokenizerSpecFromGguf(const GgufFile& f) {
  TokenizerSpec spec;
  INFER_ASSIGN_OR_RETURN(spec.model, f.GetString("tokenizer.ggml.model"));
  if (f.Has("tokenizer.ggml.pre")) {
    INFER_ASSIGN_OR_RETURN(spec.pre, f.GetString("tokenizer.ggml.pre"));
  }
  INFER_ASSIGN_OR_RETURN(auto tokens, f.GetStringArray("tokenizer.ggml.tokens"));
  spec.tokens.assign(tokens.begin(), tokens.end());
  if (f.Has("tokenizer.ggml.scores")) {
    INFER_ASSIGN_OR_RETURN(spec.scores, f.GetFloatArray("tokenizer.ggml.scores"));
  }
  if (f.Has("tokenizer.ggml.token_type")) {
    INFER_ASSIGN_OR_RETURN(auto types, f.GetInt32Array("tokenizer.ggml.token_type"));
    spec.token_types.reserve(types.size());
    for (int32_t t : types) spec.token_types.push_back(static_cast<TokenType>(t));
  }
  if (f.Has("tokenizer.ggml.merges")) {
    INFER_ASSIGN_OR_RETURN(auto merges, f.GetStringArray("tokenizer.ggml.merges"));
    spec.merges.assign(merges.begin(), merges.end());
  }
  struct IdKey {
    const char* key;
    TokenId* out;
  };
  for (const IdKey& k : {IdKey{"tokenizer.ggml.bos_token_id", &spec.bos_id},
                         IdKey{"tokenizer.ggml.eos_token_id", &spec.eos_id},
                         IdKey{"tokenizer.ggml.unknown_token_id", &spec.unk_id},
                         IdKey{"tokenizer.ggml.padding_token_id", &spec.pad_id},
                         IdKey{"tokenizer.ggml.eot_token_id", &spec.eot_id}}) {
    if (!f.Has(k.key)) continue;
    INFER_ASSIGN_OR_RETURN(int64_t id, f.GetInt64(k.key));
    if (id < -1 || id >= static_cast<int64_t>(spec.tokens.size())) {
      return absl::InvalidArgumentError(absl::StrCat(f.display_name(), ": ", k.key, " = ", id,
                                                     " is outside the vocabulary of ",
                                                     spec.tokens.size()));
    }
    *k.out = static_cast<TokenId>(id);
  }
  // llama.cpp's defaults when the flags are absent: SentencePiece vocabularies add BOS.
  spec.add_bos = spec.model == "llama";
  if (f.Has("tokenizer.ggml.add_bos_token")) {
    INFER_ASSIGN_OR_RETURN(spec.add_bos, f.GetBool("tokenizer.ggml.add_bos_token"));
  }
  if (f.Has("tokenizer.ggml.add_eos_token")) {
    INFER_ASSIGN_OR_RETURN(spec.add_eos, f.GetBool("tokenizer.ggml.add_eos_token"));
  }
  if (f.Has("tokenizer.ggml.add_space_prefix")) {
    INFER_ASSIGN_OR_RETURN(spec.add_space_prefix, f.GetBool("tokenizer.ggml.add_space_prefix"));
  }
  // llama.cpp's Llama 3 vocabularies match whole words before merging, as HF's ignore_merges.
  spec.bpe_ignore_merges = spec.pre == "llama-bpe";
  if (f.Has("tokenizer.chat_template")) {
    INFER_ASSIGN_OR_RETURN(spec.chat_template, f.GetString("tokenizer.chat_template"));
  }
  return spec;
}

absl::StatusOr<LoadedModelFiles> OpenGguf(const std::string& path) {
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::Open(path));
  LoadedModelFiles out;
  INFER_ASSIGN_OR_RETURN(out.config, ModelConfigFromGguf(*file));
  INFER_ASSIGN_OR_RETURN(out.tokenizer, TokenizerSpecFromGguf(*file));
  out.weights = std::make_unique<GgufWeights>(std::move(file));
  return out;
}

// Maps GGUF-style names to the HF checkpoint's names.
class HfWeights : public WeightSource {
 public:
  explicit HfWeights(std::unique_ptr<SafetensorsCheckpoint> folder) : folder_(std::move(folder)) {}

  const TensorView* Find(std::string_view name) const override {
    const std::string hf = HfName(name);
    return hf.empty() ? nullptr : folder_->FindTensor(hf);
  }
  std::vector<const TensorView*> All() const override {
    std::vector<const TensorView*> out;
    for (const auto& [name, view] : folder_->tensors()) out.push_back(view);
    return out;
  }
  std::string_view format() const override { return "safetensors"; }

 private:
  static std::string HfName(std::string_view name) {
    static constexpr std::pair<std::string_view, std::string_view> kGlobal[] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
    };
    for (const auto& [gguf, hf] : kGlobal) {
      if (name == gguf) return std::string(hf);
    }
    static constexpr std::pair<std::string_view, std::string_view> kLayer[] = {
        {"attn_norm.weight", "input_layernorm.weight"},
        {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},
        {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"},
        {"attn_q.bias", "self_attn.q_proj.bias"},
        {"attn_k.bias", "self_attn.k_proj.bias"},
        {"attn_v.bias", "self_attn.v_proj.bias"},
        {"attn_q_norm.weight", "self_attn.q_norm.weight"},
        {"attn_k_norm.weight", "self_attn.k_norm.weight"},
        {"attn_output.weight", "self_attn.o_proj.weight"},
        {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},
        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    if (!absl::StartsWith(absl::string_view(name.data(), name.size()), "blk.")) return "";
    const size_t dot = name.find('.', 4);
    if (dot == std::string_view::npos) return "";
    const std::string_view layer = name.substr(4, dot - 4);
    const std::string_view rest = name.substr(dot + 1);
    for (const auto& [gguf, hf] : kLayer) {
      if (rest == gguf) {
        return absl::StrCat("model.layers.", std::string(layer), ".", std::string(hf));
      }
    }
    return "";
  }

  std::unique_ptr<SafetensorsCheckpoint> folder_;
};

absl::StatusOr<LoadedModelFiles> OpenHfFolder(const std::string& dir) {
  LoadedModelFiles out;
  INFER_ASSIGN_OR_RETURN(out.config, ModelConfigFromHfConfigFile(
                                         (std::filesystem::path(dir) / "config.json").string()));
  INFER_ASSIGN_OR_RETURN(out.tokenizer, TokenizerSpecFromHfFolder(dir));
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsCheckpoint> folder,
                         SafetensorsCheckpoint::OpenFolder(dir));
  out.weights = std::make_unique<HfWeights>(std::move(folder));
  return out;
}

}  // namespace

absl::StatusOr<LoadedModelFiles> OpenModelFiles(const std::string& path) {
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(path, ec);
  if (!is_dir && !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
  }
  return is_dir ? OpenHfFolder(path) : OpenGguf(path);
}

}  // namespace infer
