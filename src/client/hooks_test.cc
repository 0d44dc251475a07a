#include "client/hooks.h"

#include <gtest/gtest.h>

namespace msgc::client_internal {
namespace {

MembershipEvent View(std::vector<std::string> names, uint32_t gid,
                     MembershipCause cause = MembershipCause::kJoin) {
  MembershipEvent ev;
  ev.group = "g";
  ev.cause = cause;
  ev.gid = gid;
  for (const std::string& n : names) ev.members.push_back({n, "c" + n});
  return ev;
}

TEST(MembershipTracker, JoinerLearnsEveryMemberThenChanges) {
  MembershipTracker t;
  EXPECT_EQ(t.OnEvent(View({"#a#n", "#b#n"}, 1)),
            (std::vector<HookMembership>{{1, "#a#n", "c#a#n", 1},
                                         {1, "#b#n", "c#b#n", 1}}));
  EXPECT_EQ(t.OnEvent(View({"#a#n", "#b#n", "#c#n"}, 2)),
            (std::vector<HookMembership>{{1, "#c#n", "c#c#n", 2}}));
  EXPECT_EQ(t.OnEvent(View({"#b#n", "#c#n"}, 3, MembershipCause::kDisconnect)),
            (std::vector<HookMembership>{{0, "#a#n", "c#a#n", 3}}));
  // Same members, new view id: a gid update.
  EXPECT_EQ(t.OnEvent(View({"#b#n", "#c#n"}, 4, MembershipCause::kNetwork)),
            (std::vector<HookMembership>{{2, "", "", 4}}));
}

TEST(MembershipTracker, TransitionalAndSelfLeave) {
  MembershipTracker t;
  t.OnEvent(View({"#a#n", "#b#n"}, 1));
  MembershipEvent trans = View({"#a#n"}, 1, MembershipCause::kNetwork);
  trans.transitional = true;
  EXPECT_TRUE(t.OnEvent(trans).empty());
  MembershipEvent self = View({}, 5, MembershipCause::kLeave);
  self.self_leave = true;
  self.changed.push_back({"#a#n", "c#a#n"});
  EXPECT_EQ(t.OnEvent(self),
            (std::vector<HookMembership>{{0, "#a#n", "c#a#n", 5}}));
  // Joining again starts from scratch.
  EXPECT_EQ(t.OnEvent(View({"#b#n", "#a#n"}, 6)).size(), 2u);
}

}  // namespace
}  // namespace msgc::client_internal
