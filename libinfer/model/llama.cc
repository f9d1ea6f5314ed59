#include "libinfer/model/llama.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libinfer/model/parallelism.h"
#include "libinfer/util/fp16.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

using kernels::cpu::WeightMatrix;

// Bytes of `n` floats (activation buffers).
size_t FloatBytes(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }

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

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(
    const ModelConfig& config, const DecoderFamily& family, const WeightSource& weights,
    const LlamaSlice& slice, int num_threads, std::unique_ptr<Backend> backend) {
  const RunnerLayout& lay = slice.layout;
  if (lay.tp_size > 1 && (slice.tp_comm == nullptr || slice.tp_comm->size() != lay.tp_size ||
                          slice.tp_comm->rank() != lay.tp_rank)) {
    return absl::InvalidArgumentError(
        "tensor-parallel size above 1 needs a communicator of the group, numbered by tp_rank");
  }
  if (backend == nullptr && num_threads < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_threads must be >= 1, got ", num_threads));
  }
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model, Bind(config, family, weights, lay));
  model->slice_ = slice;
  model->backend_ = backend != nullptr ? std::move(backend) : CreateCpuBackend(num_threads);
  INFER_RETURN_IF_ERROR(model->Upload());
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

absl::Status LlamaModel::Upload() {
  Backend& be = *backend_;
  // Errors name the matrix: a device refuses the types its kernels do not read.
  const auto upload = [&](const WeightMatrix& m, const std::string& what,
                          std::unique_ptr<DeviceWeight>& dst) -> absl::Status {
    absl::StatusOr<std::unique_ptr<DeviceWeight>> w = be.UploadWeight(m);
    if (!w.ok()) {
      return absl::Status(w.status().code(), absl::StrCat("the ", what, " on ", be.name(), ": ",
                                                          w.status().message()));
    }
    dst = *std::move(w);
    return absl::OkStatus();
  };
  if (slice_.layout.first_stage) {
    INFER_RETURN_IF_ERROR(upload(embedding_, "token embedding", embedding_dev_));
  }
  if (slice_.layout.last_stage) {
    INFER_RETURN_IF_ERROR(upload(output_, "output head", output_dev_));
    INFER_ASSIGN_OR_RETURN(output_norm_dev_, be.Upload(output_norm_));
  }
  INFER_ASSIGN_OR_RETURN(inv_freq_dev_, be.Upload(inv_freq_));
  INFER_ASSIGN_OR_RETURN(inv_freq_swa_dev_, be.Upload(inv_freq_swa_));
  for (size_t i = 0; i < layers_.size(); ++i) {
    LlamaLayer& l = layers_[i];
    LlamaLayer::OnBackend& d = l.dev;
    const std::string layer = absl::StrCat("layer ", slice_.layout.first_layer + i, "'s ");
    for (auto [dst, src, role] : {std::tuple{&d.wq, &l.wq, "Q"},
                                  {&d.wk, &l.wk, "K"},
                                  {&d.wv, &l.wv, "V"},
                                  {&d.wo, &l.wo, "attention output"},
                                  {&d.gate, &l.gate, "FFN gate"},
                                  {&d.up, &l.up, "FFN up"},
                                  {&d.down, &l.down, "FFN down"}}) {
      INFER_RETURN_IF_ERROR(upload(*src, layer + role + " matrix", *dst));
    }
    for (auto [dst, src] : {std::pair{&d.attn_norm, &l.attn_norm},
                            {&d.ffn_norm, &l.ffn_norm},
                            {&d.bq, &l.bq},
                            {&d.bk, &l.bk},
                            {&d.bv, &l.bv},
                            {&d.q_norm, &l.q_norm},
                            {&d.k_norm, &l.k_norm},
                            {&d.post_attn_norm, &l.post_attn_norm},
                            {&d.post_ffn_norm, &l.post_ffn_norm}}) {
      INFER_ASSIGN_OR_RETURN(*dst, be.Upload(*src));
    }
  }
  return absl::OkStatus();
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
  // A device holds the activations of the largest step from the start, so that the memory it
  // reports free afterwards is what a KV cache may take.
  if (!backend_->host_memory()) return EnsureScratch(kMaxChunkTokens, kMaxChunkTokens);
  return absl::OkStatus();
}

uint64_t LlamaModel::KvBytesPerBlock(int64_t block_size, DType dtype) const {
  KvCacheShape shape = kv_shape_;
  shape.dtype = dtype;
  return shape.BytesPerBlock(block_size);
}

absl::StatusOr<std::unique_ptr<KvCache>> LlamaModel::CreateKvCache(int64_t block_size,
                                                                   int64_t num_blocks,
                                                                   DType dtype) {
  KvCacheShape shape = kv_shape_;
  shape.dtype = dtype;
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<PagedKvCache> cache,
                         PagedKvCache::Create(*backend_, shape, block_size, num_blocks));
  return std::unique_ptr<KvCache>(std::move(cache));
}

absl::Status LlamaModel::EnsureScratch(int64_t n, int64_t logit_rows) {
  Backend& be = *backend_;
  const ModelConfig& c = config_;
  for (auto [buffer, width] : {std::pair{&x_, c.hidden_size},
                               {&xn_, c.hidden_size},
                               {&proj_, c.hidden_size},
                               {&q_, q_dim_},
                               {&att_, q_dim_},
                               {&k_, kv_dim_},
                               {&v_, kv_dim_},
                               {&gate_, ff_dim_},
                               {&up_, ff_dim_}}) {
    INFER_RETURN_IF_ERROR(be.Reserve(*buffer, FloatBytes(n * width)));
  }
  if (!be.host_memory() && slice_.layout.last_stage) {
    INFER_RETURN_IF_ERROR(be.Reserve(logits_, FloatBytes(logit_rows * c.vocab_size)));
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::AllReduce(float* data, int64_t count) {
  if (slice_.tp_comm == nullptr) return absl::OkStatus();
  INFER_RETURN_IF_ERROR(backend_->Synchronize());
  return slice_.tp_comm->AllReduceSum(data, static_cast<size_t>(count), comm::ReduceType::kF32,
                                      slice_.timeout);
}

absl::Status LlamaModel::AttentionBlock(const LlamaLayer& L, int64_t li, int64_t n,
                                        AttentionShape shape, PagedKvCache& cache) {
  const ModelConfig& c = config_;
  const LlamaLayer::OnBackend& d = L.dev;
  Backend& be = *backend_;
  shape.sliding_window = L.sliding ? c.sliding_window : 0;
  const int64_t hidden = c.hidden_size;
  float* x = x_->floats();
  float* xn = xn_->floats();
  float* q = q_->floats();
  float* k = k_->floats();
  float* v = v_->floats();
  INFER_RETURN_IF_ERROR(be.RmsNorm(x, d.attn_norm->floats(), xn, n, hidden, c.rms_norm_eps));
  const WeightProduct qkv[] = {
      {d.wq.get(), q, q_dim_}, {d.wk.get(), k, kv_dim_}, {d.wv.get(), v, kv_dim_}};
  INFER_RETURN_IF_ERROR(be.MatMulShared(xn, n, qkv));
  if (d.bq != nullptr) {
    INFER_RETURN_IF_ERROR(be.AddBias(q, d.bq->floats(), n, q_dim_));
    INFER_RETURN_IF_ERROR(be.AddBias(k, d.bk->floats(), n, kv_dim_));
    INFER_RETURN_IF_ERROR(be.AddBias(v, d.bv->floats(), n, kv_dim_));
  }
  if (d.q_norm != nullptr) {
    INFER_RETURN_IF_ERROR(
        be.RmsNorm(q, d.q_norm->floats(), q, n * shape.num_heads, c.head_dim, c.rms_norm_eps));
    INFER_RETURN_IF_ERROR(
        be.RmsNorm(k, d.k_norm->floats(), k, n * shape.num_kv_heads, c.head_dim, c.rms_norm_eps));
  }
  RopeSpec rope;
  rope.head_dim = c.head_dim;
  rope.rope_dim = c.rope_dim;
  rope.inv_freq =
      (L.sliding && inv_freq_swa_dev_ != nullptr ? inv_freq_swa_dev_ : inv_freq_dev_)->floats();
  rope.interleaved = c.rope_interleaved;
  rope.attn_factor = c.rope_attn_factor;
  INFER_RETURN_IF_ERROR(be.Rope(q, shape.num_heads, rope));
  INFER_RETURN_IF_ERROR(be.Rope(k, shape.num_kv_heads, rope));
  INFER_RETURN_IF_ERROR(be.WriteKv(shape, k, v, cache.k(li), cache.v(li)));
  INFER_RETURN_IF_ERROR(be.PagedAttention(shape, q, cache.k(li), cache.v(li), att_->floats()));
  INFER_RETURN_IF_ERROR(be.MatMul(*d.wo, att_->floats(), n, proj_->floats(), hidden));
  INFER_RETURN_IF_ERROR(AllReduce(proj_->floats(), n * hidden));
  return AddResidual(d.post_attn_norm.get(), n);
}

absl::Status LlamaModel::AddResidual(const DeviceBuffer* post_norm, int64_t n) {
  Backend& be = *backend_;
  const int64_t hidden = config_.hidden_size;
  float* proj = proj_->floats();
  if (post_norm != nullptr) {
    INFER_RETURN_IF_ERROR(
        be.RmsNorm(proj, post_norm->floats(), proj, n, hidden, config_.rms_norm_eps));
  }
  return be.Add(x_->floats(), proj, n * hidden);
}

absl::Status LlamaModel::FeedForwardBlock(const LlamaLayer& L, int64_t n) {
  const ModelConfig& c = config_;
  const LlamaLayer::OnBackend& d = L.dev;
  Backend& be = *backend_;
  const int64_t hidden = c.hidden_size;
  float* xn = xn_->floats();
  float* gate = gate_->floats();
  INFER_RETURN_IF_ERROR(
      be.RmsNorm(x_->floats(), d.ffn_norm->floats(), xn, n, hidden, c.rms_norm_eps));
  const WeightProduct gate_up[] = {{d.gate.get(), gate, ff_dim_},
                                   {d.up.get(), up_->floats(), ff_dim_}};
  INFER_RETURN_IF_ERROR(be.MatMulShared(xn, n, gate_up));
  INFER_RETURN_IF_ERROR(be.GatedActivation(family_.activation, gate, up_->floats(), n * ff_dim_));
  INFER_RETURN_IF_ERROR(be.MatMul(*d.down, gate, n, proj_->floats(), hidden));
  INFER_RETURN_IF_ERROR(AllReduce(proj_->floats(), n * hidden));
  return AddResidual(d.post_ffn_norm.get(), n);
}

absl::Status LlamaModel::Forward(const ForwardBatch& batch, KvCache& kv_cache,
                                 std::span<const float> hidden_in, std::vector<float>& out) {
  INFER_RETURN_IF_ERROR(CheckBatch(batch, config_, kv_cache));
  PagedKvCache* cache = kv_cache.paged();
  if (cache == nullptr || cache->backend() != backend_.get() ||
      cache->shape().num_layers != kv_shape_.num_layers ||
      cache->shape().num_kv_heads != kv_shape_.num_kv_heads) {
    return absl::InvalidArgumentError("the KV cache was not made by this runner");
  }
  const RunnerLayout& lay = slice_.layout;
  const ModelConfig& c = config_;
  Backend& be = *backend_;
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t hidden = c.hidden_size;
  if (!lay.first_stage && static_cast<int64_t>(hidden_in.size()) != n * hidden) {
    return absl::InvalidArgumentError(absl::StrCat("stage input: ", hidden_in.size(),
                                                   " values for ", n, " tokens of width ", hidden));
  }
  FlattenBatch(batch, plan_);
  const int64_t rows = static_cast<int64_t>(plan_.logit_tokens.size());
  INFER_RETURN_IF_ERROR(EnsureScratch(n, rows));
  INFER_RETURN_IF_ERROR(be.BeginStep(plan_));
  const size_t hidden_bytes = FloatBytes(n * hidden);
  if (lay.first_stage) {
    INFER_RETURN_IF_ERROR(be.Embed(*embedding_dev_, x_->floats()));
    if (family_.scale_embeddings) {
      INFER_RETURN_IF_ERROR(
          be.Scale(x_->floats(), n * hidden, std::sqrt(static_cast<float>(hidden))));
    }
  } else {
    INFER_RETURN_IF_ERROR(be.CopyToDevice(hidden_in.data(), hidden_bytes, x_->data()));
  }

  AttentionShape shape;
  shape.num_heads = q_dim_ / c.head_dim;
  shape.num_kv_heads = kv_dim_ / c.head_dim;
  shape.head_dim = c.head_dim;
  shape.block_size = cache->block_size();
  shape.scale = family_.attention_scale != nullptr
                    ? family_.attention_scale(c)
                    : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  shape.softcap = c.attn_logit_softcap;
  shape.kv_f16 = cache->shape().dtype == DType::kF16;
  for (size_t li = 0; li < layers_.size(); ++li) {
    INFER_RETURN_IF_ERROR(AttentionBlock(layers_[li], static_cast<int64_t>(li), n, shape, *cache));
    INFER_RETURN_IF_ERROR(FeedForwardBlock(layers_[li], n));
  }
  if (!lay.last_stage) {
    out.resize(static_cast<size_t>(n * hidden));
    return be.CopyToHost(x_->data(), hidden_bytes, out.data());
  }
  return Logits(rows, out);
}

absl::Status LlamaModel::Logits(int64_t rows, std::vector<float>& out) {
  const ModelConfig& c = config_;
  Backend& be = *backend_;
  const int64_t hidden = c.hidden_size;
  out.resize(static_cast<size_t>(rows * c.vocab_size));
  if (rows == 0) return be.Synchronize();
  // The final norm only of the rows whose logits are wanted (proj_ holds n >= rows rows).
  INFER_RETURN_IF_ERROR(be.GatherLogitRows(x_->floats(), hidden, proj_->floats()));
  INFER_RETURN_IF_ERROR(be.RmsNorm(proj_->floats(), output_norm_dev_->floats(), xn_->floats(), rows,
                                   hidden, c.rms_norm_eps));
  return OutputHead(rows, out);
}

absl::Status LlamaModel::OutputHead(int64_t rows, std::vector<float>& out) {
  Backend& be = *backend_;
  const int64_t vocab = config_.vocab_size;
  const RunnerLayout& lay = slice_.layout;
  const float* xn = xn_->floats();
  // The logits in the backend's memory: `out` itself where that is the host's.
  float* logits = be.host_memory() ? out.data() : logits_->floats();
  const size_t logit_bytes = FloatBytes(rows * vocab);
  if (lay.tp_size == 1) {
    INFER_RETURN_IF_ERROR(be.MatMul(*output_dev_, xn, rows, logits, vocab));
  } else {
    comm::Communicator& tp = *slice_.tp_comm;
    if (lay.tp_rank != 0) {
      // Only rank 0 of the group hands logits on (to the sampler, or to the leader).
      const int64_t share = rows * output_dev_->rows();
      INFER_RETURN_IF_ERROR(be.Reserve(logit_share_, FloatBytes(share)));
      INFER_RETURN_IF_ERROR(
          be.MatMul(*output_dev_, xn, rows, logit_share_->floats(), output_dev_->rows()));
      INFER_RETURN_IF_ERROR(be.Synchronize());
      return tp.Send(logit_share_->data(), FloatBytes(share), 0, slice_.timeout);
    }
    // Rank 0 writes its share in place and copies the others' into their columns.
    INFER_RETURN_IF_ERROR(be.MatMul(*output_dev_, xn, rows, logits + vocab_begin_, vocab));
    for (int peer = 1; peer < lay.tp_size; ++peer) {
      const auto [begin, end] = ShareOf(vocab, peer, lay.tp_size);
      const int64_t width = end - begin;
      INFER_RETURN_IF_ERROR(be.Reserve(logit_share_, FloatBytes(rows * width)));
      INFER_RETURN_IF_ERROR(be.Synchronize());
      INFER_RETURN_IF_ERROR(
          tp.Recv(logit_share_->data(), FloatBytes(rows * width), peer, slice_.timeout));
      INFER_RETURN_IF_ERROR(
          be.Copy2D(logits + begin, vocab, logit_share_->floats(), width, rows, width));
    }
  }
  if (config_.final_logit_softcap > 0) {
    INFER_RETURN_IF_ERROR(be.SoftCap(logits, rows * vocab, config_.final_logit_softcap));
  }
  if (be.host_memory()) return be.Synchronize();
  return be.CopyToHost(logits, logit_bytes, out.data());
}

}  // namespace infer
