#include "libinfer/format/hf_config.h"

#include <filesystem>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/format/architecture.h"
#include "libinfer/format/config_validation.h"
#include "libinfer/util/mapped_file.h"
#include "libinfer/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace {

using Json = nlohmann::json;

// Typed access to one JSON object, with errors naming the file and the key.
class Reader {
 public:
  Reader(const Json& obj, std::string display_name, std::string prefix = "")
      : obj_(obj), name_(std::move(display_name)), prefix_(std::move(prefix)) {}

  absl::Status Error(const std::string& key, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", prefix_, key, ": ", what));
  }

  // nullptr when the key is absent or null.
  const Json* Find(const std::string& key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }

  absl::StatusOr<std::optional<int64_t>> OptInt(const std::string& key) const {
    const Json* j = Find(key);
    if (j == nullptr) return std::optional<int64_t>();
    if (j->is_number_unsigned()) {
      if (j->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(key, "integer out of range");
      }
      return std::optional<int64_t>(static_cast<int64_t>(j->get<uint64_t>()));
    }
    if (j->is_number_integer()) return std::optional<int64_t>(j->get<int64_t>());
    return Error(key, absl::StrCat("expected an integer, got ", j->type_name()));
  }

  absl::StatusOr<int64_t> Int(const std::string& key) const {
    INFER_ASSIGN_OR_RETURN(std::optional<int64_t> v, OptInt(key));
    if (!v.has_value()) return Error(key, "missing (expected an integer)");
    return *v;
  }

  absl::StatusOr<std::optional<double>> OptFloat(const std::string& key) const {
    const Json* j = Find(key);
    if (j == nullptr) return std::optional<double>();
    if (!j->is_number()) return Error(key, absl::StrCat("expected a number, got ", j->type_name()));
    return std::optional<double>(j->get<double>());
  }

  absl::StatusOr<double> Float(const std::string& key, double fallback) const {
    INFER_ASSIGN_OR_RETURN(std::optional<double> v, OptFloat(key));
    return v.value_or(fallback);
  }

  absl::StatusOr<bool> Bool(const std::string& key, bool fallback) const {
    const Json* j = Find(key);
    if (j == nullptr) return fallback;
    if (!j->is_boolean()) return Error(key, absl::StrCat("expected a bool, got ", j->type_name()));
    return j->get<bool>();
  }

  absl::StatusOr<std::optional<std::string>> OptString(const std::string& key) const {
    const Json* j = Find(key);
    if (j == nullptr) return std::optional<std::string>();
    if (!j->is_string()) {
      return Error(key, absl::StrCat("expected a string, got ", j->type_name()));
    }
    return std::optional<std::string>(j->get<std::string>());
  }

 private:
  const Json& obj_;
  std::string name_;
  std::string prefix_;
};

absl::Status ReadRopeScaling(const Reader& top, const std::string& name, ModelConfig* c) {
  const Json* rs = top.Find("rope_scaling");
  if (rs == nullptr) return absl::OkStatus();
  if (!rs->is_object()) {
    return top.Error("rope_scaling",
                     absl::StrCat("expected an object or null, got ", rs->type_name()));
  }
  const Reader r(*rs, name, "rope_scaling.");
  INFER_ASSIGN_OR_RETURN(std::optional<std::string> type, r.OptString("rope_type"));
  if (!type.has_value()) {
    INFER_ASSIGN_OR_RETURN(type, r.OptString("type"));
  }
  if (!type.has_value()) return r.Error("rope_type", "missing");
  if (*type == "default") return absl::OkStatus();
  INFER_ASSIGN_OR_RETURN(std::optional<double> factor, r.OptFloat("factor"));
  if (!factor.has_value()) return r.Error("factor", "missing");
  c->rope_scaling_factor = static_cast<float>(*factor);
  if (*type == "linear") {
    c->rope_scaling = RopeScalingType::kLinear;
    return absl::OkStatus();
  }
  if (*type == "llama3") {
    c->rope_scaling = RopeScalingType::kLlama3;
    INFER_ASSIGN_OR_RETURN(double low, r.Float("low_freq_factor", 1.0));
    INFER_ASSIGN_OR_RETURN(double high, r.Float("high_freq_factor", 4.0));
    INFER_ASSIGN_OR_RETURN(c->rope_original_context_length,
                           r.Int("original_max_position_embeddings"));
    c->rope_low_freq_factor = static_cast<float>(low);
    c->rope_high_freq_factor = static_cast<float>(high);
    return absl::OkStatus();
  }
  return r.Error("rope_type", absl::StrCat("unsupported value '", *type,
                                           "' (expected default, linear or llama3)"));
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromHfConfigJson(std::string_view json_text,
                                                        std::string_view display_name) {
  const std::string name(display_name);
  Json root;
  try {
    root = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": invalid JSON: ", e.what()));
  }
  if (root.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(name, ": invalid JSON"));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": expected a JSON object"));
  }
  const Reader r(root, name);
  ModelConfig c;
  INFER_ASSIGN_OR_RETURN(std::optional<std::string> model_type, r.OptString("model_type"));
  if (!model_type.has_value()) return r.Error("model_type", "missing");
  const Architecture* family = FindArchitecture(*model_type);
  if (family == nullptr) {
    return r.Error("model_type", absl::StrCat("unsupported value '", *model_type, "' (expected ",
                                              ArchitectureNames(), ")"));
  }
  if (!family->hf_checkpoints) {
    return r.Error("model_type",
                   absl::StrCat("'", *model_type,
                                "': Hugging Face checkpoints of this family are not supported "
                                "yet; use the model's GGUF file"));
  }
  c.architecture = *model_type;
  INFER_ASSIGN_OR_RETURN(c.vocab_size, r.Int("vocab_size"));
  INFER_ASSIGN_OR_RETURN(c.hidden_size, r.Int("hidden_size"));
  INFER_ASSIGN_OR_RETURN(c.intermediate_size, r.Int("intermediate_size"));
  INFER_ASSIGN_OR_RETURN(c.num_layers, r.Int("num_hidden_layers"));
  INFER_ASSIGN_OR_RETURN(c.num_heads, r.Int("num_attention_heads"));
  if (c.num_heads <= 0) return r.Error("num_attention_heads", "must be positive");
  INFER_ASSIGN_OR_RETURN(std::optional<int64_t> kv, r.OptInt("num_key_value_heads"));
  c.num_kv_heads = kv.value_or(c.num_heads);
  INFER_ASSIGN_OR_RETURN(std::optional<int64_t> head_dim, r.OptInt("head_dim"));
  if (head_dim.has_value()) {
    c.head_dim = *head_dim;
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      return r.Error("hidden_size",
                     absl::StrCat(c.hidden_size, " is not a multiple of ", "num_attention_heads (",
                                  c.num_heads, ") and head_dim is not given"));
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.rope_dim = c.head_dim;
  INFER_ASSIGN_OR_RETURN(c.context_length, r.Int("max_position_embeddings"));
  INFER_ASSIGN_OR_RETURN(double eps, r.Float("rms_norm_eps", 1e-6));
  INFER_ASSIGN_OR_RETURN(double theta, r.Float("rope_theta", 10000.0));
  c.rms_norm_eps = static_cast<float>(eps);
  c.rope_theta = static_cast<float>(theta);
  c.rope_interleaved = false;
  INFER_RETURN_IF_ERROR(ReadRopeScaling(r, name, &c));
  INFER_ASSIGN_OR_RETURN(c.tie_word_embeddings, r.Bool("tie_word_embeddings", false));
  if (family->always_attention_bias) {
    c.attention_bias = true;
  } else {
    INFER_ASSIGN_OR_RETURN(c.attention_bias, r.Bool("attention_bias", false));
  }
  INFER_ASSIGN_OR_RETURN(std::optional<int64_t> window, r.OptInt("sliding_window"));
  switch (family->hf_sliding_window) {
    case HfSlidingWindow::kNone:
      break;
    case HfSlidingWindow::kSlidingWindow:
      c.sliding_window = window.value_or(0);
      break;
    case HfSlidingWindow::kWhenUseSlidingWindow: {
      INFER_ASSIGN_OR_RETURN(bool use_window, r.Bool("use_sliding_window", false));
      if (use_window) c.sliding_window = window.value_or(0);
      break;
    }
  }
  INFER_RETURN_IF_ERROR(ValidateModelConfig(c, display_name));
  return c;
}

absl::StatusOr<ModelConfig> ModelConfigFromHfConfigFile(const std::string& path) {
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  INFER_ASSIGN_OR_RETURN(ModelConfig c, ModelConfigFromHfConfigJson(text, path));
  c.name = std::filesystem::path(path).parent_path().filename().string();
  return c;
}

}  // namespace infer
