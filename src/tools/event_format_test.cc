#include "tools/event_format.h"

#include <gtest/gtest.h>

namespace msgc::tools {
namespace {

TEST(EventFormat, MessageJsonExact) {
  MessageEvent m;
  m.sender = "#a#n1";
  m.groups = {"g"};
  m.data = "hi";
  EXPECT_EQ(MessageToJson(m),
            R"({"type":"message","group":"g","groups":["g"],"sender":"#a#n1",)"
            R"("service":"fifo","data":"hi"})");
}

TEST(EventFormat, MessageJsonBinaryAndEscapes) {
  MessageEvent m;
  m.sender = "#a#n1";
  m.groups = {"g1", "g2"};
  m.service = Service::kAgreed;
  m.data = std::string("\xff\x00x", 3);
  EXPECT_EQ(MessageToJson(m),
            R"({"type":"message","group":"g1","groups":["g1","g2"],)"
            R"("sender":"#a#n1","service":"agreed","data_b64":"/wB4"})");
  m.data = "a\"b\n\xc3\xa9";  // valid UTF-8 with escapes
  EXPECT_EQ(MessageToJson(m),
            R"({"type":"message","group":"g1","groups":["g1","g2"],)"
            "\"sender\":\"#a#n1\",\"service\":\"agreed\",\"data\":\"a\\\"b\\n"
            "\xc3\xa9\"}");
}

TEST(EventFormat, MembershipJsonExact) {
  MembershipEvent m;
  m.group = "g";
  m.cause = MembershipCause::kJoin;
  m.view = "0000000000000001.2";
  m.changed = {{"#a#n1", "caps"}};
  m.members = {{"#a#n1", "caps"}, {"#b#n1", ""}};
  EXPECT_EQ(MembershipToJson(m),
            R"({"type":"membership","group":"g","cause":"join",)"
            R"("member":"#a#n1","members":["#a#n1","#b#n1"],)"
            R"("view":"0000000000000001.2","changed":["#a#n1"]})");
  m.cause = MembershipCause::kLeave;
  m.self_leave = true;
  m.members.clear();
  EXPECT_EQ(MembershipToJson(m),
            R"({"type":"membership","group":"g","cause":"leave",)"
            R"("member":"#a#n1","members":[],)"
            R"("view":"0000000000000001.2","changed":["#a#n1"],)"
            R"("self_leave":true})");
  m.self_leave = false;
  m.transitional = true;
  m.changed.clear();
  m.cause = MembershipCause::kNetwork;
  EXPECT_EQ(MembershipToJson(m),
            R"({"type":"membership","group":"g","cause":"network",)"
            R"("members":[],"view":"0000000000000001.2","changed":[],)"
            R"("transitional":true})");
}

TEST(EventFormat, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

TEST(EventFormat, Base64) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(EventFormat, Text) {
  MessageEvent m;
  m.sender = "#a#n1";
  m.groups = {"g"};
  m.data = "hi\n";
  EXPECT_EQ(MessageToText(m), "message g from #a#n1 (fifo, 3 bytes): hi\\n");
  MembershipEvent e;
  e.group = "g";
  e.cause = MembershipCause::kDisconnect;
  e.view = "v";
  e.changed = {{"#b#n1", ""}};
  e.members = {{"#a#n1", ""}};
  EXPECT_EQ(MembershipToText(e),
            "membership g disconnect changed=#b#n1 members=#a#n1 view=v");
}

}  // namespace
}  // namespace msgc::tools
