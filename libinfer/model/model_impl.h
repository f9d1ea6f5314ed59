// ModelImpl: what a loaded model holds. Shared by model.cc (loading), the engine (Generate,
// the Scheduler) and the cluster, which drive the forward pass through `runner`.
#ifndef INFER_MODEL_MODEL_IMPL_H_
#define INFER_MODEL_MODEL_IMPL_H_

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/model.h"
#include "libinfer/chat/chat_template.h"
#include "libinfer/grammar/matcher.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/model/weight_source.h"

namespace infer {

// What Model::Load returns: the public Model with what it is made of.
class ModelImpl final : public Model {
 public:
  ModelInfo info;
  std::string chat_template;
  // The template parsed once at load; the parse error when it does not parse (the model still
  // loads: completions of raw prompts work without it). Null when there is none.
  absl::StatusOr<std::shared_ptr<const ChatTemplate>> parsed_chat_template;
  std::unique_ptr<WeightSource> weights;  // owns the mapping the runner reads
  std::unique_ptr<Tokenizer> tokenizer;
  // The whole model as the engine sees it: tokens in, logits out (for a cluster's leader, a
  // runner that drives every rank).
  std::unique_ptr<ModelRunner> runner;
  // The runner serves one caller at a time.
  std::mutex forward_mu;

  // The vocabulary as a byte trie, for grammars; built on first use (thread-safe).
  const std::shared_ptr<const grammar::TokenTrie>& token_trie() const {
    std::call_once(trie_once_, [this] { trie_ = grammar::TokenTrie::Build(*tokenizer); });
    return trie_;
  }

 private:
  mutable std::once_flag trie_once_;
  mutable std::shared_ptr<const grammar::TokenTrie> trie_;
};

// The library's way in to a Model's internals (every Model is a ModelImpl: Load makes them).
inline ModelImpl& ImplOf(Model& model) { return static_cast<ModelImpl&>(model); }
inline const ModelImpl& ImplOf(const Model& model) { return static_cast<const ModelImpl&>(model); }

// The model's parsed chat template for the library's own renderers (the server passes messages
// as JSON, with tool calls and content parts); FailedPrecondition as Model::RenderChat.
absl::StatusOr<const ChatTemplate*> ChatTemplateOf(const Model& model);

// A conversation made ready to run (Model::Generate's and a Scheduler Request's messages): the
// rendered prompt's tokens, and with active tools the calls' grammar, whose output is then read
// back into calls.
struct ChatPrompt {
  std::vector<TokenId> ids;
  std::shared_ptr<const Grammar> calls_grammar;  // null without active tools
  bool reads_calls = false;
};
// `has_grammar`: the sampling parameters already constrain the output (refused with active
// tools). Errors as Model::RenderChat, and InvalidArgument for tools with a grammar.
absl::StatusOr<ChatPrompt> PrepareChat(const Model& model, std::span<const ChatMessage> messages,
                                       const ChatOptions& options, bool has_grammar);

}  // namespace infer

#endif  // INFER_MODEL_MODEL_IMPL_H_
