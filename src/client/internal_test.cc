#include "client/internal.h"

#include <gtest/gtest.h>

namespace msgc::client_internal {
namespace {

TEST(ParseHostPort, Forms) {
  HostPort hp;
  ASSERT_TRUE(ParseHostPort("127.0.0.1:4809", &hp).ok());
  EXPECT_EQ(hp.host, "127.0.0.1");
  EXPECT_EQ(hp.port, 4809);
  ASSERT_TRUE(ParseHostPort("[::1]:12", &hp).ok());
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, 12);
  ASSERT_TRUE(ParseHostPort("localhost:65535", &hp).ok());
  EXPECT_EQ(hp.host, "localhost");
}

TEST(ParseHostPort, Errors) {
  HostPort hp;
  for (const char* bad : {"", "host", "host:", ":4809", "h:0", "h:65536",
                          "h:12x", "::1:4809", "[::1]", "[::1:4809"}) {
    Result r = ParseHostPort(bad, &hp);
    EXPECT_EQ(r.code(), Result::Code::kInvalidArgument) << bad;
  }
}

TEST(Names, Groups) {
  EXPECT_TRUE(CheckGroupName("g").ok());
  EXPECT_TRUE(CheckGroupName(std::string(255, 'x')).ok());
  EXPECT_FALSE(CheckGroupName("").ok());
  EXPECT_FALSE(CheckGroupName(std::string(256, 'x')).ok());
  EXPECT_FALSE(CheckGroupName("#a#b").ok());
}

TEST(Names, PrivateNamesAndDestinations) {
  EXPECT_TRUE(CheckPrivateName("#a#n1").ok());
  EXPECT_FALSE(CheckPrivateName("#a").ok());
  EXPECT_FALSE(CheckPrivateName("##n1").ok());
  EXPECT_FALSE(CheckPrivateName("#a#").ok());
  EXPECT_FALSE(CheckPrivateName("a#b").ok());
  EXPECT_TRUE(CheckDestination("#a#n1").ok());
  EXPECT_TRUE(CheckDestination("group").ok());
  EXPECT_FALSE(CheckDestination("#bad").ok());
}

TEST(Names, Sessions) {
  EXPECT_TRUE(CheckSessionName("").ok());
  EXPECT_TRUE(CheckSessionName("node-1_a.b").ok());
  EXPECT_FALSE(CheckSessionName("a b").ok());
  EXPECT_FALSE(CheckSessionName("a#b").ok());
  EXPECT_FALSE(CheckSessionName(std::string(65, 'a')).ok());
}

wire::Frame OneFrame(wire::FrameDecoder* dec, const std::string& bytes) {
  dec->Append(bytes);
  wire::Frame f;
  EXPECT_EQ(dec->Next(&f), wire::FrameDecoder::Result::kFrame);
  return f;
}

TEST(Convert, Deliver) {
  std::string bytes;
  std::vector<std::string_view> groups = {"g1", "#b#n1"};
  wire::EncodeDeliver(wire::Service::kAgreed, wire::kSendSelfDiscard, "#a#n1",
                      groups, std::string("x\0y", 3), &bytes);
  wire::FrameDecoder dec(1 << 20);
  wire::Frame f = OneFrame(&dec, bytes);
  wire::Deliver d;
  ASSERT_TRUE(wire::DecodeDeliver(f, &d).ok());
  MessageEvent ev = ToMessageEvent(d);
  EXPECT_EQ(ev.sender, "#a#n1");
  EXPECT_EQ(ev.groups, (std::vector<std::string>{"g1", "#b#n1"}));
  EXPECT_EQ(ev.service, Service::kAgreed);
  EXPECT_TRUE(ev.self_discard);
  EXPECT_EQ(ev.data, std::string("x\0y", 3));
}

TEST(Convert, FillReusesAnEventOfAnyPreviousShape) {
  MessageEvent ev;
  ev.groups = {"old1", "old2", "old3"};
  ev.data = std::string(1000, 'o');
  ev.self_discard = true;
  for (int round = 0; round < 2; ++round) {
    std::string bytes;
    std::vector<std::string_view> groups = {"g1", "#b#n1"};
    wire::EncodeDeliver(wire::Service::kFifo, 0, "#a#n1", groups, "data",
                        &bytes);
    wire::FrameDecoder dec(1 << 20);
    wire::Frame f = OneFrame(&dec, bytes);
    wire::Deliver d;
    ASSERT_TRUE(wire::DecodeDeliver(f, &d).ok());
    FillMessageEvent(d, &ev);
    EXPECT_EQ(ev.sender, "#a#n1");
    EXPECT_EQ(ev.groups, (std::vector<std::string>{"g1", "#b#n1"}));
    EXPECT_EQ(ev.service, Service::kFifo);
    EXPECT_FALSE(ev.self_discard);
    EXPECT_EQ(ev.data, "data");
  }
}

TEST(SendFrameSize, MatchesTheEncoder) {
  const std::vector<std::vector<std::string_view>> dests = {
      {"g"}, {"#a#n1"}, {"g1", "group-two", "#b#n1"}};
  for (const auto& d : dests) {
    for (size_t data_size : {size_t{0}, size_t{100}, size_t{70000}}) {
      std::string out = "prefix";  // EncodeSend appends
      wire::EncodeSend(wire::Service::kSafe, 0, 42, d,
                       std::string(data_size, 'x'), &out);
      EXPECT_EQ(SendFrameSize(d, data_size), out.size() - 6);
    }
  }
}

TEST(EncodeSendInto, MatchesTheEncoderByteForByte) {
  const std::vector<std::vector<std::string_view>> dests = {
      {"g"}, {"#a#n1"}, {"g1", "group-two", "#b#n1"}};
  for (const auto& d : dests) {
    for (size_t data_size : {size_t{0}, size_t{100}, size_t{70000}}) {
      std::string data(data_size, '\0');
      for (size_t i = 0; i < data_size; ++i) data[i] = static_cast<char>(i);
      std::string want;
      wire::EncodeSend(wire::Service::kAgreed, wire::kSendSelfDiscard,
                       0x0102030405060708ull, d, data, &want);
      std::string got(SendFrameSize(d, data_size), '?');
      EncodeSendInto(got.data(), wire::Service::kAgreed, wire::kSendSelfDiscard,
                     0x0102030405060708ull, d, data);
      EXPECT_EQ(got, want);
    }
  }
}

TEST(Convert, Membership) {
  std::string bytes;
  std::vector<wire::Member> changed = {{"#b#n1", "cb"}};
  std::vector<wire::Member> members = {{"#a#n1", "ca"}, {"#b#n1", "cb"}};
  wire::ViewId view{0x1234, 7};
  wire::EncodeMembership("g", wire::Cause::kJoin, 0, view, changed, members,
                         &bytes);
  wire::FrameDecoder dec(1 << 20);
  wire::Frame f = OneFrame(&dec, bytes);
  wire::Membership m;
  ASSERT_TRUE(wire::DecodeMembership(f, &m).ok());
  MembershipEvent ev = ToMembershipEvent(m);
  EXPECT_EQ(ev.group, "g");
  EXPECT_EQ(ev.cause, MembershipCause::kJoin);
  EXPECT_FALSE(ev.transitional);
  EXPECT_FALSE(ev.self_leave);
  EXPECT_EQ(ev.view, "0000000000001234.7");
  EXPECT_EQ(ev.view_epoch, 0x1234u);
  EXPECT_EQ(ev.view_seq, 7u);
  EXPECT_EQ(ev.gid, view.Gid());
  ASSERT_EQ(ev.changed.size(), 1u);
  EXPECT_EQ(ev.changed[0].name, "#b#n1");
  EXPECT_EQ(ev.changed[0].capabilities, "cb");
  ASSERT_EQ(ev.members.size(), 2u);
  EXPECT_EQ(ev.members[0].name, "#a#n1");
  EXPECT_EQ(ev.members[1].capabilities, "cb");
}

TEST(Convert, ErrorAndResult) {
  std::string bytes;
  wire::Error e;
  e.code = wire::ErrorCode::kNoSuchRecipient;
  e.request = wire::FrameType::kSend;
  e.ref = 42;
  e.subject = "#x#n1";
  e.text = "not connected";
  wire::EncodeError(e, &bytes);
  wire::FrameDecoder dec(1 << 20);
  wire::Frame f = OneFrame(&dec, bytes);
  wire::Error d;
  ASSERT_TRUE(wire::DecodeError(f, &d).ok());
  ServerError se = ToServerError(d);
  EXPECT_EQ(se.code, 8);
  EXPECT_EQ(se.code_name, "NO_SUCH_RECIPIENT");
  EXPECT_FALSE(se.fatal);
  EXPECT_EQ(se.request, "SEND");
  EXPECT_EQ(se.ref, 42u);
  EXPECT_EQ(se.subject, "#x#n1");
  EXPECT_EQ(ResultForServerError(se).code(), Result::Code::kNotFound);
  se.code = static_cast<uint16_t>(wire::ErrorCode::kNameInUse);
  EXPECT_EQ(ResultForServerError(se).code(), Result::Code::kAlreadyExists);
}

TEST(Result, Strings) {
  EXPECT_EQ(Result().ToString(), "OK");
  EXPECT_EQ(Result(Result::Code::kNotConnected, "x").ToString(),
            "not connected: x");
  EXPECT_EQ(ServiceName(Service::kSafe), "safe");
  EXPECT_EQ(MembershipCauseName(MembershipCause::kDisconnect), "disconnect");
}

TEST(Result, SameCodesAsStatus) {
  EXPECT_EQ(ToResult(Status::TooLarge("m")).code(), Result::Code::kTooLarge);
  EXPECT_EQ(ToResult(Status::TimedOut("m")).message(), "m");
}

}  // namespace
}  // namespace msgc::client_internal
