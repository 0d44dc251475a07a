#include "server/group_table.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace msgc::server {
namespace {

constexpr uint64_t kEpoch = 0x1234;

// Members are named by test ids; joins get increasing Lamport stamps, as
// they would in the agreed order.
std::map<MemberId, std::string> g_names;
uint64_t g_ts = 0;

std::optional<ViewChange> J(GroupTable& t, std::string_view group, MemberId id,
                            std::string_view name, std::string_view caps) {
  g_names[id] = std::string(name);
  GroupMember m{id, std::string(name), std::string(caps), "n",
                JoinKey{++g_ts, "n", std::string(name)}};
  return t.Join(group, std::move(m));
}
std::string N(MemberId id) {
  auto it = g_names.find(id);
  return it == g_names.end() ? "#unknown#n" : it->second;
}
std::optional<ViewChange> L(GroupTable& t, std::string_view group,
                            MemberId id) {
  return t.Leave(group, N(id));
}
std::vector<ViewChange> R(GroupTable& t, MemberId id,
                          wire::Cause cause = wire::Cause::kDisconnect) {
  return t.RemoveSession(N(id), cause);
}
std::vector<std::string> G(GroupTable& t, MemberId id) {
  return t.GroupsOf(N(id));
}
bool M(GroupTable& t, std::string_view group, MemberId id) {
  return t.IsMember(group, N(id));
}

std::vector<std::string> Names(const std::vector<GroupMember>& v) {
  std::vector<std::string> out;
  for (const GroupMember& m : v) out.push_back(m.name);
  return out;
}

TEST(GroupTableTest, FirstJoinCreatesGroupWithJoinerOnly) {
  GroupTable t(kEpoch);
  auto c = J(t, "g", 1, "#a#n", "caps-a");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->group, "g");
  EXPECT_EQ(c->cause, wire::Cause::kJoin);
  EXPECT_EQ(c->view, (wire::ViewId{kEpoch, 1}));
  ASSERT_EQ(c->changed.size(), 1u);
  EXPECT_EQ(c->changed[0].name, "#a#n");
  EXPECT_EQ(c->changed[0].id, 1u);
  EXPECT_EQ(c->changed[0].capabilities, "caps-a");
  EXPECT_EQ(Names(c->members), std::vector<std::string>{"#a#n"});
  EXPECT_EQ(t.group_count(), 1u);
}

TEST(GroupTableTest, JoinerSeesCurrentMembersInJoinOrder) {
  GroupTable t(kEpoch);
  J(t, "g", 1, "#a#n", "");
  J(t, "g", 2, "#b#n", "");
  auto c = J(t, "g", 3, "#c#n", "x");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Names(c->members),
            (std::vector<std::string>{"#a#n", "#b#n", "#c#n"}));
  EXPECT_EQ(Names(c->changed), std::vector<std::string>{"#c#n"});
  EXPECT_EQ(c->members[2].capabilities, "x");
}

TEST(GroupTableTest, JoinIsIdempotent) {
  GroupTable t(kEpoch);
  ASSERT_TRUE(J(t, "g", 1, "#a#n", "first").has_value());
  const uint64_t seq = t.last_seq();
  EXPECT_FALSE(J(t, "g", 1, "#a#n", "second").has_value());
  EXPECT_EQ(t.last_seq(), seq);  // no new view
  ASSERT_NE(t.Members("g"), nullptr);
  EXPECT_EQ(t.Members("g")->size(), 1u);
  EXPECT_EQ((*t.Members("g"))[0].capabilities, "first");
}

TEST(GroupTableTest, LeaveReportsRemainingMembers) {
  GroupTable t(kEpoch);
  J(t, "g", 1, "#a#n", "");
  J(t, "g", 2, "#b#n", "");
  J(t, "g", 3, "#c#n", "");
  auto c = L(t, "g", 2);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->cause, wire::Cause::kLeave);
  EXPECT_EQ(Names(c->changed), std::vector<std::string>{"#b#n"});
  EXPECT_EQ(Names(c->members), (std::vector<std::string>{"#a#n", "#c#n"}));
  EXPECT_FALSE(M(t, "g", 2));
  EXPECT_TRUE(G(t, 2).empty());
}

TEST(GroupTableTest, LeaveOfNonMemberIsRejected) {
  GroupTable t(kEpoch);
  EXPECT_FALSE(L(t, "nope", 1).has_value());
  J(t, "g", 1, "#a#n", "");
  EXPECT_FALSE(L(t, "g", 2).has_value());
}

TEST(GroupTableTest, LastLeaveErasesGroup) {
  GroupTable t(kEpoch);
  J(t, "g", 1, "#a#n", "");
  auto c = L(t, "g", 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->members.empty());
  EXPECT_EQ(t.group_count(), 0u);
  EXPECT_EQ(t.Members("g"), nullptr);
  EXPECT_FALSE(t.CurrentView("g").has_value());
}

TEST(GroupTableTest, RejoinGoesToTheEnd) {
  GroupTable t(kEpoch);
  J(t, "g", 1, "#a#n", "");
  J(t, "g", 2, "#b#n", "");
  L(t, "g", 1);
  auto c = J(t, "g", 1, "#a#n", "");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Names(c->members), (std::vector<std::string>{"#b#n", "#a#n"}));
}

TEST(GroupTableTest, RemoveMemberLeavesEveryGroupInJoinOrder) {
  GroupTable t(kEpoch);
  J(t, "g2", 1, "#a#n", "");
  J(t, "g1", 1, "#a#n", "");
  J(t, "g1", 2, "#b#n", "");
  J(t, "g3", 2, "#b#n", "");
  auto changes = R(t, 1);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].group, "g2");
  EXPECT_EQ(changes[0].cause, wire::Cause::kDisconnect);
  EXPECT_TRUE(changes[0].members.empty());
  EXPECT_EQ(changes[1].group, "g1");
  EXPECT_EQ(Names(changes[1].members), std::vector<std::string>{"#b#n"});
  EXPECT_EQ(Names(changes[1].changed), std::vector<std::string>{"#a#n"});
  EXPECT_EQ(t.Members("g2"), nullptr);
  EXPECT_TRUE(G(t, 1).empty());
  EXPECT_EQ(G(t, 2), (std::vector<std::string>{"g1", "g3"}));
  EXPECT_TRUE(R(t, 1).empty());
}

TEST(GroupTableTest, RemoveMemberWithOtherCause) {
  GroupTable t(kEpoch);
  J(t, "g", 1, "#a#n", "");
  J(t, "g", 2, "#b#n", "");
  auto changes = R(t, 2, wire::Cause::kNetwork);
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
  record(J(t, "a", 1, "#1#n", ""));
  record(J(t, "b", 1, "#1#n", ""));
  record(J(t, "a", 2, "#2#n", ""));
  record(L(t, "a", 1));
  record(J(t, "a", 1, "#1#n", ""));
  for (const ViewChange& c : R(t, 1)) {
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
      J(t, "g" + std::to_string(g), m, "#m" + std::to_string(m) + "#n", "");
    }
  }
  for (int m = 0; m < kMembers; m += 2) R(t, m);
  for (int g = 0; g < kGroups; ++g) {
    const auto* members = t.Members("g" + std::to_string(g));
    if (members == nullptr) continue;
    for (const GroupMember& x : *members) {
      EXPECT_EQ(x.id % 2, 1u);
      const auto groups = G(t, x.id);
      EXPECT_NE(
          std::find(groups.begin(), groups.end(), "g" + std::to_string(g)),
          groups.end());
    }
  }
}

TEST(GroupTableTest, MembersAreSortedByJoinKey) {
  GroupTable t(kEpoch);
  auto member = [](const char* name, uint64_t ts, const char* origin) {
    return GroupMember{1, name, "", origin, JoinKey{ts, origin, name}};
  };
  // Arriving out of key order (as after a merge), sorted anyway.
  t.Join("g", member("#c#b", 7, "b"));
  t.Join("g", member("#a#a", 3, "a"));
  auto c = t.Join("g", member("#b#a", 7, "a"));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(Names(c->members),
            (std::vector<std::string>{"#a#a", "#b#a", "#c#b"}));
  EXPECT_EQ(t.FindSession("#c#b")->node, "b");
}

TEST(GroupTableTest, SessionsWithoutGroups) {
  GroupTable t(kEpoch);
  t.AddSession("#a#n2", "n2", 9);
  ASSERT_NE(t.FindSession("#a#n2"), nullptr);
  EXPECT_EQ(t.FindSession("#a#n2")->sid, 9u);
  EXPECT_TRUE(t.RemoveSession("#a#n2").empty());
  EXPECT_EQ(t.FindSession("#a#n2"), nullptr);
}

TEST(GroupTableTest, RenumberGivesEveryGroupANewIdInNameOrder) {
  GroupTable t(kEpoch);
  J(t, "z", 1, "#a#n", "");
  J(t, "m", 1, "#a#n", "");
  J(t, "a", 2, "#b#n", "");
  t.Renumber(77);
  EXPECT_EQ(t.CurrentView("a"), (wire::ViewId{77, 1}));
  EXPECT_EQ(t.CurrentView("m"), (wire::ViewId{77, 2}));
  EXPECT_EQ(t.CurrentView("z"), (wire::ViewId{77, 3}));
  auto c = J(t, "a", 1, "#a#n", "");
  EXPECT_EQ(c->view, (wire::ViewId{77, 4}));
  t.Clear();
  EXPECT_EQ(t.group_count(), 0u);
  EXPECT_TRUE(t.sessions().empty());
}

}  // namespace
}  // namespace msgc::server
