// Cluster tests (issue 3): 3 and 5 msgcd processes on loopback, on distinct
// 127.0.0.x addresses with one port and on 127.0.0.1 with distinct ports:
// mesh formation, cross-server membership, fan-out, unicast and per-sender
// FIFO across servers (docs/semantics.md §1-§3, §5).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/cluster.h"

namespace msgc::test {
namespace {

using Addressing = ClusterOptions::Addressing;
using Names = std::vector<std::string>;
using msgc::MembershipCause;

struct Layout {
  int nodes;
  Addressing addressing;
  const char* label;
};

class ClusterMeshTest : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    ClusterOptions o;
    o.addressing = GetParam().addressing;
    cluster_ = StartCluster(GetParam().nodes, o);
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->WaitFormed()) << cluster_->DescribeConfigurations();
  }
  int n() const { return GetParam().nodes; }

  // One member per node, "m<i>" on node i, all joined to `group` in node
  // order; every member has consumed the views up to the last join.
  void JoinAll(const std::string& group) {
    for (int i = 0; i < n(); ++i) {
      auto m = ClusterMember::Connect(*cluster_, i, "m" + std::to_string(i));
      ASSERT_NE(m, nullptr);
      msgc::MembershipEvent own;
      ASSERT_TRUE(m->JoinAndWait(group, &own));
      names_.push_back(m->private_name());
      ASSERT_EQ(MemberNames(own), names_) << Describe(own);
      for (auto& earlier : members_) {
        msgc::MembershipEvent e;
        ASSERT_TRUE(earlier->NextView(&e));
        ASSERT_EQ(e.view, own.view) << Describe(e);
      }
      members_.push_back(std::move(m));
    }
  }

  std::unique_ptr<Cluster> cluster_;
  std::vector<std::unique_ptr<ClusterMember>> members_;
  Names names_;
};

TEST_P(ClusterMeshTest, MeshFormsWithOneConfigurationIdEverywhere) {
  const Names all = cluster_->Names(cluster_->All());
  const std::string id = cluster_->ConfigurationId(0);
  for (int i = 0; i < n(); ++i) {
    ClusterNode& node = cluster_->node(i);
    std::optional<MeshConfiguration> c = node.LastConfiguration();
    ASSERT_TRUE(c.has_value()) << node.name();
    EXPECT_EQ(c->members, all) << node.name();
    EXPECT_EQ(c->id, id) << node.name();
    // Every configuration a node went through has it as a member, and the
    // first is the singleton configuration of the node itself.
    std::vector<MeshConfiguration> history = node.Configurations();
    ASSERT_FALSE(history.empty());
    EXPECT_EQ(history.front().members, Names{node.name()}) << node.name();
    for (const MeshConfiguration& h : history) {
      EXPECT_NE(std::find(h.members.begin(), h.members.end(), node.name()),
                h.members.end())
          << node.name() << " logged configuration " << h.id
          << " without itself";
    }
    EXPECT_TRUE(node.Running());
  }
}

TEST_P(ClusterMeshTest, MembershipIsTheSameOnEveryServer) {
  // Join in node order: each joiner's first view lists every member of
  // every server so far, in join order, and every member gets the same
  // view id with the joiner as the change.
  std::vector<std::unique_ptr<ClusterMember>> ms;
  Names names;
  for (int i = 0; i < n(); ++i) {
    auto m = ClusterMember::Connect(*cluster_, i, "m" + std::to_string(i));
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->private_name(),
              cluster_->node(i).PrivateName("m" + std::to_string(i)));
    const std::string caps = "caps-" + std::to_string(i);
    msgc::MembershipEvent own;
    ASSERT_TRUE(m->JoinAndWait("g", &own, caps));
    names.push_back(m->private_name());
    EXPECT_EQ(own.cause, MembershipCause::kJoin);
    EXPECT_EQ(MemberNames(own), names) << Describe(own);
    ASSERT_EQ(own.members.size(), names.size());
    for (size_t k = 0; k < own.members.size(); ++k) {
      EXPECT_EQ(own.members[k].capabilities, "caps-" + std::to_string(k));
    }
    for (auto& earlier : ms) {
      msgc::MembershipEvent e;
      ASSERT_TRUE(earlier->NextView(&e));
      EXPECT_EQ(e.group, "g");
      EXPECT_EQ(e.cause, MembershipCause::kJoin) << Describe(e);
      EXPECT_EQ(ChangedNames(e), Names{m->private_name()}) << Describe(e);
      EXPECT_EQ(MemberNames(e), names) << Describe(e);
      EXPECT_EQ(e.view, own.view) << Describe(e) << " vs " << Describe(own);
    }
    ms.push_back(std::move(m));
  }

  // A leave on node 1 (n2): self-leave there, `leave` everywhere else with
  // one view id and the order kept.
  ASSERT_TRUE(ms[1]->client().Leave("g").ok());
  msgc::MembershipEvent self;
  ASSERT_TRUE(ms[1]->NextView(&self));
  EXPECT_TRUE(self.self_leave) << Describe(self);
  EXPECT_EQ(self.cause, MembershipCause::kLeave);
  EXPECT_TRUE(self.members.empty());
  Names after = names;
  after.erase(after.begin() + 1);
  std::string view;
  for (int i = 0; i < n(); ++i) {
    if (i == 1) continue;
    msgc::MembershipEvent e;
    ASSERT_TRUE(ms[i]->NextView(&e));
    EXPECT_EQ(e.cause, MembershipCause::kLeave) << Describe(e);
    EXPECT_EQ(ChangedNames(e), Names{names[1]});
    EXPECT_EQ(MemberNames(e), after) << Describe(e);
    if (view.empty()) view = e.view;
    EXPECT_EQ(e.view, view);
  }
  EXPECT_EQ(self.view, view);

  // The last member's connection drops: `disconnect` at every other member.
  const std::string gone = names.back();
  ms.back().reset();  // Close(): GOODBYE, connection closed
  after.pop_back();
  view.clear();
  for (int i = 0; i + 1 < n(); ++i) {
    if (i == 1) continue;
    msgc::MembershipEvent e;
    ASSERT_TRUE(ms[i]->NextView(&e));
    EXPECT_EQ(e.cause, MembershipCause::kDisconnect) << Describe(e);
    EXPECT_EQ(ChangedNames(e), Names{gone});
    EXPECT_EQ(MemberNames(e), after) << Describe(e);
    if (view.empty()) view = e.view;
    EXPECT_EQ(e.view, view);
  }
  // Nothing else: no transitional views, no duplicates.
  for (auto& m : ms) {
    if (!m) continue;
    EXPECT_TRUE(m->ExpectQuiet(milliseconds{200}));
    EXPECT_EQ(m->transitional_views(), 0);
    EXPECT_EQ(m->disconnects(), 0);
  }
}

TEST_P(ClusterMeshTest, MulticastReachesEveryMemberOnEveryServerOnce) {
  JoinAll("g");
  ASSERT_FALSE(HasFatalFailure());
  for (int i = 0; i < n(); ++i) {
    ASSERT_TRUE(members_[i]->Multicast("g", "from-" + std::to_string(i)).ok());
  }
  // A non-member on the last node sends too (groups are open).
  auto outsider = ClusterMember::Connect(*cluster_, n() - 1, "outsider");
  ASSERT_NE(outsider, nullptr);
  ASSERT_TRUE(outsider->Multicast("g", "from-outsider").ok());

  for (int r = 0; r < n(); ++r) {
    std::map<std::string, std::string> got;  // sender -> data
    for (int k = 0; k < n() + 1; ++k) {
      msgc::MessageEvent m;
      ASSERT_TRUE(members_[r]->NextMessage(&m)) << "receiver " << r;
      EXPECT_EQ(m.groups, Names{"g"});
      EXPECT_TRUE(got.emplace(m.sender, m.data).second)
          << "receiver " << r << " got two messages from " << m.sender;
    }
    for (int i = 0; i < n(); ++i) {
      EXPECT_EQ(got[names_[i]], "from-" + std::to_string(i));
    }
    EXPECT_EQ(got[outsider->private_name()], "from-outsider");
    EXPECT_TRUE(members_[r]->ExpectQuiet(milliseconds{200}));
  }
  EXPECT_TRUE(outsider->ExpectQuiet(milliseconds{50}));
}

TEST_P(ClusterMeshTest, UnicastReachesAMemberOnAnotherServer) {
  JoinAll("g");
  ASSERT_FALSE(HasFatalFailure());
  const int last = n() - 1;
  ASSERT_TRUE(members_[0]->client().Unicast(names_[last], "psst").ok());
  msgc::MessageEvent m;
  ASSERT_TRUE(members_[last]->NextMessage(&m));
  EXPECT_EQ(m.sender, names_[0]);
  EXPECT_EQ(m.groups, Names{names_[last]});
  EXPECT_EQ(m.data, "psst");

  // Several destinations (a group and a member of it): once each.
  ASSERT_TRUE(members_[last]
                  ->client()
                  .Send({"g", names_[1]}, "both", msgc::SendOptions())
                  .ok());
  for (int r = 0; r < n(); ++r) {
    ASSERT_TRUE(members_[r]->NextMessage(&m)) << "receiver " << r;
    EXPECT_EQ(m.data, "both");
    EXPECT_EQ(m.groups, (Names{"g", names_[1]}));
    EXPECT_EQ(m.sender, names_[last]);
  }
  for (int r = 0; r < n(); ++r) {
    EXPECT_TRUE(members_[r]->ExpectQuiet(milliseconds{200})) << r;
  }
}

TEST_P(ClusterMeshTest, UnicastToAnUnknownNameIsRefused) {
  auto a = ClusterMember::Connect(*cluster_, 0, "a");
  ASSERT_NE(a, nullptr);
  // On another server's node name: nobody there has that session.
  ASSERT_TRUE(a->client().Unicast("#nobody#n2", "x").ok());
  msgc::Event ev;
  do {  // skip the connection event of the first session
    ASSERT_TRUE(a->client().Receive(&ev, kDefaultTimeout).ok());
  } while (ev.type == msgc::Event::Type::kConnected);
  ASSERT_EQ(ev.type, msgc::Event::Type::kError);
  EXPECT_EQ(ev.error.code_name, "NO_SUCH_RECIPIENT");
  EXPECT_FALSE(ev.error.fatal);
}

TEST_P(ClusterMeshTest, PerSenderFifoAcrossServers) {
  JoinAll("g");
  ASSERT_FALSE(HasFatalFailure());
  constexpr int kPerSender = 150;
  // Every member sends kPerSender numbered messages, interleaved.
  for (int k = 0; k < kPerSender; ++k) {
    for (int i = 0; i < n(); ++i) {
      ASSERT_TRUE(
          members_[i]
              ->Multicast("g", std::to_string(i) + ":" + std::to_string(k))
              .ok());
    }
  }
  for (int r = 0; r < n(); ++r) {
    std::map<std::string, int> next;  // sender -> next expected number
    for (int k = 0; k < n() * kPerSender; ++k) {
      msgc::MessageEvent m;
      ASSERT_TRUE(members_[r]->NextMessage(&m, milliseconds{10000}))
          << "receiver " << r << " after " << k << " messages";
      const size_t colon = m.data.find(':');
      ASSERT_NE(colon, std::string::npos);
      const int sender = std::stoi(m.data.substr(0, colon));
      const int seq = std::stoi(m.data.substr(colon + 1));
      ASSERT_EQ(m.sender, names_[sender]);
      ASSERT_EQ(seq, next[m.sender]) << "receiver " << r << " from " << m.sender
                                     << ": out of order or lost";
      ++next[m.sender];
    }
    for (int i = 0; i < n(); ++i) EXPECT_EQ(next[names_[i]], kPerSender);
    EXPECT_TRUE(members_[r]->ExpectQuiet(milliseconds{200}));
  }
}

TEST_P(ClusterMeshTest, AgreedMessagesHaveOneOrderEverywhere) {
  JoinAll("g");
  ASSERT_FALSE(HasFatalFailure());
  constexpr int kPerSender = 60;
  for (int k = 0; k < kPerSender; ++k) {
    for (int i = 0; i < n(); ++i) {
      ASSERT_TRUE(members_[i]
                      ->Multicast("g",
                                  std::to_string(i) + ":" + std::to_string(k),
                                  msgc::Service::kAgreed)
                      .ok());
    }
  }
  std::vector<Names> sequences(n());
  for (int r = 0; r < n(); ++r) {
    for (int k = 0; k < n() * kPerSender; ++k) {
      msgc::MessageEvent m;
      ASSERT_TRUE(members_[r]->NextMessage(&m, milliseconds{10000}));
      EXPECT_EQ(m.service, msgc::Service::kAgreed);
      sequences[r].push_back(m.data);
    }
  }
  for (int r = 1; r < n(); ++r) {
    EXPECT_EQ(sequences[r], sequences[0]) << "member " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ClusterMeshTest,
    ::testing::Values(Layout{3, Addressing::kLoopbackAddresses, "3_addresses"},
                      Layout{3, Addressing::kLoopbackPorts, "3_ports"},
                      Layout{5, Addressing::kLoopbackAddresses, "5_addresses"},
                      Layout{5, Addressing::kLoopbackPorts, "5_ports"}),
    [](const ::testing::TestParamInfo<Layout>& info) {
      return std::string(info.param.label);
    });

}  // namespace
}  // namespace msgc::test
