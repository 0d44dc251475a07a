// msgcd integration tests: misbehaving clients. A malformed frame, a client
// that stops reading or one that goes silent loses its own connection only;
// everyone else carries on, the reason is logged and memory stays bounded.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/msgcd_process.h"
#include "support/raw_client.h"
#include "support/test_support.h"

namespace msgc::test {
namespace {

using wire::ErrorCode;
using Names = std::vector<std::string>;

std::unique_ptr<RawClient> Client(const Msgcd& d, const std::string& name,
                                  int rcvbuf = 0) {
  return ConnectRawClient(d.port(), name, rcvbuf);
}

// An 8-byte frame header.
std::string Header(uint32_t len, uint8_t type, uint8_t flags = 0,
                   uint16_t reserved = 0) {
  std::string h(8, '\0');
  for (int i = 0; i < 4; ++i) h[i] = static_cast<char>(len >> (8 * i));
  h[4] = static_cast<char>(type);
  h[5] = static_cast<char>(flags);
  h[6] = static_cast<char>(reserved & 0xff);
  h[7] = static_cast<char>(reserved >> 8);
  return h;
}

constexpr char kBaseConfig[] = R"(
msgc_server {
  port = @PORT@
  debug_level = INFO
}
)";

class MalformedFrameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = StartMsgcd(kBaseConfig);
    ASSERT_NE(d_, nullptr);
    a_ = Client(*d_, "a");
    b_ = Client(*d_, "b");
    ASSERT_TRUE(a_->JoinAndWait("g"));
    ASSERT_TRUE(b_->JoinAndWait("g"));
    ASSERT_TRUE(a_->ExpectMembership());
  }
  // The bystanders still talk to each other.
  void ExpectOthersCarryOn() {
    ASSERT_TRUE(
        a_->SendMessage({"g"}, "still here", 1, wire::kSendSelfDiscard).ok());
    DeliverMsg m;
    ASSERT_TRUE(b_->ExpectDeliver(&m));
    EXPECT_EQ(m.data, "still here");
  }
  std::unique_ptr<Msgcd> d_;
  std::unique_ptr<RawClient> a_, b_;
};

TEST_F(MalformedFrameTest, ReservedFieldClosesOnlyThatConnection) {
  auto bad = Client(*d_, "bad");
  ASSERT_TRUE(bad->JoinAndWait("g"));
  ASSERT_TRUE(a_->ExpectMembership());
  ASSERT_TRUE(b_->ExpectMembership());

  ASSERT_TRUE(bad->SendBytes(Header(0, 0x04, 0, 0x1234)).ok());
  ErrorMsg e;
  ASSERT_TRUE(bad->ExpectErrorCode(ErrorCode::kBadFrame, true, &e));
  EXPECT_NE(e.text.find("reserved"), std::string::npos) << e.text;
  EXPECT_TRUE(bad->ExpectClosed());

  // Its group sees it disconnect; the others carry on.
  MembershipMsg m;
  ASSERT_TRUE(a_->ExpectMembership(&m));
  EXPECT_EQ(m.cause, wire::Cause::kDisconnect);
  EXPECT_EQ(m.ChangedNames(), Names{"#bad#n1"});
  ASSERT_TRUE(b_->ExpectMembership(&m));
  ExpectOthersCarryOn();
  EXPECT_TRUE(d_->WaitForLog("closing #bad#n1 (127.0.0.1:"));
  EXPECT_TRUE(
      d_->WaitForLog("protocol error: malformed frame: NOOP frame "
                     "with reserved field 0x1234"));
}

TEST_F(MalformedFrameTest, UnknownFrameTypeBeforeHello) {
  RawClient bad;
  ASSERT_TRUE(bad.Connect(d_->port()).ok());
  ASSERT_TRUE(bad.SendBytes(Header(3, 0x99) + "abc").ok());
  ASSERT_TRUE(bad.ExpectErrorCode(ErrorCode::kBadFrame, true));
  EXPECT_TRUE(bad.ExpectClosed());
  EXPECT_TRUE(d_->WaitForLog("unknown frame type 0x99"));
  ExpectOthersCarryOn();
}

TEST_F(MalformedFrameTest, BadBodyIsBadFrame) {
  auto bad = Client(*d_, "bad");
  // A JOIN whose group length runs past the end of the body.
  std::string body =
      "\x10\x00"
      "abc";
  ASSERT_TRUE(bad->SendBytes(Header(body.size(), 0x10) + body).ok());
  ErrorMsg e;
  ASSERT_TRUE(bad->ExpectErrorCode(ErrorCode::kBadFrame, true, &e));
  EXPECT_EQ(e.request, wire::FrameType::kJoin);
  EXPECT_TRUE(bad->ExpectClosed());
  EXPECT_TRUE(d_->WaitForLog("closing #bad#n1"));
  EXPECT_TRUE(d_->WaitForLog("malformed JOIN frame"));
  ExpectOthersCarryOn();
}

TEST_F(MalformedFrameTest, ServerOnlyFrameFromClientIsUnexpected) {
  auto bad = Client(*d_, "bad");
  std::string deliver;
  const std::string_view g[] = {"g"};
  wire::EncodeDeliver(wire::Service::kFifo, 0, "#x#n1", g, "forged", &deliver);
  ASSERT_TRUE(bad->SendBytes(deliver).ok());
  ASSERT_TRUE(bad->ExpectErrorCode(ErrorCode::kUnexpected, true));
  EXPECT_TRUE(bad->ExpectClosed());
  EXPECT_TRUE(b_->ExpectNothing(milliseconds{50}));
  ExpectOthersCarryOn();
}

TEST(SlowConsumerTest, ClientThatStopsReadingIsDisconnected) {
  auto d = StartMsgcd(R"(
msgc_server {
  port = @PORT@
  debug_level = INFO
  max_backlog = 50
}
)");
  ASSERT_NE(d, nullptr);
  auto sender = Client(*d, "a");
  auto slow = Client(*d, "slow", /*rcvbuf=*/4096);
  auto fast = Client(*d, "fast");
  ASSERT_TRUE(slow->JoinAndWait("g"));
  ASSERT_TRUE(fast->JoinAndWait("g"));
  // From here on `slow` never reads again.

  constexpr int kMessages = 6000;
  constexpr int kBatch = 20;
  const std::string payload(32 * 1024, 'p');  // 192 MiB in all
  bool saw_disconnect = false;
  int delivered = 0;
  for (int i = 0; i < kMessages; i += kBatch) {
    std::string batch;
    const std::string_view g[] = {"g"};
    for (int j = 0; j < kBatch; ++j) {
      wire::EncodeSend(wire::Service::kFifo, 0, i + j, g, payload, &batch);
    }
    ASSERT_TRUE(sender->SendBytes(batch).ok());
    // `fast` keeps up: read everything this batch produced.
    for (int j = 0; j < kBatch;) {
      ReceivedFrame f;
      ASSERT_TRUE(fast->ReadFrame(&f).ok()) << "after " << delivered;
      if (f.header.type == wire::FrameType::kDeliver) {
        ++delivered;
        ++j;
        continue;
      }
      MembershipMsg m;
      ASSERT_EQ(f.header.type, wire::FrameType::kMembership) << Describe(f);
      wire::Membership w;
      ASSERT_TRUE(wire::DecodeMembership(f.frame(), &w).ok());
      EXPECT_EQ(w.cause, wire::Cause::kDisconnect);
      ASSERT_EQ(w.changed.size(), 1);
      EXPECT_EQ(w.changed.ToVector()[0].name, "#slow#n1");
      ASSERT_EQ(w.members.size(), 1);
      EXPECT_EQ(w.members.ToVector()[0].name, "#fast#n1");
      saw_disconnect = true;
    }
  }
  EXPECT_EQ(delivered, kMessages);
  EXPECT_TRUE(saw_disconnect);
  EXPECT_TRUE(d->WaitForLog("closing #slow#n1 (127.0.0.1:"));
  EXPECT_TRUE(
      d->WaitForLog("slow consumer: 51 messages queued > max_backlog 50"));
  // The slow client's connection is gone (it may still read what the kernel
  // buffered before the close).
  EXPECT_TRUE(slow->ExpectClosed(kDefaultTimeout));
  // Memory stayed bounded: nowhere near the 192 MiB that went through.
  // (Not under AddressSanitizer, whose quarantine keeps freed memory.)
#if !defined(__SANITIZE_ADDRESS__)
  const auto peak = ProcessPeakRss(d->pid());
  ASSERT_TRUE(peak.has_value());
  EXPECT_LT(*peak, 64u << 20) << "peak RSS " << (*peak >> 20) << " MiB";
#endif
}

TEST(IdleTimeoutTest, SilentClientIsClosedKeepaliveClientStays) {
  auto d = StartMsgcd(R"(
msgc_server {
  port = @PORT@
  debug_level = INFO
  keepalive_interval = 0.1
  idle_timeout = 0.5
}
)");
  ASSERT_NE(d, nullptr);
  auto silent = Client(*d, "silent");
  silent->set_skip_noops(false);
  auto chatty = Client(*d, "chatty");

  // The server's keepalives arrive, then the idle close.
  int noops = 0;
  ErrorMsg e;
  bool got_error = false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    ReceivedFrame f;
    Status s = silent->ReadFrame(&f, milliseconds{3000});
    if (!s.ok()) break;
    if (f.header.type == wire::FrameType::kNoop) {
      ++noops;
      // Meanwhile the other client proves it is alive.
      ASSERT_TRUE(chatty->SendNoop().ok());
      continue;
    }
    ASSERT_EQ(f.header.type, wire::FrameType::kError) << Describe(f);
    wire::Error w;
    ASSERT_TRUE(wire::DecodeError(f.frame(), &w).ok());
    EXPECT_EQ(w.code, ErrorCode::kIdleTimeout);
    EXPECT_TRUE(w.fatal);
    got_error = true;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(got_error);
  EXPECT_GE(noops, 2);
  EXPECT_GE(elapsed, milliseconds{400});
  EXPECT_LT(elapsed, milliseconds{2500});
  EXPECT_TRUE(d->WaitForLog("closing #silent#n1 (127.0.0.1:"));
  EXPECT_TRUE(d->WaitForLog("idle timeout: nothing received for 0.5s"));

  // The client that kept sending is still connected.
  ASSERT_TRUE(chatty->JoinAndWait("g"));

  // A connection that never says HELLO is closed too.
  RawClient mute;
  ASSERT_TRUE(mute.Connect(d->port()).ok());
  ASSERT_TRUE(mute.ExpectErrorCode(ErrorCode::kIdleTimeout, true, nullptr,
                                   milliseconds{3000}));
  EXPECT_TRUE(mute.ExpectClosed());
}

}  // namespace
}  // namespace msgc::test
