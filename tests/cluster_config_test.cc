// Cluster tests (issue 3): who may join the mesh and how it changes live.
// A non-peer is refused; SIGHUP adds and removes a peer; a bad config is
// refused and the running one stays; a server that is not in `peers` does
// not start.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/raw_client.h"

namespace msgc::test {
namespace {

using Names = std::vector<std::string>;
using msgc::MembershipCause;

std::set<std::string> AsSet(const Names& v) { return {v.begin(), v.end()}; }

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

// n1 and n2 know only each other; n3 exists (address, port) but is not
// started.
std::unique_ptr<Cluster> StartTwoOfThree() {
  ClusterOptions o;
  o.peers = {0, 1};
  o.start = {0, 1};
  auto c = StartCluster(3, o);
  if (c == nullptr) return c;
  EXPECT_TRUE(c->WaitConfiguration({0, 1}, {0, 1}))
      << c->DescribeConfigurations();
  return c;
}

// The kernel's view (ss -tm: skmem rb = SO_RCVBUF, tb = SO_SNDBUF, both
// doubled by Linux) of every TCP socket from node `from` to node `to`.
std::vector<std::string> SocketBuffers(Cluster& c, int from, int to) {
  const std::string cmd = "ss -tmH state established src " +
                          c.node(from).address() + " dst " +
                          c.node(to).address() + " 2>/dev/null";
  std::vector<std::string> out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  pclose(p);
  for (size_t at = text.find("skmem:("); at != std::string::npos;
       at = text.find("skmem:(", at + 1)) {
    const size_t rb = text.find(",rb", at);
    const size_t tb = text.find(",tb", at);
    if (rb == std::string::npos || tb == std::string::npos) break;
    out.push_back("rb" + text.substr(rb + 3, text.find(',', rb + 1) - rb - 3) +
                  " tb" + text.substr(tb + 3, text.find(',', tb + 1) - tb - 3));
  }
  return out;
}

// tcpbuf_size sets SO_SNDBUF and SO_RCVBUF on every peer socket: dialled
// and accepted, at both ends of every link.
TEST(ClusterConfigTest, TcpbufSizeIsSetOnEveryPeerSocket) {
  ClusterOptions o;
  o.extra_server_options = "tcpbuf_size = 98304";
  auto c = StartCluster(3, o);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->WaitFormed()) << c->DescribeConfigurations();
  const std::string want = "rb196608 tb196608";  // 2 x 98304
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      if (i == j) continue;
      // A duplicate connection (both dialled at once) may still be closing.
      std::vector<std::string> bufs;
      WaitFor(milliseconds{3000}, [&] {
        bufs = SocketBuffers(*c, i, j);
        return bufs.size() == 1;
      });
      ASSERT_EQ(bufs.size(), 1u) << "one link n" << i + 1 << " -> n" << j + 1;
      EXPECT_EQ(bufs[0], want) << "n" << i + 1 << " -> n" << j + 1;
    }
  }
}

TEST(ClusterConfigTest, NonPeerServerIsRefused) {
  auto c = StartTwoOfThree();
  ASSERT_NE(c, nullptr);
  // n3 lists all three and dials n1 and n2, which do not list it.
  ASSERT_TRUE(c->WriteConfig(2, c->ConfigText(2, {0, 1, 2})).ok());
  ASSERT_TRUE(c->StartNode(2).ok());
  for (int i : {0, 1}) {
    const ClusterNode& node = c->node(i);
    EXPECT_TRUE(WaitFor(milliseconds{5000},
                        [&] {
                          return !FindLine(node.Log(),
                                           {"[error]", "refusing peer 'n3'"})
                                      .empty();
                        }))
        << node.name() << " did not log the refusal of n3 at ERROR";
  }
  // Nothing changes for a while: n1 and n2 stay together, n3 alone.
  const size_t before = c->node(0).CountInLog("mesh: configuration ");
  EXPECT_FALSE(WaitFor(milliseconds{1000}, [&] {
    return c->node(0).CountInLog("mesh: configuration ") != before;
  })) << c->DescribeConfigurations();
  EXPECT_TRUE(c->WaitConfiguration({0, 1}, {0, 1}, milliseconds{100}));
  EXPECT_TRUE(c->WaitConfiguration({2}, {2}, milliseconds{100}))
      << c->DescribeConfigurations();
}

TEST(ClusterConfigTest, PeerHelloWithUnknownNameOrWrongAddressIsRefused) {
  ClusterOptions o;  // n1 on 127.0.0.2, n2 on 127.0.0.3
  auto c = StartCluster(2, o);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->WaitFormed()) << c->DescribeConfigurations();
  const ClusterNode& n1 = c->node(0);
  // The test connects from 127.0.0.1, which is no peer's address.
  for (const char* name : {"stranger", "n2", "n1"}) {
    RawClient r;
    ASSERT_TRUE(r.Connect(n1.port(), n1.address()).ok());
    ASSERT_TRUE(r.SendHello(name, wire::kProtocolVersion,
                            wire::kProtocolVersion, wire::Role::kPeer)
                    .ok());
    EXPECT_TRUE(r.ExpectErrorCode(wire::ErrorCode::kNotAllowed, true))
        << "peer HELLO as " << name;
    EXPECT_TRUE(r.ExpectClosed()) << name;
  }
  // The real mesh is not disturbed.
  EXPECT_TRUE(c->WaitFormed(milliseconds{500}));
  EXPECT_EQ(n1.CountInLog("mesh: configuration "),
            c->node(1).CountInLog("mesh: configuration "));
}

TEST(ClusterConfigTest, SighupAddsAndRemovesAPeer) {
  auto c = StartTwoOfThree();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->WriteConfig(2, c->ConfigText(2, {0, 1, 2})).ok());
  ASSERT_TRUE(c->StartNode(2).ok());
  ASSERT_TRUE(c->WaitConfiguration({2}, {2})) << c->DescribeConfigurations();

  auto a = ClusterMember::Connect(*c, 0, "a");
  auto x = ClusterMember::Connect(*c, 2, "x");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(x, nullptr);
  msgc::MembershipEvent e;
  ASSERT_TRUE(a->JoinAndWait("g", &e));
  EXPECT_EQ(MemberNames(e), Names{a->private_name()});
  ASSERT_TRUE(x->JoinAndWait("g", &e));
  EXPECT_EQ(MemberNames(e), Names{x->private_name()});

  // Add n3 to n1's and n2's peers, live.
  ASSERT_TRUE(c->Reconfigure(0, {0, 1, 2}).ok());
  ASSERT_TRUE(c->Reconfigure(1, {0, 1, 2}).ok());
  EXPECT_TRUE(c->node(0).WaitForLog("config: msgc_server.peers.n3 changed"));
  ASSERT_TRUE(c->WaitFormed()) << c->DescribeConfigurations();
  msgc::MembershipEvent ea, ex;
  ASSERT_TRUE(a->NextView(&ea));
  ASSERT_TRUE(x->NextView(&ex));
  EXPECT_EQ(ea.cause, MembershipCause::kNetwork) << Describe(ea);
  EXPECT_EQ(ex.cause, MembershipCause::kNetwork) << Describe(ex);
  EXPECT_EQ(ChangedNames(ea), Names{x->private_name()}) << Describe(ea);
  EXPECT_EQ(ChangedNames(ex), Names{a->private_name()}) << Describe(ex);
  EXPECT_EQ(AsSet(MemberNames(ea)),
            AsSet({a->private_name(), x->private_name()}));
  EXPECT_EQ(MemberNames(ea), MemberNames(ex));
  EXPECT_EQ(ea.view, ex.view);
  ASSERT_TRUE(x->Multicast("g", "hello from n3").ok());
  for (ClusterMember* m : {a.get(), x.get()}) {
    msgc::MessageEvent msg;
    ASSERT_TRUE(m->NextMessage(&msg));
    EXPECT_EQ(msg.data, "hello from n3");
  }

  // Remove it again, live, from n1 and n2 (n3 still lists them and is
  // refused from now on).
  ASSERT_TRUE(c->Reconfigure(0, {0, 1}).ok());
  ASSERT_TRUE(c->Reconfigure(1, {0, 1}).ok());
  ASSERT_TRUE(c->WaitConfiguration({0, 1}, {0, 1}))
      << c->DescribeConfigurations();
  ASSERT_TRUE(c->WaitConfiguration({2}, {2})) << c->DescribeConfigurations();
  ASSERT_TRUE(a->NextView(&ea));
  ASSERT_TRUE(x->NextView(&ex));
  EXPECT_EQ(ea.cause, MembershipCause::kNetwork) << Describe(ea);
  EXPECT_EQ(ChangedNames(ea), Names{x->private_name()});
  EXPECT_EQ(MemberNames(ea), Names{a->private_name()});
  EXPECT_EQ(ex.cause, MembershipCause::kNetwork) << Describe(ex);
  EXPECT_EQ(ChangedNames(ex), Names{a->private_name()});
  EXPECT_EQ(MemberNames(ex), Names{x->private_name()});
  EXPECT_NE(ea.view, ex.view);
  EXPECT_EQ(a->disconnects(), 0);
  EXPECT_EQ(x->disconnects(), 0);
}

TEST(ClusterConfigTest, BadReloadIsRefusedAndTheMeshStays) {
  auto c = StartCluster(3);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->WaitFormed()) << c->DescribeConfigurations();
  const std::string id = c->ConfigurationId(0);
  const std::string good = c->node(0).config_text();
  // A duplicate peer: an error with file:line:col, nothing applied.
  std::string bad = good;
  bad.insert(bad.find("  peers = [\n") + 12, "    n2 = \"127.0.0.9\"\n");
  ASSERT_TRUE(c->ReconfigureText(0, bad).ok());
  EXPECT_TRUE(c->node(0).WaitForLog(c->node(0).config_path() + ":"));
  EXPECT_TRUE(c->node(0).WaitForLog("duplicate peer 'n2'"));
  EXPECT_FALSE(
      WaitFor(milliseconds{800}, [&] { return c->ConfigurationId(0) != id; }));
  EXPECT_TRUE(c->WaitFormed(milliseconds{100}));
  EXPECT_TRUE(c->node(0).Running());
}

TEST(ClusterConfigTest, NodeNotInPeersDoesNotStart) {
  auto c = StartCluster(2);
  ASSERT_NE(c, nullptr);
  Subprocess p;
  TempDir dir;
  Subprocess::Options o;
  o.argv = {GetEnv("MSGCD"), "-c", c->node(0).config_path(), "--node", "n9"};
  o.stderr_path = dir.File("stderr");
  ASSERT_TRUE(p.Start(o).ok());
  const std::optional<int> code = p.Wait(kDefaultTimeout);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(p.ReadStderr().find("n9"), std::string::npos) << p.ReadStderr();
  EXPECT_EQ(p.ReadStderr().find("listening on"), std::string::npos);
}

}  // namespace
}  // namespace msgc::test
