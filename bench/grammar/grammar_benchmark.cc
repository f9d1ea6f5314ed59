// The grammar engine's one-time costs, which a request pays only for a schema not seen before:
// compiling a JSON Schema, the first token mask (a walk of the vocabulary trie from the start
// state), and every mask along a whole output from a cold index. Over SmolLM2's vocabulary
// (49,152 tokens): set INFER_SMOLLM2_GGUF. The per-token cost of a warm grammar is measured end
// to end by grammar_overhead.py.
//
//   INFER_SMOLLM2_GGUF=SmolLM2-135M-Instruct.Q4_1.gguf build/bench/grammar/bench_grammar
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "infer/grammar.h"
#include "infer/model.h"
#include "libinfer/grammar/compilers.h"
#include "libinfer/grammar/matcher.h"
#include "libinfer/model/model_impl.h"

namespace infer {
namespace {

std::string Read(const std::string& name) {
  std::ifstream in(std::string(INFER_BENCH_GRAMMAR_DIR) + "/" + name);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::shared_ptr<const grammar::TokenTrie>* Trie() {
  static const auto* trie = []() -> const std::shared_ptr<const grammar::TokenTrie>* {
    const char* path = std::getenv("INFER_SMOLLM2_GGUF");
    if (path == nullptr) return nullptr;
    ModelOptions o;
    o.path = path;
    o.num_threads = 1;
    auto model = Model::Load(o);
    if (!model.ok()) return nullptr;
    return new std::shared_ptr<const grammar::TokenTrie>(
        grammar::TokenTrie::Build(model->get()->tokenizer()));
  }();
  return trie;
}

void BM_CompileSchema(benchmark::State& state, const char* file) {
  const std::string schema = Read(file);
  for (auto _ : state) {
    auto rules = grammar::CompileJsonSchema(schema);
    if (!rules.ok()) state.SkipWithError("the schema does not compile");
    benchmark::DoNotOptimize(rules);
  }
}

void BM_FirstMask(benchmark::State& state, const char* file) {
  if (Trie() == nullptr) return state.SkipWithError("set INFER_SMOLLM2_GGUF");
  auto rules = std::make_shared<const grammar::Rules>(*grammar::CompileJsonSchema(Read(file)));
  std::vector<uint64_t> mask;
  for (auto _ : state) {
    grammar::GrammarIndex index(rules, *Trie());
    index.Mask(index.initial(), &mask);
    benchmark::DoNotOptimize(mask);
  }
}

// Masks at every token of `text` (tokenized one byte-level piece at a time by the trie's
// longest match), from a cold index: what the first request with a new schema pays in all.
void BM_ColdOutput(benchmark::State& state, const char* file, const char* text) {
  if (Trie() == nullptr) return state.SkipWithError("set INFER_SMOLLM2_GGUF");
  const grammar::TokenTrie& trie = **Trie();
  // Greedy longest-match tokenization of `text` through the trie.
  std::vector<TokenId> tokens;
  for (size_t i = 0; i < std::strlen(text);) {
    int32_t node = 0;
    TokenId best = -1;
    size_t best_len = 0;
    for (size_t j = i; j < std::strlen(text); ++j) {
      const grammar::TokenTrie::Node& n = trie.nodes[static_cast<size_t>(node)];
      int32_t next = -1;
      for (int32_t e = n.first_edge; e < n.first_edge + n.num_edges; ++e) {
        if (trie.edge_byte[static_cast<size_t>(e)] == static_cast<uint8_t>(text[j])) {
          next = trie.edge_child[static_cast<size_t>(e)];
        }
      }
      if (next < 0) break;
      node = next;
      const grammar::TokenTrie::Node& c = trie.nodes[static_cast<size_t>(node)];
      if (c.num_tokens > 0) {
        best = trie.tokens[static_cast<size_t>(c.first_token)];
        best_len = j - i + 1;
      }
    }
    if (best < 0) return state.SkipWithError("text not in the vocabulary");
    tokens.push_back(best);
    i += best_len;
  }
  auto rules = std::make_shared<const grammar::Rules>(*grammar::CompileJsonSchema(Read(file)));
  std::vector<uint64_t> mask;
  for (auto _ : state) {
    grammar::GrammarIndex index(rules, *Trie());
    int32_t s = index.initial();
    for (TokenId t : tokens) {
      index.Mask(s, &mask);
      s = index.Advance(s, t);
      if (s == grammar::GrammarIndex::kDead) return state.SkipWithError("the text is not valid");
    }
  }
  state.counters["tokens"] = static_cast<double>(tokens.size());
}

BENCHMARK_CAPTURE(BM_CompileSchema, corpus_largest, "corpus_largest.json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CompileSchema, records, "records.json")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FirstMask, corpus_largest, "corpus_largest.json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ColdOutput, corpus_largest, "corpus_largest.json",
                  R"({"value": {"id": 12, "lines": [{"sku": "AB123", "qty": 3}], "paid": true}, )"
                  R"("note": "leave it at the door"})")
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace infer

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
