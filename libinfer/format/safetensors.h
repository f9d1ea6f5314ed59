// safetensors reader (Hugging Face's weight format) and sharded-checkpoint folders, zero-copy over
// memory mappings.
//
// File layout: u64 little-endian header length N | N bytes of JSON | data section. The JSON maps
// each tensor name to {"dtype": "F32"|"F16"|"BF16"|..., "shape": [..], "data_offsets": [begin,
// end]} (offsets relative to the data section), plus an optional "__metadata__" object of
// string -> string.
#ifndef INFER_FORMAT_SAFETENSORS_H_
#define INFER_FORMAT_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/tensor/tensor_view.h"
#include "libinfer/util/mapped_file.h"

namespace infer {

// Largest JSON header accepted (bytes).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100u << 20;

// One parsed .safetensors file. Immutable after construction; const methods are thread-safe.
class SafetensorsFile {
 public:
  // Maps `path` and parses it; the mapping lives as long as the returned object. Errors
  // (InvalidArgument for a malformed file, plus MappedFile's errors) name the path and the
  // tensor or header field.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  // Parses `bytes` without copying them: the caller keeps them alive for as long as the result
  // and its TensorViews are used. `display_name` starts every error message.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Parse(std::span<const uint8_t> bytes,
                                                                std::string display_name);

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& display_name() const { return display_name_; }
  // Sorted by name. Shapes are outermost first, as stored; data points into the file.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // The tensor called `name`, or nullptr.
  const TensorView* FindTensor(std::string_view name) const;
  // The "__metadata__" entries (empty when absent).
  const std::map<std::string, std::string, std::less<>>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;

  std::string display_name_;
  std::unique_ptr<MappedFile> mapping_;  // set by Open()
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string, std::less<>> metadata_;
};

// The weights of a Hugging Face folder: either one `model.safetensors` or the shards listed by
// `model.safetensors.index.json` ("weight_map": tensor name -> shard file name). Each shard is
// mapped once. Immutable after construction; const methods are thread-safe.
class SafetensorsCheckpoint {
 public:
  // Opens the checkpoint in `folder`, preferring the index when both files exist. Errors:
  // NotFound when neither file exists; InvalidArgument for a malformed index (naming the key),
  // a shard name that is absolute or contains a ".." component, a tensor missing from the shard
  // the index names, or any SafetensorsFile error. Symlinked shards (the HF cache's layout) are
  // fine: names are checked, not resolved paths.
  static absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> OpenFolder(
      const std::string& folder);

  // The tensor called `name` in whichever shard holds it, or nullptr.
  const TensorView* FindTensor(std::string_view name) const;
  // Every tensor, by name.
  const std::map<std::string, const TensorView*, std::less<>>& tensors() const { return tensors_; }
  // The shards in the order first named (one entry for a single-file checkpoint).
  const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }

 private:
  SafetensorsCheckpoint() = default;

  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*, std::less<>> tensors_;
};

}  // namespace infer

#endif  // INFER_FORMAT_SAFETENSORS_H_
