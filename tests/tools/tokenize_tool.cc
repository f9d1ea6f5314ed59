// infer_tokenize: encodes stdin line by line with a libinfer tokenizer; used by the tokenizer
// reference tests.
//
//   infer_tokenize (--hf-folder DIR | --spec-json FILE) [--no-bos] [--no-special] [--decode]
//                  [--json-input]
//
// With --json-input each input line is a JSON string (so texts may hold newlines).
// Prints one line per input line: the ids separated by spaces, or with --decode a JSON object
// {"ids": [...], "text": Decode(ids), "stream": the StreamDecoder's output}. A line that fails
// to encode prints "ERROR <message>". --spec-json reads a TokenizerSpec as JSON: model, pre,
// tokens, scores, token_types, merges, bos_id, eos_id, unk_id, pad_id, eot_id, add_bos, add_eos,
// add_space_prefix, bpe_ignore_merges, spm_model_file (a path read into spm_model_proto).
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "infer/tokenizer.h"
#include "libinfer/tokenizer/tokenizer_spec.h"
#include "nlohmann/json.hpp"

namespace {

using Json = nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Exceptions are fine in a test tool: a malformed JSON spec ends the program with its message.
infer::TokenizerSpec SpecFromJson(const std::string& path) {
  const Json j = Json::parse(ReadAll(path));
  infer::TokenizerSpec spec;
  spec.model = j.value("model", "");
  spec.pre = j.value("pre", "");
  spec.tokens = j.value("tokens", std::vector<std::string>{});
  spec.scores = j.value("scores", std::vector<float>{});
  for (int t : j.value("token_types", std::vector<int>{})) {
    spec.token_types.push_back(static_cast<infer::TokenType>(t));
  }
  spec.merges = j.value("merges", std::vector<std::string>{});
  spec.bos_id = j.value("bos_id", -1);
  spec.eos_id = j.value("eos_id", -1);
  spec.unk_id = j.value("unk_id", -1);
  spec.pad_id = j.value("pad_id", -1);
  spec.eot_id = j.value("eot_id", -1);
  spec.add_bos = j.value("add_bos", false);
  spec.add_eos = j.value("add_eos", false);
  spec.add_space_prefix = j.value("add_space_prefix", true);
  spec.bpe_ignore_merges = j.value("bpe_ignore_merges", false);
  if (j.contains("spm_model_file")) spec.spm_model_proto = ReadAll(j["spm_model_file"]);
  return spec;
}

int Usage() {
  std::cerr << "usage: infer_tokenize (--hf-folder DIR | --spec-json FILE) [--no-bos] "
               "[--no-special] [--decode] [--json-input] < lines\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string hf_folder, spec_json;
  infer::EncodeOptions options;
  bool decode = false;
  bool json_input = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hf-folder" && i + 1 < argc) {
      hf_folder = argv[++i];
    } else if (arg == "--spec-json" && i + 1 < argc) {
      spec_json = argv[++i];
    } else if (arg == "--no-bos") {
      options.add_bos = false;
    } else if (arg == "--no-special") {
      options.parse_special = false;
    } else if (arg == "--decode") {
      decode = true;
    } else if (arg == "--json-input") {
      json_input = true;
    } else {
      return Usage();
    }
  }
  if (hf_folder.empty() == spec_json.empty()) return Usage();
  infer::TokenizerSpec spec;
  if (!hf_folder.empty()) {
    auto s = infer::TokenizerSpecFromHfFolder(hf_folder);
    if (!s.ok()) {
      std::cerr << "infer_tokenize: " << s.status() << "\n";
      return 1;
    }
    spec = *std::move(s);
  } else {
    spec = SpecFromJson(spec_json);
  }
  auto tokenizer = infer::CreateTokenizer(spec);
  if (!tokenizer.ok()) {
    std::cerr << "infer_tokenize: " << tokenizer.status() << "\n";
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (json_input) line = Json::parse(line).get<std::string>();
    auto ids = (*tokenizer)->Encode(line, options);
    if (!ids.ok()) {
      std::cout << "ERROR " << ids.status().message() << "\n";
      continue;
    }
    if (!decode) {
      for (size_t k = 0; k < ids->size(); ++k) std::cout << (k ? " " : "") << (*ids)[k];
      std::cout << "\n";
      continue;
    }
    auto text = (*tokenizer)->Decode(*ids);
    infer::StreamDecoder stream(**tokenizer);
    std::string streamed;
    for (const infer::TokenId id : *ids) streamed += stream.Push(id);
    streamed += stream.Flush();
    Json out = {{"ids", *ids},
                {"text", text.ok() ? *text : "ERROR " + std::string(text.status().message())},
                {"stream", streamed}};
    std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  }
  return 0;
}
