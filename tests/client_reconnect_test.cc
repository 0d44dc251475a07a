// libmsgc reconnection: msgcd killed (by PID) and restarted on the same
// port, fail-over along the server list, first connection in list order.
#include <gtest/gtest.h>
#include <signal.h>

#include <set>

#include "msgc/client.h"
#include "support/msgcd_process.h"

namespace msgc {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using test::Msgcd;
using test::StartMsgcd;

test::MsgcdOptions Node(const std::string& name) {
  test::MsgcdOptions o;
  o.node = name;
  return o;
}

std::string Addr(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

std::unique_ptr<Client> Open(std::vector<std::string> servers,
                             const std::string& name) {
  ClientOptions o;
  o.servers = std::move(servers);
  o.name = name;
  o.connect_timeout = 2;
  o.reconnect_interval = 0.2;
  std::unique_ptr<Client> c;
  Result r = Client::Connect(o, &c);
  EXPECT_TRUE(r.ok()) << r.ToString();
  return c;
}

// Waits for the first event matching `pred`, skipping others.
template <typename Pred>
::testing::AssertionResult WaitEvent(Client* c, Event* ev, Pred pred,
                                     milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Result r = c->Receive(ev, std::max(left, milliseconds(0)));
    if (!r.ok()) return ::testing::AssertionFailure() << r.ToString();
    if (pred(*ev)) return ::testing::AssertionSuccess();
  }
}

bool IsConnected(const Event& e) { return e.type == Event::Type::kConnected; }
bool IsDisconnected(const Event& e) {
  return e.type == Event::Type::kDisconnected;
}

std::set<std::string> MemberNames(const MembershipEvent& m) {
  std::set<std::string> out;
  for (const Member& x : m.members) out.insert(x.name);
  return out;
}

void KillMsgcd(std::unique_ptr<Msgcd>* d) {
  (*d)->process().Kill(SIGKILL);
  EXPECT_TRUE((*d)->process().Wait(milliseconds(5000)).has_value());
  d->reset();
}

TEST(ClientReconnectTest, RestartedServerGetsOurGroupsBack) {
  auto d = StartMsgcd("msgc_server { port = @PORT@ }");
  ASSERT_NE(d, nullptr);
  const uint16_t port = d->port();
  auto a = Open({Addr(port)}, "a");
  auto b = Open({Addr(port)}, "b");
  ASSERT_TRUE(a && b);
  Event ev;
  auto view_of = [](std::set<std::string> want, std::string group = "g") {
    return [want, group](const Event& e) {
      return e.type == Event::Type::kMembership &&
             e.membership.group == group && MemberNames(e.membership) == want;
    };
  };
  const std::string pa = d->PrivateName("a"), pb = d->PrivateName("b");
  ASSERT_TRUE(a->Join("g", "caps-a").ok());
  ASSERT_TRUE(a->Join("h", "").ok());
  ASSERT_TRUE(b->Join("g", "caps-b").ok());
  ASSERT_TRUE(WaitEvent(b.get(), &ev, view_of({pa, pb}), milliseconds(5000)));
  const std::string old_view = ev.membership.view;

  KillMsgcd(&d);
  ASSERT_TRUE(WaitEvent(a.get(), &ev, IsDisconnected, milliseconds(5000)));
  EXPECT_EQ(ev.connection.server, Addr(port));
  EXPECT_FALSE(ev.connection.reason.ok());
  EXPECT_EQ(a->Multicast("g", "lost?").code(), Result::Code::kNotConnected);

  d = StartMsgcd("msgc_server { port = " + std::to_string(port) + " }");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->port(), port);

  ASSERT_TRUE(WaitEvent(
      a.get(), &ev,
      [](const Event& e) { return IsConnected(e) && e.connection.reconnect; },
      milliseconds(10000)));
  EXPECT_EQ(ev.connection.private_name, pa);  // same session name
  EXPECT_EQ(a->PrivateName(), pa);
  // b sees a's join again, with a's capabilities, in a new view.
  ASSERT_TRUE(WaitEvent(b.get(), &ev, view_of({pa, pb}), milliseconds(10000)));
  EXPECT_NE(ev.membership.view, old_view);
  for (const Member& m : ev.membership.members) {
    EXPECT_EQ(m.capabilities, m.name == pa ? "caps-a" : "caps-b");
  }
  // a is back in h as well, and messages flow again.
  ASSERT_TRUE(WaitEvent(a.get(), &ev, view_of({pa}, "h"), milliseconds(5000)));
  ASSERT_TRUE(
      test::WaitFor(milliseconds(5000), [&] { return a->IsConnected(); }));
  ASSERT_TRUE(a->Multicast("g", "back").ok());
  ASSERT_TRUE(WaitEvent(
      b.get(), &ev,
      [](const Event& e) { return e.type == Event::Type::kMessage; },
      milliseconds(5000)));
  EXPECT_EQ(ev.message.data, "back");
  EXPECT_EQ(ev.message.sender, pa);
}

TEST(ClientReconnectTest, FailsOverToTheNextServer) {
  auto d1 = StartMsgcd("msgc_server { port = @PORT@ }", Node("n1"));
  auto d2 = StartMsgcd("msgc_server { port = @PORT@ debug_level = INFO }",
                       Node("n2"));
  ASSERT_TRUE(d1 && d2);
  auto a = Open({Addr(d1->port()), Addr(d2->port())}, "a");
  auto watcher = Open({Addr(d2->port())}, "w");
  ASSERT_TRUE(a && watcher);
  EXPECT_EQ(a->PrivateName(), "#a#n1");
  Event ev;
  ASSERT_TRUE(a->Join("g", "caps").ok());
  ASSERT_TRUE(watcher->Join("g", "").ok());

  KillMsgcd(&d1);
  ASSERT_TRUE(WaitEvent(
      a.get(), &ev,
      [](const Event& e) { return IsConnected(e) && e.connection.reconnect; },
      milliseconds(10000)));
  EXPECT_EQ(ev.connection.server, Addr(d2->port()));
  EXPECT_EQ(ev.connection.private_name, "#a#n2");
  EXPECT_TRUE(ev.connection.reconnect);
  // The new session names the one it replaces (docs/semantics.md §4).
  EXPECT_TRUE(d2->WaitForLog("client #a#n2 connected from"));
  EXPECT_NE(d2->Log().find("), replacing #a#n1"), std::string::npos)
      << d2->Log();
  // The watcher's own first session replaced nothing.
  EXPECT_EQ(d2->CountInLog("replacing"), 1u) << d2->Log();
  ASSERT_TRUE(WaitEvent(
      watcher.get(), &ev,
      [](const Event& e) {
        return e.type == Event::Type::kMembership &&
               e.membership.cause == MembershipCause::kJoin &&
               !e.membership.changed.empty() &&
               e.membership.changed[0].name == "#a#n2";
      },
      milliseconds(5000)));
  EXPECT_EQ(ev.membership.changed[0].capabilities, "caps");
  EXPECT_EQ(ev.membership.members.size(), 2u);
}

TEST(ClientReconnectTest, FirstConnectTriesTheListInOrder) {
  auto d2 = StartMsgcd("msgc_server { port = @PORT@ }", Node("n2"));
  ASSERT_NE(d2, nullptr);
  const uint16_t dead = test::PickFreePort();
  auto a = Open({Addr(dead), Addr(d2->port())}, "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->PrivateName(), "#a#n2");
  Event ev;
  ASSERT_TRUE(WaitEvent(a.get(), &ev, IsConnected, milliseconds(1000)));
  EXPECT_EQ(ev.connection.server, Addr(d2->port()));
  EXPECT_FALSE(ev.connection.reconnect);
}

TEST(ClientReconnectTest, BackgroundConnectWaitsForALateServer) {
  const uint16_t port = test::PickFreePort();
  ClientOptions o;
  o.servers = {Addr(port)};
  o.name = "late";
  o.connect_timeout = 2;
  o.reconnect_interval = 0.1;
  o.wait_for_connection = false;
  std::unique_ptr<Client> c;
  ASSERT_TRUE(Client::Connect(o, &c).ok());
  ASSERT_TRUE(c->Join("g", "").ok());  // remembered, sent once connected
  EXPECT_EQ(c->Multicast("g", "x").code(), Result::Code::kNotConnected);
  auto d = StartMsgcd("msgc_server { port = " + std::to_string(port) + " }");
  ASSERT_NE(d, nullptr);
  Event ev;
  ASSERT_TRUE(WaitEvent(
      c.get(), &ev,
      [](const Event& e) { return e.type == Event::Type::kMembership; },
      milliseconds(10000)));
  EXPECT_EQ(ev.membership.group, "g");
  EXPECT_EQ(ev.membership.members.size(), 1u);
}

}  // namespace
}  // namespace msgc
