// Stop strings over streamed text: finds the first stop string in the generated text as it
// grows, across token boundaries, and says how much of the text is safe to stream (not possibly
// the start of a stop string).
#ifndef INFER_ENGINE_STOP_MATCHER_H_
#define INFER_ENGINE_STOP_MATCHER_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace infer {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  struct Result {
    size_t stop_at = std::string::npos;  // where the first stop string starts, or npos
    size_t safe_end = 0;                 // text[0, safe_end) can be streamed
  };
  // `text` is all the generated text; `old_size` its size when last checked (text before it
  // was already searched).
  Result Check(std::string_view text, size_t old_size) const;

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
};

}  // namespace infer

#endif  // INFER_ENGINE_STOP_MATCHER_H_
