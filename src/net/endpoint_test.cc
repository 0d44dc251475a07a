#include "net/endpoint.h"

#include <gtest/gtest.h>

namespace msgc::net {
namespace {

std::string Parse(std::string_view spec, uint16_t default_port = 4809) {
  asio::ip::tcp::endpoint ep;
  Status s = ParseListenSpec(spec, default_port, &ep);
  return s.ok() ? FormatEndpoint(ep) : "error: " + s.message();
}

TEST(EndpointTest, ParsesListenSpecs) {
  EXPECT_EQ(Parse(":4809"), "0.0.0.0:4809");
  EXPECT_EQ(Parse("*:1234"), "0.0.0.0:1234");
  EXPECT_EQ(Parse("127.0.0.1:99"), "127.0.0.1:99");
  EXPECT_EQ(Parse("127.0.0.2"), "127.0.0.2:4809");
  EXPECT_EQ(Parse("[::1]:5"), "[::1]:5");
  EXPECT_EQ(Parse("[::]:6"), "[::]:6");
  EXPECT_EQ(Parse("[]:7"), "[::]:7");
  EXPECT_EQ(Parse("localhost:8"), "127.0.0.1:8");
}

TEST(EndpointTest, RejectsBadSpecs) {
  EXPECT_TRUE(Parse("[::1:5").starts_with("error"));
  EXPECT_TRUE(Parse("::1:5").starts_with("error"));
  EXPECT_TRUE(Parse("1.2.3.4:70000").starts_with("error"));
  EXPECT_TRUE(Parse("1.2.3.4:x").starts_with("error"));
  EXPECT_TRUE(Parse("example.com:1").starts_with("error"));
}

TEST(EndpointTest, MakeEndpointAnyAddress) {
  asio::ip::tcp::endpoint ep;
  ASSERT_TRUE(MakeEndpoint("", 1, false, &ep).ok());
  EXPECT_EQ(FormatEndpoint(ep), "0.0.0.0:1");
  ASSERT_TRUE(MakeEndpoint("", 2, true, &ep).ok());
  EXPECT_EQ(FormatEndpoint(ep), "[::]:2");
  ASSERT_TRUE(MakeEndpoint("::1", 3, true, &ep).ok());
  EXPECT_EQ(FormatEndpoint(ep), "[::1]:3");
}

}  // namespace
}  // namespace msgc::net
