#include "server/items.h"

#include <gtest/gtest.h>

namespace msgc::server {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(ItemsTest, MemberItemsRoundTripAndRejectTruncation) {
  for (ItemKind k : {ItemKind::kConnect, ItemKind::kJoin, ItemKind::kLeave,
                     ItemKind::kDisconnect}) {
    const std::string body =
        EncodeMemberItem(k, MemberItem{"#a#n1", 42, "grp", "caps", "#a#n2", 9});
    MemberItem m;
    ASSERT_TRUE(DecodeMemberItem(k, Bytes(body), &m).ok());
    EXPECT_EQ(m.name, "#a#n1");
    EXPECT_EQ(m.sid, 42u);
    if (k == ItemKind::kJoin || k == ItemKind::kLeave) {
      EXPECT_EQ(m.group, "grp");
    }
    if (k == ItemKind::kJoin) {
      EXPECT_EQ(m.caps, "caps");
    }
    if (k == ItemKind::kConnect) {
      EXPECT_EQ(m.replaces, "#a#n2");
      EXPECT_EQ(m.replaces_sid, 9u);
    }
    for (size_t n = 0; n < body.size(); ++n) {
      EXPECT_FALSE(DecodeMemberItem(k, Bytes(body.substr(0, n)), &m).ok()) << n;
    }
    EXPECT_FALSE(DecodeMemberItem(k, Bytes(body + "x"), &m).ok());
  }
}

TEST(ItemsTest, MessageItemKeepsTheFrame) {
  std::string body;
  EncodeMessagePrefix(7, kMessageSelfDiscard, &body);
  ASSERT_EQ(body.size(), kMessagePrefixSize);
  body += "FRAME";
  MessageItem m;
  ASSERT_TRUE(DecodeMessageItem(Bytes(body), &m).ok());
  EXPECT_EQ(m.sender_sid, 7u);
  EXPECT_EQ(m.flags, kMessageSelfDiscard);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.deliver_frame.data()),
                        m.deliver_frame.size()),
            "FRAME");
  EXPECT_FALSE(DecodeMessageItem(Bytes(body.substr(0, 8)), &m).ok());
}

TEST(ItemsTest, ServerStateRoundTripAndRejectTruncation) {
  ServerState s;
  s.node = "n2";
  s.incarnation = 0x1122334455667788;
  s.sessions.push_back(StateSession{"#a#n2", 3, "#a#n1", 77, {}});
  s.sessions.push_back(StateSession{
      "#b#n2",
      4,
      "",
      0,
      {StateGroup{"g1", "c1", 10, "n1"}, StateGroup{"g2", "", 11, "n2"}}});
  const std::string body = EncodeServerState(s);
  ServerState d;
  ASSERT_TRUE(DecodeServerState(Bytes(body), &d).ok());
  EXPECT_EQ(d.node, "n2");
  EXPECT_EQ(d.incarnation, s.incarnation);
  ASSERT_EQ(d.sessions.size(), 2u);
  EXPECT_EQ(d.sessions[0].name, "#a#n2");
  EXPECT_EQ(d.sessions[0].replaces, "#a#n1");
  EXPECT_EQ(d.sessions[0].replaces_sid, 77u);
  EXPECT_EQ(d.sessions[1].replaces, "");
  EXPECT_TRUE(d.sessions[0].groups.empty());
  ASSERT_EQ(d.sessions[1].groups.size(), 2u);
  EXPECT_EQ(d.sessions[1].groups[0].group, "g1");
  EXPECT_EQ(d.sessions[1].groups[0].caps, "c1");
  EXPECT_EQ(d.sessions[1].groups[1].key_ts, 11u);
  EXPECT_EQ(d.sessions[1].groups[1].key_origin, "n2");
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeServerState(Bytes(body.substr(0, n)), &d).ok()) << n;
  }
  EXPECT_FALSE(DecodeServerState(Bytes(body + "x"), &d).ok());
}

}  // namespace
}  // namespace msgc::server
