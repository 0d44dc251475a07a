#include "server/group_table.h"

#include <gtest/gtest.h>

#include <set>

namespace msgc::server {
namespace {

constexpr uint64_t kEpoch = 0x1234;

std::vector<std::string> Names(const std::vector<GroupMember>& v) {
  std::vector<std::string> out;
  for (const GroupMember& m : v) out.push_back(m.name);
  return out;
}

TEST(GroupTableTest, FirstJoinCreatesGroupWithJoinerOnly) {
  GroupTable t(kEpoch);
  auto c = t.Join("g", 1, "#a#n", "caps-a");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->group, "g");
  EXPECT_EQ(c->cause, wire::Cause::kJoin);
  EXPECT_EQ(c->view, (wire::ViewId{kEpoch, 1}));
  ASSERT_EQ(c->changed.size(), 1u);
  EXPECT_EQ(c->changed[0], (GroupMember{1, "#a#n", "caps-a"}));
  EXPECT_EQ(Names(c->members), std::vector<std::string>{"#a#n"});
  EXPECT_EQ(t.group_count(), 1u);
}

TEST(GroupTableTest, JoinerSeesCurrentMembersInJoinOrder) {
  GroupTable t(kEpoch);
  t.Join("g", 1, "#a#n", "");
  t.Join("g", 2, "#b#n", "");
  auto c = t.Join("g", 3, "#c#n", "x");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Names(c->members),
            (std::vector<std::string>{"#a#n", "#b#n", "#c#n"}));
  EXPECT_EQ(Names(c->changed), std::vector<std::string>{"#c#n"});
  EXPECT_EQ(c->members[2].capabilities, "x");
}

TEST(GroupTableTest, JoinIsIdempotent) {
  GroupTable t(kEpoch);
  ASSERT_TRUE(t.Join("g", 1, "#a#n", "first").has_value());
  const uint64_t seq = t.last_seq();
  EXPECT_FALSE(t.Join("g", 1, "#a#n", "second").has_value());
  EXPECT_EQ(t.last_seq(), seq);  // no new view
  ASSERT_NE(t.Members("g"), nullptr);
  EXPECT_EQ(t.Members("g")->size(), 1u);
  EXPECT_EQ((*t.Members("g"))[0].capabilities, "first");
}

TEST(GroupTableTest, LeaveReportsRemainingMembers) {
  GroupTable t(kEpoch);
  t.Join("g", 1, "#a#n", "");
  t.Join("g", 2, "#b#n", "");
  t.Join("g", 3, "#c#n", "");
  auto c = t.Leave("g", 2);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->cause, wire::Cause::kLeave);
  EXPECT_EQ(Names(c->changed), std::vector<std::string>{"#b#n"});
  EXPECT_EQ(Names(c->members), (std::vector<std::string>{"#a#n", "#c#n"}));
  EXPECT_FALSE(t.IsMember("g", 2));
  EXPECT_TRUE(t.GroupsOf(2).empty());
}

TEST(GroupTableTest, LeaveOfNonMemberIsRejected) {
  GroupTable t(kEpoch);
  EXPECT_FALSE(t.Leave("nope", 1).has_value());
  t.Join("g", 1, "#a#n", "");
  EXPECT_FALSE(t.Leave("g", 2).has_value());
}

TEST(GroupTableTest, LastLeaveErasesGroup) {
  GroupTable t(kEpoch);
  t.Join("g", 1, "#a#n", "");
  auto c = t.Leave("g", 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->members.empty());
  EXPECT_EQ(t.group_count(), 0u);
  EXPECT_EQ(t.Members("g"), nullptr);
  EXPECT_FALSE(t.CurrentView("g").has_value());
}

TEST(GroupTableTest, RejoinGoesToTheEnd) {
  GroupTable t(kEpoch);
  t.Join("g", 1, "#a#n", "");
  t.Join("g", 2, "#b#n", "");
  t.Leave("g", 1);
  auto c = t.Join("g", 1, "#a#n", "");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Names(c->members), (std::vector<std::string>{"#b#n", "#a#n"}));
}

TEST(GroupTableTest, RemoveMemberLeavesEveryGroupInJoinOrder) {
  GroupTable t(kEpoch);
  t.Join("g2", 1, "#a#n", "");
  t.Join("g1", 1, "#a#n", "");
  t.Join("g1", 2, "#b#n", "");
  t.Join("g3", 2, "#b#n", "");
  auto changes = t.RemoveMember(1);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].group, "g2");
  EXPECT_EQ(changes[0].cause, wire::Cause::kDisconnect);
  EXPECT_TRUE(changes[0].members.empty());
  EXPECT_EQ(changes[1].group, "g1");
  EXPECT_EQ(Names(changes[1].members), std::vector<std::string>{"#b#n"});
  EXPECT_EQ(Names(changes[1].changed), std::vector<std::string>{"#a#n"});
  EXPECT_EQ(t.Members("g2"), nullptr);
  EXPECT_TRUE(t.GroupsOf(1).empty());
  EXPECT_EQ(t.GroupsOf(2), (std::vector<std::string>{"g1", "g3"}));
  EXPECT_TRUE(t.RemoveMember(1).empty());
}

TEST(GroupTableTest, RemoveMemberWithOtherCause) {
  GroupTable t(kEpoch);
  t.Join("g", 1, "#a#n", "");
  t.Join("g", 2, "#b#n", "");
  auto changes = t.RemoveMember(2, wire::Cause::kNetwork);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].cause, wire::Cause::kNetwork);
}

TEST(GroupTableTest, EveryViewIdIsDistinctAcrossGroups) {
  GroupTable t(kEpoch);
  std::set<std::pair<uint64_t, uint64_t>> seen;
  auto record = [&](const std::optional<ViewChange>& c) {
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->view.epoch, kEpoch);
    EXPECT_TRUE(seen.insert({c->view.epoch, c->view.seq}).second)
        << c->view.ToString();
    EXPECT_EQ(t.CurrentView(c->group).value_or(c->view), c->view);
  };
  record(t.Join("a", 1, "#1#n", ""));
  record(t.Join("b", 1, "#1#n", ""));
  record(t.Join("a", 2, "#2#n", ""));
  record(t.Leave("a", 1));
  record(t.Join("a", 1, "#1#n", ""));
  for (const ViewChange& c : t.RemoveMember(1)) {
    EXPECT_TRUE(seen.insert({c.view.epoch, c.view.seq}).second);
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(t.last_seq(), 7u);
}

TEST(GroupTableTest, ManyMembersManyGroupsStayConsistent) {
  GroupTable t(kEpoch);
  constexpr int kMembers = 50;
  constexpr int kGroups = 20;
  for (int m = 0; m < kMembers; ++m) {
    for (int g = m % 3; g < kGroups; g += 3) {
      t.Join("g" + std::to_string(g), m, "#m" + std::to_string(m) + "#n", "");
    }
  }
  for (int m = 0; m < kMembers; m += 2) t.RemoveMember(m);
  for (int g = 0; g < kGroups; ++g) {
    const auto* members = t.Members("g" + std::to_string(g));
    if (members == nullptr) continue;
    for (const GroupMember& x : *members) {
      EXPECT_EQ(x.id % 2, 1u);
      const auto groups = t.GroupsOf(x.id);
      EXPECT_NE(
          std::find(groups.begin(), groups.end(), "g" + std::to_string(g)),
          groups.end());
    }
  }
}

}  // namespace
}  // namespace msgc::server
