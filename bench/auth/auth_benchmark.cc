// AuthStore::Login for an unknown user, a wrong password and a correct password (argon2id at the
// default OWASP-minimum cost), plus token verification and form parsing: the library's baseline
// for the `/token` measurement over HTTP. Unknown user and wrong password should cost the same
// (both run one argon2id with the same parameters).
//
//   bench_auth --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
// reports mean, median and stddev per case; the limiter is off so repeated failures are measured
// rather than refused.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "infer/auth.h"
#include "infer/log.h"
#include "libinfer/serve/login_form.h"
#include "libinfer/util/cpu_features.h"

namespace {

const bool kContext = [] {
  benchmark::AddCustomContext("cpu_model", infer::CpuModelName());
  return true;
}();

std::unique_ptr<infer::AuthStore> MakeStore() {
  static const std::string alice = infer::HashPassword("alice-pw").value();
  static const std::string bob = infer::HashPasswordLegacySha256("bob-pw").value();
  const infer::Environment env = {{"JWT_KEY", "bench-jwt-key-0123456789abcdefghijklmnopqrstuvwxyz"},
                                  {"USER_LIST", "ALICE, BOB"},
                                  {"ALICE_USERNAME", "alice"},
                                  {"ALICE_HASHED_PASSWORD", alice},
                                  {"ALICE_ROLE", "admin"},
                                  {"BOB_USERNAME", "bob"},
                                  {"BOB_HASHED_PASSWORD", bob},
                                  {"BOB_ROLE", "guest"}};
  infer::AuthOptions options;
  options.login_limits.enabled = false;
  infer::SetLogSink([](infer::LogSeverity, std::string_view) {});  // legacy-login warnings
  return infer::AuthStore::FromEnvironment([env] { return env; }, options).value();
}

void BM_Login(benchmark::State& state, const char* user, const char* password, bool expect_ok) {
  auto store = MakeStore();
  for (auto _ : state) {
    auto token = store->Login(user, password, "203.0.113.5");
    if (token.ok() != expect_ok) state.SkipWithError("unexpected login result");
    benchmark::DoNotOptimize(token);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Login, unknown_user, "mallory", "alice-pw", false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Login, wrong_password, "alice", "wrong-pw", false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Login, correct_password, "alice", "alice-pw", true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Login, legacy_wrong_password, "bob", "wrong-pw", false)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Login, legacy_correct_password, "bob", "bob-pw", true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Verify(benchmark::State& state) {
  auto store = MakeStore();
  const std::string token = store->Login("alice", "alice-pw", "").value().access_token;
  for (auto _ : state) {
    auto claims = store->Authenticate(token);
    if (!claims.ok()) state.SkipWithError("token did not verify");
    benchmark::DoNotOptimize(claims);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Verify);

void BM_ParseLoginForm(benchmark::State& state) {
  const std::string boundary = "------------------------d74496d66958873e";
  const std::string body =
      "--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n"
      "--" +
      boundary +
      "\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nalice-pw\r\n"
      "--" +
      boundary + "--\r\n";
  const std::string content_type = "multipart/form-data; boundary=" + boundary;
  for (auto _ : state) {
    auto form = infer::serve::ParseLoginForm(content_type, body);
    benchmark::DoNotOptimize(form);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_ParseLoginForm);

}  // namespace
