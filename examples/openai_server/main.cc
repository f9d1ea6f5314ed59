// A host program that embeds libinfer's OpenAI-compatible server next to a route of its own.
//
//   openai_server MODEL.gguf [PORT] [--exit-after-ready]
//
// It loads the model, creates the Scheduler (continuous batching) and the Server, adds
// GET /v1/hello (an application's own endpoint, answered from the model's tokenizer), and serves
// until SIGINT or SIGTERM, then lets in-flight requests finish.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "infer/model.h"
#include "infer/scheduler.h"
#include "infer/server.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf [PORT] [--exit-after-ready]\n", argv[0]);
    return 2;
  }
  const bool exit_after_ready = argc > 3 && std::strcmp(argv[3], "--exit-after-ready") == 0;
  // The server's threads inherit this mask; the main thread takes the signals with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  infer::ModelOptions model_options;
  model_options.path = argv[1];
  auto model = infer::Model::Load(model_options);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }

  infer::SchedulerOptions scheduler_options;
  scheduler_options.kv_cache_bytes = 256ull << 20;
  auto scheduler = infer::Scheduler::Create(**model, scheduler_options);
  if (!scheduler.ok()) {
    std::fprintf(stderr, "%s\n", std::string(scheduler.status().message()).c_str());
    return 1;
  }

  infer::ServerOptions server_options;
  server_options.port = argc > 2 ? std::atoi(argv[2]) : 8000;
  auto server = infer::Server::Start(**model, **scheduler, server_options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }

  // The application's own route: how many tokens a text takes.
  const infer::Tokenizer& tokenizer = (*model)->tokenizer();
  (*server)->AddRoute("POST", "/v1/hello", [&tokenizer](const infer::HttpRequest& request) {
    infer::HttpResponse response;
    auto ids = tokenizer.Encode(request.body);
    if (!ids.ok()) {
      response.status = 400;
      response.body = R"({"error": {"message": "the body is not UTF-8 text", "type": )"
                      R"("invalid_request_error", "param": null, "code": null}})";
      return response;
    }
    response.body = "{\"tokens\": " + std::to_string(ids->size()) + "}";
    return response;
  });

  (*server)->MarkReady();
  std::printf("listening on http://127.0.0.1:%d\n", (*server)->port());
  std::fflush(stdout);
  if (!exit_after_ready) {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
  }
  (*server)->Shutdown(std::chrono::seconds(30));
  (*scheduler)->Shutdown(infer::Scheduler::ShutdownMode::kDrain);
  return 0;
}
