#include "libinfer/engine/stop_matcher.h"

#include "gtest/gtest.h"

namespace infer {
namespace {

// Feeds `pieces` one at a time; returns the streamed text and where the stop was found.
std::pair<std::string, size_t> Feed(const StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string text, streamed;
  size_t emitted = 0;
  for (const std::string& p : pieces) {
    const size_t old = text.size();
    text += p;
    const StopMatcher::Result r = m.Check(text, old);
    streamed += text.substr(emitted, r.safe_end - emitted);
    emitted = r.safe_end;
    if (r.stop_at != std::string::npos) return {streamed, r.stop_at};
  }
  return {streamed, std::string::npos};
}

TEST(StopMatcherTest, FindsStopsAcrossPiecesAndHoldsBackPrefixes) {
  StopMatcher m({"</end>", "STOP"});
  auto [streamed, at] = Feed(m, {"hello <", "/e", "nd> tail"});
  EXPECT_EQ(at, 6u);
  EXPECT_EQ(streamed, "hello ");
  // A prefix that turns out not to be a stop is released later.
  std::tie(streamed, at) = Feed(m, {"a <", "/x", "yz"});
  EXPECT_EQ(at, std::string::npos);
  EXPECT_EQ(streamed, "a </xyz");
  // The earliest of several stops wins.
  std::tie(streamed, at) = Feed(m, {"xSTOP</end>"});
  EXPECT_EQ(at, 1u);
  EXPECT_EQ(streamed, "x");
  // A stop inside one piece, at its very start.
  std::tie(streamed, at) = Feed(m, {"STOPx"});
  EXPECT_EQ(at, 0u);
  EXPECT_EQ(streamed, "");
}

TEST(StopMatcherTest, NoStopsStreamsEverythingAndEmptyStopsAreIgnored) {
  StopMatcher none({});
  EXPECT_EQ(Feed(none, {"ab", "cd"}).first, "abcd");
  StopMatcher empty({""});
  EXPECT_EQ(Feed(empty, {"ab", "cd"}).first, "abcd");
}

TEST(StopMatcherTest, MultibyteStopSplitAcrossPieces) {
  StopMatcher m({"\xE2\x80\x94!"});  // em dash + '!'
  auto [streamed, at] = Feed(m, {"a\xE2\x80\x94", "b\xE2\x80\x94", "!c"});
  EXPECT_EQ(at, 5u);
  EXPECT_EQ(streamed,
            "a\xE2\x80\x94"
            "b");
}

}  // namespace
}  // namespace infer
