// infer-cli: generate, info, bench, gen-password, serve.
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <vector>

#include "cli/commands.h"

namespace infer::cli {

namespace {

// "org/name" with no other slash, no leading dot and no drive or scheme: a hub id.
bool LooksLikeHubId(const std::string& s) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == s.size()) return false;
  if (s.find('/', slash + 1) != std::string::npos || s[0] == '.' || s[0] == '~') return false;
  return s.find(':') == std::string::npos;
}

absl::StatusOr<std::string> FromHubCache(const std::string& id) {
  namespace fs = std::filesystem;
  fs::path hub;
  if (const char* v = std::getenv("HF_HUB_CACHE"); v != nullptr && *v != '\0') {
    hub = v;
  } else if (const char* home = std::getenv("HF_HOME"); home != nullptr && *home != '\0') {
    hub = fs::path(home) / "hub";
  } else if (const char* user = std::getenv("HOME"); user != nullptr) {
    hub = fs::path(user) / ".cache" / "huggingface" / "hub";
  }
  std::string folder = "models--" + id;
  folder.replace(folder.find('/'), 1, "--");
  const fs::path repo = hub / folder;
  const auto missing = [&](const std::string& what) {
    return absl::NotFoundError(
        "model '" + id + "': no such file, and " + what +
        " (libinfer reads the Hugging Face cache but does not download: fill the cache, e.g. with "
        "huggingface-cli download, or give a path)");
  };
  std::error_code ec;
  if (!fs::is_directory(repo / "snapshots", ec)) {
    return missing("not in the Hugging Face cache (" + (repo / "snapshots").string() +
                   " is not a folder)");
  }
  fs::path snapshot;
  if (std::FILE* ref = std::fopen((repo / "refs" / "main").c_str(), "r")) {
    char rev[128] = {};
    const size_t n = std::fread(rev, 1, sizeof(rev) - 1, ref);
    std::fclose(ref);
    std::string r(rev, n);
    while (!r.empty() && (r.back() == '\n' || r.back() == '\r' || r.back() == ' ')) r.pop_back();
    if (!r.empty() && r.find('/') == std::string::npos) snapshot = repo / "snapshots" / r;
  }
  if (snapshot.empty()) {
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(repo / "snapshots", ec)) all.push_back(e.path());
    if (all.size() != 1) {
      return missing(repo.string() + " has " + std::to_string(all.size()) +
                     " snapshots and no refs/main to choose one");
    }
    snapshot = all[0];
  }
  if (!fs::is_directory(snapshot, ec)) {
    return missing("refs/main names " + snapshot.string() + ", which is not a folder");
  }
  if (fs::exists(snapshot / "config.json", ec)) return snapshot.string();
  std::vector<fs::path> ggufs;
  for (const auto& e : fs::directory_iterator(snapshot, ec)) {
    if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
  }
  if (ggufs.size() == 1) return ggufs[0].string();
  return missing(snapshot.string() + " holds no config.json and " + std::to_string(ggufs.size()) +
                 " .gguf files (name the file instead)");
}

}  // namespace

absl::StatusOr<std::string> ResolveModelPath(const std::string& flag) {
  if (!flag.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(flag, ec) || !LooksLikeHubId(flag)) return flag;
    return FromHubCache(flag);
  }
  if (const char* env = std::getenv("INFER_MODEL"); env != nullptr && *env != '\0') return env;
  std::filesystem::path cache;
  if (const char* dir = std::getenv("INFER_MODEL_CACHE"); dir != nullptr && *dir != '\0') {
    cache = dir;
  } else if (const char* home = std::getenv("HOME"); home != nullptr) {
    cache = std::filesystem::path(home) / ".cache" / "libinfer";
  }
  return (cache / "SmolLM2-135M-Instruct.Q4_1.gguf").string();
}

absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& path, int threads,
                                                 int64_t max_context, Cluster* cluster,
                                                 const std::string& device) {
  ModelOptions options;
  options.path = path;
  options.device = device;
  options.cluster = cluster;
  options.num_threads = threads;
  options.max_context = max_context;
  if (isatty(STDERR_FILENO)) {
    options.on_progress = [](uint64_t done, uint64_t total) {
      const int width = 40;
      const int filled = total == 0 ? width : static_cast<int>(width * done / total);
      std::fprintf(stderr, "\rloading [%s%s] %3d%%", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(),
                   total == 0 ? 100 : static_cast<int>(100 * done / total));
      if (done == total) std::fputc('\n', stderr);
    };
  }
  auto model = Model::Load(options);
  if (!model.ok() &&
      std::string(model.status().message()).find("no such file") != std::string::npos) {
    return absl::Status(model.status().code(),
                        std::string(model.status().message()) +
                            " (fetch the default model with scripts/fetch_model.sh, or pass "
                            "--model PATH)");
  }
  return model;
}

void AddDeviceFlag(CLI::App& app, std::string& device) {
  app.add_option("--device", device,
                 "Where the forward pass runs: cpu, cuda (GPU 0) or cuda:N; a missing GPU is "
                 "an error, never a silent fallback")
      ->envname("INFER_DEVICE");
}

void AddKvCacheDtypeFlag(CLI::App& app, std::string& dtype) {
  app.add_option("--kv-cache-dtype", dtype,
                 "KV cache element type: auto (= float32) or float16 (half the memory and the "
                 "bytes attention reads; K and V rounded to F16)")
      ->envname("KV_CACHE_DTYPE")
      ->check([](const std::string& name) {
        absl::StatusOr<KvCacheDType> type = ParseKvCacheDType(name);
        return type.ok() ? std::string() : std::string(type.status().message());
      });
}

KvCacheDType KvCacheDTypeOf(const std::string& dtype) {
  return ParseKvCacheDType(dtype).value_or(KvCacheDType::kFloat32);
}

uint64_t ProcStatusBytes(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  const size_t len = std::strlen(field);
  uint64_t kib = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      kib = std::strtoull(line + len + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kib * 1024;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "infer-cli: %s\n", message.c_str());
  return 1;
}

}  // namespace infer::cli

int main(int argc, char** argv) {
  CLI::App app("infer-cli: run large language models with libinfer");
  app.require_subcommand(1);
  struct Sub {
    CLI::App* app;
    infer::cli::Action action;
  };
  std::vector<Sub> subs;
  for (auto [name, help, reg] :
       {std::tuple{"generate", "Generate text from a prompt", &infer::cli::RegisterGenerate},
        std::tuple{"info", "Describe a model file", &infer::cli::RegisterInfo},
        std::tuple{"bench", "Measure prefill and decode speed", &infer::cli::RegisterBench},
        std::tuple{"gen-password", "Hash a password or make a JWT key for AuthStore",
                   &infer::cli::RegisterGenPassword},
        std::tuple{"serve", "Serve the OpenAI-compatible HTTP API", &infer::cli::RegisterServe},
        std::tuple{"worker", "Join a serve leader as one rank of a model spread over processes",
                   &infer::cli::RegisterWorker}}) {
    CLI::App* sub = app.add_subcommand(name, help);
    subs.push_back({sub, reg(*sub)});
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (const Sub& sub : subs) {
    if (sub.app->parsed()) return sub.action();
  }
  return 1;
}
