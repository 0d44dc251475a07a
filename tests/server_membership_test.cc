// msgcd integration tests: group membership views (docs/protocol.md §4).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "support/msgcd_process.h"
#include "support/raw_client.h"

namespace msgc::test {
namespace {

using wire::Cause;
using wire::ErrorCode;
using Names = std::vector<std::string>;

constexpr char kConfig[] = R"(
msgc_server {
  port = @PORT@
  debug_level = INFO
}
)";

class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = StartMsgcd(kConfig);
    ASSERT_NE(d_, nullptr);
  }
  // A connected, welcomed client named `name`.
  std::unique_ptr<RawClient> Client(const std::string& name) {
    return ConnectRawClient(d_->port(), name);
  }
  std::string P(const std::string& session) { return d_->PrivateName(session); }

  std::unique_ptr<Msgcd> d_;
};

TEST_F(MembershipTest, JoinViewsListMembersInJoinOrderWithCapabilities) {
  auto a = Client("a");
  auto b = Client("b");
  auto c = Client("c");

  MembershipMsg ma;
  ASSERT_TRUE(a->JoinAndWait("g", "caps-a", &ma));
  EXPECT_EQ(ma.group, "g");
  EXPECT_EQ(ma.cause, Cause::kJoin);
  EXPECT_EQ(ma.flags, 0);
  EXPECT_EQ(ma.MemberNames(), Names{P("a")});
  EXPECT_EQ(ma.members[0].capabilities, "caps-a");

  // A joiner's first view lists every current member.
  MembershipMsg mb;
  ASSERT_TRUE(b->JoinAndWait("g", "", &mb));
  EXPECT_EQ(mb.MemberNames(), (Names{P("a"), P("b")}));
  MembershipMsg ma2;
  ASSERT_TRUE(a->ExpectMembership(&ma2));
  EXPECT_EQ(ma2.cause, Cause::kJoin);
  EXPECT_EQ(ma2.ChangedNames(), Names{P("b")});
  EXPECT_EQ(ma2.MemberNames(), (Names{P("a"), P("b")}));
  EXPECT_EQ(ma2.view, mb.view);  // one view, same id everywhere
  EXPECT_NE(ma2.view, ma.view);

  MembershipMsg mc;
  ASSERT_TRUE(c->JoinAndWait("g", "caps-c", &mc));
  const Names abc{P("a"), P("b"), P("c")};
  EXPECT_EQ(mc.MemberNames(), abc);
  EXPECT_EQ(mc.members[0].capabilities, "caps-a");
  EXPECT_EQ(mc.members[2].capabilities, "caps-c");
  EXPECT_EQ(mc.changed, (std::vector<MemberInfo>{{P("c"), "caps-c"}}));
  for (RawClient* x : {a.get(), b.get()}) {
    MembershipMsg m;
    ASSERT_TRUE(x->ExpectMembership(&m));
    EXPECT_EQ(m.MemberNames(), abc);
    EXPECT_EQ(m.view, mc.view);
  }
}

TEST_F(MembershipTest, JoinIsIdempotent) {
  auto a = Client("a");
  ASSERT_TRUE(a->JoinAndWait("g"));
  ASSERT_TRUE(a->SendJoin("g").ok());
  EXPECT_TRUE(a->ExpectNothing(milliseconds{200}));
}

TEST_F(MembershipTest, LeaveGivesSelfLeaveAndTellsTheOthers) {
  auto a = Client("a");
  auto b = Client("b");
  auto c = Client("c");
  ASSERT_TRUE(a->JoinAndWait("g"));
  ASSERT_TRUE(b->JoinAndWait("g", "bcaps"));
  ASSERT_TRUE(c->JoinAndWait("g"));
  MembershipMsg skip;
  ASSERT_TRUE(a->ExpectMembership(&skip));  // b joined
  ASSERT_TRUE(a->ExpectMembership(&skip));  // c joined
  ASSERT_TRUE(b->ExpectMembership(&skip));  // c joined

  ASSERT_TRUE(b->SendLeave("g").ok());
  MembershipMsg self;
  ASSERT_TRUE(b->ExpectMembership(&self));
  EXPECT_EQ(self.group, "g");
  EXPECT_EQ(self.cause, Cause::kLeave);
  EXPECT_EQ(self.flags, wire::kMembershipSelfLeave);
  EXPECT_EQ(self.changed, (std::vector<MemberInfo>{{P("b"), "bcaps"}}));
  EXPECT_TRUE(self.members.empty());

  for (RawClient* x : {a.get(), c.get()}) {
    MembershipMsg m;
    ASSERT_TRUE(x->ExpectMembership(&m));
    EXPECT_EQ(m.cause, Cause::kLeave);
    EXPECT_EQ(m.flags, 0);
    EXPECT_EQ(m.ChangedNames(), Names{P("b")});
    EXPECT_EQ(m.MemberNames(), (Names{P("a"), P("c")}));
    EXPECT_EQ(m.view, self.view);
  }
  // b no longer gets the group's events.
  ASSERT_TRUE(a->SendLeave("g").ok());
  ASSERT_TRUE(a->ExpectMembership(&skip));
  EXPECT_TRUE(b->ExpectNothing(milliseconds{100}));
}

TEST_F(MembershipTest, LeaveOfGroupNotJoinedIsNotMember) {
  auto a = Client("a");
  ASSERT_TRUE(a->SendLeave("nope").ok());
  ErrorMsg e;
  ASSERT_TRUE(a->ExpectErrorCode(ErrorCode::kNotMember, false, &e));
  EXPECT_EQ(e.subject, "nope");
  EXPECT_EQ(e.request, wire::FrameType::kLeave);
  // Not fatal: the session carries on.
  ASSERT_TRUE(a->JoinAndWait("g"));
}

TEST_F(MembershipTest, BadGroupNamesAreRejected) {
  auto a = Client("a");
  for (const char* g : {"", "#private"}) {
    ASSERT_TRUE(a->SendJoin(g).ok());
    ErrorMsg e;
    ASSERT_TRUE(a->ExpectErrorCode(ErrorCode::kBadGroup, false, &e)) << g;
    EXPECT_EQ(e.subject, g);
  }
  ASSERT_TRUE(a->JoinAndWait(std::string(255, 'g')));
}

TEST_F(MembershipTest, DisconnectIsReportedInEveryGroup) {
  auto a = Client("a");
  auto b = Client("b");
  ASSERT_TRUE(a->JoinAndWait("g1"));
  ASSERT_TRUE(a->JoinAndWait("g2"));
  ASSERT_TRUE(b->JoinAndWait("g2", "x"));
  ASSERT_TRUE(b->JoinAndWait("g1"));
  MembershipMsg skip;
  ASSERT_TRUE(a->ExpectMembership(&skip));
  ASSERT_TRUE(a->ExpectMembership(&skip));

  b->Close();
  std::set<std::string> groups;
  for (int i = 0; i < 2; ++i) {
    MembershipMsg m;
    ASSERT_TRUE(a->ExpectMembership(&m));
    EXPECT_EQ(m.cause, Cause::kDisconnect);
    EXPECT_EQ(m.ChangedNames(), Names{P("b")});
    EXPECT_EQ(m.MemberNames(), Names{P("a")});
    groups.insert(m.group);
  }
  EXPECT_EQ(groups, (std::set<std::string>{"g1", "g2"}));
  EXPECT_TRUE(d_->WaitForLog("client #b#n1 disconnected (peer closed"));
}

TEST_F(MembershipTest, EveryViewIdIsDistinct) {
  auto a = Client("a");
  auto b = Client("b");
  std::set<std::pair<uint64_t, uint64_t>> ids;
  uint64_t epoch = 0;
  auto record = [&](const MembershipMsg& m) {
    if (epoch == 0) epoch = m.view.epoch;
    EXPECT_EQ(m.view.epoch, epoch);
    ids.insert({m.view.epoch, m.view.seq});
  };
  MembershipMsg m;
  for (int round = 0; round < 5; ++round) {
    for (const char* g : {"x", "y"}) {
      ASSERT_TRUE(a->JoinAndWait(g, "", &m));
      record(m);
      ASSERT_TRUE(b->JoinAndWait(g, "", &m));
      record(m);
      ASSERT_TRUE(a->ExpectMembership(&m));
      ASSERT_TRUE(a->SendLeave(g).ok());
      ASSERT_TRUE(a->ExpectMembership(&m));  // self leave
      record(m);
      ASSERT_TRUE(b->ExpectMembership(&m));
      ASSERT_TRUE(b->SendLeave(g).ok());
      ASSERT_TRUE(b->ExpectMembership(&m));
      record(m);
    }
  }
  EXPECT_EQ(ids.size(), 5u * 2 * 4);
}

}  // namespace
}  // namespace msgc::test
