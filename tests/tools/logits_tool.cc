// infer_logits: teacher-forced logits for the Python reference tests.
//   infer_logits --model PATH --tokens 1,2,3 --out FILE [--threads N]
// writes [num_tokens, vocab] little-endian float32, row-major.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "infer/model.h"

int main(int argc, char** argv) {
  std::string model_path, tokens_arg, out_path;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--model") {
      model_path = argv[i + 1];
    } else if (flag == "--tokens") {
      tokens_arg = argv[i + 1];
    } else if (flag == "--out") {
      out_path = argv[i + 1];
    } else if (flag == "--threads") {
      threads = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "infer_logits: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (model_path.empty() || tokens_arg.empty() || out_path.empty()) {
    std::fprintf(stderr, "usage: infer_logits --model PATH --tokens 1,2,3 --out FILE\n");
    return 2;
  }
  std::vector<infer::TokenId> ids;
  for (size_t pos = 0; pos < tokens_arg.size();) {
    size_t comma = tokens_arg.find(',', pos);
    if (comma == std::string::npos) comma = tokens_arg.size();
    ids.push_back(static_cast<infer::TokenId>(std::stol(tokens_arg.substr(pos, comma - pos))));
    pos = comma + 1;
  }
  infer::ModelOptions options;
  options.path = model_path;
  options.num_threads = threads;
  auto model = infer::Model::Load(options);
  if (!model.ok()) {
    std::fprintf(stderr, "infer_logits: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  auto logits = (*model)->ComputeLogits(ids);
  if (!logits.ok()) {
    std::fprintf(stderr, "infer_logits: %s\n", std::string(logits.status().message()).c_str());
    return 1;
  }
  std::ofstream out(out_path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(logits->data()),
            static_cast<std::streamsize>(logits->size() * sizeof(float)));
  return out.good() ? 0 : 1;
}
