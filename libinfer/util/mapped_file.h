// A read-only memory-mapped file. Model weights are views into it (zero-copy).
#ifndef INFER_UTIL_MAPPED_FILE_H_
#define INFER_UTIL_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace infer {

class MappedFile {
 public:
  // Maps `path` read-only. Errors name the path and the failing system call.
  // An empty file maps to an empty span.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Hints the kernel that [offset, offset + length) will be read soon (sequentially).
  void Prefetch(size_t offset, size_t length) const;

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace infer

#endif  // INFER_UTIL_MAPPED_FILE_H_
