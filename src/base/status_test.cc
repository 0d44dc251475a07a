#include "base/status.h"

#include <gtest/gtest.h>

namespace msgc {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = Status::TooLarge("payload of 70000000 bytes");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kTooLarge);
  EXPECT_EQ(s.ToString(), "too large: payload of 70000000 bytes");
}

}  // namespace msgc
