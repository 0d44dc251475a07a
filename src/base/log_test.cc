#include "base/log.h"

#include <gtest/gtest.h>

namespace msgc {

TEST(DebugLevel, ParsesEveryNameInAnyCase) {
  EXPECT_EQ(ParseDebugLevel("DEBUG"), DebugLevel::kDebug);
  EXPECT_EQ(ParseDebugLevel("info"), DebugLevel::kInfo);
  EXPECT_EQ(ParseDebugLevel("Notice"), DebugLevel::kNotice);
  EXPECT_EQ(ParseDebugLevel("wArNiNg"), DebugLevel::kWarning);
  EXPECT_EQ(ParseDebugLevel("error"), DebugLevel::kError);
  EXPECT_EQ(ParseDebugLevel("CRITICAL"), DebugLevel::kCritical);
  EXPECT_EQ(ParseDebugLevel("WARN"), std::nullopt);
  EXPECT_EQ(ParseDebugLevel(""), std::nullopt);
}

TEST(DebugLevel, NamesRoundTrip) {
  for (int i = 0; i <= 5; ++i) {
    auto level = static_cast<DebugLevel>(i);
    EXPECT_EQ(ParseDebugLevel(DebugLevelName(level)), level);
  }
}

TEST(DebugLevel, SetChangesSpdlogLevel) {
  SetDebugLevel(DebugLevel::kDebug);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
  SetDebugLevel(DebugLevel::kError);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::err);
  EXPECT_EQ(CurrentDebugLevel(), DebugLevel::kError);
}

}  // namespace msgc
