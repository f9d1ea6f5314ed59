// The shape of paged attention over one layer's K/V pools, shared by every device's kernels and
// by the backend interface (libinfer/backend/backend.h).
#ifndef INFER_KERNELS_ATTENTION_SHAPE_H_
#define INFER_KERNELS_ATTENTION_SHAPE_H_

#include <cstdint>

namespace infer::kernels {

struct AttentionShape {
  int64_t num_heads = 0;     // query heads
  int64_t num_kv_heads = 0;  // K/V heads; num_heads % num_kv_heads == 0
  int64_t head_dim = 0;
  int64_t block_size = 0;      // positions per cache block
  int64_t sliding_window = 0;  // 0: attend to every earlier position
  float scale = 0;             // usually 1 / sqrt(head_dim)
  float softcap = 0;           // > 0: scores (after scale) -> softcap * tanh(score / softcap)
  bool kv_f16 = false;         // the K/V pools hold IEEE F16 values instead of F32

  // Elements in one block of one layer's K (or V) pool: [num_kv_heads][block_size][head_dim].
  int64_t block_floats() const { return num_kv_heads * block_size * head_dim; }
  // Bytes of one element of the pools.
  int64_t kv_element_bytes() const { return kv_f16 ? 2 : 4; }
  // Offset, in elements, of (kv_head, position) inside the sequence's block for that position.
  int64_t row_offset(int64_t kv_head, int64_t position) const {
    return (kv_head * block_size + position % block_size) * head_dim;
  }
};

}  // namespace infer::kernels

#endif  // INFER_KERNELS_ATTENTION_SHAPE_H_
