// msgcd integration tests: runtime reconfiguration on SIGHUP. A bad file is
// reported with file:line:col and the running configuration kept; a good
// one is applied live, to existing connections too.
#include <gtest/gtest.h>

#include <string>

#include "support/msgcd_process.h"
#include "support/raw_client.h"
#include "support/test_support.h"

namespace msgc::test {
namespace {

using wire::ErrorCode;

std::string ServerConfig(const std::string& extra) {
  return "msgc_server {\n  port = @PORT@\n  debug_level = INFO\n" + extra +
         "}\n";
}

std::unique_ptr<RawClient> Client(const Msgcd& d, const std::string& name,
                                  uint16_t port = 0) {
  return ConnectRawClient(port ? port : d.port(), name);
}

// Sends `n` 32 KiB messages to `group`, reading them at `reader` as it goes.
// Returns true if a membership event with cause disconnect arrived.
bool Flood(RawClient* sender, RawClient* reader, const std::string& group,
           int n) {
  const std::string payload(32 * 1024, 'p');
  bool disconnect = false;
  const std::string_view g[] = {group};
  for (int i = 0; i < n; i += 10) {
    std::string batch;
    for (int j = 0; j < 10; ++j) {
      wire::EncodeSend(wire::Service::kFifo, 0, i + j, g, payload, &batch);
    }
    EXPECT_TRUE(sender->SendBytes(batch).ok());
    for (int j = 0; j < 10;) {
      ReceivedFrame f;
      if (!reader->ReadFrame(&f).ok()) {
        ADD_FAILURE() << "reader lost after " << i + j;
        return disconnect;
      }
      if (f.header.type == wire::FrameType::kDeliver) {
        ++j;
      } else if (f.header.type == wire::FrameType::kMembership) {
        disconnect = true;
      }
    }
  }
  return disconnect;
}

TEST(ReloadTest, BadConfigIsReportedAndOldOneKept) {
  auto d = StartMsgcd(ServerConfig("  max_backlog = 5000\n"));
  ASSERT_NE(d, nullptr);
  auto a = Client(*d, "a");

  ASSERT_TRUE(d->Reconfigure(ServerConfig("  max_backlog = lots\n")).ok());
  // Line 4, column of the value.
  ASSERT_TRUE(d->WaitForLog(d->config_path() + ":4:"));
  EXPECT_TRUE(d->WaitForLog("keeping the running configuration"));
  EXPECT_TRUE(d->process().Running());
  ASSERT_TRUE(a->JoinAndWait("g"));  // still serving

  // The old value is still the running one: the next diff starts from it.
  ASSERT_TRUE(d->Reconfigure(ServerConfig("  max_backlog = 20\n")).ok());
  EXPECT_TRUE(
      d->WaitForLog("config: msgc_server.max_backlog changed from 5000 to 20"));
}

TEST(ReloadTest, MaxBacklogAppliesLiveToExistingConnections) {
  auto d = StartMsgcd(ServerConfig(""));
  ASSERT_NE(d, nullptr);
  auto sender = Client(*d, "a");
  auto slow = Client(*d, "slow");
  auto fast = Client(*d, "fast");
  ASSERT_TRUE(slow->JoinAndWait("g"));
  ASSERT_TRUE(fast->JoinAndWait("g"));

  ASSERT_TRUE(d->Reconfigure(ServerConfig("  max_backlog = 50\n")).ok());
  ASSERT_TRUE(
      d->WaitForLog("config: msgc_server.max_backlog changed from 5000 to 50"));
  // `slow` (connected before the reload) now gets cut off at 50.
  EXPECT_TRUE(Flood(sender.get(), fast.get(), "g", 1000));
  EXPECT_TRUE(d->WaitForLog("closing #slow#n1 (127.0.0.1:"));
  EXPECT_TRUE(
      d->WaitForLog("slow consumer: 51 messages queued > max_backlog 50"));
}

TEST(ReloadTest, IdleTimeoutAndMessageSizeApplyLive) {
  auto d = StartMsgcd(ServerConfig(""));
  ASSERT_NE(d, nullptr);
  auto a = Client(*d, "a");
  auto quiet = Client(*d, "quiet");

  ASSERT_TRUE(d->Reconfigure(ServerConfig("  keepalive_interval = 0.1\n"
                                          "  idle_timeout = 0.4\n"
                                          "  max_message_size = 1K\n"))
                  .ok());
  ASSERT_TRUE(d->WaitForLog("msgc_server.idle_timeout changed"));
  ASSERT_TRUE(a->SendMessage({"g"}, std::string(2048, 'x'), 5).ok());
  ErrorMsg e;
  ASSERT_TRUE(a->ExpectErrorCode(ErrorCode::kTooLarge, false, &e));
  // The existing quiet connection now times out.
  ASSERT_TRUE(quiet->ExpectErrorCode(ErrorCode::kIdleTimeout, true, nullptr,
                                     milliseconds{3000}));
  EXPECT_TRUE(quiet->ExpectClosed());
  // A new client's WELCOME announces the new values.
  RawClient c;
  ASSERT_TRUE(c.Connect(d->port()).ok());
  WelcomeMsg w;
  ASSERT_TRUE(c.Handshake("c", &w));
  EXPECT_EQ(w.max_message_size, 1024u);
  EXPECT_EQ(w.keepalive_ms, 100u);
  EXPECT_EQ(w.idle_timeout_ms, 400u);
}

TEST(ReloadTest, PortChangeRebindsListenerKeepsConnections) {
  auto d = StartMsgcd(ServerConfig(""));
  ASSERT_NE(d, nullptr);
  const uint16_t old_port = d->port();
  auto a = Client(*d, "a");
  ASSERT_TRUE(a->JoinAndWait("g"));

  const uint16_t new_port = PickFreePort();
  ASSERT_NE(new_port, old_port);
  const std::string text =
      "msgc_server {\n  port = " + std::to_string(new_port) +
      "\n  debug_level = INFO\n}\n";
  ASSERT_TRUE(d->Reconfigure(text).ok());
  ASSERT_TRUE(
      d->WaitForLog("listening on 127.0.0.1:" + std::to_string(new_port)));
  // New clients use the new port; the old one is closed.
  auto b = Client(*d, "b", new_port);
  RawClient old;
  EXPECT_FALSE(old.Connect(old_port).ok());
  // The existing connection carried on.
  ASSERT_TRUE(b->JoinAndWait("g"));
  MembershipMsg m;
  ASSERT_TRUE(a->ExpectMembership(&m));
  EXPECT_EQ(m.MemberNames(), (std::vector<std::string>{"#a#n1", "#b#n1"}));
}

TEST(ReloadTest, UnchangedConfigIsNoop) {
  auto d = StartMsgcd(ServerConfig(""));
  ASSERT_NE(d, nullptr);
  ASSERT_TRUE(d->Reconfigure(ServerConfig("")).ok());
  EXPECT_TRUE(d->WaitForLog("configuration unchanged"));
}

}  // namespace
}  // namespace msgc::test
