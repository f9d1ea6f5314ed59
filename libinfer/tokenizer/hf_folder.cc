// TokenizerSpecFromHfFolder: a Hugging Face folder's tokenizer files -> TokenizerSpec.
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/tokenizer/spm_model_proto.h"
#include "libinfer/tokenizer/tokenizer_spec.h"
#include "libinfer/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace infer {
namespace {

using Json = nlohmann::json;

// The pre-tokenizer regexes of Llama 3 and Qwen2 as their tokenizer.json files spell them.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<Json> ReadJson(const std::string& path) {
  INFER_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  }
  return j;
}

std::string StringField(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

bool BoolField(const Json& obj, const char* key, bool fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// A token named in tokenizer_config.json: "text" or {"content": "text", ...}.
std::string TokenField(const Json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return StringField(*it, "content");
}

bool IsByteLevel(const Json& p, bool use_regex) {
  return StringField(p, "type") == "ByteLevel" && BoolField(p, "use_regex", true) == use_regex &&
         !BoolField(p, "add_prefix_space", false);
}

// Maps tokenizer.json's pre_tokenizer to a GGUF-style `pre` name.
absl::StatusOr<std::string> PreTokenizerName(const Json& pre) {
  if (IsByteLevel(pre, true)) return std::string("gpt2");
  if (StringField(pre, "type") == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array() && pre["pretokenizers"].size() == 2) {
    const Json& a = pre["pretokenizers"][0];
    const Json& b = pre["pretokenizers"][1];
    if (StringField(a, "type") == "Digits" && BoolField(a, "individual_digits", false) &&
        IsByteLevel(b, true)) {
      return std::string("smollm");
    }
    if (StringField(a, "type") == "Split" && a.contains("pattern") && IsByteLevel(b, false)) {
      const std::string regex = StringField(a["pattern"], "Regex");
      if (regex == kLlama3Pattern) return std::string("llama-bpe");
      if (regex == kQwen2Pattern) return std::string("qwen2");
    }
  }
  return absl::UnimplementedError(
      absl::StrCat("tokenizer.json: unsupported pre_tokenizer ", pre.dump().substr(0, 300)));
}

absl::Status ReadTokenizerJson(const std::string& path, TokenizerSpec* spec) {
  INFER_ASSIGN_OR_RETURN(const Json root, ReadJson(path));
  const Json& model = root.contains("model") ? root["model"] : Json();
  if (StringField(model, "type") != "BPE") {
    return absl::UnimplementedError(absl::StrCat(
        path, ": model.type \"", StringField(model, "type"), "\" is not supported (only BPE)"));
  }
  if (BoolField(model, "byte_fallback", false)) {
    return absl::UnimplementedError(
        absl::StrCat(path, ": BPE with byte_fallback (use tokenizer.model instead)"));
  }
  spec->model = "gpt2";
  spec->bpe_ignore_merges = BoolField(model, "ignore_merges", false);
  INFER_ASSIGN_OR_RETURN(spec->pre, PreTokenizerName(root.value("pre_tokenizer", Json())));
  // Vocabulary: {"token": id}, then added tokens (which may extend it).
  std::vector<std::pair<std::string, int64_t>> entries;
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": model.vocab is not an object"));
  }
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": vocab id of \"", text, "\""));
    }
    entries.emplace_back(text, id.get<int64_t>());
  }
  std::vector<std::pair<int64_t, bool>> added;  // id, special
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const Json& t : root["added_tokens"]) {
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": malformed added_tokens entry"));
      }
      entries.emplace_back(StringField(t, "content"), t["id"].get<int64_t>());
      added.emplace_back(t["id"].get<int64_t>(), BoolField(t, "special", false));
    }
  }
  int64_t size = 0;
  for (const auto& e : entries) size = std::max(size, e.second + 1);
  if (size <= 0 || size > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bad vocabulary size ", size));
  }
  spec->tokens.assign(size, "");
  spec->token_types.assign(size, TokenType::kUnused);  // Ids no entry names stay unused.
  for (const auto& [text, id] : entries) {
    if (id < 0) return absl::InvalidArgumentError(absl::StrCat(path, ": negative token id"));
    spec->tokens[id] = text;
    spec->token_types[id] = TokenType::kNormal;
  }
  for (const auto& [id, special] : added) {
    spec->token_types[id] = special ? TokenType::kControl : TokenType::kUserDefined;
  }
  // Merges: "a b" strings or ["a", "b"] pairs.
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const Json& m : model["merges"]) {
      if (m.is_string()) {
        spec->merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        spec->merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return absl::InvalidArgumentError(absl::StrCat(path, ": malformed merge ", m.dump()));
      }
    }
  }
  spec->add_space_prefix = false;
  return absl::OkStatus();
}

absl::Status ReadSentencePieceModel(const std::string& path, TokenizerSpec* spec) {
  INFER_ASSIGN_OR_RETURN(spec->spm_model_proto, ReadFile(path));
  INFER_ASSIGN_OR_RETURN(const SpmModel model, ParseSpmModel(spec->spm_model_proto));
  spec->model = "llama";
  const auto n = static_cast<int>(model.pieces.size());
  for (const SpmModel::Piece& p : model.pieces) {
    spec->tokens.push_back(p.text);
    spec->scores.push_back(p.score);
    spec->token_types.push_back(p.type);
  }
  auto in_range = [n](int id) { return id >= 0 && id < n ? id : -1; };
  spec->unk_id = in_range(model.unk_id);
  spec->bos_id = in_range(model.bos_id);
  spec->eos_id = in_range(model.eos_id);
  spec->pad_id = in_range(model.pad_id);
  spec->add_space_prefix = model.add_dummy_prefix;
  spec->add_bos = spec->bos_id >= 0;  // LlamaTokenizer's default; tokenizer_config may override.
  return absl::OkStatus();
}

absl::Status ReadTokenizerConfig(const std::string& path, TokenizerSpec* spec) {
  INFER_ASSIGN_OR_RETURN(const Json config, ReadJson(path));
  absl::flat_hash_map<std::string, TokenId> ids;
  for (size_t i = 0; i < spec->tokens.size(); ++i) {
    ids.try_emplace(spec->tokens[i], static_cast<TokenId>(i));
  }
  auto lookup = [&](const char* key, TokenId* id) -> absl::Status {
    const std::string text = TokenField(config, key);
    if (text.empty()) return absl::OkStatus();
    auto it = ids.find(text);
    if (it == ids.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", key, " \"", text, "\" is not in the vocabulary"));
    }
    *id = it->second;
    return absl::OkStatus();
  };
  INFER_RETURN_IF_ERROR(lookup("bos_token", &spec->bos_id));
  INFER_RETURN_IF_ERROR(lookup("eos_token", &spec->eos_id));
  INFER_RETURN_IF_ERROR(lookup("unk_token", &spec->unk_id));
  INFER_RETURN_IF_ERROR(lookup("pad_token", &spec->pad_id));
  spec->add_bos = BoolField(config, "add_bos_token", spec->add_bos) && spec->bos_id >= 0;
  spec->add_eos = BoolField(config, "add_eos_token", spec->add_eos) && spec->eos_id >= 0;
  if (auto it = config.find("chat_template"); it != config.end()) {
    if (it->is_string()) {
      spec->chat_template = it->get<std::string>();
    } else if (it->is_array()) {
      for (const Json& t : *it) {
        if (StringField(t, "name") == "default") spec->chat_template = StringField(t, "template");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerSpec> TokenizerSpecFromHfFolder(const std::string& dir) {
  TokenizerSpec spec;
  // A SentencePiece model is preferred: HF's tokenizer.json for such models (BPE with byte
  // fallback and a Metaspace normalizer) is a translation of it.
  if (const std::string spm = dir + "/tokenizer.model"; FileExists(spm)) {
    INFER_RETURN_IF_ERROR(ReadSentencePieceModel(spm, &spec));
  } else if (const std::string json = dir + "/tokenizer.json"; FileExists(json)) {
    INFER_RETURN_IF_ERROR(ReadTokenizerJson(json, &spec));
  } else {
    return absl::NotFoundError(
        absl::StrCat(dir, ": neither tokenizer.model nor tokenizer.json exists"));
  }
  if (const std::string config = dir + "/tokenizer_config.json"; FileExists(config)) {
    INFER_RETURN_IF_ERROR(ReadTokenizerConfig(config, &spec));
  }
  return spec;
}

}  // namespace infer
