// The CUDA kernels of the forward pass: element-wise ops, RoPE, embedding, the KV writes, the
// matrix products over the split weight layout, and paged attention. Each is written for
// correctness first, with coalesced loads; the launch shapes come from launch.h.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "libinfer/kernels/cuda/launch.h"
#include "libinfer/kernels/cuda/ops.cuh"

namespace infer::kernels::cuda {
namespace {

constexpr int kBlock = 32;  // elements per quantization block

__device__ __forceinline__ float HalfBits(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float Bf16Bits(uint16_t h) {
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Element `col` of row `row` of a split matrix (SplitWeightValue's device twin).
__device__ __forceinline__ float WeightAt(const SplitMatrix& w, int64_t row, int64_t col) {
  const uint8_t* codes = w.codes + row * w.row_bytes;
  const int64_t nb = w.cols / kBlock;
  const int64_t b = col / kBlock;
  const int64_t j = col % kBlock;
  switch (w.type) {
    case WeightType::kF32:
      return reinterpret_cast<const float*>(codes)[col];
    case WeightType::kF16:
      return HalfBits(reinterpret_cast<const uint16_t*>(codes)[col]);
    case WeightType::kBF16:
      return Bf16Bits(reinterpret_cast<const uint16_t*>(codes)[col]);
    case WeightType::kQ8_0:
      return HalfBits(w.scales[row * nb + b]) * static_cast<float>(static_cast<int8_t>(codes[col]));
    case WeightType::kQ4_0:
    case WeightType::kQ4_1: {
      const uint8_t byte = codes[b * 16 + j % 16];
      const int q = j < 16 ? (byte & 0x0f) : (byte >> 4);
      const float d = HalfBits(w.scales[row * nb + b]);
      if (w.type == WeightType::kQ4_0) return d * static_cast<float>(q - 8);
      return d * static_cast<float>(q) + HalfBits(w.mins[row * nb + b]);
    }
  }
  return 0.f;
}

// ---- Element-wise ----

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] += y[i];
  }
}

__global__ void AddBiasKernel(float* x, const float* bias, int64_t n, int64_t cols) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] += bias[i % cols];
  }
}

__global__ void ScaleKernel(float* x, int64_t n, float s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] *= s;
  }
}

__global__ void SoftCapKernel(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = cap * tanhf(x[i] * inv);
  }
}

__global__ void GatedKernel(bool gelu_tanh, float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = gate[i];
    const float g = gelu_tanh
                        ? 0.5f * v * (1.0f + tanhf(kSqrt2OverPi * (v + 0.044715f * v * v * v)))
                        : v / (1.0f + expf(-v));
    gate[i] = g * up[i];
  }
}

// One block per token; threads over (head, pair). Angles in double, as the CPU's (large
// positions lose digits in float's argument reduction).
__global__ void RopeKernel(float* x, int64_t num_heads, int64_t head_dim, int64_t rope_dim,
                           const float* inv_freq, bool interleaved, float attn_factor,
                           const int32_t* positions) {
  const int64_t t = blockIdx.x;
  const int64_t half = rope_dim / 2;
  const double pos = positions[t];
  float* row = x + t * num_heads * head_dim;
  for (int64_t k = threadIdx.x; k < num_heads * half; k += blockDim.x) {
    const int64_t h = k / half;
    const int64_t i = k % half;
    double s, c;
    sincos(pos * static_cast<double>(inv_freq[i]), &s, &c);
    const float sn = static_cast<float>(s);
    const float cs = static_cast<float>(c);
    float* v = row + h * head_dim;
    const int64_t a = interleaved ? 2 * i : i;
    const int64_t b = interleaved ? 2 * i + 1 : i + half;
    const float x0 = v[a];
    const float x1 = v[b];
    float y0 = x0 * cs - x1 * sn;
    float y1 = x0 * sn + x1 * cs;
    if (attn_factor != 1.0f) {
      y0 *= attn_factor;
      y1 *= attn_factor;
    }
    v[a] = y0;
    v[b] = y1;
  }
}

__global__ void EmbedKernel(SplitMatrix table, const int32_t* tokens, float* out) {
  const int64_t t = blockIdx.x;
  const int64_t row = tokens[t];
  for (int64_t c = threadIdx.x; c < table.cols; c += blockDim.x) {
    out[t * table.cols + c] = WeightAt(table, row, c);
  }
}

__global__ void GatherKernel(const float* x, int64_t cols, const int32_t* rows, float* out) {
  const int64_t r = blockIdx.x;
  const float* src = x + static_cast<int64_t>(rows[r]) * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[r * cols + c] = src[c];
}

// Element i of a K/V pool as a float.
__device__ __forceinline__ float KvAt(const void* pool, int64_t i, bool f16) {
  return f16 ? __half2float(static_cast<const __half*>(pool)[i])
             : static_cast<const float*>(pool)[i];
}

// One block per token; threads over (KV head, dim).
__global__ void WriteKvKernel(AttentionDims d, const float* k, const float* v, void* k_pool,
                              void* v_pool, const int32_t* positions, const int32_t* table_begin,
                              const int32_t* block_tables) {
  const int64_t t = blockIdx.x;
  const int64_t pos = positions[t];
  const int64_t block = block_tables[table_begin[t] + pos / d.block_size];
  const int64_t width = d.num_kv_heads * d.head_dim;
  for (int64_t e = threadIdx.x; e < width; e += blockDim.x) {
    const int64_t h = e / d.head_dim;
    const int64_t i = e % d.head_dim;
    const int64_t dst = block * d.num_kv_heads * d.block_size * d.head_dim +
                        (h * d.block_size + pos % d.block_size) * d.head_dim + i;
    if (d.kv_f16) {
      static_cast<__half*>(k_pool)[dst] = __float2half_rn(k[t * width + e]);
      static_cast<__half*>(v_pool)[dst] = __float2half_rn(v[t * width + e]);
    } else {
      static_cast<float*>(k_pool)[dst] = k[t * width + e];
      static_cast<float*>(v_pool)[dst] = v[t * width + e];
    }
  }
}

// ---- Matrix products ----

// Unpacks 8 F16 or BF16 values.
__device__ __forceinline__ void Unpack8(uint4 v, bool bf16, float* out) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const auto lo = static_cast<uint16_t>(words[k] & 0xffffu);
    const auto hi = static_cast<uint16_t>(words[k] >> 16);
    out[2 * k] = bf16 ? Bf16Bits(lo) : HalfBits(lo);
    out[2 * k + 1] = bf16 ? Bf16Bits(hi) : HalfBits(hi);
  }
}

// One warp per (weight row j, group of kMatMulRowsPerWarp input rows): each chunk of the weight
// row is loaded once (16 bytes of F16/BF16, or 4 bytes of codes, per lane) and multiplied with
// every row of the group, which accumulate apart; a warp reduction per row ends it. Float
// accumulation throughout.
__global__ void MatMulKernel(SplitMatrix w, const float* x, int64_t m, float* y, int64_t ldy) {
  constexpr int R = kMatMulRowsPerWarp;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kMatMulWarps + warp;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * R;
  if (j >= w.rows) return;
  const int rows = static_cast<int>(min(static_cast<int64_t>(R), m - i0));
  const float* xg = x + i0 * w.cols;
  const uint8_t* codes = w.codes + j * w.row_bytes;
  const int64_t nb = w.cols / kBlock;
  float acc[R] = {};
  switch (w.type) {
    case WeightType::kQ8_0:
      for (int64_t e = 4 * lane; e < w.cols; e += 4 * 32) {
        const char4 q = *reinterpret_cast<const char4*>(codes + e);
        const float d = HalfBits(w.scales[j * nb + e / kBlock]);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (r < rows) {
            const float4 xv = *reinterpret_cast<const float4*>(xg + r * w.cols + e);
            acc[r] += d * (q.x * xv.x + q.y * xv.y + q.z * xv.z + q.w * xv.w);
          }
        }
      }
      break;
    case WeightType::kQ4_0:
    case WeightType::kQ4_1:
      // Byte offset o of a row's codes: block o / 16, elements (o % 16) + [0, 4) (low nibbles)
      // and those + 16 (high nibbles).
      for (int64_t o = 4 * lane; o < w.cols / 2; o += 4 * 32) {
        const uint32_t q = *reinterpret_cast<const uint32_t*>(codes + o);
        const int64_t b = o / 16;
        const int64_t e = b * kBlock + o % 16;
        const float d = HalfBits(w.scales[j * nb + b]);
        const float mn = w.type == WeightType::kQ4_1 ? HalfBits(w.mins[j * nb + b]) : 0.f;
        const float offset = w.type == WeightType::kQ4_0 ? -8.f : 0.f;
        float lo_w[4], hi_w[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const uint32_t byte = (q >> (8 * k)) & 0xffu;
          lo_w[k] = static_cast<float>(byte & 0x0fu) + offset;
          hi_w[k] = static_cast<float>(byte >> 4) + offset;
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (r < rows) {
            const float4 lo = *reinterpret_cast<const float4*>(xg + r * w.cols + e);
            const float4 hi = *reinterpret_cast<const float4*>(xg + r * w.cols + e + 16);
            const float dot = lo_w[0] * lo.x + lo_w[1] * lo.y + lo_w[2] * lo.z + lo_w[3] * lo.w +
                              hi_w[0] * hi.x + hi_w[1] * hi.y + hi_w[2] * hi.z + hi_w[3] * hi.w;
            acc[r] += d * dot;
            if (w.type == WeightType::kQ4_1) {
              acc[r] += mn * (lo.x + lo.y + lo.z + lo.w + hi.x + hi.y + hi.z + hi.w);
            }
          }
        }
      }
      break;
    case WeightType::kF16:
    case WeightType::kBF16:
      if (w.cols % 8 == 0) {
        const bool bf16 = w.type == WeightType::kBF16;
        for (int64_t e = 8 * lane; e < w.cols; e += 8 * 32) {
          float wv[8];
          Unpack8(*reinterpret_cast<const uint4*>(codes + 2 * e), bf16, wv);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            if (r < rows) {
              const float4 a = *reinterpret_cast<const float4*>(xg + r * w.cols + e);
              const float4 c = *reinterpret_cast<const float4*>(xg + r * w.cols + e + 4);
              acc[r] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * c.x +
                        wv[5] * c.y + wv[6] * c.z + wv[7] * c.w;
            }
          }
        }
        break;
      }
      [[fallthrough]];
    default:
      for (int64_t e = lane; e < w.cols; e += 32) {
        const float wv = WeightAt(w, j, e);
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (r < rows) acc[r] += wv * xg[r * w.cols + e];
        }
      }
      break;
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float sum = WarpSum(acc[r]);
    if (lane == 0 && r < rows) y[(i0 + r) * ldy + j] = sum;
  }
}

// out[r][c] = row r of w in F16 (every type the split layout holds), out's rows `cols` apart.
__global__ void DequantizeF16Kernel(SplitMatrix w, __half* out) {
  const int64_t n = w.rows * w.cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2half_rn(WeightAt(w, i / w.cols, i % w.cols));
  }
}

__global__ void ConvertKernel(const float* x, int64_t n, bool bf16, uint16_t* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(x[i]))
                  : __half_as_ushort(__float2half_rn(x[i]));
  }
}

// ---- Paged attention ----

// One block per (token, query head, split): kAttentionTile positions at a time, one warp per
// position's score (lanes over the head's dims), then every thread adds the tile's weighted V
// rows to its dims (consecutive threads, consecutive dims). Online softmax across tiles.
constexpr int kMaxDimsPerThread = 512 / kAttentionThreads;

__global__ void AttentionKernel(AttentionDims d, const float* q, const void* k_pool,
                                const void* v_pool, float* out, const int32_t* positions,
                                const int32_t* table_begin, const int32_t* block_tables,
                                int64_t positions_per_split, float* workspace) {
  const int64_t pair = blockIdx.x;  // token * num_heads + head
  const int64_t split = blockIdx.y;
  const int64_t splits = gridDim.y;
  const int64_t t = pair / d.num_heads;
  const int64_t h = pair % d.num_heads;
  const int64_t kvh = h / (d.num_heads / d.num_kv_heads);
  const int64_t pos = positions[t];
  const int64_t first = d.sliding_window > 0 ? max(int64_t{0}, pos - d.sliding_window + 1) : 0;
  const int64_t begin = first + split * positions_per_split;
  const int64_t end = min(pos + 1, begin + positions_per_split);
  const int32_t* table = block_tables + table_begin[t];
  const int64_t block_floats = d.num_kv_heads * d.block_size * d.head_dim;

  __shared__ float qs[512];
  __shared__ float scores[kAttentionTile];
  const float* qh = q + pair * d.head_dim;
  for (int64_t i = threadIdx.x; i < d.head_dim; i += blockDim.x) qs[i] = qh[i];
  __syncthreads();

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  constexpr int kWarps = kAttentionThreads / 32;
  float acc[kMaxDimsPerThread] = {};
  float running_max = -INFINITY;
  float running_sum = 0.f;
  for (int64_t tile = begin; tile < end; tile += kAttentionTile) {
    const int64_t count = min(static_cast<int64_t>(kAttentionTile), end - tile);
    for (int64_t p = warp; p < count; p += kWarps) {
      const int64_t position = tile + p;
      const int64_t kr = table[position / d.block_size] * block_floats +
                         (kvh * d.block_size + position % d.block_size) * d.head_dim;
      float s = 0.f;
      for (int64_t i = lane; i < d.head_dim; i += 32) s += qs[i] * KvAt(k_pool, kr + i, d.kv_f16);
      s = WarpSum(s) * d.scale;
      if (d.softcap > 0) s = d.softcap * tanhf(s / d.softcap);
      if (lane == 0) scores[p] = s;
    }
    __syncthreads();
    float tile_max = -INFINITY;
    for (int64_t p = 0; p < count; ++p) tile_max = fmaxf(tile_max, scores[p]);
    const float new_max = fmaxf(running_max, tile_max);
    const float correction = expf(running_max - new_max);  // 0 on the first tile
    running_sum *= correction;
#pragma unroll
    for (int k = 0; k < kMaxDimsPerThread; ++k) acc[k] *= correction;
    for (int64_t p = 0; p < count; ++p) {
      const float weight = expf(scores[p] - new_max);
      running_sum += weight;
      const int64_t position = tile + p;
      const int64_t vr = table[position / d.block_size] * block_floats +
                         (kvh * d.block_size + position % d.block_size) * d.head_dim;
#pragma unroll
      for (int k = 0; k < kMaxDimsPerThread; ++k) {
        const int64_t i = threadIdx.x + k * kAttentionThreads;
        if (i < d.head_dim) acc[k] += weight * KvAt(v_pool, vr + i, d.kv_f16);
      }
    }
    running_max = new_max;
    __syncthreads();  // scores are rewritten by the next tile
  }
  if (splits == 1) {
    const float inv = running_sum > 0 ? 1.0f / running_sum : 0.f;
#pragma unroll
    for (int k = 0; k < kMaxDimsPerThread; ++k) {
      const int64_t i = threadIdx.x + k * kAttentionThreads;
      if (i < d.head_dim) out[pair * d.head_dim + i] = acc[k] * inv;
    }
    return;
  }
  // Partial result of this split: maximum, sum, then the unnormalized accumulators.
  float* part = workspace + (pair * splits + split) * (d.head_dim + 2);
  if (threadIdx.x == 0) {
    part[0] = running_max;
    part[1] = running_sum;
  }
#pragma unroll
  for (int k = 0; k < kMaxDimsPerThread; ++k) {
    const int64_t i = threadIdx.x + k * kAttentionThreads;
    if (i < d.head_dim) part[2 + i] = acc[k];
  }
}

// One block per (token, head): the splits' partial results rescaled to their common maximum.
__global__ void CombineKernel(int64_t head_dim, int64_t splits, const float* workspace,
                              float* out) {
  const int64_t pair = blockIdx.x;
  const float* parts = workspace + pair * splits * (head_dim + 2);
  float m = -INFINITY;
  for (int64_t s = 0; s < splits; ++s) m = fmaxf(m, parts[s * (head_dim + 2)]);
  float total = 0.f;
  for (int64_t s = 0; s < splits; ++s) {
    const float* p = parts + s * (head_dim + 2);
    if (p[1] > 0) total += p[1] * expf(p[0] - m);
  }
  const float inv = total > 0 ? 1.0f / total : 0.f;
  for (int64_t i = threadIdx.x; i < head_dim; i += blockDim.x) {
    float v = 0.f;
    for (int64_t s = 0; s < splits; ++s) {
      const float* p = parts + s * (head_dim + 2);
      if (p[1] > 0) v += p[2 + i] * expf(p[0] - m);
    }
    out[pair * head_dim + i] = v * inv;
  }
}

}  // namespace

cudaError_t MatMul(const SplitMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
                   cudaStream_t stream) {
  if (w.rows <= 0 || m <= 0) return cudaSuccess;
  const int64_t per_launch = kMaxGridY * kMatMulRowsPerWarp;
  for (int64_t i = 0; i < m; i += per_launch) {
    const int64_t rows = std::min(per_launch, m - i);
    const MatMulLaunch l = PlanMatMul(w.rows, rows);
    MatMulKernel<<<dim3(l.grid_x, l.grid_y), kMatMulWarps * 32, 0, stream>>>(
        w, x + i * w.cols, rows, y + i * ldy, ldy);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t DequantizeToF16(const SplitMatrix& w, void* out, cudaStream_t stream) {
  if (w.rows <= 0) return cudaSuccess;
  DequantizeF16Kernel<<<ElementBlocks(w.rows * w.cols), kElementThreads, 0, stream>>>(
      w, static_cast<__half*>(out));
  return cudaGetLastError();
}

cudaError_t ConvertFloats(const float* x, int64_t n, bool bf16, void* out, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ConvertKernel<<<ElementBlocks(n), kElementThreads, 0, stream>>>(x, n, bf16,
                                                                  static_cast<uint16_t*>(out));
  return cudaGetLastError();
}

cudaError_t Embed(const SplitMatrix& table, const DeviceBatch& batch, float* out,
                  cudaStream_t stream) {
  if (batch.num_tokens <= 0) return cudaSuccess;
  EmbedKernel<<<static_cast<unsigned>(batch.num_tokens), kElementThreads, 0, stream>>>(
      table, batch.tokens, out);
  return cudaGetLastError();
}

cudaError_t Add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  AddKernel<<<ElementBlocks(n), kElementThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t AddBias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaSuccess;
  AddBiasKernel<<<ElementBlocks(rows * cols), kElementThreads, 0, stream>>>(x, bias, rows * cols,
                                                                            cols);
  return cudaGetLastError();
}

cudaError_t Scale(float* x, int64_t n, float s, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ScaleKernel<<<ElementBlocks(n), kElementThreads, 0, stream>>>(x, n, s);
  return cudaGetLastError();
}

cudaError_t SoftCap(float* x, int64_t n, float cap, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  SoftCapKernel<<<ElementBlocks(n), kElementThreads, 0, stream>>>(x, n, cap);
  return cudaGetLastError();
}

cudaError_t GatedActivation(bool gelu_tanh, float* gate, const float* up, int64_t n,
                            cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  GatedKernel<<<ElementBlocks(n), kElementThreads, 0, stream>>>(gelu_tanh, gate, up, n);
  return cudaGetLastError();
}

cudaError_t Rope(float* x, int64_t num_heads, int64_t head_dim, int64_t rope_dim,
                 const float* inv_freq, bool interleaved, float attn_factor,
                 const DeviceBatch& batch, cudaStream_t stream) {
  if (batch.num_tokens <= 0 || rope_dim < 2) return cudaSuccess;
  RopeKernel<<<static_cast<unsigned>(batch.num_tokens), kElementThreads, 0, stream>>>(
      x, num_heads, head_dim, rope_dim, inv_freq, interleaved, attn_factor, batch.positions);
  return cudaGetLastError();
}

cudaError_t GatherRows(const float* x, int64_t cols, const DeviceBatch& batch, float* out,
                       cudaStream_t stream) {
  if (batch.num_logit_rows <= 0) return cudaSuccess;
  GatherKernel<<<static_cast<unsigned>(batch.num_logit_rows), kElementThreads, 0, stream>>>(
      x, cols, batch.logit_tokens, out);
  return cudaGetLastError();
}

cudaError_t WriteKv(const AttentionDims& dims, const float* k, const float* v, void* k_pool,
                    void* v_pool, const DeviceBatch& batch, cudaStream_t stream) {
  if (batch.num_tokens <= 0) return cudaSuccess;
  WriteKvKernel<<<static_cast<unsigned>(batch.num_tokens), kElementThreads, 0, stream>>>(
      dims, k, v, k_pool, v_pool, batch.positions, batch.table_begin, batch.block_tables);
  return cudaGetLastError();
}

cudaError_t PagedAttention(const AttentionDims& dims, const float* q, const void* k_pool,
                           const void* v_pool, float* out, const DeviceBatch& batch, int64_t splits,
                           int64_t positions_per_split, float* workspace, cudaStream_t stream) {
  if (batch.num_tokens <= 0) return cudaSuccess;
  if (dims.head_dim > 512 || splits < 1 || (splits > 1 && workspace == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const auto pairs = static_cast<unsigned>(batch.num_tokens * dims.num_heads);
  AttentionKernel<<<dim3(pairs, static_cast<unsigned>(splits)), kAttentionThreads, 0, stream>>>(
      dims, q, k_pool, v_pool, out, batch.positions, batch.table_begin, batch.block_tables,
      positions_per_split, workspace);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess || splits == 1) return e;
  CombineKernel<<<pairs, kAttentionThreads, 0, stream>>>(dims.head_dim, splits, workspace, out);
  return cudaGetLastError();
}

}  // namespace infer::kernels::cuda
