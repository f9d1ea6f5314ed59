#include "libinfer/model/llama.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libinfer/kernels/cpu/attention.h"
#include "libinfer/kernels/cpu/ops.h"
#include "libinfer/model/parallelism.h"
#include "libinfer/util/fp16.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

using kernels::cpu::WeightMatrix;

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Binds `name` as a [rows, cols] matrix and keeps rows [row_begin, row_end) and columns
// [col_begin, col_end) of it, zero-copy (a column slice keeps the full row stride).
absl::StatusOr<WeightMatrix> BindMatrix(const WeightSource& weights, const std::string& name,
                                        int64_t rows, int64_t cols, int64_t row_begin,
                                        int64_t row_end, int64_t col_begin, int64_t col_end) {
  const TensorView* t = weights.Find(name);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat("missing tensor '", name, "'"));
  if (t->shape != std::vector<int64_t>{rows, cols}) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has shape ",
                                                   ShapeString(t->shape), ", expected ",
                                                   ShapeString({rows, cols})));
  }
  const DTypeInfo& info = GetDTypeInfo(t->dtype);
  if (cols % info.block_elems != 0 || col_begin % info.block_elems != 0 ||
      (col_end - col_begin) % info.block_elems != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' of type ", info.name,
                                                   ": columns are not whole blocks of ",
                                                   info.block_elems));
  }
  WeightMatrix m;
  m.dtype = t->dtype;
  m.row_bytes = static_cast<size_t>(cols / info.block_elems * info.block_bytes);
  m.rows = row_end - row_begin;
  m.cols = col_end - col_begin;
  m.data = t->data + row_begin * m.row_bytes + col_begin / info.block_elems * info.block_bytes;
  return m;
}

absl::StatusOr<WeightMatrix> BindWhole(const WeightSource& weights, const std::string& name,
                                       int64_t rows, int64_t cols) {
  return BindMatrix(weights, name, rows, cols, 0, rows, 0, cols);
}

// Copies a 1-D tensor of `n` values to F32; only elements [begin, end) are kept.
absl::StatusOr<std::vector<float>> BindVector(const WeightSource& weights, const std::string& name,
                                              int64_t n, int64_t begin, int64_t end) {
  const TensorView* t = weights.Find(name);
  if (t == nullptr) return absl::NotFoundError(absl::StrCat("missing tensor '", name, "'"));
  if (t->shape != std::vector<int64_t>{n}) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has shape ",
                                                   ShapeString(t->shape), ", expected [", n, "]"));
  }
  std::vector<float> out(static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) {
    float v;
    switch (t->dtype) {
      case DType::kF32:
        std::memcpy(&v, t->data + i * 4, 4);
        break;
      case DType::kF16:
      case DType::kBF16: {
        uint16_t h;
        std::memcpy(&h, t->data + i * 2, 2);
        v = t->dtype == DType::kF16 ? Fp16ToFp32(h) : Bf16ToFp32(h);
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' has type ",
                                                       DTypeName(t->dtype),
                                                       "; vectors must be F32, F16 or BF16"));
    }
    out[i - begin] = v;
  }
  return out;
}

// The rotation frequencies of base `theta`; `scaled` folds the config's RoPE scaling in (the
// sliding layers of a patterned model rotate unscaled, with their own base).
std::vector<float> RopeFrequencies(const ModelConfig& c, float theta, bool scaled) {
  const int64_t half = c.rope_dim / 2;
  const RopeScalingType scaling = scaled ? c.rope_scaling : RopeScalingType::kNone;
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(theta),
                        -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dim));
    if (scaling == RopeScalingType::kLinear) {
      f /= c.rope_scaling_factor;
    } else if (scaling == RopeScalingType::kLlama3) {
      // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, and the band in
      // between interpolated smoothly.
      const double low_wavelen = c.rope_original_context_length / c.rope_low_freq_factor;
      const double high_wavelen = c.rope_original_context_length / c.rope_high_freq_factor;
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= c.rope_scaling_factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (c.rope_original_context_length / wavelen - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1 - smooth) * f / c.rope_scaling_factor + smooth * f;
      }
    }
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

}  // namespace

const DecoderFamily& LlamaFamily() {
  static constexpr DecoderFamily kFamily{.name = "llama"};
  return kFamily;
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(const ModelConfig& config,
                                                               const DecoderFamily& family,
                                                               const WeightSource& weights,
                                                               const LlamaSlice& slice,
                                                               int num_threads) {
  const RunnerLayout& lay = slice.layout;
  if (lay.tp_size > 1 && (slice.tp_comm == nullptr || slice.tp_comm->size() != lay.tp_size ||
                          slice.tp_comm->rank() != lay.tp_rank)) {
    return absl::InvalidArgumentError(
        "tensor-parallel size above 1 needs a communicator of the group, numbered by tp_rank");
  }
  if (num_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads must be >= 1, got ", num_threads));
  }
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, Bind(config, family, weights, lay));
  model->slice_ = slice;
  model->pool_ = std::make_unique<ThreadPool>(num_threads);
  return model;
}

absl::StatusOr<RunnerFootprint> LlamaModel::Footprint(const ModelConfig& config,
                                                      const DecoderFamily& family,
                                                      const WeightSource& weights,
                                                      const RunnerLayout& layout, int64_t tokens,
                                                      int64_t logit_rows) {
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> m, Bind(config, family, weights, layout));
  RunnerFootprint f;
  // A tied head reads rows of the embedding: the same pages, counted once.
  const std::vector<WeightRange>& ranges = m->weight_ranges_;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const WeightRange& r = ranges[i];
    bool inside = false;
    for (size_t j = 0; j < i && !inside && r.rows > 0; ++j) {
      const WeightRange& o = ranges[j];
      if (o.stride != o.bytes) continue;  // only a contiguous span holds another range
      const uint8_t* end = o.data + o.bytes * static_cast<size_t>(o.rows);
      inside =
          r.data >= o.data && r.data + r.stride * static_cast<size_t>(r.rows - 1) + r.bytes <= end;
    }
    if (!inside) f.weight_bytes += r.bytes * static_cast<uint64_t>(r.rows);
  }
  uint64_t floats = m->output_norm_.size() + m->inv_freq_.size() + m->inv_freq_swa_.size();
  for (const LlamaLayer& l : m->layers_) {
    floats += l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() + l.bk.size() + l.bv.size() +
              l.q_norm.size() + l.k_norm.size() + l.post_attn_norm.size() + l.post_ffn_norm.size();
  }
  f.copied_bytes = floats * sizeof(float);
  // EnsureScratch's buffers for `tokens`, the rows of logits wanted (the output head runs only
  // on those), and the int16 codes of the widest matrix input (MatMulScratch).
  const int64_t n = std::max<int64_t>(tokens, 1);
  const int64_t rows = std::clamp<int64_t>(logit_rows, 1, n);
  const int64_t hidden = config.hidden_size;
  const int64_t per_token = 3 * hidden + 2 * m->q_dim_ + 2 * m->kv_dim_ + 2 * m->ff_dim_;
  const int64_t widest = std::max({hidden, m->q_dim_, m->ff_dim_});
  f.activation_bytes = static_cast<uint64_t>(n * per_token) * sizeof(float) +
                       static_cast<uint64_t>(rows * config.vocab_size) * sizeof(float) +
                       static_cast<uint64_t>(n * widest) * (sizeof(int16_t) + sizeof(float));
  return f;
}

LlamaModel::SliceBounds LlamaModel::BoundsOf(const ModelConfig& c, const RunnerLayout& lay) {
  const int64_t group = c.num_heads / c.num_kv_heads;
  const int tp = lay.tp_size;
  const int r = lay.tp_rank;
  const auto [kv_head_begin, kv_head_end] = ShareOf(c.num_kv_heads, r, tp);
  SliceBounds b;
  b.kv_begin = kv_head_begin * c.head_dim;
  b.kv_end = kv_head_end * c.head_dim;
  b.q_begin = b.kv_begin * group;
  b.q_end = b.kv_end * group;
  // The FFN in whole blocks when possible: superblocks of 256 (the K-quants' down projection is
  // cut along its columns), else blocks of 32.
  const int64_t ff_unit = c.intermediate_size % kSuperBlock == 0   ? kSuperBlock
                          : c.intermediate_size % kQuantBlock == 0 ? kQuantBlock
                                                                   : 1;
  const auto [ff_unit_begin, ff_unit_end] = ShareOf(c.intermediate_size / ff_unit, r, tp);
  b.ff_begin = ff_unit_begin * ff_unit;
  b.ff_end = ff_unit_end * ff_unit;
  return b;
}

absl::StatusOr<WeightMatrix> LlamaModel::BindRecorded(const WeightSource& weights,
                                                      const std::string& name, int64_t rows,
                                                      int64_t cols, int64_t row_begin,
                                                      int64_t row_end, int64_t col_begin,
                                                      int64_t col_end) {
  INFER_ASSIGN_OR_RETURN(WeightMatrix m, BindMatrix(weights, name, rows, cols, row_begin, row_end,
                                                    col_begin, col_end));
  const DTypeInfo& info = GetDTypeInfo(m.dtype);
  weight_ranges_.push_back(
      WeightRange{reinterpret_cast<const uint8_t*>(m.data), m.rows,
                  static_cast<size_t>(m.cols / info.block_elems * info.block_bytes), m.row_bytes});
  weight_bytes_per_token_ += weight_ranges_.back().bytes * m.rows;
  return m;
}

absl::Status LlamaModel::BindEnds(const WeightSource& weights) {
  const ModelConfig& c = config_;
  const RunnerLayout& lay = slice_.layout;
  const int64_t hidden = c.hidden_size;
  if (lay.first_stage) {
    // The embedding is read one row per token: counted once, not per token.
    INFER_ASSIGN_OR_RETURN(embedding_,
                           BindWhole(weights, "token_embd.weight", c.vocab_size, hidden));
    weight_ranges_.push_back(WeightRange{reinterpret_cast<const uint8_t*>(embedding_.data),
                                         embedding_.rows, embedding_.row_bytes,
                                         embedding_.row_bytes});
  }
  if (lay.last_stage) {
    INFER_ASSIGN_OR_RETURN(output_norm_,
                           BindVector(weights, "output_norm.weight", hidden, 0, hidden));
    // The head's vocabulary rows are split over the tensor-parallel ranks: it is a fifth of a
    // small model's multiply-adds, too much to repeat on every rank.
    const bool tied = weights.Find("output.weight") == nullptr;
    const auto [vocab_begin, vocab_end] = ShareOf(c.vocab_size, lay.tp_rank, lay.tp_size);
    vocab_begin_ = vocab_begin;
    INFER_ASSIGN_OR_RETURN(
        output_, BindRecorded(weights, tied ? "token_embd.weight" : "output.weight", c.vocab_size,
                              hidden, vocab_begin, vocab_end, 0, hidden));
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::BindLayer(const WeightSource& weights, int64_t l, const SliceBounds& b) {
  const ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = c.num_heads * c.head_dim;
  const int64_t kv_dim = c.num_kv_heads * c.head_dim;
  const int64_t ff = c.intermediate_size;
  const std::string p = absl::StrCat("blk.", l, ".");
  LlamaLayer layer;
  INFER_ASSIGN_OR_RETURN(layer.attn_norm,
                         BindVector(weights, p + "attn_norm.weight", hidden, 0, hidden));
  INFER_ASSIGN_OR_RETURN(layer.ffn_norm,
                         BindVector(weights, p + "ffn_norm.weight", hidden, 0, hidden));
  if (const std::string qkv = p + "attn_qkv.weight"; weights.Find(qkv) != nullptr) {
    // One fused projection (Phi-3): the rows of Q, then K, then V; each rank binds its rows
    // of each, zero-copy as always.
    const int64_t rows = q_dim + 2 * kv_dim;
    INFER_ASSIGN_OR_RETURN(layer.wq,
                           BindRecorded(weights, qkv, rows, hidden, b.q_begin, b.q_end, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.wk, BindRecorded(weights, qkv, rows, hidden, q_dim + b.kv_begin,
                                                  q_dim + b.kv_end, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.wv,
                           BindRecorded(weights, qkv, rows, hidden, q_dim + kv_dim + b.kv_begin,
                                        q_dim + kv_dim + b.kv_end, 0, hidden));
  } else {
    INFER_ASSIGN_OR_RETURN(layer.wq, BindRecorded(weights, p + "attn_q.weight", q_dim, hidden,
                                                  b.q_begin, b.q_end, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.wk, BindRecorded(weights, p + "attn_k.weight", kv_dim, hidden,
                                                  b.kv_begin, b.kv_end, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.wv, BindRecorded(weights, p + "attn_v.weight", kv_dim, hidden,
                                                  b.kv_begin, b.kv_end, 0, hidden));
  }
  INFER_ASSIGN_OR_RETURN(layer.wo, BindRecorded(weights, p + "attn_output.weight", hidden, q_dim, 0,
                                                hidden, b.q_begin, b.q_end));
  if (family_.fused_gate_up) {
    // ffn_up holds the gate's rows, then the up projection's.
    INFER_ASSIGN_OR_RETURN(layer.gate, BindRecorded(weights, p + "ffn_up.weight", 2 * ff, hidden,
                                                    b.ff_begin, b.ff_end, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.up, BindRecorded(weights, p + "ffn_up.weight", 2 * ff, hidden,
                                                  ff + b.ff_begin, ff + b.ff_end, 0, hidden));
  } else {
    INFER_ASSIGN_OR_RETURN(layer.gate, BindRecorded(weights, p + "ffn_gate.weight", ff, hidden,
                                                    b.ff_begin, b.ff_end, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.up, BindRecorded(weights, p + "ffn_up.weight", ff, hidden,
                                                  b.ff_begin, b.ff_end, 0, hidden));
  }
  INFER_ASSIGN_OR_RETURN(layer.down, BindRecorded(weights, p + "ffn_down.weight", hidden, ff, 0,
                                                  hidden, b.ff_begin, b.ff_end));
  if (c.attention_bias) {
    INFER_ASSIGN_OR_RETURN(layer.bq,
                           BindVector(weights, p + "attn_q.bias", q_dim, b.q_begin, b.q_end));
    INFER_ASSIGN_OR_RETURN(layer.bk,
                           BindVector(weights, p + "attn_k.bias", kv_dim, b.kv_begin, b.kv_end));
    INFER_ASSIGN_OR_RETURN(layer.bv,
                           BindVector(weights, p + "attn_v.bias", kv_dim, b.kv_begin, b.kv_end));
  }
  if (family_.qk_norm) {
    INFER_ASSIGN_OR_RETURN(
        layer.q_norm, BindVector(weights, p + "attn_q_norm.weight", c.head_dim, 0, c.head_dim));
    INFER_ASSIGN_OR_RETURN(
        layer.k_norm, BindVector(weights, p + "attn_k_norm.weight", c.head_dim, 0, c.head_dim));
  }
  if (family_.post_norms) {
    INFER_ASSIGN_OR_RETURN(
        layer.post_attn_norm,
        BindVector(weights, p + "post_attention_norm.weight", hidden, 0, hidden));
    INFER_ASSIGN_OR_RETURN(layer.post_ffn_norm,
                           BindVector(weights, p + "post_ffw_norm.weight", hidden, 0, hidden));
  }
  const int64_t pattern = c.sliding_window_pattern;
  layer.sliding = c.sliding_window > 0 && (pattern == 0 || l % pattern < pattern - 1);
  layers_.push_back(std::move(layer));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Bind(const ModelConfig& config,
                                                             const DecoderFamily& family,
                                                             const WeightSource& weights,
                                                             const RunnerLayout& lay) {
  const ModelConfig& c = config;
  if (c.head_dim > 512 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported head_dim ", c.head_dim, " / rope_dim ", c.rope_dim));
  }
  if (lay.tp_size < 1 || lay.tp_rank < 0 || lay.tp_rank >= lay.tp_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor-parallel rank ", lay.tp_rank, " is outside [0, ", lay.tp_size, ")"));
  }
  if (lay.tp_size > c.num_kv_heads) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor-parallel size ", lay.tp_size, " exceeds the model's ", c.num_kv_heads,
        " KV heads (each rank needs at least one; replicated KV heads are not supported)"));
  }
  if (lay.first_layer < 0 || lay.end_layer > c.num_layers || lay.first_layer > lay.end_layer) {
    return absl::InvalidArgumentError(absl::StrCat("layers [", lay.first_layer, ", ", lay.end_layer,
                                                   ") are outside the model's ", c.num_layers));
  }
  auto model = std::unique_ptr<LlamaModel>(new LlamaModel(config, family));
  model->slice_.layout = lay;
  const SliceBounds b = BoundsOf(c, lay);
  model->q_dim_ = b.q_end - b.q_begin;
  model->kv_dim_ = b.kv_end - b.kv_begin;
  model->ff_dim_ = b.ff_end - b.ff_begin;
  model->kv_shape_ = {lay.end_layer - lay.first_layer, (b.kv_end - b.kv_begin) / c.head_dim,
                      c.head_dim};
  INFER_RETURN_IF_ERROR(model->BindEnds(weights));
  for (int64_t l = lay.first_layer; l < lay.end_layer; ++l) {
    INFER_RETURN_IF_ERROR(model->BindLayer(weights, l, b));
  }
  model->inv_freq_ = RopeFrequencies(c, c.rope_theta, /*scaled=*/true);
  if (c.sliding_window > 0 && c.sliding_window_pattern > 0) {
    model->inv_freq_swa_ = RopeFrequencies(
        c, c.rope_theta_swa > 0 ? c.rope_theta_swa : c.rope_theta, /*scaled=*/false);
  }
  if (!c.rope_freq_factors_tensor.empty()) {
    // Per-frequency divisors as a tensor: Llama 3.1's rope_freqs, Phi-3's LongRoPE factors.
    INFER_ASSIGN_OR_RETURN(std::vector<float> f, BindVector(weights, c.rope_freq_factors_tensor,
                                                            c.rope_dim / 2, 0, c.rope_dim / 2));
    for (size_t i = 0; i < f.size(); ++i) {
      if (!std::isfinite(f[i]) || f[i] <= 0) {
        return absl::InvalidArgumentError(absl::StrCat("tensor '", c.rope_freq_factors_tensor,
                                                       "': factor ", i, " is ", f[i],
                                                       " (expected a positive number)"));
      }
      model->inv_freq_[i] /= f[i];
    }
  }
  return model;
}

absl::Status LlamaModel::Prepare(const std::function<void(uint64_t, uint64_t)>& on_progress) {
  // Touch every page this slice reads, so the first request does not pay for page faults (and
  // a host sees real progress while a large file is read from disk). Other ranks' slices of a
  // shared file are never read here.
  uint64_t total = 0;
  for (const WeightRange& r : weight_ranges_) total += r.bytes * static_cast<uint64_t>(r.rows);
  uint64_t done = 0;
  uint64_t reported = 0;
  uint8_t sink = 0;
  constexpr size_t kPage = 4096;
  for (const WeightRange& r : weight_ranges_) {
    for (int64_t row = 0; row < r.rows; ++row) {
      const uint8_t* p = r.data + static_cast<size_t>(row) * r.stride;
      // The first byte of each page the row touches.
      for (size_t off = 0; off < r.bytes;
           off += kPage - (reinterpret_cast<uintptr_t>(p + off) % kPage)) {
        sink ^= p[off];
      }
      done += r.bytes;
      if (on_progress && (done - reported) * 100 >= total) {
        on_progress(done, total);
        reported = done;
      }
    }
  }
  if (on_progress && reported != done) on_progress(done, total);
  asm volatile("" : : "r"(sink));  // keep the reads
  return absl::OkStatus();
}

uint64_t LlamaModel::KvBytesPerBlock(int64_t block_size) const {
  return kv_shape_.BytesPerBlock(block_size);
}

absl::StatusOr<std::unique_ptr<KvCache>> LlamaModel::CreateKvCache(int64_t block_size,
                                                                   int64_t num_blocks) {
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<HostKvCache> cache,
                         HostKvCache::Create(kv_shape_, block_size, num_blocks));
  return std::unique_ptr<KvCache>(std::move(cache));
}

void LlamaModel::EnsureScratch(int64_t n) {
  if (n <= scratch_tokens_) return;
  const ModelConfig& c = config_;
  const auto size = [n](int64_t width) { return static_cast<size_t>(n * width); };
  x_.resize(size(c.hidden_size));
  xn_.resize(size(c.hidden_size));
  proj_.resize(size(c.hidden_size));
  q_.resize(size(q_dim_));
  att_.resize(size(q_dim_));
  k_.resize(size(kv_dim_));
  v_.resize(size(kv_dim_));
  gate_.resize(size(ff_dim_));
  up_.resize(size(ff_dim_));
  scratch_tokens_ = n;
}

absl::Status LlamaModel::AllReduce(float* data, int64_t count) {
  if (slice_.tp_comm == nullptr) return absl::OkStatus();
  return slice_.tp_comm->AllReduceSum(data, static_cast<size_t>(count), comm::ReduceType::kF32,
                                      slice_.timeout);
}

absl::Status LlamaModel::AttentionBlock(const LlamaLayer& L, int64_t li, int64_t n,
                                        kernels::cpu::AttentionShape shape, HostKvCache& cache) {
  namespace k = kernels::cpu;
  const ModelConfig& c = config_;
  shape.sliding_window = L.sliding ? c.sliding_window : 0;
  const std::vector<float>& inv_freq =
      L.sliding && !inv_freq_swa_.empty() ? inv_freq_swa_ : inv_freq_;
  const int64_t hidden = c.hidden_size;
  const int64_t q_dim = q_dim_;
  const int64_t kv_dim = kv_dim_;
  const int64_t block_floats = shape.block_floats();
  ThreadPool* pool = pool_.get();
  for (int64_t t = 0; t < n; ++t) {
    k::RmsNorm(&x_[t * hidden], L.attn_norm.data(), &xn_[t * hidden], hidden, c.rms_norm_eps);
  }
  k::MatMul(L.wq, xn_.data(), n, q_.data(), q_dim, pool, &matmul_scratch_);
  k::MatMul(L.wk, xn_.data(), n, k_.data(), kv_dim, pool, &matmul_scratch_);
  k::MatMul(L.wv, xn_.data(), n, v_.data(), kv_dim, pool, &matmul_scratch_);
  float* k_cache = cache.k(li);
  float* v_cache = cache.v(li);
  for (int64_t t = 0; t < n; ++t) {
    float* q = &q_[t * q_dim];
    float* kk = &k_[t * kv_dim];
    float* vv = &v_[t * kv_dim];
    if (!L.bq.empty()) {
      k::Add(q, L.bq.data(), q_dim);
      k::Add(kk, L.bk.data(), kv_dim);
      k::Add(vv, L.bv.data(), kv_dim);
    }
    if (!L.q_norm.empty()) {
      for (int64_t h = 0; h < shape.num_heads; ++h) {
        float* qh = q + h * c.head_dim;
        k::RmsNorm(qh, L.q_norm.data(), qh, c.head_dim, c.rms_norm_eps);
      }
      for (int64_t h = 0; h < shape.num_kv_heads; ++h) {
        float* kh = kk + h * c.head_dim;
        k::RmsNorm(kh, L.k_norm.data(), kh, c.head_dim, c.rms_norm_eps);
      }
    }
    const int64_t pos = queries_[t].position;
    k::Rope(q, shape.num_heads, c.head_dim, c.rope_dim, pos, inv_freq, c.rope_interleaved);
    k::Rope(kk, shape.num_kv_heads, c.head_dim, c.rope_dim, pos, inv_freq, c.rope_interleaved);
    if (c.rope_attn_factor != 1.0f) {
      for (int64_t h = 0; h < shape.num_heads; ++h) {
        k::Scale(q + h * c.head_dim, c.rope_dim, c.rope_attn_factor);
      }
      for (int64_t h = 0; h < shape.num_kv_heads; ++h) {
        k::Scale(kk + h * c.head_dim, c.rope_dim, c.rope_attn_factor);
      }
    }
    const int64_t block = queries_[t].block_table[pos / shape.block_size];
    for (int64_t h = 0; h < shape.num_kv_heads; ++h) {
      const int64_t dst = block * block_floats + shape.row_offset(h, pos);
      std::copy_n(kk + h * c.head_dim, c.head_dim, k_cache + dst);
      std::copy_n(vv + h * c.head_dim, c.head_dim, v_cache + dst);
    }
  }
  k::PagedAttention(shape, q_.data(), k_cache, v_cache, queries_, att_.data(), pool);
  k::MatMul(L.wo, att_.data(), n, proj_.data(), hidden, pool, &matmul_scratch_);
  INFER_RETURN_IF_ERROR(AllReduce(proj_.data(), n * hidden));
  AddResidual(L.post_attn_norm, n);
  return absl::OkStatus();
}

void LlamaModel::AddResidual(const std::vector<float>& post_norm, int64_t n) {
  namespace k = kernels::cpu;
  const int64_t hidden = config_.hidden_size;
  if (!post_norm.empty()) {
    for (int64_t t = 0; t < n; ++t) {
      float* row = &proj_[t * hidden];
      k::RmsNorm(row, post_norm.data(), row, hidden, config_.rms_norm_eps);
    }
  }
  k::Add(x_.data(), proj_.data(), n * hidden);
}

absl::Status LlamaModel::FeedForwardBlock(const LlamaLayer& L, int64_t n) {
  namespace k = kernels::cpu;
  const ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size;
  const int64_t ff = ff_dim_;
  ThreadPool* pool = pool_.get();
  for (int64_t t = 0; t < n; ++t) {
    k::RmsNorm(&x_[t * hidden], L.ffn_norm.data(), &xn_[t * hidden], hidden, c.rms_norm_eps);
  }
  k::MatMul(L.gate, xn_.data(), n, gate_.data(), ff, pool, &matmul_scratch_);
  k::MatMul(L.up, xn_.data(), n, up_.data(), ff, pool, &matmul_scratch_);
  if (family_.activation == FfnActivation::kGeluTanh) {
    k::GeluTanhMul(gate_.data(), up_.data(), gate_.data(), n * ff);
  } else {
    k::SiluMul(gate_.data(), up_.data(), gate_.data(), n * ff);
  }
  k::MatMul(L.down, gate_.data(), n, proj_.data(), hidden, pool, &matmul_scratch_);
  INFER_RETURN_IF_ERROR(AllReduce(proj_.data(), n * hidden));
  AddResidual(L.post_ffn_norm, n);
  return absl::OkStatus();
}

absl::Status LlamaModel::Forward(const ForwardBatch& batch, KvCache& kv_cache,
                                 std::span<const float> hidden_in, std::vector<float>& out) {
  namespace k = kernels::cpu;
  INFER_RETURN_IF_ERROR(CheckBatch(batch, config_, kv_cache));
  HostKvCache* cache = kv_cache.host();
  if (cache == nullptr || cache->shape().num_layers != kv_shape_.num_layers ||
      cache->shape().num_kv_heads != kv_shape_.num_kv_heads) {
    return absl::InvalidArgumentError("the KV cache was not made by this runner");
  }
  const RunnerLayout& lay = slice_.layout;
  const ModelConfig& c = config_;
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t hidden = c.hidden_size;
  if (!lay.first_stage && static_cast<int64_t>(hidden_in.size()) != n * hidden) {
    return absl::InvalidArgumentError(absl::StrCat("stage input: ", hidden_in.size(),
                                                   " values for ", n, " tokens of width ", hidden));
  }
  EnsureScratch(n);

  // Each token's position and block table, for RoPE, the cache writes and attention.
  queries_.clear();
  for (const BatchSequence& s : batch.sequences) {
    for (int64_t t = 0; t < s.num_tokens; ++t) {
      queries_.push_back({s.start_pos + t, s.block_table.data()});
    }
  }
  if (lay.first_stage) {
    for (int64_t t = 0; t < n; ++t) k::DequantizeRow(embedding_, batch.tokens[t], &x_[t * hidden]);
    if (family_.scale_embeddings) {
      k::Scale(x_.data(), n * hidden, std::sqrt(static_cast<float>(hidden)));
    }
  } else {
    std::copy(hidden_in.begin(), hidden_in.end(), x_.begin());
  }

  k::AttentionShape shape;
  shape.num_heads = q_dim_ / c.head_dim;
  shape.num_kv_heads = kv_dim_ / c.head_dim;
  shape.head_dim = c.head_dim;
  shape.block_size = cache->block_size();
  shape.scale = family_.attention_scale != nullptr
                    ? family_.attention_scale(c)
                    : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  shape.softcap = c.attn_logit_softcap;
  for (size_t li = 0; li < layers_.size(); ++li) {
    INFER_RETURN_IF_ERROR(AttentionBlock(layers_[li], static_cast<int64_t>(li), n, shape, *cache));
    INFER_RETURN_IF_ERROR(FeedForwardBlock(layers_[li], n));
  }
  if (!lay.last_stage) {
    out.assign(x_.begin(), x_.begin() + n * hidden);
    return absl::OkStatus();
  }
  // The final norm and the output head, only for the rows whose logits are wanted.
  const int64_t rows = batch.num_logit_rows();
  out.resize(static_cast<size_t>(rows * c.vocab_size));
  if (rows == 0) return absl::OkStatus();
  int64_t row = 0;
  int64_t first_token = 0;
  for (const BatchSequence& s : batch.sequences) {
    for (int64_t t = s.num_tokens - s.num_logits; t < s.num_tokens; ++t, ++row) {
      k::RmsNorm(&x_[(first_token + t) * hidden], output_norm_.data(), &xn_[row * hidden], hidden,
                 c.rms_norm_eps);
    }
    first_token += s.num_tokens;
  }
  INFER_RETURN_IF_ERROR(OutputHead(rows, out));
  if (c.final_logit_softcap > 0 && lay.tp_rank == 0) {
    k::SoftCap(out.data(), rows * c.vocab_size, c.final_logit_softcap);
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::OutputHead(int64_t rows, std::vector<float>& out) {
  namespace k = kernels::cpu;
  const int64_t vocab = config_.vocab_size;
  const RunnerLayout& lay = slice_.layout;
  if (lay.tp_size == 1) {
    k::MatMul(output_, xn_.data(), rows, out.data(), vocab, pool_.get(), &matmul_scratch_);
    return absl::OkStatus();
  }
  comm::Communicator& tp = *slice_.tp_comm;
  if (lay.tp_rank != 0) {
    // Only rank 0 of the group hands logits on (to the sampler, or to the leader).
    logit_share_.resize(static_cast<size_t>(rows * output_.rows));
    k::MatMul(output_, xn_.data(), rows, logit_share_.data(), output_.rows, pool_.get(),
              &matmul_scratch_);
    return tp.Send(logit_share_.data(), logit_share_.size() * sizeof(float), 0, slice_.timeout);
  }
  // Rank 0 writes its share in place and copies the others' into their columns.
  k::MatMul(output_, xn_.data(), rows, out.data() + vocab_begin_, vocab, pool_.get(),
            &matmul_scratch_);
  for (int peer = 1; peer < lay.tp_size; ++peer) {
    const auto [begin, end] = ShareOf(vocab, peer, lay.tp_size);
    const int64_t width = end - begin;
    logit_share_.resize(static_cast<size_t>(rows * width));
    INFER_RETURN_IF_ERROR(
        tp.Recv(logit_share_.data(), logit_share_.size() * sizeof(float), peer, slice_.timeout));
    for (int64_t i = 0; i < rows; ++i) {
      std::copy_n(&logit_share_[i * width], width, &out[i * vocab + begin]);
    }
  }
  return absl::OkStatus();
}

}  // namespace infer
