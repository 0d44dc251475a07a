// Cluster test at scale (issue 5 §5): a full mesh of 16 msgcd processes on
// loopback, one per address 127.0.0.2 .. 127.0.0.17 (one port), forms one
// configuration, routes group multicasts and unicasts between any two of
// them, and recovers from a kill -9 of one server: every surviving member
// sees exactly the killed server's member leave with cause `network`, with
// one view id everywhere, and traffic keeps flowing among the 15 others.
//
// It prints the time to form (first process started to every server logging
// the same 16-node configuration) and the idle RSS per server after forming
// (/proc/PID/status VmRSS); docs/performance.md records both.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/cluster.h"

namespace msgc::test {
namespace {

using Names = std::vector<std::string>;
using msgc::MembershipCause;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 16;
// Bounds for this 2-core machine with 16 servers and 16 clients on it.
constexpr milliseconds kFormTimeout{25000};
constexpr milliseconds kViewTimeout{10000};

long long MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

TEST(ClusterScaleTest, SixteenServersFormRouteAndRecoverFromAKill) {
  ClusterOptions o;
  o.addressing = ClusterOptions::Addressing::kLoopbackAddresses;
  // 240 links and 16 clients share 2 cores: a slower keepalive and a longer
  // idle_timeout than the small-cluster tests, so that a busy moment is not
  // taken for a dead peer. kill -9 is noticed by the refused redial anyway.
  o.idle_timeout = 4;
  o.keepalive_interval = 0.5;
  o.start_timeout = milliseconds{15000};

  // ---- 1. Form ----
  const auto t0 = Clock::now();
  std::unique_ptr<Cluster> c = StartCluster(kNodes, o);
  ASSERT_NE(c, nullptr);
  const long long listening_ms = MillisSince(t0);
  ASSERT_TRUE(c->WaitFormed(kFormTimeout))
      << "no common 16-node configuration within " << kFormTimeout.count()
      << " ms: " << c->DescribeConfigurations();
  const long long formed_ms = MillisSince(t0);
  const Names all_nodes = c->Names(c->All());
  for (int i = 0; i < kNodes; ++i) {
    std::optional<MeshConfiguration> conf = c->node(i).LastConfiguration();
    ASSERT_TRUE(conf.has_value()) << c->node(i).name();
    EXPECT_EQ(conf->members, all_nodes) << c->node(i).name();
    EXPECT_TRUE(c->node(i).Running()) << c->node(i).name();
  }

  // Idle RSS of every server once formed (no clients yet).
  std::vector<uint64_t> rss;
  for (int i = 0; i < kNodes; ++i) {
    std::optional<uint64_t> r = ProcessRss(c->node(i).pid());
    ASSERT_TRUE(r.has_value()) << "cannot read VmRSS of " << c->node(i).name();
    rss.push_back(*r);
  }
  std::sort(rss.begin(), rss.end());
  std::printf(
      "scale: %d servers listening after %lld ms, one configuration after "
      "%lld ms; idle VmRSS per server min %llu KiB, median %llu KiB, max "
      "%llu KiB\n",
      kNodes, listening_ms, formed_ms,
      static_cast<unsigned long long>(rss.front() / 1024),
      static_cast<unsigned long long>(rss[rss.size() / 2] / 1024),
      static_cast<unsigned long long>(rss.back() / 1024));
  RecordProperty("form_ms", static_cast<int>(formed_ms));
  RecordProperty("rss_median_kib",
                 static_cast<int>(rss[rss.size() / 2] / 1024));

  // ---- 2. One member per server in g; identical views everywhere ----
  std::vector<std::unique_ptr<ClusterMember>> m;
  Names names;
  for (int i = 0; i < kNodes; ++i) {
    auto member = ClusterMember::Connect(*c, i, "m" + std::to_string(i));
    ASSERT_NE(member, nullptr);
    msgc::MembershipEvent own;
    ASSERT_TRUE(member->JoinAndWait("g", &own)) << c->node(i).name();
    names.push_back(member->private_name());
    ASSERT_EQ(MemberNames(own), names) << Describe(own);
    for (auto& earlier : m) {
      msgc::MembershipEvent e;
      ASSERT_TRUE(earlier->NextView(&e, kViewTimeout));
      ASSERT_EQ(e.cause, MembershipCause::kJoin) << Describe(e);
      ASSERT_EQ(ChangedNames(e), Names{member->private_name()}) << Describe(e);
      ASSERT_EQ(MemberNames(e), names) << Describe(e);
      ASSERT_EQ(e.view, own.view) << Describe(e) << " vs " << Describe(own);
    }
    m.push_back(std::move(member));
  }
  ASSERT_EQ(names.size(), static_cast<size_t>(kNodes));

  // ---- 3. Routing: a multicast from one server reaches all 16 once ----
  const int sender = 7;
  ASSERT_TRUE(m[sender]->Multicast("g", "hello-16").ok());
  for (int i = 0; i < kNodes; ++i) {
    msgc::MessageEvent msg;
    ASSERT_TRUE(m[i]->NextMessage(&msg)) << "member on " << c->node(i).name();
    EXPECT_EQ(msg.sender, names[sender]);
    EXPECT_EQ(msg.groups, Names{"g"});
    EXPECT_EQ(msg.data, "hello-16");
  }
  // Agreed messages from two servers: one order at every member.
  ASSERT_TRUE(m[2]->Multicast("g", "a-2", msgc::Service::kAgreed).ok());
  ASSERT_TRUE(m[13]->Multicast("g", "a-13", msgc::Service::kAgreed).ok());
  Names order0;
  for (int i = 0; i < kNodes; ++i) {
    Names got;
    for (int k = 0; k < 2; ++k) {
      msgc::MessageEvent msg;
      ASSERT_TRUE(m[i]->NextMessage(&msg)) << "member on " << c->node(i).name();
      got.push_back(msg.data);
    }
    if (i == 0) order0 = got;
    EXPECT_EQ(got, order0) << "member on " << c->node(i).name();
  }
  EXPECT_EQ(std::set<std::string>(order0.begin(), order0.end()),
            (std::set<std::string>{"a-2", "a-13"}));
  // A unicast between the first and the last server.
  ASSERT_TRUE(m[0]->client().Unicast(names[kNodes - 1], "psst").ok());
  {
    msgc::MessageEvent msg;
    ASSERT_TRUE(m[kNodes - 1]->NextMessage(&msg));
    EXPECT_EQ(msg.sender, names[0]);
    EXPECT_EQ(msg.groups, Names{names[kNodes - 1]});
    EXPECT_EQ(msg.data, "psst");
  }
  // Exactly once: nothing more anywhere.
  for (int i = 0; i < kNodes; ++i) {
    EXPECT_TRUE(m[i]->ExpectQuiet(milliseconds{i == 0 ? 300 : 20}))
        << "member on " << c->node(i).name();
  }

  // ---- 4. kill -9 of one server ----
  // n1 is the lowest-named server, the one that proposes configurations: the
  // 15 others must agree on a new one without it.
  const int victim = 0;
  std::vector<int> survivors;
  Names survivor_names;
  for (int i = 0; i < kNodes; ++i) {
    if (i == victim) continue;
    survivors.push_back(i);
    survivor_names.push_back(names[i]);
  }
  const std::string formed_id = c->ConfigurationId(1);
  const auto k0 = Clock::now();
  c->Kill(victim, SIGKILL);
  std::string view;
  long long first_view_ms = -1;
  for (int i : survivors) {
    msgc::MembershipEvent e;
    ASSERT_TRUE(m[i]->NextView(&e, kViewTimeout))
        << "member on " << c->node(i).name() << ": "
        << c->DescribeConfigurations();
    if (first_view_ms < 0) first_view_ms = MillisSince(k0);
    EXPECT_EQ(e.group, "g");
    EXPECT_EQ(e.cause, MembershipCause::kNetwork) << Describe(e);
    EXPECT_EQ(ChangedNames(e), Names{names[victim]}) << Describe(e);
    EXPECT_EQ(MemberNames(e), survivor_names) << Describe(e);
    if (view.empty()) view = e.view;
    EXPECT_EQ(e.view, view) << "survivors disagree on the view id";
  }
  EXPECT_TRUE(
      c->WaitConfiguration(survivors, survivors, milliseconds{kViewTimeout}))
      << c->DescribeConfigurations();
  const long long reformed_ms = MillisSince(k0);
  EXPECT_NE(c->ConfigurationId(1), formed_id);
  std::printf(
      "scale: kill -9 of %s: first member saw the network view after %lld ms, "
      "15-node configuration after %lld ms\n",
      c->node(victim).name().c_str(), first_view_ms, reformed_ms);

  // ---- 5. Traffic still flows among the 15 ----
  const int sender2 = kNodes - 1;
  for (int k = 0; k < 3; ++k) {
    ASSERT_TRUE(m[sender2]->Multicast("g", "after-" + std::to_string(k)).ok());
  }
  ASSERT_TRUE(
      m[3]->Multicast("g", "agreed-after", msgc::Service::kAgreed).ok());
  for (int i : survivors) {
    std::vector<std::string> from_last;
    int agreed = 0;
    for (int k = 0; k < 4; ++k) {
      msgc::MessageEvent msg;
      ASSERT_TRUE(m[i]->NextMessage(&msg))
          << "member on " << c->node(i).name() << " after the kill";
      if (msg.sender == names[sender2]) {
        from_last.push_back(msg.data);
      } else {
        EXPECT_EQ(msg.sender, names[3]);
        EXPECT_EQ(msg.data, "agreed-after");
        ++agreed;
      }
    }
    EXPECT_EQ(from_last, (Names{"after-0", "after-1", "after-2"}))
        << "member on " << c->node(i).name();
    EXPECT_EQ(agreed, 1);
    EXPECT_EQ(m[i]->disconnects(), 0) << "member on " << c->node(i).name();
  }
  for (int i : survivors) {
    EXPECT_TRUE(m[i]->ExpectQuiet(milliseconds{i == survivors[0] ? 300 : 20}))
        << "member on " << c->node(i).name();
    EXPECT_TRUE(c->node(i).Running()) << c->node(i).name();
  }
}

}  // namespace
}  // namespace msgc::test
