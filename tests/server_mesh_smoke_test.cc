// msgcd integration tests: two servers on loopback forming one mesh (issue 3).
//
// n1 and n2 run on 127.0.0.1 with distinct ports and `peers` naming both.
// Each test starts the pair and waits until both logged the two-member
// configuration; RawClients on each server then check the cluster-wide
// semantics: views (same members, same order, same ids everywhere), exactly
// once per-sender FIFO multicast, unicast across servers, and `network`
// events when a server is lost and when it comes back.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/msgcd_process.h"
#include "support/raw_client.h"

namespace msgc::test {
namespace {

using wire::Cause;
using wire::ErrorCode;
using Names = std::vector<std::string>;

constexpr char kTwoMembers[] = "members [n1, n2]";

// Ports are numbers or "@PORT@" (the harness's port, retried if taken).
std::string Config(const std::string& port, const std::string& p1,
                   const std::string& p2) {
  // A short keepalive keeps the mesh lively; client idle_timeout stays long
  // because RawClient sends no keepalives by itself.
  return "msgc_server {\n  port = " + port +
         "\n  debug_level = INFO\n  keepalive_interval = 0.5\n"
         "  idle_timeout = 20\n  reconnect_interval = 0.2\n"
         "  max_message_size = 300000\n"
         "  connect_timeout = 1\n  peers = [ n1 = \"127.0.0.1:" +
         p1 + "\" n2 = \"127.0.0.1:" + p2 + "\" ]\n}\n";
}

class MeshSmokeTest : public ::testing::Test {
 protected:
  // Each server's own port goes through "@PORT@" so that the harness
  // retries a port lost to a race; n1 is started with a guess for n2's port
  // and corrected by SIGHUP if n2 ended up elsewhere.
  void SetUp() override {
    const uint16_t guess = PickFreePort();
    d1_ = StartMsgcd(Config("@PORT@", "@PORT@", std::to_string(guess)),
                     Options("n1"));
    ASSERT_NE(d1_, nullptr);
    p1_ = d1_->port();
    d2_ = StartMsgcd(Config("@PORT@", std::to_string(p1_), "@PORT@"),
                     Options("n2"));
    ASSERT_NE(d2_, nullptr);
    p2_ = d2_->port();
    if (p2_ != guess) {
      ASSERT_TRUE(d1_->Reconfigure(Config1()).ok());
    }
    ASSERT_TRUE(d1_->WaitForLog(kTwoMembers));
    ASSERT_TRUE(d2_->WaitForLog(kTwoMembers));
  }

  static MsgcdOptions Options(const std::string& node) {
    MsgcdOptions o;
    o.node = node;
    o.extra_args = {"--debug-level", "INFO"};
    return o;
  }
  std::string Config1() const {
    return Config("@PORT@", "@PORT@", std::to_string(p2_));
  }
  // Restarts n2 on its old port.
  std::unique_ptr<Msgcd> RestartN2() {
    const std::string p2 = std::to_string(p2_);
    return StartMsgcd(Config(p2, std::to_string(p1_), p2), Options("n2"));
  }

  std::unique_ptr<RawClient> Client(Msgcd& d, const std::string& name) {
    return ConnectRawClient(d.port(), name);
  }

  // The next regular (non-transitional) membership event.
  ::testing::AssertionResult NextRegular(RawClient& c, MembershipMsg* out,
                                         milliseconds t = kDefaultTimeout) {
    for (;;) {
      auto r = c.ExpectMembership(out, t);
      if (!r) return r;
      if ((out->flags & wire::kMembershipTransitional) == 0) return r;
    }
  }

  uint16_t p1_ = 0;  // actual ports
  uint16_t p2_ = 0;
  std::unique_ptr<Msgcd> d1_;
  std::unique_ptr<Msgcd> d2_;
};

TEST_F(MeshSmokeTest, JoinerOnTheOtherServerSeesTheSameView) {
  auto a = Client(*d1_, "a");
  auto b = Client(*d2_, "b");
  MembershipMsg ma;
  ASSERT_TRUE(a->JoinAndWait("g", "caps-a", &ma));
  EXPECT_EQ(ma.MemberNames(), Names{"#a#n1"});

  MembershipMsg mb;
  ASSERT_TRUE(b->JoinAndWait("g", "caps-b", &mb));
  EXPECT_EQ(mb.MemberNames(), (Names{"#a#n1", "#b#n2"}));
  EXPECT_EQ(mb.members[0].capabilities, "caps-a");
  MembershipMsg ma2;
  ASSERT_TRUE(a->ExpectMembership(&ma2));
  EXPECT_EQ(ma2.cause, Cause::kJoin);
  EXPECT_EQ(ma2.ChangedNames(), Names{"#b#n2"});
  EXPECT_EQ(ma2.MemberNames(), mb.MemberNames());
  EXPECT_EQ(ma2.view, mb.view);
  EXPECT_NE(ma2.view, ma.view);

  // A leave on n1 reaches n2 with the same view id.
  ASSERT_TRUE(a->SendLeave("g").ok());
  MembershipMsg self, mb2;
  ASSERT_TRUE(a->ExpectMembership(&self));
  EXPECT_EQ(self.flags, wire::kMembershipSelfLeave);
  ASSERT_TRUE(b->ExpectMembership(&mb2));
  EXPECT_EQ(mb2.cause, Cause::kLeave);
  EXPECT_EQ(mb2.MemberNames(), Names{"#b#n2"});
  EXPECT_EQ(mb2.view, self.view);
}

TEST_F(MeshSmokeTest, MulticastAndUnicastAcrossServers) {
  auto a = Client(*d1_, "a");
  auto b = Client(*d2_, "b");
  auto c = Client(*d2_, "c");
  ASSERT_TRUE(a->JoinAndWait("g"));
  ASSERT_TRUE(b->JoinAndWait("g"));
  ASSERT_TRUE(c->JoinAndWait("g"));
  MembershipMsg m;
  ASSERT_TRUE(a->ExpectMembership(&m));  // b
  ASSERT_TRUE(a->ExpectMembership(&m));  // c
  ASSERT_TRUE(b->ExpectMembership(&m));  // c

  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(a->SendMessage({"g"}, "m" + std::to_string(i), i + 1,
                               wire::kSendSelfDiscard)
                    .ok());
  }
  for (RawClient* r : {b.get(), c.get()}) {
    for (int i = 0; i < kCount; ++i) {
      DeliverMsg d;
      ASSERT_TRUE(r->ExpectDeliver(&d)) << "message " << i;
      EXPECT_EQ(d.sender, "#a#n1");
      ASSERT_EQ(d.data, "m" + std::to_string(i));  // FIFO, exactly once
    }
  }
  // Exactly once; and self-discard honoured on the sender's server.
  EXPECT_TRUE(b->ExpectNothing(milliseconds(200)));
  EXPECT_TRUE(a->ExpectNothing(milliseconds(50)));

  // Unicast from n2 to a member of n1, and to a session that joined
  // nothing.
  auto lone = Client(*d1_, "lone");
  ASSERT_TRUE(b->SendMessage({"#a#n1"}, "to-a").ok());
  DeliverMsg d;
  ASSERT_TRUE(a->ExpectDeliver(&d));
  EXPECT_EQ(d.sender, "#b#n2");
  EXPECT_EQ(d.data, "to-a");
  // The CONNECT of `lone` travels through the mesh; retry until n2 knows it.
  bool sent = false;
  for (int i = 0; i < 50 && !sent; ++i) {
    ASSERT_TRUE(b->SendMessage({"#lone#n1"}, "to-lone").ok());
    ReceivedFrame f;
    sent = !b->ReadFrame(&f, milliseconds(50)).ok();  // no error came back
  }
  ASSERT_TRUE(sent);
  ASSERT_TRUE(lone->ExpectDeliver(&d));
  EXPECT_EQ(d.data, "to-lone");

  // A message of max_message_size each way (peer links carry item
  // headers on top of it).
  const std::string big(300000, 'x');
  ASSERT_TRUE(a->SendMessage({"#b#n2"}, big).ok());
  ASSERT_TRUE(b->ExpectDeliver(&d));
  EXPECT_EQ(d.data.size(), big.size());
  ASSERT_TRUE(b->SendMessage({"#a#n1"}, big).ok());
  ASSERT_TRUE(a->ExpectDeliver(&d));
  EXPECT_EQ(d.data.size(), big.size());

  ASSERT_TRUE(b->SendMessage({"#nobody#n1"}, "x", 77).ok());
  ErrorMsg e;
  ASSERT_TRUE(b->ExpectErrorCode(ErrorCode::kNoSuchRecipient, false, &e));
  EXPECT_EQ(e.ref, 77u);
}

TEST_F(MeshSmokeTest, LostServerAndItsReturnGiveNetworkEvents) {
  auto a = Client(*d1_, "a");
  auto b = Client(*d2_, "b");
  MembershipMsg m;
  ASSERT_TRUE(a->JoinAndWait("g"));
  ASSERT_TRUE(b->JoinAndWait("g"));
  ASSERT_TRUE(a->ExpectMembership(&m));
  const wire::ViewId two_view = m.view;

  // kill -9 n2: n1's member sees n2's members removed with cause network.
  const auto t0 = std::chrono::steady_clock::now();
  d2_->process().Kill(SIGKILL);
  d2_->process().Wait(kDefaultTimeout);
  b->Close();
  // First the transitional event (who moves on together), then the view.
  MembershipMsg trans, lost;
  ASSERT_TRUE(a->ExpectMembership(&trans, milliseconds(2000)));
  EXPECT_EQ(trans.flags, wire::kMembershipTransitional);
  EXPECT_EQ(trans.cause, Cause::kNetwork);
  EXPECT_EQ(trans.MemberNames(), Names{"#a#n1"});
  EXPECT_EQ(trans.ChangedNames(), Names{"#b#n2"});
  ASSERT_TRUE(a->ExpectMembership(&lost, milliseconds(2000)));
  EXPECT_EQ(lost.flags, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
  EXPECT_EQ(lost.cause, Cause::kNetwork);
  EXPECT_EQ(lost.ChangedNames(), Names{"#b#n2"});
  EXPECT_EQ(lost.MemberNames(), Names{"#a#n1"});
  EXPECT_NE(lost.view.epoch, two_view.epoch);  // a new configuration

  // n2 comes back while n1 is frozen, so a client joins on n2 alone; when
  // n1 thaws the two merge and each side sees the other's member appear
  // with cause network, in one view with one id.
  d1_->process().Kill(SIGSTOP);
  d2_ = RestartN2();
  if (d2_ == nullptr) d1_->process().Kill(SIGCONT);
  ASSERT_NE(d2_, nullptr);
  auto b2 = Client(*d2_, "b");
  MembershipMsg mb;
  ASSERT_TRUE(b2->JoinAndWait("g", "", &mb));
  EXPECT_EQ(mb.MemberNames(), Names{"#b#n2"});
  d1_->process().Kill(SIGCONT);

  MembershipMsg ma, mb2;
  ASSERT_TRUE(NextRegular(*a, &ma));
  ASSERT_TRUE(NextRegular(*b2, &mb2));
  EXPECT_EQ(ma.cause, Cause::kNetwork);
  EXPECT_EQ(ma.ChangedNames(), Names{"#b#n2"});
  EXPECT_EQ(mb2.cause, Cause::kNetwork);
  EXPECT_EQ(mb2.ChangedNames(), Names{"#a#n1"});
  EXPECT_EQ(ma.MemberNames().size(), 2u);
  EXPECT_EQ(ma.MemberNames(), mb2.MemberNames());  // same order
  EXPECT_EQ(ma.view, mb2.view);
  EXPECT_NE(ma.view, lost.view);
  EXPECT_NE(ma.view, two_view);
  EXPECT_TRUE(d1_->WaitForLog(kTwoMembers));

  // And the merged group works: a message from n1 reaches n2's member.
  ASSERT_TRUE(a->SendMessage({"g"}, "after").ok());
  DeliverMsg d;
  ASSERT_TRUE(b2->ExpectDeliver(&d));
  EXPECT_EQ(d.data, "after");
}

TEST_F(MeshSmokeTest, ReloadRemovesAndReaddsAPeer) {
  auto a = Client(*d1_, "a");
  auto b = Client(*d2_, "b");
  MembershipMsg m;
  ASSERT_TRUE(a->JoinAndWait("g"));
  ASSERT_TRUE(b->JoinAndWait("g"));
  ASSERT_TRUE(a->ExpectMembership(&m));

  // n2 removed from n1's peers: the link is closed, n2's members leave
  // with cause network on n1; n2's redial is refused (NOT_ALLOWED), which
  // makes n1 unreachable for n2 at once, so n1's members leave on n2 too.
  const std::string both = Config1();
  std::string alone = both;
  alone.replace(alone.find(" n2 = "), alone.find(" ]") - alone.find(" n2 = "),
                "");
  ASSERT_TRUE(d1_->Reconfigure(alone).ok());
  MembershipMsg ma, mb;
  ASSERT_TRUE(NextRegular(*a, &ma, milliseconds(2000)));
  EXPECT_EQ(ma.cause, Cause::kNetwork);
  EXPECT_EQ(ma.ChangedNames(), Names{"#b#n2"});
  EXPECT_EQ(ma.MemberNames(), Names{"#a#n1"});
  EXPECT_TRUE(d1_->WaitForLog("peer n2 removed from peers"));
  ASSERT_TRUE(NextRegular(*b, &mb, milliseconds(2000)));
  EXPECT_EQ(mb.cause, Cause::kNetwork);
  EXPECT_EQ(mb.ChangedNames(), Names{"#a#n1"});
  EXPECT_EQ(mb.MemberNames(), Names{"#b#n2"});

  // Back in: dialled again, both members reappear in one view with one id.
  ASSERT_TRUE(d1_->Reconfigure(both).ok());
  ASSERT_TRUE(NextRegular(*a, &ma));
  ASSERT_TRUE(NextRegular(*b, &mb));
  EXPECT_EQ(ma.cause, Cause::kNetwork);
  EXPECT_EQ(ma.ChangedNames(), Names{"#b#n2"});
  EXPECT_EQ(ma.MemberNames(), (Names{"#a#n1", "#b#n2"}));
  EXPECT_EQ(mb.cause, Cause::kNetwork);
  EXPECT_EQ(mb.MemberNames(), ma.MemberNames());
  EXPECT_EQ(mb.view, ma.view);
}

TEST(MeshIdentityTest, ServerNotInPeersRefusesToStart) {
  TempDir dir;
  const std::string path = dir.File("msgc_server.conf");
  ASSERT_TRUE(WriteFile(path,
                        "msgc_server {\n  peers = [ x1 = \"198.51.100.1:4000\" "
                        "x2 = \"198.51.100.2:4000\" ]\n}\n")
                  .ok());
  for (const bool with_node : {true, false}) {
    Subprocess::Options o;
    o.argv = {GetEnv("MSGCD"), "-c", path};
    if (with_node) {
      o.argv.push_back("--node");
      o.argv.push_back("zz");
    }
    o.stdout_path = dir.File("out");
    o.stderr_path = dir.File("err");
    Subprocess p;
    ASSERT_TRUE(p.Start(o).ok());
    EXPECT_EQ(p.Wait(kDefaultTimeout), 1);
    const std::string err = p.ReadStderr();
    if (with_node) {
      EXPECT_NE(err.find("--node zz is not in peers (x1, x2)"),
                std::string::npos)
          << err;
    } else {
      EXPECT_NE(err.find("this server is not in peers"), std::string::npos)
          << err;
      EXPECT_NE(err.find("x1=198.51.100.1"), std::string::npos) << err;
    }
  }
}

}  // namespace
}  // namespace msgc::test
