// libmsgc against a real msgcd: views, sending, unicast, self-discard,
// large and too-large messages, callbacks, the pollable fd, errors.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <set>
#include <thread>

#include "msgc/client.h"
#include "support/msgcd_process.h"

namespace msgc {
namespace {

using std::chrono::milliseconds;
using test::Msgcd;
using test::StartMsgcd;

constexpr milliseconds kWait{5000};

std::unique_ptr<Client> Open(uint16_t port, const std::string& name,
                             ClientOptions o = ClientOptions()) {
  o.servers = {"127.0.0.1:" + std::to_string(port)};
  o.name = name;
  o.connect_timeout = 5;
  std::unique_ptr<Client> c;
  Result r = Client::Connect(o, &c);
  EXPECT_TRUE(r.ok()) << r.ToString();
  return c;
}

// The next event of `type`, skipping connection events; any other event
// is a failure.
::testing::AssertionResult Next(Client* c, Event::Type type, Event* ev,
                                milliseconds timeout = kWait) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = milliseconds(0);
    Result r = c->Receive(ev, left);
    if (!r.ok()) return ::testing::AssertionFailure() << r.ToString();
    if (ev->type == type) return ::testing::AssertionSuccess();
    if (ev->type == Event::Type::kConnected ||
        ev->type == Event::Type::kDisconnected) {
      continue;
    }
    return ::testing::AssertionFailure()
           << "unexpected event type " << static_cast<int>(ev->type)
           << (ev->type == Event::Type::kMessage ? " data=" + ev->message.data
                                                 : "")
           << (ev->type == Event::Type::kError ? " error=" + ev->error.text
                                               : "");
  }
}

std::vector<std::string> Names(const std::vector<Member>& list) {
  std::vector<std::string> out;
  for (const Member& m : list) out.push_back(m.name);
  return out;
}

using V = std::vector<std::string>;

class ClientBasicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = StartMsgcd("msgc_server { port = @PORT@ }");
    ASSERT_NE(d_, nullptr);
  }
  std::string Name(const std::string& session) {
    return d_->PrivateName(session);
  }
  std::unique_ptr<Msgcd> d_;
};

TEST_F(ClientBasicTest, ConnectGivesPrivateNameAndLimits) {
  auto a = Open(d_->port(), "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->PrivateName(), Name("a"));
  EXPECT_TRUE(a->IsConnected());
  EXPECT_EQ(a->MaxMessageSize(), 64u << 20);
  Event ev;
  ASSERT_TRUE(Next(a.get(), Event::Type::kConnected, &ev));
  EXPECT_FALSE(ev.connection.reconnect);
  EXPECT_EQ(ev.connection.private_name, Name("a"));
  EXPECT_EQ(ev.connection.server, "127.0.0.1:" + std::to_string(d_->port()));
}

TEST_F(ClientBasicTest, ServerPicksANameThatIsKept) {
  auto a = Open(d_->port(), "");
  ASSERT_NE(a, nullptr);
  std::string name = a->PrivateName();
  EXPECT_EQ(name.front(), '#');
  EXPECT_NE(name.find("#" + d_->node()), std::string::npos);
}

TEST_F(ClientBasicTest, NameInUseIsRefused) {
  auto a = Open(d_->port(), "a");
  ASSERT_NE(a, nullptr);
  ClientOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(d_->port())};
  o.name = "a";
  std::unique_ptr<Client> b;
  Result r = Client::Connect(o, &b);
  EXPECT_EQ(r.code(), Result::Code::kAlreadyExists) << r.ToString();
  EXPECT_NE(r.message().find("NAME_IN_USE"), std::string::npos);
  EXPECT_EQ(b, nullptr);
}

TEST_F(ClientBasicTest, JoinLeaveDisconnectViews) {
  auto a = Open(d_->port(), "a");
  auto b = Open(d_->port(), "b");
  auto c = Open(d_->port(), "c");
  ASSERT_TRUE(a && b && c);
  std::set<std::string> views;
  Event ev;

  ASSERT_TRUE(a->Join("g", "caps-a").ok());
  ASSERT_TRUE(Next(a.get(), Event::Type::kMembership, &ev));
  EXPECT_EQ(ev.membership.group, "g");
  EXPECT_EQ(ev.membership.cause, MembershipCause::kJoin);
  EXPECT_EQ(Names(ev.membership.changed), V{Name("a")});
  EXPECT_EQ(Names(ev.membership.members), V{Name("a")});
  EXPECT_EQ(ev.membership.members[0].capabilities, "caps-a");
  EXPECT_FALSE(ev.membership.transitional);
  EXPECT_FALSE(ev.membership.self_leave);
  views.insert(ev.membership.view);

  ASSERT_TRUE(b->Join("g", "caps-b").ok());
  Event eb;
  ASSERT_TRUE(Next(a.get(), Event::Type::kMembership, &ev));
  ASSERT_TRUE(Next(b.get(), Event::Type::kMembership, &eb));
  for (const Event* e : {&ev, &eb}) {
    EXPECT_EQ(e->membership.cause, MembershipCause::kJoin);
    EXPECT_EQ(Names(e->membership.changed), V{Name("b")});
    EXPECT_EQ(Names(e->membership.members), (V{Name("a"), Name("b")}));
    EXPECT_EQ(e->membership.members[1].capabilities, "caps-b");
  }
  EXPECT_EQ(ev.membership.view, eb.membership.view);
  EXPECT_EQ(ev.membership.gid, eb.membership.gid);
  views.insert(ev.membership.view);

  ASSERT_TRUE(c->Join("g", "").ok());
  for (Client* x : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(Next(x, Event::Type::kMembership, &ev));
    EXPECT_EQ(Names(ev.membership.members),
              (V{Name("a"), Name("b"), Name("c")}));
    views.insert(ev.membership.view);
  }
  EXPECT_EQ(views.size(), 3u);

  // b leaves: b gets a self-leave, the others a leave.
  ASSERT_TRUE(b->Leave("g").ok());
  ASSERT_TRUE(Next(b.get(), Event::Type::kMembership, &ev));
  EXPECT_EQ(ev.membership.cause, MembershipCause::kLeave);
  EXPECT_TRUE(ev.membership.self_leave);
  EXPECT_EQ(Names(ev.membership.changed), V{Name("b")});
  EXPECT_TRUE(ev.membership.members.empty());
  for (Client* x : {a.get(), c.get()}) {
    ASSERT_TRUE(Next(x, Event::Type::kMembership, &ev));
    EXPECT_EQ(ev.membership.cause, MembershipCause::kLeave);
    EXPECT_FALSE(ev.membership.self_leave);
    EXPECT_EQ(Names(ev.membership.changed), V{Name("b")});
    EXPECT_EQ(Names(ev.membership.members), (V{Name("a"), Name("c")}));
  }
  views.insert(ev.membership.view);
  EXPECT_EQ(b->Leave("g").code(), Result::Code::kNotFound);

  // c goes away: a sees a disconnect.
  c->Close();
  ASSERT_TRUE(Next(a.get(), Event::Type::kMembership, &ev));
  EXPECT_EQ(ev.membership.cause, MembershipCause::kDisconnect);
  EXPECT_EQ(Names(ev.membership.changed), V{Name("c")});
  EXPECT_EQ(Names(ev.membership.members), V{Name("a")});
  views.insert(ev.membership.view);
  EXPECT_EQ(views.size(), 5u);
}

TEST_F(ClientBasicTest, OpenGroupMultiGroupAndServices) {
  auto r = Open(d_->port(), "r");
  auto s = Open(d_->port(), "s");
  ASSERT_TRUE(r && s);
  Event ev;
  ASSERT_TRUE(r->Join("g1", "").ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMembership, &ev));
  ASSERT_TRUE(r->Join("g2", "").ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMembership, &ev));

  // s is not a member: groups are open.
  ASSERT_TRUE(s->Multicast("g1", "one").ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.sender, Name("s"));
  EXPECT_EQ(ev.message.groups, V{"g1"});
  EXPECT_EQ(ev.message.service, Service::kFifo);
  EXPECT_EQ(ev.message.data, "one");

  // Both groups: delivered once, with the whole list.
  SendOptions agreed;
  agreed.service = Service::kAgreed;
  ASSERT_TRUE(s->Send({"g1", "g2"}, std::string("t\0wo", 4), agreed).ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.groups, (V{"g1", "g2"}));
  EXPECT_EQ(ev.message.service, Service::kAgreed);
  EXPECT_EQ(ev.message.data, std::string("t\0wo", 4));

  SendOptions safe;
  safe.service = Service::kSafe;
  ASSERT_TRUE(s->Multicast("g2", "three", safe).ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.service, Service::kSafe);
  EXPECT_EQ(ev.message.data, "three");
  // Nothing else (in particular no duplicate).
  EXPECT_EQ(r->Receive(&ev, milliseconds(100)).code(), Result::Code::kTimedOut);
}

TEST_F(ClientBasicTest, Unicast) {
  auto a = Open(d_->port(), "a");
  auto b = Open(d_->port(), "b");
  ASSERT_TRUE(a && b);
  Event ev;
  ASSERT_TRUE(a->Unicast(b->PrivateName(), "psst").ok());
  ASSERT_TRUE(Next(b.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.sender, Name("a"));
  EXPECT_EQ(ev.message.groups, V{Name("b")});
  EXPECT_EQ(ev.message.data, "psst");

  // An unknown private name: a non-fatal error naming it.
  ASSERT_TRUE(a->Unicast(Name("nobody"), "x").ok());
  ASSERT_TRUE(Next(a.get(), Event::Type::kError, &ev));
  EXPECT_EQ(ev.error.code_name, "NO_SUCH_RECIPIENT");
  EXPECT_EQ(ev.error.subject, Name("nobody"));
  EXPECT_FALSE(ev.error.fatal);
  EXPECT_TRUE(a->IsConnected());
  // Malformed private names are refused locally.
  EXPECT_EQ(a->Unicast("#nobody", "x").code(), Result::Code::kInvalidArgument);
  EXPECT_EQ(a->Unicast("plain", "x").code(), Result::Code::kInvalidArgument);
}

TEST_F(ClientBasicTest, SelfDeliveryAndSelfDiscard) {
  auto a = Open(d_->port(), "a");
  ASSERT_NE(a, nullptr);
  Event ev;
  ASSERT_TRUE(a->Join("g", "").ok());
  ASSERT_TRUE(Next(a.get(), Event::Type::kMembership, &ev));
  SendOptions discard;
  discard.self_discard = true;
  ASSERT_TRUE(a->Multicast("g", "dropped", discard).ok());
  ASSERT_TRUE(a->Multicast("g", "kept").ok());
  ASSERT_TRUE(Next(a.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.data, "kept");
  EXPECT_EQ(ev.message.sender, Name("a"));
  EXPECT_FALSE(ev.message.self_discard);
}

TEST_F(ClientBasicTest, SixteenMiBMessage) {
  auto r = Open(d_->port(), "r");
  auto s = Open(d_->port(), "s");
  ASSERT_TRUE(r && s);
  Event ev;
  ASSERT_TRUE(r->Join("g", "").ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMembership, &ev));
  std::string big(16 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131);
  ASSERT_TRUE(s->Multicast("g", big).ok());
  ASSERT_TRUE(s->Multicast("g", "after").ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMessage, &ev, milliseconds(20000)));
  EXPECT_EQ(ev.message.data.size(), big.size());
  EXPECT_TRUE(ev.message.data == big);
  ASSERT_TRUE(Next(r.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.data, "after");
}

TEST(ClientLimitsTest, TooLargeIsRefusedLocally) {
  auto d =
      StartMsgcd("msgc_server { port = @PORT@ max_message_size = 1048576 }");
  ASSERT_NE(d, nullptr);
  auto r = Open(d->port(), "r");
  auto s = Open(d->port(), "s");
  ASSERT_TRUE(r && s);
  EXPECT_EQ(s->MaxMessageSize(), 1048576u);
  Event ev;
  ASSERT_TRUE(r->Join("g", "").ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMembership, &ev));
  Result res = s->Multicast("g", std::string(1048577, 'x'));
  EXPECT_EQ(res.code(), Result::Code::kTooLarge) << res.ToString();
  EXPECT_EQ(
      s->Send({"g", "h"}, std::string(1048577, 'x'), SendOptions()).code(),
      Result::Code::kTooLarge);
  ASSERT_TRUE(s->Multicast("g", std::string(1048576, 'y')).ok());
  ASSERT_TRUE(Next(r.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.data.size(), 1048576u);
  EXPECT_TRUE(s->IsConnected());
}

TEST_F(ClientBasicTest, LocalValidation) {
  auto a = Open(d_->port(), "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->Join("", "").code(), Result::Code::kInvalidArgument);
  EXPECT_EQ(a->Join("#x#y", "").code(), Result::Code::kInvalidArgument);
  EXPECT_EQ(a->Join(std::string(256, 'g'), "").code(),
            Result::Code::kInvalidArgument);
  EXPECT_EQ(a->Join("g", std::string(65536, 'c')).code(),
            Result::Code::kInvalidArgument);
  EXPECT_EQ(a->Send({}, "x", SendOptions()).code(),
            Result::Code::kInvalidArgument);
  EXPECT_EQ(
      a->Send(std::vector<std::string>(65, "g"), "x", SendOptions()).code(),
      Result::Code::kInvalidArgument);
  EXPECT_EQ(a->Leave("never").code(), Result::Code::kNotFound);
  a->Close();
  EXPECT_FALSE(a->IsConnected());
  EXPECT_EQ(a->Multicast("g", "x").code(), Result::Code::kNotConnected);
  EXPECT_EQ(a->Join("g", "").code(), Result::Code::kNotConnected);
  EXPECT_TRUE(a->Close().ok());  // idempotent
}

TEST_F(ClientBasicTest, CloseIsCleanAndReported) {
  auto a = Open(d_->port(), "a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->Multicast("nobody-listens", "x").ok());
  ASSERT_TRUE(a->Close().ok());
  Event ev;
  ASSERT_TRUE(Next(a.get(), Event::Type::kDisconnected, &ev));
  EXPECT_TRUE(ev.connection.reason.ok()) << ev.connection.reason.ToString();
  EXPECT_EQ(ev.connection.unsent_messages, 0u);
  EXPECT_EQ(a->Receive(&ev, milliseconds(0)).code(),
            Result::Code::kNotConnected);
}

TEST_F(ClientBasicTest, CallbacksRunOnTheIoThread) {
  auto a = Open(d_->port(), "a");
  auto s = Open(d_->port(), "s");
  ASSERT_TRUE(a && s);
  std::mutex mu;
  std::vector<std::string> seen;
  std::atomic<bool> other_thread{true};
  const auto test_thread = std::this_thread::get_id();
  Client::Callbacks cbs;
  cbs.on_message = [&](const MessageEvent& m) {
    if (std::this_thread::get_id() == test_thread) other_thread = false;
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back("msg:" + m.data);
  };
  cbs.on_membership = [&](const MembershipEvent& m) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back("view:" + std::to_string(m.members.size()));
  };
  a->SetCallbacks(cbs);
  ASSERT_TRUE(a->Join("g", "").ok());
  ASSERT_TRUE(test::WaitFor(kWait, [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() == 1;
  }));
  ASSERT_TRUE(s->Multicast("g", "x").ok());
  ASSERT_TRUE(test::WaitFor(kWait, [&] {
    std::lock_guard<std::mutex> lock(mu);
    return seen.size() == 2;
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen, (V{"view:1", "msg:x"}));
  EXPECT_TRUE(other_thread);
}

TEST_F(ClientBasicTest, EventFdIsPollable) {
  auto a = Open(d_->port(), "a");
  ASSERT_NE(a, nullptr);
  Event ev;
  while (a->Receive(&ev, milliseconds(0)).ok()) {
  }
  pollfd p{a->EventFd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  ASSERT_TRUE(a->Join("g", "").ok());
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  ASSERT_TRUE(a->Receive(&ev, milliseconds(0)).ok());
  EXPECT_EQ(ev.type, Event::Type::kMembership);
  EXPECT_EQ(poll(&p, 1, 0), 0);
}

}  // namespace
}  // namespace msgc
