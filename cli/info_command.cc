// infer-cli info: architecture, sizes, types, context length and chat template of a model.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "nlohmann/json.hpp"

namespace infer::cli {
namespace {

struct InfoFlags {
  std::string model;
  bool json = false;
};

int RunInfo(const InfoFlags& f) {
  absl::StatusOr<std::string> path = ResolveModelPath(f.model);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  auto model = LoadModel(*path, 1);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  const ModelInfo& i = (*model)->info();
  nlohmann::json out = {
      {"path", i.path},
      {"format", i.format},
      {"architecture", i.architecture},
      {"name", i.name},
      {"vocab_size", i.vocab_size},
      {"hidden_size", i.hidden_size},
      {"intermediate_size", i.intermediate_size},
      {"num_layers", i.num_layers},
      {"num_heads", i.num_heads},
      {"num_kv_heads", i.num_kv_heads},
      {"head_dim", i.head_dim},
      {"context_length", i.native_context_length},
      {"rope_theta", i.rope_theta},
      {"tied_embeddings", i.tied_embeddings},
      {"file_type", i.file_type},
      {"weight_types", i.weight_types},
      {"parameter_count", i.parameter_count},
      {"weight_bytes", i.weight_bytes},
      {"kv_bytes_per_token", i.kv_bytes_per_token},
      {"bos_id", (*model)->tokenizer().bos_id()},
      {"eos_id", (*model)->tokenizer().eos_id()},
      {"cpu_kernels", i.cpu_kernels},
      {"cpu_model", i.cpu_model},
      {"chat_template", (*model)->chat_template()},
  };
  if (f.json) {
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  for (const auto& [key, value] : out.items()) {
    if (key == "chat_template") continue;
    std::printf("%-20s %s\n", key.c_str(),
                value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
  }
  std::printf("chat_template:\n%s\n",
              (*model)->chat_template().empty() ? "(none)" : (*model)->chat_template().c_str());
  return 0;
}

}  // namespace

Action RegisterInfo(CLI::App& app) {
  auto f = std::make_shared<InfoFlags>();
  app.add_option("--model,-m", f->model, "GGUF file or Hugging Face folder (default: SmolLM2)");
  app.add_flag("--json", f->json, "Print JSON");
  return [f] { return RunInfo(*f); };
}

}  // namespace infer::cli
