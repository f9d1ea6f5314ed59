#include "libinfer/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace infer {
namespace {

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double LogSumExp(std::span<const float> logits) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum);
}

}  // namespace

Sampler::Sampler(const SamplingParams& params, int64_t vocab_size, std::span<const int32_t> prompt,
                 std::unique_ptr<grammar::GrammarMatcher> grammar)
    : params_(params), vocab_size_(vocab_size), grammar_(std::move(grammar)) {
  if (params.seed.has_value()) {
    rng_.seed(*params.seed);
  } else {
    std::random_device device;
    rng_.seed((static_cast<uint64_t>(device()) << 32) ^ device());
  }
  if (params.repetition_penalty != 1.0f) prompt_tokens_.insert(prompt.begin(), prompt.end());
}

void Sampler::ApplyPenalties(std::span<float> logits) const {
  if (params_.repetition_penalty != 1.0f) {
    const float r = params_.repetition_penalty;
    auto penalize = [&](int32_t id) {
      float& v = logits[id];
      v = v > 0 ? v / r : v * r;
    };
    for (int32_t id : prompt_tokens_) penalize(id);
    for (const auto& [id, count] : output_counts_) {
      if (!prompt_tokens_.contains(id)) penalize(id);
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (const auto& [id, count] : output_counts_) {
      logits[id] -=
          params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
    }
  }
}

int32_t Sampler::SampleFiltered(std::span<const float> logits) {
  const float inv_t = 1.0f / params_.temperature;
  const float max = *std::max_element(logits.begin(), logits.end());
  // Candidates as (probability weight, id), most likely first. Only as many as the filters can
  // keep are sorted: top-k bounds them directly; for top-p / min-p we first try the 256 most
  // likely, which hold the whole nucleus for any real model, and fall back to a full sort.
  candidates_.clear();
  candidates_.reserve(static_cast<size_t>(vocab_size_));
  double total = 0;
  for (int64_t i = 0; i < vocab_size_; ++i) {
    const float w = std::exp((logits[i] - max) * inv_t);
    total += w;
    candidates_.emplace_back(w, static_cast<int32_t>(i));
  }
  auto by_weight = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = candidates_.size();
  if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
  const bool needs_order = keep < candidates_.size() || params_.top_p < 1.0f || params_.min_p > 0;
  if (needs_order) {
    // Total weight of the top-k survivors: top-p is measured against it.
    double kept_total = total;
    const size_t fast = std::min(keep, static_cast<size_t>(256));
    bool sorted = false;
    if (params_.top_k <= 0 && params_.top_p < 1.0f) {
      std::partial_sort(candidates_.begin(), candidates_.begin() + fast, candidates_.end(),
                        by_weight);
      double prefix = 0;
      for (size_t i = 0; i < fast; ++i) prefix += candidates_[i].first;
      if (prefix >= params_.top_p * total) {
        candidates_.resize(fast);  // the nucleus lies inside the sorted prefix
        sorted = true;
      }
    }
    if (!sorted) {
      std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(),
                        by_weight);
      candidates_.resize(keep);
      kept_total = 0;
      for (const auto& c : candidates_) kept_total += c.first;
    }
    if (params_.top_p < 1.0f) {
      double cumulative = 0;
      size_t n = 0;
      while (n < candidates_.size()) {
        cumulative += candidates_[n].first;
        ++n;
        if (cumulative >= params_.top_p * kept_total) break;
      }
      candidates_.resize(n);
    }
    if (params_.min_p > 0) {
      const double floor = params_.min_p * candidates_.front().first;
      size_t n = 1;
      while (n < candidates_.size() && candidates_[n].first >= floor) ++n;
      candidates_.resize(n);
    }
  }
  double mass = 0;
  for (const auto& c : candidates_) mass += c.first;
  std::uniform_real_distribution<double> uniform(0.0, mass);
  const double r = uniform(rng_);
  double cumulative = 0;
  for (const auto& c : candidates_) {
    cumulative += c.first;
    if (r < cumulative) return c.second;
  }
  // Rounding left r at the top: the last candidate that has weight (a masked token has none).
  for (auto it = candidates_.rbegin(); it != candidates_.rend(); ++it) {
    if (it->first > 0) return it->second;
  }
  return candidates_.back().second;
}

SampledToken Sampler::Sample(std::span<float> logits) {
  SampledToken result;
  // Log-probabilities describe the model's own distribution, so take them before penalties.
  std::vector<float> raw;
  if (params_.logprobs >= 0) raw.assign(logits.begin(), logits.end());
  for (const auto& [id, bias] : params_.logit_bias) logits[static_cast<size_t>(id)] += bias;
  ApplyPenalties(logits);
  if (grammar_ != nullptr) {
    status_ = grammar_->ApplyMask(logits);
    if (!status_.ok()) return result;
  }
  result.id = params_.temperature == 0.0f ? ArgMax(logits) : SampleFiltered(logits);
  if (grammar_ != nullptr) {
    status_ = grammar_->Accept(result.id);
    if (!status_.ok()) {
      result.id = -1;
      return result;
    }
  }
  if (params_.logprobs >= 0)
    result.logprob = TopLogprobs(raw, result.id, params_.logprobs, &result.top);
  ++output_counts_[result.id];
  return result;
}

float TopLogprobs(std::span<const float> logits, int32_t chosen, int n,
                  std::vector<TokenLogprob>* out) {
  const double lse = LogSumExp(logits);
  out->clear();
  if (n > 0) {
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    const size_t k = std::min(ids.size(), static_cast<size_t>(n));
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (size_t i = 0; i < k; ++i) {
      out->push_back({ids[i], static_cast<float>(logits[ids[i]] - lse)});
    }
  }
  return static_cast<float>(logits[chosen] - lse);
}

}  // namespace infer
