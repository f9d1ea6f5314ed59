// The chat page's files (libinfer/serve/ui/), compiled into the server by cmake/EmbedUi.cmake.
#ifndef INFER_SERVE_UI_ASSETS_H_
#define INFER_SERVE_UI_ASSETS_H_

#include <cstddef>
#include <string_view>

namespace infer::serve {

struct UiAsset {
  std::string_view path;          // "/" for the page, "/ui/<file>" for the others
  std::string_view content_type;  // with its charset
  std::string_view body;
};

extern const UiAsset kUiAssets[];
extern const size_t kNumUiAssets;

// The asset served at `path`, or null.
inline const UiAsset* FindUiAsset(std::string_view path) {
  for (size_t i = 0; i < kNumUiAssets; ++i) {
    if (kUiAssets[i].path == path) return &kUiAssets[i];
  }
  return nullptr;
}

}  // namespace infer::serve

#endif  // INFER_SERVE_UI_ASSETS_H_
