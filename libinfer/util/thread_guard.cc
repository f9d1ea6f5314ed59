#include "libinfer/util/thread_guard.h"

#include <exception>
#include <string>

#include "absl/strings/str_cat.h"
#include "libinfer/util/logging.h"

namespace infer {

absl::Status CurrentExceptionStatus(std::string_view where) {
  std::string what = "unknown exception";
  try {
    throw;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  absl::Status status = absl::InternalError(absl::StrCat(std::string(where), ": ", what));
  INFER_LOG(kError, "%s", std::string(status.message()));
  return status;
}

}  // namespace infer
