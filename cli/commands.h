// infer-cli subcommands. Each Register* adds its options to the app and returns the action to
// run when that subcommand is chosen; actions return the process exit code.
#ifndef INFER_CLI_COMMANDS_H_
#define INFER_CLI_COMMANDS_H_

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "infer/cluster.h"
#include "infer/model.h"
#include "infer/scheduler.h"

namespace infer::cli {

using Action = std::function<int()>;

Action RegisterGenerate(CLI::App& app);
Action RegisterInfo(CLI::App& app);
Action RegisterBench(CLI::App& app);
Action RegisterServe(CLI::App& app);
Action RegisterGenPassword(CLI::App& app);
Action RegisterWorker(CLI::App& app);

// The model path to use: `flag` when given, else $INFER_MODEL, else the default model that
// scripts/fetch_model.sh caches (SmolLM2-135M-Instruct Q4_1). A `flag` that names no file but
// has the shape of a Hugging Face hub id ("org/name", as the seed deployment's MODEL_ID) is
// looked up in the hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub):
// the snapshot that refs/main names (or the only one), as a folder, or its one .gguf file when
// it holds no config.json. Nothing is downloaded; NotFound says where it looked.
absl::StatusOr<std::string> ResolveModelPath(const std::string& flag);

// Loads a model, drawing a progress bar on stderr when it is a terminal. `max_context` 0: the
// model's own context length. With `cluster` (the leader's), every rank loads its slice.
// `device`: ModelOptions::device ("cpu", "cuda", "cuda:N").
absl::StatusOr<std::unique_ptr<Model>> LoadModel(const std::string& path, int threads,
                                                 int64_t max_context = 0,
                                                 Cluster* cluster = nullptr,
                                                 const std::string& device = "cpu");

// Adds --device (env INFER_DEVICE) to a command that loads a model.
void AddDeviceFlag(CLI::App& app, std::string& device);

// Adds --kv-cache-dtype (env KV_CACHE_DTYPE: auto, float32 or float16) to a command that runs a
// Scheduler (the names ParseKvCacheDType takes); KvCacheDTypeOf reads the checked value.
void AddKvCacheDtypeFlag(CLI::App& app, std::string& dtype);
KvCacheDType KvCacheDTypeOf(const std::string& dtype);

// A byte count from /proc/self/status ("VmRSS", "VmHWM"); 0 where unavailable. VmHWM is this
// process image's own peak (unlike getrusage, it is not inherited across fork + exec).
uint64_t ProcStatusBytes(const char* field);

// Prints "infer-cli: <message>" to stderr and returns 1.
int Fail(const std::string& message);

}  // namespace infer::cli

#endif  // INFER_CLI_COMMANDS_H_
