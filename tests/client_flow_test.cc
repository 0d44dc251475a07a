// libmsgc flow control: FIFO order over 100,000 messages with a small
// outgoing queue (back-pressure, no loss), a send that times out when the
// server stops reading, and idle_timeout against a silent server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <thread>

#include "msgc/client.h"
#include "support/msgcd_process.h"
#include "wire/frame.h"

namespace msgc {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

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

::testing::AssertionResult Next(Client* c, Event::Type type, Event* ev,
                                milliseconds timeout = milliseconds(5000)) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Result r = c->Receive(ev, std::max(left, milliseconds(0)));
    if (!r.ok()) return ::testing::AssertionFailure() << r.ToString();
    if (ev->type == type) return ::testing::AssertionSuccess();
    if (ev->type != Event::Type::kConnected) {
      return ::testing::AssertionFailure()
             << "unexpected event type " << static_cast<int>(ev->type);
    }
  }
}

// A server with room for bursts (the protocol has no end-to-end flow
// control: msgcd drops a receiver whose output queue passes max_backlog
// frames; the sender's side is what these tests are about), a receiver "r"
// that joined group "g" and a sender "s" with options `so`.
struct SenderAndReceiver {
  explicit SenderAndReceiver(const ClientOptions& so) {
    d = test::StartMsgcd("msgc_server { port = @PORT@ max_backlog = 1000000 }");
    if (d == nullptr) return;
    r = Open(d->port(), "r");
    s = Open(d->port(), "s", so);
    Event ev;
    joined = r && s && r->Join("g", "").ok() &&
             Next(r.get(), Event::Type::kMembership, &ev);
  }
  bool ok() const { return joined; }
  std::unique_ptr<test::Msgcd> d;
  std::unique_ptr<Client> r, s;
  bool joined = false;
};

// Multicasts `count` messages body(0), body(1), ... from `s` to group "g"
// on a thread of its own (calling pace(i) after each), receives them at
// `r`, and checks that each arrives whole, in order, once, from `sender`,
// and nothing more.
void ExpectAllInOrder(Client* s, Client* r, const std::string& sender,
                      int count, const std::function<std::string(int)>& body,
                      const std::function<void(int)>& pace) {
  std::atomic<int> send_failures{0};
  std::thread sending([&] {
    for (int i = 0; i < count; ++i) {
      if (!s->Multicast("g", body(i)).ok()) ++send_failures;
      pace(i);
    }
    if (!s->Flush(milliseconds(30000)).ok()) ++send_failures;
  });
  Event ev;
  int next = 0;
  std::string failure;
  while (next < count && failure.empty()) {
    Result res = r->Receive(&ev, milliseconds(10000));
    if (!res.ok()) {
      failure = res.ToString();
    } else if (ev.type != Event::Type::kMessage) {
      failure = "event type " + std::to_string(static_cast<int>(ev.type)) +
                " " + ev.connection.reason.ToString();
    } else if (ev.message.data != body(next)) {
      failure = "message " + std::to_string(next) + " differs: got " +
                ev.message.data.substr(0, 16) + "... (" +
                std::to_string(ev.message.data.size()) + " bytes)";
    } else if (ev.message.sender != sender) {
      failure = "sender " + ev.message.sender;
    } else {
      ++next;
    }
  }
  if (!failure.empty()) s->Close();  // unblocks the sender
  sending.join();
  EXPECT_EQ(failure, "") << "after " << next << " messages";
  EXPECT_EQ(next, count);
  EXPECT_EQ(send_failures.load(), 0);
  EXPECT_EQ(r->Receive(&ev, milliseconds(100)).code(), Result::Code::kTimedOut);
}

// The sender's bounded queue: back-pressure, no loss.
TEST(ClientFlowTest, Fifo100kMessagesThroughASmallQueue) {
  ClientOptions so;
  so.max_backlog = 256;  // the sender blocks often
  SenderAndReceiver t(so);
  ASSERT_TRUE(t.ok());
  ExpectAllInOrder(
      t.s.get(), t.r.get(), t.d->PrivateName("s"), 100000,
      [](int i) { return std::to_string(i); }, [](int) {});
}

// A send after a pause is written from the sending thread, sends in quick
// succession are queued for the I/O thread, and a direct write the socket
// takes only in part leaves the rest queued: with pacing that switches
// between the two every 20 messages and sizes up to 15,000 bytes against a
// 128 KiB send buffer, every message must arrive whole, in order, once.
// (Smaller buffers are slow on loopback for any writer: a 64 KiB segment
// fills them and each waits for a delayed ACK.)
TEST(ClientFlowTest, PacedSendsAndBurstsArriveWholeAndInOrder) {
  ClientOptions so;
  so.tcpbuf_size = 65536;  // the kernel doubles it
  SenderAndReceiver t(so);
  ASSERT_TRUE(t.ok());
  ExpectAllInOrder(
      t.s.get(), t.r.get(), t.d->PrivateName("s"), 3000,
      [](int i) {
        std::string b = std::to_string(i) + ":";
        b.append(static_cast<size_t>(i) * 7919 % 15000,
                 static_cast<char>('a' + i % 26));
        return b;
      },
      [](int i) {
        // Runs of 20 paced sends (each after a pause: direct writes), then
        // runs of 20 back to back (queued).
        if (i / 20 % 2 == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      });
}

// Accepts one client, answers its HELLO with a WELCOME and then neither
// reads nor writes: a stuck server.
class StuckServer {
 public:
  explicit StuckServer(uint32_t keepalive_ms) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 32 * 1024;
    setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(listen_fd_, 4);
    thread_ = std::thread([this, keepalive_ms] { Serve(keepalive_ms); });
  }
  ~StuckServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    if (conn_fd_ >= 0) shutdown(conn_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
    if (conn_fd_ >= 0) close(conn_fd_);
  }
  uint16_t port() const { return port_; }
  bool welcomed() const { return welcomed_; }

 private:
  void Serve(uint32_t keepalive_ms) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    conn_fd_ = fd;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string header(wire::kHeaderSize, '\0');
    if (recv(fd, header.data(), header.size(), MSG_WAITALL) !=
        static_cast<ssize_t>(header.size())) {
      return;
    }
    uint32_t body_len;
    std::memcpy(&body_len, header.data(), 4);
    std::string body(body_len, '\0');
    if (recv(fd, body.data(), body.size(), MSG_WAITALL) !=
        static_cast<ssize_t>(body.size())) {
      return;
    }
    wire::Welcome w;
    w.private_name = "#x#stuck";
    w.node = "stuck";
    w.incarnation = 1;
    w.max_message_size = 64 << 20;
    w.keepalive_ms = keepalive_ms;
    w.idle_timeout_ms = 1000 * 1000;
    std::string out;
    wire::EncodeWelcome(w, &out);
    send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    welcomed_ = true;
  }

  int listen_fd_ = -1;
  std::atomic<int> conn_fd_{-1};
  uint16_t port_ = 0;
  std::atomic<bool> welcomed_{false};
  std::thread thread_;
};

TEST(ClientFlowTest, FullQueueTimesOutInsteadOfDropping) {
  StuckServer server(60000);
  ClientOptions o;
  o.max_backlog = 4;
  o.send_timeout = 0.3;
  o.tcpbuf_size = 32 * 1024;
  o.close_timeout = 0.5;  // the stuck server will never close
  auto c = Open(server.port(), "x", o);
  ASSERT_NE(c, nullptr);
  const std::string chunk(256 * 1024, 'z');
  Result r;
  int accepted = 0;
  Clock::time_point started;
  for (; accepted < 400; ++accepted) {
    started = Clock::now();
    r = c->Multicast("g", chunk);
    if (!r.ok()) break;
  }
  EXPECT_EQ(r.code(), Result::Code::kTimedOut) << r.ToString();
  EXPECT_GE(Clock::now() - started, milliseconds(250));
  EXPECT_LT(accepted, 400);
  EXPECT_TRUE(c->IsConnected());
  // A per-call timeout overrides the option.
  SendOptions quick;
  quick.timeout = milliseconds(0);
  EXPECT_EQ(c->Multicast("g", chunk, quick).code(), Result::Code::kTimedOut);
  EXPECT_EQ(c->Flush(milliseconds(100)).code(), Result::Code::kTimedOut);
}

TEST(ClientFlowTest, IdleTimeoutDropsASilentServer) {
  StuckServer server(100);  // announces NOOPs every 100 ms, sends none
  ClientOptions o;
  o.idle_timeout = 0.4;
  o.reconnect_interval = 30;
  auto c = Open(server.port(), "x", o);
  ASSERT_NE(c, nullptr);
  Event ev;
  auto start = Clock::now();
  ASSERT_TRUE(Next(c.get(), Event::Type::kDisconnected, &ev));
  EXPECT_EQ(ev.connection.reason.code(), Result::Code::kTimedOut)
      << ev.connection.reason.ToString();
  EXPECT_GE(Clock::now() - start, milliseconds(300));
  EXPECT_FALSE(c->IsConnected());
  EXPECT_EQ(c->Multicast("g", "x").code(), Result::Code::kNotConnected);
}

}  // namespace
}  // namespace msgc

namespace msgc {
namespace {

// Regression: a client whose keepalive_interval (5 s) is longer than the
// server's idle_timeout (1 s) must still never be idled out: it shortens its
// keepalive period to a third of the idle_timeout announced in WELCOME.
TEST(ClientFlowTest, KeepalivesBeatTheServersShorterIdleTimeout) {
  auto d = test::StartMsgcd(
      "msgc_server { port = @PORT@ idle_timeout = 1 keepalive_interval = 0.2 "
      "}");
  ASSERT_TRUE(d);
  ClientOptions o;
  o.keepalive_interval = 5;
  auto c = Open(d->port(), "quiet", o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Join("g", "").ok());
  Event ev;
  ASSERT_TRUE(Next(c.get(), Event::Type::kMembership, &ev));
  // Three server idle periods of silence from the application.
  std::this_thread::sleep_for(milliseconds(3000));
  EXPECT_TRUE(c->IsConnected());
  EXPECT_EQ(d->CountInLog("idle timeout"), 0u) << d->Log();
  ASSERT_TRUE(c->Multicast("g", "still here").ok());
  ASSERT_TRUE(Next(c.get(), Event::Type::kMessage, &ev));
  EXPECT_EQ(ev.message.data, "still here");
}

}  // namespace
}  // namespace msgc
