// A named, typed, read-only view of tensor bytes inside a mapped model file (zero-copy).
#ifndef INFER_TENSOR_TENSOR_VIEW_H_
#define INFER_TENSOR_TENSOR_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "libinfer/tensor/dtype.h"

namespace infer {

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  // Row-major, outermost dimension first: shape.back() is the contiguous one. (GGUF stores
  // dimensions innermost first; its reader reverses them.) A matrix [rows, cols] has rows of
  // `cols` elements.
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapped file; aligned as the file aligns it
  size_t nbytes = 0;              // checked by the reader: equals DTypeBytes(dtype, numel)

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

}  // namespace infer

#endif  // INFER_TENSOR_TENSOR_VIEW_H_
