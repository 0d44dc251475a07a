// Cluster tests (issue 3) with 3 hosts in network namespaces made by the
// test (support/netns.h): mesh formation and traffic, a link cut in both
// directions and healed, a host with two interfaces where the peers must be
// reached on the internal one, and a server finding itself by its interface
// address. Skipped unless root (CI runs as root).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/netns.h"

namespace msgc::test {
namespace {

using Addressing = ClusterOptions::Addressing;
using Names = std::vector<std::string>;
using Net = NetnsLab::Net;
using msgc::MembershipCause;
using Clock = std::chrono::steady_clock;

std::set<std::string> AsSet(const Names& v) { return {v.begin(), v.end()}; }

class ClusterNetnsTest : public ::testing::Test {
 protected:
  void Start(bool external_net, ClusterOptions o = {}) {
    std::string why;
    lab_ = NetnsLab::Create({.hosts = 3, .external_net = external_net}, &why);
    if (lab_ == nullptr) GTEST_SKIP() << why;
    o.addressing = Addressing::kNetns;
    o.netns = lab_.get();
    cluster_ = StartCluster(3, o);
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->WaitFormed()) << cluster_->DescribeConfigurations();
  }

  // a, b, c on n1, n2, n3 joined to g; `servers(i)` overrides the address.
  void JoinAll(std::function<std::vector<std::string>(int)> servers = {}) {
    for (int i = 0; i < 3; ++i) {
      auto m = ClusterMember::Connect(
          *cluster_, i, std::string(1, static_cast<char>('a' + i)),
          servers ? servers(i) : std::vector<std::string>{});
      ASSERT_NE(m, nullptr);
      msgc::MembershipEvent own;
      ASSERT_TRUE(m->JoinAndWait("g", &own));
      names_.push_back(m->private_name());
      ASSERT_EQ(MemberNames(own), names_) << Describe(own);
      for (auto& earlier : m_) {
        msgc::MembershipEvent e;
        ASSERT_TRUE(earlier->NextView(&e));
        ASSERT_EQ(e.view, own.view);
      }
      m_.push_back(std::move(m));
    }
  }

  // Member `from` multicasts `data`; exactly the members `to` get it.
  void ExpectDelivery(int from, const std::string& data,
                      const std::vector<int>& to) {
    ASSERT_TRUE(m_[from]->Multicast("g", data).ok());
    for (int i : to) {
      msgc::MessageEvent msg;
      ASSERT_TRUE(m_[i]->NextMessage(&msg)) << names_[i];
      EXPECT_EQ(msg.sender, names_[from]);
      EXPECT_EQ(msg.data, data);
    }
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(m_[i]->ExpectQuiet(milliseconds{150})) << names_[i];
    }
  }

  // The isolated member `lone` and the others {p, q} see each other leave
  // with cause network: same view at p and q, a different one at lone.
  void ExpectSplit(int lone, int p, int q, milliseconds timeout) {
    msgc::MembershipEvent ep, eq, el;
    ASSERT_TRUE(m_[p]->NextView(&ep, timeout));
    ASSERT_TRUE(m_[q]->NextView(&eq, timeout));
    ASSERT_TRUE(m_[lone]->NextView(&el, timeout));
    for (const msgc::MembershipEvent* e : {&ep, &eq}) {
      EXPECT_EQ(e->cause, MembershipCause::kNetwork) << Describe(*e);
      EXPECT_EQ(ChangedNames(*e), Names{names_[lone]}) << Describe(*e);
      Names rest = names_;
      rest.erase(rest.begin() + lone);
      EXPECT_EQ(MemberNames(*e), rest) << Describe(*e);
    }
    EXPECT_EQ(ep.view, eq.view);
    EXPECT_EQ(el.cause, MembershipCause::kNetwork) << Describe(el);
    EXPECT_EQ(AsSet(ChangedNames(el)), AsSet({names_[p], names_[q]}))
        << Describe(el);
    EXPECT_EQ(MemberNames(el), Names{names_[lone]}) << Describe(el);
    EXPECT_NE(el.view, ep.view);
  }

  // Every member sees the others come back with cause network, one view
  // id and one member order everywhere.
  void ExpectMerged(milliseconds timeout) {
    std::vector<msgc::MembershipEvent> e(3);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(m_[i]->NextView(&e[i], timeout)) << names_[i];
      EXPECT_EQ(e[i].cause, MembershipCause::kNetwork) << Describe(e[i]);
      EXPECT_EQ(AsSet(MemberNames(e[i])), AsSet(names_)) << Describe(e[i]);
    }
    for (int i = 1; i < 3; ++i) {
      EXPECT_EQ(e[i].view, e[0].view);
      EXPECT_EQ(MemberNames(e[i]), MemberNames(e[0]));
    }
  }

  // After c (host 2) was cut off from a (and maybe b): {a, b} and {c} are
  // configurations of their own, and each side delivers among itself.
  void ExpectSidesApart() {
    EXPECT_TRUE(cluster_->WaitConfiguration({0, 1}, {0, 1}))
        << cluster_->DescribeConfigurations();
    EXPECT_TRUE(cluster_->WaitConfiguration({2}, {2}))
        << cluster_->DescribeConfigurations();
    ExpectDelivery(0, "side ab", {0, 1});
    ExpectDelivery(2, "side c", {2});
  }

  // After the heal: one merged view everywhere (cause network), and
  // messages reach all three again.
  void ExpectHealed() {
    ASSERT_TRUE(cluster_->WaitFormed(milliseconds{15000}))
        << cluster_->DescribeConfigurations();
    ExpectMerged(milliseconds{5000});
    ASSERT_FALSE(HasFatalFailure());
    ExpectDelivery(1, "healed", {0, 1, 2});
  }

  std::unique_ptr<NetnsLab> lab_;  // destroyed after the cluster
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::unique_ptr<ClusterMember>> m_;
  Names names_;
};

TEST_F(ClusterNetnsTest, ThreeHostsFormAMeshAndDeliver) {
  Start(false);
  if (IsSkipped()) return;
  ASSERT_FALSE(HasFatalFailure());
  JoinAll();
  ASSERT_FALSE(HasFatalFailure());
  ExpectDelivery(0, "from a", {0, 1, 2});
  ExpectDelivery(2, "from c", {0, 1, 2});
  // Each pair of hosts has exactly one peer link (port 4809 on one side).
  for (int i = 0; i < 3; ++i) {
    int links = 0;
    for (const std::string& l : lab_->EstablishedTcp(i)) {
      const std::string local = l.substr(0, l.find(' '));
      const std::string remote = l.substr(l.find(' ') + 1);
      if (local.rfind(NetnsLab::Address(i) + ":", 0) == 0 &&
          remote.rfind("169.254.213.", 0) == 0 &&
          remote.rfind(NetnsLab::Address(i) + ":", 0) != 0) {
        ++links;
      }
    }
    EXPECT_EQ(links, 2) << "host " << i;
  }
}

TEST_F(ClusterNetnsTest, LinkCutInBothDirectionsAndHealed) {
  Start(false);
  if (IsSkipped()) return;
  ASSERT_FALSE(HasFatalFailure());
  JoinAll();
  ASSERT_FALSE(HasFatalFailure());

  // Cut host c (n3) off: its cable is gone in both directions.
  const auto t0 = Clock::now();
  ASSERT_TRUE(lab_->Isolate(2, true).ok());
  ExpectSplit(/*lone=*/2, 0, 1, milliseconds{6000});
  ASSERT_FALSE(HasFatalFailure());
  const auto took =
      std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  // Silence is noticed through idle_timeout (1.5 s), not much later.
  EXPECT_LT(took, 4000);
  ExpectSidesApart();

  // Heal: one merged view everywhere, cause network.
  ASSERT_TRUE(lab_->Isolate(2, false).ok());
  ExpectHealed();
  for (auto& m : m_) EXPECT_EQ(m->disconnects(), 0) << m->private_name();
}

// One link cut (a - c) while b reaches both: a and b go on together, and
// c, whose coordinator by its own reachability would be b, must not wait
// for b (which formed a configuration with a) in the old configuration,
// but go on alone until the link heals.
TEST_F(ClusterNetnsTest, OneLinkCutLeavesNoServerInTheOldConfiguration) {
  Start(false);
  if (IsSkipped()) return;
  ASSERT_FALSE(HasFatalFailure());
  JoinAll();
  ASSERT_FALSE(HasFatalFailure());

  ASSERT_TRUE(lab_->CutPair(0, 2, true).ok());
  ExpectSplit(/*lone=*/2, 0, 1, milliseconds{8000});
  ASSERT_FALSE(HasFatalFailure());
  ExpectSidesApart();

  ASSERT_TRUE(lab_->CutPair(0, 2, false).ok());
  ExpectHealed();
}

TEST_F(ClusterNetnsTest, PeersAreReachedOnTheInternalInterface) {
  // Every host: eth0 internal (169.254.213.x, in peers), eth1 external
  // (169.254.214.x). The servers listen on all addresses; the clients use
  // the external address. One config for all (only the node differs).
  ClusterOptions o;
  o.listen_all = true;
  Start(true, o);
  if (IsSkipped()) return;
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(cluster_->node(0).config_text().substr(
                cluster_->node(0).config_text().find("msgc_server")),
            cluster_->node(1).config_text().substr(
                cluster_->node(1).config_text().find("msgc_server")));
  JoinAll([&](int i) {
    return std::vector<std::string>{NetnsLab::Address(i, Net::kExternal) + ":" +
                                    std::to_string(cluster_->node(i).port())};
  });
  ASSERT_FALSE(HasFatalFailure());

  // Server-to-server connections use internal addresses only.
  for (int i = 0; i < 3; ++i) {
    for (const std::string& l : lab_->EstablishedTcp(i)) {
      const std::string remote = l.substr(l.find(' ') + 1);
      for (int j = 0; j < 3; ++j) {
        if (j == i) continue;
        EXPECT_NE(remote.rfind(NetnsLab::Address(j, Net::kExternal) + ":", 0),
                  0u)
            << "host " << i << " talks to host " << j
            << " over the external network: " << l;
      }
    }
  }

  // The external network goes away between the hosts: nothing changes.
  const size_t before = cluster_->node(0).CountInLog("mesh: configuration ");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(lab_->Isolate(i, true, Net::kExternal).ok());
  }
  EXPECT_FALSE(WaitFor(milliseconds{2500}, [&] {
    return cluster_->node(0).CountInLog("mesh: configuration ") != before;
  })) << cluster_->DescribeConfigurations();
  ExpectDelivery(0, "external down", {0, 1, 2});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(lab_->Isolate(i, false, Net::kExternal).ok());
  }

  // The internal network of c goes away: c is lost although its external
  // interface still reaches the others.
  ASSERT_TRUE(lab_->Isolate(2, true, Net::kInternal).ok());
  ExpectSplit(2, 0, 1, milliseconds{6000});
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(lab_->Isolate(2, false, Net::kInternal).ok());
  ASSERT_TRUE(cluster_->WaitFormed(milliseconds{15000}))
      << cluster_->DescribeConfigurations();
  ExpectMerged(milliseconds{5000});
}

TEST_F(ClusterNetnsTest, ServerFindsItselfByItsInterfaceAddress) {
  // No --node: each msgcd finds the peer whose address is one of its own.
  ClusterOptions o;
  o.pass_node = false;
  Start(false, o);
  if (IsSkipped()) return;
  ASSERT_FALSE(HasFatalFailure());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(cluster_->node(i).WaitForLog(
        "msgcd: node " + cluster_->node(i).name() + " listening on"));
  }
}

}  // namespace
}  // namespace msgc::test
