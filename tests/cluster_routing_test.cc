// Interest-based routing (issue 3 §1, docs/mesh.md §3.1): a group's messages
// cross the mesh only to servers with members of it, measured on the real
// sockets (ss), and a server that gains a member while traffic flows
// delivers exactly the messages ordered after the join.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/cluster.h"

namespace msgc::test {
namespace {

using Names = std::vector<std::string>;

// Bytes node `to` received on its TCP connections from node `from`'s
// address, read from the kernel (ss -ti: bytes_received). Distinct
// 127.0.0.x addresses tell the two servers' links apart; clients connect
// from 127.0.0.1, no server's address.
uint64_t BytesReceived(Cluster& c, int from, int to) {
  const std::string cmd = "ss -tinH state established src " +
                          c.node(to).address() + " dst " +
                          c.node(from).address() + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  static const std::regex kBytes("bytes_received:([0-9]+)");
  uint64_t total = 0;
  for (std::sregex_iterator it(out.begin(), out.end(), kBytes), end; it != end;
       ++it) {
    total += std::stoull((*it)[1].str());
  }
  return total;
}

class ClusterRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions o;
    // The join test floods 20,000 messages before anyone reads: room for
    // them in the servers' queues also on a slow (sanitizer) build.
    o.extra_server_options = "max_backlog = 100000";
    cluster_ = StartCluster(3, o);
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->WaitFormed()) << cluster_->DescribeConfigurations();
  }
  std::unique_ptr<Cluster> cluster_;
};

TEST_F(ClusterRoutingTest, MessagesGoOnlyToServersWithMembers) {
  auto a = ClusterMember::Connect(*cluster_, 0, "a");
  auto b = ClusterMember::Connect(*cluster_, 1, "b");
  auto c = ClusterMember::Connect(*cluster_, 2, "c");
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(a->JoinAndWait("g"));
  ASSERT_TRUE(b->JoinAndWait("g"));
  ASSERT_TRUE(a->WaitForView("g", {a->private_name(), b->private_name()}));
  ASSERT_TRUE(c->JoinAndWait("h"));  // n3 has a client, but not in g

  const uint64_t to_b0 = BytesReceived(*cluster_, 0, 1);
  const uint64_t to_c0 = BytesReceived(*cluster_, 0, 2);
  ASSERT_GT(to_b0, 0u) << "ss found no link n1 -> n2";
  ASSERT_GT(to_c0, 0u) << "ss found no link n1 -> n3";
  constexpr int kCount = 500;
  const std::string payload(1000, 'p');
  for (int k = 0; k < kCount; ++k) {
    ASSERT_TRUE(a->Multicast("g", std::to_string(k) + payload).ok()) << k;
  }
  for (int k = 0; k < kCount; ++k) {
    msgc::MessageEvent m;
    ASSERT_TRUE(b->NextMessage(&m)) << k;
    ASSERT_EQ(m.data, std::to_string(k) + payload);
    ASSERT_EQ(m.sender, a->private_name());
  }
  EXPECT_TRUE(c->ExpectQuiet(milliseconds{100}));
  const uint64_t to_b = BytesReceived(*cluster_, 0, 1) - to_b0;
  const uint64_t to_c = BytesReceived(*cluster_, 0, 2) - to_c0;
  std::printf("n1 -> n2 (member of g): %llu bytes; n1 -> n3 (none): %llu\n",
              static_cast<unsigned long long>(to_b),
              static_cast<unsigned long long>(to_c));
  EXPECT_GE(to_b, uint64_t{kCount} * 1000);
  // n3 gets item numbers in CLOCKs (at most one per loop turn), no bodies.
  EXPECT_LT(to_c, uint64_t{kCount} * 1000 / 20);

  // Once n3 has a member of g, g's traffic goes there too.
  ASSERT_TRUE(c->JoinAndWait("g"));
  for (int k = 0; k < 10; ++k) {
    ASSERT_TRUE(a->Multicast("g", "late" + std::to_string(k)).ok());
  }
  for (int k = 0; k < 10; ++k) {
    msgc::MessageEvent m;
    ASSERT_TRUE(c->NextMessage(&m)) << k;
    EXPECT_EQ(m.data, "late" + std::to_string(k));
  }
}

// One sender alternating between a group n3 has no member of and one it
// has: n3 gets every second item and the numbers of the others, and must
// deliver all of its own in order.
TEST_F(ClusterRoutingTest, InterleavedGroupsReachEachServerWhole) {
  auto a = ClusterMember::Connect(*cluster_, 0, "a");
  auto b = ClusterMember::Connect(*cluster_, 1, "b");
  auto c = ClusterMember::Connect(*cluster_, 2, "c");
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(b->JoinAndWait("g"));
  ASSERT_TRUE(c->JoinAndWait("h"));
  constexpr int kCount = 2000;
  for (int k = 0; k < kCount; ++k) {
    const bool to_g = (k % 2 == 0) || (k % 7 == 3);  // irregular runs
    ASSERT_TRUE(a->Multicast(to_g ? "g" : "h", std::to_string(k)).ok());
  }
  for (int k = 0; k < kCount; ++k) {
    const bool to_g = (k % 2 == 0) || (k % 7 == 3);
    msgc::MessageEvent m;
    ClusterMember& r = to_g ? *b : *c;
    ASSERT_TRUE(r.NextMessage(&m)) << (to_g ? "b" : "c") << ", message " << k;
    ASSERT_EQ(m.data, std::to_string(k));
    ASSERT_EQ(m.groups, Names{to_g ? "g" : "h"});
  }
  EXPECT_TRUE(b->ExpectQuiet(milliseconds{100}));
  EXPECT_TRUE(c->ExpectQuiet(milliseconds{50}));
  // The mesh's error for a gap in an origin's item numbers.
  EXPECT_EQ(cluster_->node(1).CountInLog("; dropped"), 0u);
  EXPECT_EQ(cluster_->node(2).CountInLog("; dropped"), 0u);
}

TEST_F(ClusterRoutingTest, ServerWithNoClientsGetsOnlyKeepalives) {
  auto a = ClusterMember::Connect(*cluster_, 0, "a");
  auto b = ClusterMember::Connect(*cluster_, 1, "b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(b->JoinAndWait("g"));
  const uint64_t to_c0 = BytesReceived(*cluster_, 0, 2);
  for (int k = 0; k < 300; ++k) {
    ASSERT_TRUE(a->Multicast("g", std::string(2000, 'x')).ok());
  }
  for (int k = 0; k < 300; ++k) {
    msgc::MessageEvent m;
    ASSERT_TRUE(b->NextMessage(&m)) << k;
  }
  const uint64_t to_c = BytesReceived(*cluster_, 0, 2) - to_c0;
  EXPECT_LT(to_c, 300u * 2000 / 20) << "n3 has no clients";
}

// A join on n3 while n1 floods g: n3's new member must get exactly the
// messages that follow its join in the agreed order, the same ones b (on
// n2) sees after the view that admits c. n1 cannot know about the join when
// it sends the first of them, so this exercises the late bodies.
TEST_F(ClusterRoutingTest, JoinDuringTrafficGetsEveryMessageAfterItsView) {
  auto a = ClusterMember::Connect(*cluster_, 0, "a");
  auto b = ClusterMember::Connect(*cluster_, 1, "b");
  auto c = ClusterMember::Connect(*cluster_, 2, "c");
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(b->JoinAndWait("g"));
  constexpr int kCount = 20000;
  std::atomic<bool> failed{false};
  std::thread sender([&] {
    for (int k = 0; k < kCount; ++k) {
      if (!a->Multicast("g", std::to_string(k)).ok()) {
        failed = true;
        return;
      }
      if (k % 2000 == 1999) std::this_thread::sleep_for(milliseconds{2});
    }
  });
  std::this_thread::sleep_for(milliseconds{20});
  msgc::MembershipEvent own;
  ASSERT_TRUE(c->JoinAndWait("g", &own));
  sender.join();
  ASSERT_FALSE(failed);

  // b: messages before the view that admits c, then the rest.
  msgc::MembershipEvent at_b;
  ASSERT_TRUE(b->WaitForView("g", {b->private_name(), c->private_name()}, &at_b,
                             milliseconds{20000}));
  EXPECT_EQ(at_b.view, own.view);
  const int before = static_cast<int>(b->skipped_messages().size());
  for (int k = 0; k < before; ++k) {
    ASSERT_EQ(b->skipped_messages()[k].data, std::to_string(k));
  }
  std::printf("c joined after %d of %d messages\n", before, kCount);
  for (int k = before; k < kCount; ++k) {
    msgc::MessageEvent m;
    ASSERT_TRUE(b->NextMessage(&m)) << "b, message " << k;
    ASSERT_EQ(m.data, std::to_string(k));
  }
  for (int k = before; k < kCount; ++k) {
    msgc::MessageEvent m;
    ASSERT_TRUE(c->NextMessage(&m)) << "c, message " << k;
    ASSERT_EQ(m.data, std::to_string(k)) << "c lost or reordered";
  }
  EXPECT_TRUE(c->ExpectQuiet(milliseconds{100}));
  std::printf("n1 sent late bodies %zu time(s)\n",
              cluster_->node(0).CountInLog("late bodies to n3"));
}

}  // namespace
}  // namespace msgc::test
