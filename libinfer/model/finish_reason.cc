// The names of the finish reasons (infer/model.h): one table for the API, the metrics and logs.
#include "infer/model.h"

namespace infer {

const char* FinishReasonName(FinishReason reason) {
  static constexpr const char* kNames[kFinishReasonCount] = {"stop", "length", "abort", "error"};
  const int i = static_cast<int>(reason);
  return i >= 0 && i < kFinishReasonCount ? kNames[i] : "error";
}

}  // namespace infer
