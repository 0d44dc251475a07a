// Cluster tests (issue 3): server failures on loopback. kill -9 and restart,
// a clean stop, SIGSTOP (the stuck link is killed through max_backlog, the
// others stay healthy, SIGCONT rejoins). A lost server's members leave every
// survivor's views with cause `network` (docs/semantics.md §3, §5).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/cluster.h"
#include "support/raw_client.h"

namespace msgc::test {
namespace {

using Addressing = ClusterOptions::Addressing;
using Names = std::vector<std::string>;
using msgc::MembershipCause;
using Clock = std::chrono::steady_clock;

// A line of `log` containing every one of `parts`, or "".
std::string FindLine(const std::string& log,
                     const std::vector<std::string>& parts) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    bool all = true;
    for (const std::string& p : parts) {
      all = all && line.find(p) != std::string::npos;
    }
    if (all) return line;
  }
  return "";
}

std::set<std::string> AsSet(const Names& v) { return {v.begin(), v.end()}; }

struct Layout {
  int nodes;
  Addressing addressing;
  const char* label;
};

// Member i ('a', 'b', ...) on node i, all in group g. The victim is the last
// node (its member is "c" with 3 nodes); the survivors are the others.
class ClusterFailureTest : public ::testing::TestWithParam<Layout> {
 protected:
  void Start(ClusterOptions o = {}) {
    o.addressing = GetParam().addressing;
    n_ = GetParam().nodes;
    victim_ = n_ - 1;
    for (int i = 0; i < victim_; ++i) survivors_.push_back(i);
    cluster_ = StartCluster(n_, o);
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->WaitFormed()) << cluster_->DescribeConfigurations();
    for (int i = 0; i < n_; ++i) {
      auto m = ClusterMember::Connect(
          *cluster_, i, std::string(1, static_cast<char>('a' + i)));
      ASSERT_NE(m, nullptr);
      msgc::MembershipEvent own;
      ASSERT_TRUE(m->JoinAndWait("g", &own));
      names_.push_back(m->private_name());
      ASSERT_EQ(MemberNames(own), names_) << Describe(own);
      for (auto& earlier : m_) ASSERT_TRUE(earlier->NextView(nullptr));
      m_.push_back(std::move(m));
    }
  }

  Names SurvivorNames() const {
    return Names(names_.begin(), names_.begin() + victim_);
  }

  // Every survivor's member sees the victim's member leave with cause
  // network, with one view id; returns the time until the first saw it.
  milliseconds ExpectVictimLostAtSurvivors(Clock::time_point since,
                                           milliseconds timeout) {
    std::string view;
    milliseconds took{0};
    for (int i : survivors_) {
      msgc::MembershipEvent e;
      EXPECT_TRUE(m_[i]->NextView(&e, timeout));
      if (i == 0) {
        took = std::chrono::duration_cast<milliseconds>(Clock::now() - since);
      }
      EXPECT_EQ(e.group, "g");
      EXPECT_EQ(e.cause, MembershipCause::kNetwork) << Describe(e);
      EXPECT_EQ(ChangedNames(e), Names{names_[victim_]}) << Describe(e);
      EXPECT_EQ(MemberNames(e), SurvivorNames()) << Describe(e);
      EXPECT_FALSE(e.view.empty());
      if (i == 0) view = e.view;
      EXPECT_EQ(e.view, view) << "survivors disagree on the view id";
    }
    EXPECT_TRUE(
        cluster_->WaitConfiguration(survivors_, survivors_, milliseconds{3000}))
        << cluster_->DescribeConfigurations();
    return took;
  }

  // The survivors still work: multicasts from a reach every survivor's
  // member, in order, and nobody was disconnected.
  void ExpectSurvivorsHealthy(int count) {
    for (int k = 0; k < count; ++k) {
      ASSERT_TRUE(m_[0]->Multicast("g", "alive-" + std::to_string(k)).ok());
    }
    for (int i : survivors_) {
      for (int k = 0; k < count; ++k) {
        msgc::MessageEvent msg;
        ASSERT_TRUE(m_[i]->NextMessage(&msg));
        EXPECT_EQ(msg.sender, names_[0]);
        EXPECT_EQ(msg.data, "alive-" + std::to_string(k));
      }
      EXPECT_EQ(m_[i]->disconnects(), 0) << names_[i];
    }
    for (int i : survivors_) EXPECT_TRUE(cluster_->node(i).Running());
  }

  int n_ = 0;
  int victim_ = 0;
  std::vector<int> survivors_;
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::unique_ptr<ClusterMember>> m_;
  Names names_;
};

TEST_P(ClusterFailureTest,
       KillNineRemovesMembersWithinASecondAndRestartRejoins) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  const std::string first_id = cluster_->ConfigurationId(0);
  const auto t0 = Clock::now();
  cluster_->Kill(victim_, SIGKILL);
  const milliseconds took = ExpectVictimLostAtSurvivors(t0, milliseconds{5000});
  EXPECT_LT(took.count(), 1000) << "kill -9 must be noticed within ~1 s";
  const std::string two_id = cluster_->ConfigurationId(0);
  EXPECT_NE(two_id, first_id);
  ExpectSurvivorsHealthy(5);
  ASSERT_FALSE(HasFatalFailure());

  // Restart the victim (same config, same port). The mesh forms again with a
  // new configuration id, different from every earlier one.
  ASSERT_TRUE(cluster_->Restart(victim_).ok());
  ASSERT_TRUE(cluster_->WaitFormed()) << cluster_->DescribeConfigurations();
  const std::string three_id = cluster_->ConfigurationId(0);
  EXPECT_NE(three_id, first_id);
  EXPECT_NE(three_id, two_id);

  // The victim's member's library reconnects and re-joins g. If it joined
  // while its server was still alone, the survivors' members see it come
  // back with the merge (cause network); if it joined after the merge, they
  // see an ordinary join.
  msgc::MembershipEvent own;
  ASSERT_TRUE(m_[victim_]->NextView(&own, milliseconds{10000}));
  ASSERT_EQ(own.cause, MembershipCause::kJoin) << Describe(own);
  ASSERT_EQ(ChangedNames(own), Names{names_[victim_]}) << Describe(own);
  const bool joined_alone = MemberNames(own) == Names{names_[victim_]};
  std::string merged_view;
  std::vector<std::string> merged_members;
  if (joined_alone) {
    msgc::MembershipEvent e;
    ASSERT_TRUE(m_[victim_]->NextView(&e, milliseconds{10000}));
    EXPECT_EQ(e.cause, MembershipCause::kNetwork) << Describe(e);
    EXPECT_EQ(AsSet(ChangedNames(e)), AsSet(SurvivorNames())) << Describe(e);
    merged_view = e.view;
    merged_members = MemberNames(e);
  } else {
    EXPECT_EQ(MemberNames(own), names_) << Describe(own);
    merged_view = own.view;
    merged_members = MemberNames(own);
  }
  EXPECT_EQ(AsSet(merged_members), AsSet(names_));
  for (int i : survivors_) {
    const int renumbered = m_[i]->renumbered_views();
    msgc::MembershipEvent e;
    ASSERT_TRUE(m_[i]->NextView(&e, milliseconds{10000}));
    if (!joined_alone) {
      // The merge left g as it was at the survivors: it got a new view id
      // all the same, announced with nobody changed.
      EXPECT_EQ(m_[i]->renumbered_views(), renumbered + 1);
      const msgc::MembershipEvent& r = m_[i]->last_renumbered();
      EXPECT_EQ(r.group, "g");
      EXPECT_EQ(MemberNames(r), SurvivorNames()) << Describe(r);
      EXPECT_NE(r.view, e.view);
    }
    EXPECT_EQ(e.cause,
              joined_alone ? MembershipCause::kNetwork : MembershipCause::kJoin)
        << Describe(e);
    EXPECT_EQ(ChangedNames(e), Names{names_[victim_]}) << Describe(e);
    EXPECT_EQ(MemberNames(e), merged_members) << Describe(e);
    EXPECT_EQ(e.view, merged_view) << Describe(e);
  }
  // And traffic flows among all again, from the restarted server too.
  ASSERT_TRUE(m_[victim_]->Multicast("g", "back").ok());
  for (int i = 0; i < n_; ++i) {
    msgc::MessageEvent msg;
    ASSERT_TRUE(m_[i]->NextMessage(&msg)) << i;
    EXPECT_EQ(msg.sender, names_[victim_]);
    EXPECT_EQ(msg.data, "back");
  }
}

TEST_P(ClusterFailureTest, CleanStopRemovesMembersWithCauseNetwork) {
  Start();
  ASSERT_FALSE(HasFatalFailure());
  const auto t0 = Clock::now();
  EXPECT_EQ(cluster_->Stop(victim_), 0);
  const milliseconds took = ExpectVictimLostAtSurvivors(t0, milliseconds{5000});
  EXPECT_LT(took.count(), 1000) << "a clean stop (BYE) must be noticed at once";
  ExpectSurvivorsHealthy(3);
}

// SIGSTOP needs 3 nodes only (n3 is the victim).
class ClusterStuckTest : public ClusterFailureTest {};

TEST_P(ClusterStuckTest, SigstopStuckLinkIsKilledAndSigcontRejoins) {
  ClusterOptions o;
  // max_backlog must be reached long before idle_timeout notices silence.
  // tcpbuf_size written explicitly pins the peer links' socket buffers (unset
  // they autotune, and loopback would absorb megabytes of the flood).
  o.idle_timeout = 3;
  o.extra_server_options = "max_backlog = 1000  tcpbuf_size = 131072";
  Start(o);
  ASSERT_FALSE(HasFatalFailure());
  const std::string first_id = cluster_->ConfigurationId(0);
  // A member of the flooded group on n3, so that the flood goes to n3
  // (messages go only to servers with members, docs/mesh.md §3.1).
  auto sink = ClusterMember::Connect(*cluster_, 2, "sink");
  ASSERT_NE(sink, nullptr);
  ASSERT_TRUE(sink->JoinAndWait("flood"));

  cluster_->Kill(2, SIGSTOP);
  const auto t0 = Clock::now();
  // A flood from n1 to the group of n3's sink: n1's link to the stopped n3
  // backs up.
  // 3000 items of 1 KB: more than the socket buffers (about 500 such frames)
  // plus max_backlog frames. The flood is paced (100 items per 10 ms, a
  // load shape, not a synchronisation) so that the link to the live n2,
  // which reads as fast as it comes, never holds max_backlog frames. (n2
  // has little to send to n3: it notices the silence by idle_timeout.)
  auto flooder = ClusterMember::Connect(*cluster_, 0, "flooder");
  ASSERT_NE(flooder, nullptr);
  const std::string payload(1000, 'x');
  for (int k = 0; k < 3000; ++k) {
    ASSERT_TRUE(flooder->Multicast("flood", payload).ok()) << k;
    if (k % 100 == 99) std::this_thread::sleep_for(milliseconds{10});
  }
  ASSERT_TRUE(flooder->client().Flush(milliseconds{10000}).ok());
  EXPECT_TRUE(WaitFor(milliseconds{3000}, [&] {
    return !FindLine(cluster_->node(0).Log(), {"peer:n3", "slow consumer"})
                .empty();
  })) << "n1 did not close its stuck link to n3 (max_backlog)";
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count(),
            3000)
      << "the stuck link must be killed by max_backlog before idle_timeout";

  // n3 is silent: after idle_timeout its members leave a's and b's views.
  ExpectVictimLostAtSurvivors(t0, milliseconds{8000});
  ExpectSurvivorsHealthy(20);
  ASSERT_FALSE(HasFatalFailure());

  // SIGCONT: n3 rejoins the mesh; c (whose connection may have timed out
  // meanwhile: its library then reconnects and re-joins) is in g again at
  // every member, with one view id.
  cluster_->Kill(2, SIGCONT);
  ASSERT_TRUE(cluster_->WaitFormed(milliseconds{15000}))
      << cluster_->DescribeConfigurations();
  EXPECT_NE(cluster_->ConfigurationId(0), first_id);
  // Every member reaches one view with a, b and c, the same id everywhere.
  // n3 may first show views of its old configuration (its own clean-up
  // items, delivered there before it learns the others moved on), so c
  // looks for the view a sees.
  std::vector<std::string> views;
  for (int i = 0; i < 3; ++i) {
    msgc::MembershipEvent e;
    bool found = false;
    const auto deadline = Clock::now() + milliseconds{10000};
    while (!found && Clock::now() < deadline) {
      if (!m_[i]->NextView(&e, milliseconds{10000})) break;
      found = AsSet(MemberNames(e)) == AsSet(names_) &&
              (views.empty() || e.view == views[0]);
    }
    ASSERT_TRUE(found) << names_[i] << " never saw a, b and c together again"
                       << (views.empty() ? "" : " in view " + views[0]);
    views.push_back(e.view);
  }
  EXPECT_EQ(views[0], views[1]);
  EXPECT_EQ(views[0], views[2]);
  ASSERT_TRUE(m_[2]->Multicast("g", "resumed").ok());
  for (int i = 0; i < 3; ++i) {
    msgc::MessageEvent msg;
    ASSERT_TRUE(m_[i]->NextMessage(&msg)) << i;
    EXPECT_EQ(msg.data, "resumed");
  }
}

std::string LayoutName(const ::testing::TestParamInfo<Layout>& info) {
  return info.param.label;
}

// A client whose connection failed names its previous session in the next
// HELLO (HELLO.replaces, docs/protocol.md §3). Here the old server has not
// noticed the failure (the old session is still open, as when that server
// was stopped or the path to it broke): from the point in the agreed order
// where the new session connects, the old one is gone everywhere and its
// server closes it, so nothing it still sends can be ordered after the new
// session's messages (the sender's FIFO order across a fail-over,
// docs/semantics.md §4; finding F12 in docs/fault-injection.md).
TEST(ClusterReplaceTest, ANewSessionEndsTheSessionItReplacesEverywhere) {
  auto c = StartCluster(3);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->WaitFormed()) << c->DescribeConfigurations();
  auto r = ClusterMember::Connect(*c, 2, "r");
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->JoinAndWait("g"));
  const std::string old_name = c->node(0).PrivateName("c");
  const std::string new_name = c->node(1).PrivateName("c");

  RawClient a;  // the old session, on node 0
  ASSERT_TRUE(a.Connect(c->node(0).port(), c->node(0).address()).ok());
  WelcomeMsg wa;
  ASSERT_TRUE(a.Handshake("c", &wa));
  ASSERT_NE(wa.session_id, 0u);
  ASSERT_TRUE(a.JoinAndWait("g"));
  msgc::MembershipEvent e;
  ASSERT_TRUE(r->NextView(&e));
  ASSERT_EQ(MemberNames(e), (Names{r->private_name(), old_name}));
  ASSERT_TRUE(a.SendMessage({"g"}, "1").ok());
  msgc::MessageEvent m;
  ASSERT_TRUE(r->NextMessage(&m));
  EXPECT_EQ(m.sender, old_name);
  EXPECT_EQ(m.data, "1");

  // A HELLO naming the right name with a wrong id replaces nothing.
  {
    RawClient x;
    ASSERT_TRUE(x.Connect(c->node(1).port(), c->node(1).address()).ok());
    ASSERT_TRUE(x.SendHello("x", wire::kProtocolVersion, wire::kProtocolVersion,
                            wire::Role::kClient, old_name, wa.session_id + 1)
                    .ok());
    ASSERT_TRUE(x.ExpectWelcome());
    ASSERT_TRUE(x.SendGoodbye().ok());
    EXPECT_TRUE(x.ExpectClosed());
  }

  // The new session, on node 1, replaces the old one.
  RawClient b;
  ASSERT_TRUE(b.Connect(c->node(1).port(), c->node(1).address()).ok());
  ASSERT_TRUE(b.SendHello("c", wire::kProtocolVersion, wire::kProtocolVersion,
                          wire::Role::kClient, old_name, wa.session_id)
                  .ok());
  WelcomeMsg wb;
  ASSERT_TRUE(b.ExpectWelcome(&wb));
  EXPECT_EQ(wb.private_name, new_name);
  EXPECT_NE(wb.session_id, wa.session_id);
  ASSERT_TRUE(b.SendJoin("g").ok());
  MembershipMsg own;
  ASSERT_TRUE(b.ExpectMembership(&own));
  EXPECT_EQ(own.ChangedNames(), Names{new_name});
  EXPECT_EQ(own.MemberNames(), (Names{r->private_name(), new_name}));
  // The receiver sees the old session leave (disconnect) before the new one
  // joins: nothing of the old one comes after.
  ASSERT_TRUE(r->NextView(&e));
  EXPECT_EQ(e.cause, MembershipCause::kDisconnect) << Describe(e);
  EXPECT_EQ(ChangedNames(e), Names{old_name}) << Describe(e);
  EXPECT_EQ(MemberNames(e), Names{r->private_name()}) << Describe(e);
  ASSERT_TRUE(r->NextView(&e));
  EXPECT_EQ(e.cause, MembershipCause::kJoin) << Describe(e);
  EXPECT_EQ(MemberNames(e), (Names{r->private_name(), new_name}));
  ASSERT_TRUE(b.SendMessage({"g"}, "2").ok());
  ASSERT_TRUE(r->NextMessage(&m));
  EXPECT_EQ(m.sender, new_name);
  EXPECT_EQ(m.data, "2");

  // Node 0 closed the old session, with the reason logged.
  EXPECT_TRUE(a.ExpectClosed());
  EXPECT_TRUE(c->node(0).WaitForLog("replaced by " + new_name))
      << c->node(0).Log();
  // Whatever it might still have sent is not delivered after "2".
  (void)a.SendMessage({"g"}, "3");
  EXPECT_TRUE(r->ExpectQuiet(milliseconds{300}));
}

INSTANTIATE_TEST_SUITE_P(
    Loopback, ClusterFailureTest,
    ::testing::Values(Layout{3, Addressing::kLoopbackAddresses, "3_addresses"},
                      Layout{3, Addressing::kLoopbackPorts, "3_ports"},
                      Layout{5, Addressing::kLoopbackAddresses, "5_addresses"},
                      Layout{5, Addressing::kLoopbackPorts, "5_ports"}),
    LayoutName);
INSTANTIATE_TEST_SUITE_P(
    Loopback, ClusterStuckTest,
    ::testing::Values(Layout{3, Addressing::kLoopbackAddresses, "3_addresses"},
                      Layout{3, Addressing::kLoopbackPorts, "3_ports"}),
    LayoutName);

}  // namespace
}  // namespace msgc::test
