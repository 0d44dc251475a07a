// msgcd integration tests: message routing (docs/protocol.md §2): open
// groups, unicast, self-delivery, once-only delivery to the union of the
// destinations, FIFO across groups, large and too-large messages.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "support/msgcd_process.h"
#include "support/raw_client.h"

namespace msgc::test {
namespace {

using wire::ErrorCode;
using Names = std::vector<std::string>;

constexpr char kConfig[] = R"(
msgc_server {
  port = @PORT@
  debug_level = INFO
  max_backlog = 1000000
  max_message_size = 1M
}
)";

class MessagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = StartMsgcd(kConfig);
    ASSERT_NE(d_, nullptr);
  }
  std::unique_ptr<RawClient> Client(const std::string& name) {
    return ConnectRawClient(d_->port(), name);
  }
  // Joins every client to `group`, consuming all the membership events.
  void JoinAll(const std::string& group, std::vector<RawClient*> clients) {
    for (size_t i = 0; i < clients.size(); ++i) {
      ASSERT_TRUE(clients[i]->JoinAndWait(group));
      for (size_t j = 0; j < i; ++j) {
        ASSERT_TRUE(clients[j]->ExpectMembership());
      }
    }
  }
  std::string P(const std::string& s) { return d_->PrivateName(s); }

  std::unique_ptr<Msgcd> d_;
};

TEST_F(MessagingTest, NonMemberSendsToOpenGroup) {
  auto a = Client("a");
  auto b = Client("b");
  auto c = Client("c");
  JoinAll("g", {a.get(), b.get()});
  ASSERT_TRUE(c->SendMessage({"g"}, "hello", 7).ok());
  for (RawClient* x : {a.get(), b.get()}) {
    DeliverMsg m;
    ASSERT_TRUE(x->ExpectDeliver(&m));
    EXPECT_EQ(m.sender, P("c"));
    EXPECT_EQ(m.groups, Names{"g"});
    EXPECT_EQ(m.data, "hello");
    EXPECT_EQ(m.service, wire::Service::kFifo);
    EXPECT_EQ(m.flags, 0);
  }
  EXPECT_TRUE(c->ExpectNothing(milliseconds{100}));
}

TEST_F(MessagingTest, ServiceIsPreserved) {
  auto a = Client("a");
  JoinAll("g", {a.get()});
  ASSERT_TRUE(a->SendMessage({"g"}, "x", 1, 0, wire::Service::kAgreed).ok());
  DeliverMsg m;
  ASSERT_TRUE(a->ExpectDeliver(&m));
  EXPECT_EQ(m.service, wire::Service::kAgreed);
}

TEST_F(MessagingTest, SelfDeliveryUnlessSelfDiscard) {
  auto a = Client("a");
  auto b = Client("b");
  JoinAll("g", {a.get(), b.get()});

  ASSERT_TRUE(a->SendMessage({"g"}, "one").ok());
  DeliverMsg m;
  ASSERT_TRUE(a->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "one");
  EXPECT_EQ(m.sender, P("a"));
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "one");

  ASSERT_TRUE(a->SendMessage({"g"}, "two", 2, wire::kSendSelfDiscard).ok());
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "two");
  EXPECT_EQ(m.flags, wire::kSendSelfDiscard);  // flags as sent
  EXPECT_TRUE(a->ExpectNothing(milliseconds{100}));
}

TEST_F(MessagingTest, UnicastToPrivateName) {
  auto a = Client("a");
  auto b = Client("b");
  auto c = Client("c");
  JoinAll("g", {b.get(), c.get()});
  ASSERT_TRUE(a->SendMessage({P("b")}, "psst").ok());
  DeliverMsg m;
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.sender, P("a"));
  EXPECT_EQ(m.groups, Names{P("b")});
  EXPECT_EQ(m.data, "psst");
  EXPECT_TRUE(c->ExpectNothing(milliseconds{100}));
  EXPECT_TRUE(a->ExpectNothing(milliseconds{0}));

  // Unicast to oneself is self-delivery.
  ASSERT_TRUE(a->SendMessage({P("a")}, "me").ok());
  ASSERT_TRUE(a->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "me");
}

TEST_F(MessagingTest, UnknownRecipientIsReportedOthersStillGetIt) {
  auto a = Client("a");
  auto b = Client("b");
  JoinAll("g", {b.get()});
  const std::string nobody = "#nobody#n1";
  ASSERT_TRUE(a->SendMessage({"g", nobody}, "data", 42).ok());
  ErrorMsg e;
  ASSERT_TRUE(a->ExpectErrorCode(ErrorCode::kNoSuchRecipient, false, &e));
  EXPECT_EQ(e.subject, nobody);
  EXPECT_EQ(e.ref, 42u);
  EXPECT_EQ(e.request, wire::FrameType::kSend);
  DeliverMsg m;
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.groups, (Names{"g", nobody}));  // the full destination list
  // Not fatal.
  ASSERT_TRUE(a->SendMessage({"g"}, "again").ok());
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "again");
}

TEST_F(MessagingTest, MessageToSeveralGroupsIsDeliveredOnce) {
  auto a = Client("a");
  auto b = Client("b");
  auto c = Client("c");
  JoinAll("g1", {b.get()});
  JoinAll("g2", {b.get(), c.get()});
  ASSERT_TRUE(a->SendMessage({"g1", "g2", P("b")}, "once").ok());
  DeliverMsg m;
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.groups, (Names{"g1", "g2", P("b")}));
  ASSERT_TRUE(c->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "once");
  EXPECT_TRUE(b->ExpectNothing(milliseconds{100}));
  EXPECT_TRUE(c->ExpectNothing(milliseconds{0}));
}

// Deliveries are batched per loop turn (server.h, "Routing"): a view
// change, an ERROR and the deliveries of other routes still reach each
// member in the agreed order. `s` sends, in one write, a burst to g, one
// message to g2 (another route) and one to a missing private name (an
// ERROR to s), another burst, then LEAVE g: r sees all of it in order,
// then the MEMBERSHIP (delivered in the same turn as the last messages).
TEST_F(MessagingTest, BatchedDeliveriesKeepTheirPlaceBeforeViewsAndErrors) {
  constexpr int kBurst = 2000;
  auto s = Client("s");
  auto r = Client("r");
  JoinAll("g", {s.get(), r.get()});
  JoinAll("g2", {r.get()});
  std::string bytes;
  uint64_t id = 0;
  const std::vector<std::string_view> g = {"g"};
  auto burst = [&](const std::string& prefix) {
    for (int i = 0; i < kBurst; ++i) {
      wire::EncodeSend(wire::Service::kFifo, wire::kSendSelfDiscard, ++id, g,
                       prefix + std::to_string(i), &bytes);
    }
  };
  burst("a");
  const std::vector<std::string_view> g2 = {"g2"};
  wire::EncodeSend(wire::Service::kFifo, 0, ++id, g2, "other route", &bytes);
  const std::vector<std::string_view> nobody = {"#nobody#x"};
  wire::EncodeSend(wire::Service::kFifo, 0, ++id, nobody, "lost", &bytes);
  burst("b");
  wire::EncodeLeave(wire::Leave{"g"}, &bytes);
  ASSERT_TRUE(s->SendBytes(bytes).ok());

  DeliverMsg m;
  for (int i = 0; i < kBurst; ++i) {
    ASSERT_TRUE(r->ExpectDeliver(&m)) << "message a" << i;
    ASSERT_EQ(m.data, "a" + std::to_string(i));
  }
  ASSERT_TRUE(r->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "other route");
  for (int i = 0; i < kBurst; ++i) {
    ASSERT_TRUE(r->ExpectDeliver(&m)) << "message b" << i;
    ASSERT_EQ(m.data, "b" + std::to_string(i));
  }
  MembershipMsg v;
  ASSERT_TRUE(r->ExpectMembership(&v));
  EXPECT_EQ(v.cause, wire::Cause::kLeave);
  EXPECT_EQ(v.ChangedNames(), Names{P("s")});
  EXPECT_TRUE(r->ExpectNothing(milliseconds{100}));

  // s: no self-delivery, the ERROR for the missing name, its SELF_LEAVE.
  ASSERT_TRUE(s->ExpectErrorCode(ErrorCode::kNoSuchRecipient, false));
  ASSERT_TRUE(s->ExpectMembership(&v));
  EXPECT_EQ(v.cause, wire::Cause::kLeave);
  EXPECT_TRUE(s->ExpectNothing(milliseconds{100}));
}

// Per-sender FIFO holds across groups: messages to g1, g2 and both arrive
// in send order at a member of both.
TEST_F(MessagingTest, FifoAcrossGroupsOver100kMessages) {
  constexpr int kMessages = 100000;
  constexpr int kBatch = 500;
  auto sender = Client("s");
  auto r = Client("r");
  auto only1 = Client("o");
  JoinAll("g1", {r.get(), only1.get()});
  JoinAll("g2", {r.get()});

  std::thread t([&] {
    std::string batch;
    for (int i = 0; i < kMessages; ++i) {
      const std::string data = std::to_string(i);
      switch (i % 3) {
        case 0: {
          const std::string_view g[] = {"g1"};
          wire::EncodeSend(wire::Service::kFifo, 0, i, g, data, &batch);
          break;
        }
        case 1: {
          const std::string_view g[] = {"g2"};
          wire::EncodeSend(wire::Service::kFifo, 0, i, g, data, &batch);
          break;
        }
        default: {
          const std::string_view g[] = {"g2", "g1"};
          wire::EncodeSend(wire::Service::kFifo, 0, i, g, data, &batch);
          break;
        }
      }
      if ((i + 1) % kBatch == 0) {
        ASSERT_TRUE(sender->SendBytes(batch).ok());
        batch.clear();
      }
    }
    ASSERT_TRUE(sender->SendBytes(batch).ok());
  });

  int next_o = 0;
  for (int i = 0; i < kMessages; ++i) {
    ReceivedFrame f;
    ASSERT_TRUE(r->ReadFrame(&f).ok()) << "message " << i;
    wire::Deliver d;
    ASSERT_TRUE(wire::DecodeDeliver(f.frame(), &d).ok()) << Describe(f);
    ASSERT_EQ(d.data, std::to_string(i));
    // Drain the g1-only member as we go so its queue stays short.
    if (i % 3 != 1) {
      ASSERT_TRUE(only1->ReadFrame(&f).ok());
      ASSERT_TRUE(wire::DecodeDeliver(f.frame(), &d).ok());
      while (next_o % 3 == 1) ++next_o;
      ASSERT_EQ(d.data, std::to_string(next_o));
      ++next_o;
    }
  }
  t.join();
  EXPECT_TRUE(r->ExpectNothing(milliseconds{50}));
}

TEST_F(MessagingTest, TooLargeMessageIsRefusedAndConnectionKeepsWorking) {
  auto a = Client("a");
  auto b = Client("b");
  JoinAll("g", {b.get()});

  // Just over the limit: the frame is read and the error names its msg_id.
  ASSERT_TRUE(a->SendMessage({"g"}, std::string((1 << 20) + 1, 'x'), 9).ok());
  ErrorMsg e;
  ASSERT_TRUE(a->ExpectErrorCode(ErrorCode::kTooLarge, false, &e));
  EXPECT_EQ(e.ref, 9u);
  EXPECT_EQ(e.request, wire::FrameType::kSend);

  // Far over: the body is skipped unread (ref unknown = 0).
  ASSERT_TRUE(a->SendMessage({"g"}, std::string(3 << 20, 'y'), 10).ok());
  ASSERT_TRUE(a->ExpectErrorCode(ErrorCode::kTooLarge, false, &e));
  EXPECT_EQ(e.ref, 0u);

  // Exactly at the limit is fine, and the stream is still in sync.
  ASSERT_TRUE(a->SendMessage({"g"}, std::string(1 << 20, 'z'), 11).ok());
  ASSERT_TRUE(a->SendMessage({"g"}, "small", 12).ok());
  DeliverMsg m;
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.data.size(), 1u << 20);
  ASSERT_TRUE(b->ExpectDeliver(&m));
  EXPECT_EQ(m.data, "small");
  EXPECT_TRUE(b->ExpectNothing(milliseconds{50}));
}

TEST(LargeMessageTest, SixteenMebibyteRoundTrip) {
  auto d = StartMsgcd("msgc_server {\n  port = @PORT@\n}\n");
  ASSERT_NE(d, nullptr);
  RawClient a, b;
  ASSERT_TRUE(a.Connect(d->port()).ok());
  ASSERT_TRUE(b.Connect(d->port()).ok());
  ASSERT_TRUE(a.Handshake("a"));
  ASSERT_TRUE(b.Handshake("b"));
  ASSERT_TRUE(a.JoinAndWait("big"));
  ASSERT_TRUE(b.JoinAndWait("big"));
  ASSERT_TRUE(a.ExpectMembership());

  std::string data(16 << 20, '\0');
  uint32_t x = 12345;
  for (char& ch : data) {
    x = x * 1103515245 + 12345;
    ch = static_cast<char>(x >> 24);
  }
  ASSERT_TRUE(a.SendMessage({"big"}, data, 1).ok());
  for (RawClient* c : {&a, &b}) {
    DeliverMsg m;
    ASSERT_TRUE(c->ExpectDeliver(&m, milliseconds{20000}));
    EXPECT_EQ(m.sender, "#a#n1");
    ASSERT_EQ(m.data.size(), data.size());
    EXPECT_TRUE(m.data == data);
  }
}

}  // namespace
}  // namespace msgc::test
