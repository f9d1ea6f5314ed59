// Loads a model through the installed headers and library; prints its layer count.
#include <cstdio>
#include <string>

#include "infer/model.h"

int main(int argc, char** argv) {
  infer::ModelOptions options;
  options.path = argc > 1 ? argv[1] : "missing.gguf";
  auto model = infer::Model::Load(options);
  if (!model.ok()) {
    std::printf("error: %s\n", std::string(model.status().message()).c_str());
    return 3;
  }
  std::printf("layers=%lld\n", static_cast<long long>((*model)->info().num_layers));
  return 0;
}
