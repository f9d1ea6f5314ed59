// infer_dequantize: one GGUF tensor decoded by the library's own row decoder, for the Python
// tests that hold it against the gguf package's NumPy dequantization.
//   infer_dequantize --model PATH --tensor NAME --out FILE
// writes the tensor as little-endian float32, row-major ([rows, cols], cols the contiguous
// dimension); prints the tensor's type name.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "libinfer/format/gguf.h"
#include "libinfer/kernels/cpu/matmul.h"

int main(int argc, char** argv) {
  std::string model_path, tensor_name, out_path;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--model") {
      model_path = argv[i + 1];
    } else if (flag == "--tensor") {
      tensor_name = argv[i + 1];
    } else if (flag == "--out") {
      out_path = argv[i + 1];
    } else {
      std::fprintf(stderr, "infer_dequantize: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (model_path.empty() || tensor_name.empty() || out_path.empty()) {
    std::fprintf(stderr, "usage: infer_dequantize --model PATH --tensor NAME --out FILE\n");
    return 2;
  }
  auto file = infer::GgufFile::Open(model_path);
  if (!file.ok()) {
    std::fprintf(stderr, "infer_dequantize: %s\n", std::string(file.status().message()).c_str());
    return 1;
  }
  const infer::TensorView* t = (*file)->FindTensor(tensor_name);
  if (t == nullptr) {
    std::fprintf(stderr, "infer_dequantize: no tensor '%s'\n", tensor_name.c_str());
    return 1;
  }
  const int64_t cols = t->shape.back();
  const int64_t rows = t->numel() / cols;
  const infer::DTypeInfo& info = infer::GetDTypeInfo(t->dtype);
  infer::kernels::cpu::WeightMatrix w;
  w.dtype = t->dtype;
  w.data = t->data;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = static_cast<size_t>(cols / info.block_elems * info.block_bytes);
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    infer::kernels::cpu::DequantizeRow(w, r, out.data() + r * cols);
  std::ofstream f(out_path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(out.data()),
          static_cast<std::streamsize>(out.size() * sizeof(float)));
  if (!f) {
    std::fprintf(stderr, "infer_dequantize: cannot write %s\n", out_path.c_str());
    return 1;
  }
  std::printf("%s\n", info.name);
  return 0;
}
