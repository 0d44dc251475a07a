// msgcd integration tests: handshake (docs/protocol.md §2), naming rules,
// command line and shutdown.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "support/msgcd_process.h"
#include "support/raw_client.h"
#include "support/test_support.h"

namespace msgc::test {
namespace {

using wire::ErrorCode;

constexpr char kConfig[] = R"(
msgc_server {
  port = @PORT@
  debug_level = INFO
}
)";

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = StartMsgcd(kConfig);
    ASSERT_NE(d_, nullptr);
  }
  void Connect(RawClient* c) { ASSERT_TRUE(c->Connect(d_->port()).ok()); }

  std::unique_ptr<Msgcd> d_;
};

TEST_F(HandshakeTest, WelcomeCarriesPrivateNameAndLimits) {
  RawClient c;
  Connect(&c);
  WelcomeMsg w;
  ASSERT_TRUE(c.Handshake("alice", &w));
  EXPECT_EQ(w.version, wire::kProtocolVersion);
  EXPECT_EQ(w.private_name, "#alice#n1");
  EXPECT_EQ(w.node, "n1");
  EXPECT_NE(w.incarnation, 0u);
  EXPECT_EQ(w.max_message_size, 64u << 20);
  EXPECT_EQ(w.keepalive_ms, 5000u);
  EXPECT_EQ(w.idle_timeout_ms, 30000u);
  EXPECT_TRUE(d_->WaitForLog("client #alice#n1 connected from 127.0.0.1:"));

  // Every session of one server shares the incarnation.
  RawClient c2;
  Connect(&c2);
  WelcomeMsg w2;
  ASSERT_TRUE(c2.Handshake("bob", &w2));
  EXPECT_EQ(w2.incarnation, w.incarnation);
}

TEST_F(HandshakeTest, EmptyNameGetsUniqueGeneratedName) {
  RawClient a, b;
  Connect(&a);
  Connect(&b);
  WelcomeMsg wa, wb;
  ASSERT_TRUE(a.Handshake("", &wa));
  ASSERT_TRUE(b.Handshake("", &wb));
  EXPECT_NE(wa.private_name, wb.private_name);
  for (const std::string& n : {wa.private_name, wb.private_name}) {
    EXPECT_EQ(n.front(), '#');
    EXPECT_TRUE(n.ends_with("#n1")) << n;
    EXPECT_GT(n.size(), 4u);
  }
}

TEST_F(HandshakeTest, DuplicateLiveNameIsRefused) {
  RawClient a;
  Connect(&a);
  ASSERT_TRUE(a.Handshake("a"));

  RawClient dup;
  Connect(&dup);
  ASSERT_TRUE(dup.SendHello("a").ok());
  ErrorMsg e;
  ASSERT_TRUE(dup.ExpectErrorCode(ErrorCode::kNameInUse, true, &e));
  EXPECT_EQ(e.request, wire::FrameType::kHello);
  EXPECT_NE(e.text.find("#a#n1"), std::string::npos) << e.text;
  EXPECT_TRUE(dup.ExpectClosed());

  // The first session is unaffected.
  ASSERT_TRUE(a.JoinAndWait("g"));

  // Once it is gone, the name is free again.
  a.Close();
  ASSERT_TRUE(WaitFor(kDefaultTimeout, [&] {
    RawClient again;
    if (!again.Connect(d_->port()).ok() || !again.SendHello("a").ok()) {
      return false;
    }
    return static_cast<bool>(again.ExpectWelcome());
  }));
}

TEST_F(HandshakeTest, BadNamesAreRefused) {
  for (const std::string& name : {std::string("has space"), std::string("a#b"),
                                  std::string("é"), std::string(65, 'x')}) {
    RawClient c;
    Connect(&c);
    ASSERT_TRUE(c.SendHello(name).ok());
    EXPECT_TRUE(c.ExpectErrorCode(ErrorCode::kBadName, true)) << name;
    EXPECT_TRUE(c.ExpectClosed()) << name;
  }
  // The longest valid name is fine.
  RawClient c;
  Connect(&c);
  EXPECT_TRUE(c.Handshake(std::string(64, 'y')));
}

TEST_F(HandshakeTest, VersionNegotiation) {
  {
    RawClient c;
    Connect(&c);
    ASSERT_TRUE(c.SendHello("v", 2, 9).ok());
    EXPECT_TRUE(c.ExpectErrorCode(ErrorCode::kUnsupportedVersion, true));
    EXPECT_TRUE(c.ExpectClosed());
  }
  {
    RawClient c;
    Connect(&c);
    ASSERT_TRUE(c.SendHello("v", 1, 7).ok());
    WelcomeMsg w;
    ASSERT_TRUE(c.ExpectWelcome(&w));
    EXPECT_EQ(w.version, 1);
  }
}

TEST_F(HandshakeTest, FrameBeforeHelloIsUnexpected) {
  RawClient c;
  Connect(&c);
  ASSERT_TRUE(c.SendJoin("g").ok());
  ErrorMsg e;
  ASSERT_TRUE(c.ExpectErrorCode(ErrorCode::kUnexpected, true, &e));
  EXPECT_EQ(e.request, wire::FrameType::kJoin);
  EXPECT_TRUE(c.ExpectClosed());
}

TEST_F(HandshakeTest, SecondHelloIsUnexpected) {
  RawClient c;
  Connect(&c);
  ASSERT_TRUE(c.Handshake("a"));
  ASSERT_TRUE(c.SendHello("a").ok());
  EXPECT_TRUE(c.ExpectErrorCode(ErrorCode::kUnexpected, true));
  EXPECT_TRUE(c.ExpectClosed());
}

TEST_F(HandshakeTest, PeerRoleFromANonPeerIsRefused) {
  // Peer HELLOs are handed to the mesh, which refuses names not in `peers`.
  RawClient c;
  Connect(&c);
  ASSERT_TRUE(c.SendHello("n2", 1, 1, wire::Role::kPeer).ok());
  EXPECT_TRUE(c.ExpectErrorCode(ErrorCode::kNotAllowed, true));
  EXPECT_TRUE(c.ExpectClosed());
  EXPECT_TRUE(d_->WaitForLog("refusing peer 'n2' from 127.0.0.1:"));
  EXPECT_TRUE(d_->WaitForLog("'n2' is not a peer"));
}

TEST_F(HandshakeTest, GoodbyeClosesTheConnection) {
  RawClient c;
  Connect(&c);
  ASSERT_TRUE(c.Handshake("bye"));
  ASSERT_TRUE(c.SendGoodbye().ok());
  int frames = -1;
  EXPECT_TRUE(c.ExpectClosed(kDefaultTimeout, &frames));
  EXPECT_EQ(frames, 0);
  EXPECT_TRUE(d_->WaitForLog("closing #bye#n1 (127.0.0.1:"));
  EXPECT_TRUE(d_->WaitForLog("goodbye: client said goodbye"));
}

TEST_F(HandshakeTest, SigtermShutsDownGracefully) {
  RawClient c;
  Connect(&c);
  ASSERT_TRUE(c.Handshake("a"));
  d_->process().Kill(SIGTERM);
  EXPECT_TRUE(c.ExpectErrorCode(ErrorCode::kShuttingDown, true));
  EXPECT_TRUE(c.ExpectClosed());
  EXPECT_EQ(d_->process().Wait(kDefaultTimeout), 0);
}

// ---- Command line ----

class MsgcdCommandLineTest : public ::testing::Test {
 protected:
  // Runs msgcd with `args` to completion; returns the exit code.
  std::optional<int> Run(std::vector<std::string> args) {
    Subprocess::Options o;
    o.argv = {GetEnv("MSGCD")};
    for (auto& a : args) o.argv.push_back(a);
    o.stdout_path = dir_.File("out");
    o.stderr_path = dir_.File("err");
    Subprocess p;
    EXPECT_TRUE(p.Start(o).ok());
    auto rc = p.Wait(kDefaultTimeout);
    err_ = p.ReadStderr();
    return rc;
  }
  TempDir dir_;
  std::string err_;
};

TEST_F(MsgcdCommandLineTest, CheckConfigReportsErrorsWithPositions) {
  const std::string bad = dir_.File("bad.conf");
  ASSERT_TRUE(WriteFile(bad, "msgc_server {\n  max_backlog = lots\n}\n").ok());
  EXPECT_EQ(Run({"--check-config", "-c", bad}), 1);
  EXPECT_NE(err_.find(bad + ":2:"), std::string::npos) << err_;

  const std::string good = dir_.File("good.conf");
  ASSERT_TRUE(WriteFile(good, "msgc_server {\n  max_backlog = 10\n}\n").ok());
  EXPECT_EQ(Run({"--check-config", "-c", good}), 0) << err_;
  EXPECT_EQ(Run({"--check-config"}), 0) << err_;  // the built-in default
}

TEST_F(MsgcdCommandLineTest, StartFailsOnBadConfig) {
  const std::string bad = dir_.File("bad.conf");
  ASSERT_TRUE(WriteFile(bad, "msgc_server {\n  nosuchoption = 1\n}\n").ok());
  EXPECT_EQ(Run({"-c", bad}), 1);
  EXPECT_NE(err_.find(bad + ":2:3:"), std::string::npos) << err_;
}

TEST_F(MsgcdCommandLineTest, StartFailsWhenPortIsTaken) {
  auto d = StartMsgcd(kConfig);
  ASSERT_NE(d, nullptr);
  const std::string conf = dir_.File("same.conf");
  ASSERT_TRUE(WriteFile(conf, d->config_text()).ok());
  EXPECT_EQ(Run({"-c", conf, "--node", "n2"}), 1);
  EXPECT_NE(err_.find("in use"), std::string::npos) << err_;
}

}  // namespace
}  // namespace msgc::test
