// Connection and Listener over real loopback sockets inside one io_context.
#include "net/connection.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "net/listener.h"

namespace msgc::net {
namespace {

using namespace std::chrono_literals;

struct Recorder : ConnectionHandler {
  void OnFrame(Connection&, const wire::Frame& f) override {
    frames.emplace_back(reinterpret_cast<const char*>(f.body.data()),
                        f.body.size());
    types.push_back(f.header.type);
  }
  void OnTooLarge(Connection&, const wire::FrameHeader& h) override {
    too_large.push_back(h.body_len);
  }
  void OnClose(Connection& c) override {
    ++closes;
    reason = c.close_reason();
    detail = c.close_detail();
    if (on_close) on_close();
  }
  void OnDrained(Connection& c) override {
    ++drained;
    if (on_drained) on_drained(c);
  }
  std::vector<std::string> frames;
  std::vector<wire::FrameType> types;
  std::vector<uint32_t> too_large;
  int closes = 0;
  CloseReason reason = CloseReason::kNone;
  std::string detail;
  std::function<void()> on_close;
  int drained = 0;
  std::function<void(Connection&)> on_drained;
};

// A server Connection (under test) and the raw client socket talking to it.
class ConnectionTest : public ::testing::Test {
 protected:
  void Open(const ConnectionOptions& options) {
    auto listener = Listener::Create(io_);
    ASSERT_TRUE(
        listener
            ->Open(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0))
            .ok());
    listener->Start([&](asio::ip::tcp::socket s) {
      conn_ = Connection::Create(std::move(s), 1, options, &rec_);
      conn_->Start();
    });
    client_.connect(listener->local_endpoint());
    RunUntil([&] { return conn_ != nullptr; });
    listener->Close();
  }
  // Runs the loop until `done` (bounded).
  void RunUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = 3000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(5ms);
      io_.restart();
    }
    ASSERT_TRUE(done());
  }
  // Reads whatever the client socket has, without blocking.
  std::string ClientRead() {
    std::string out;
    client_.non_blocking(true);
    char buf[65536];
    std::error_code ec;
    for (;;) {
      size_t n = client_.read_some(asio::buffer(buf), ec);
      if (ec || n == 0) break;
      out.append(buf, n);
    }
    return out;
  }

  asio::io_context io_;
  asio::ip::tcp::socket client_{io_};
  std::shared_ptr<Connection> conn_;
  Recorder rec_;
};

std::string JoinFrame(std::string_view group) {
  std::string f;
  wire::EncodeJoin(wire::Join{group, ""}, &f);
  return f;
}

// Socket buffers (in the units of tcpbuf_size: the kernel doubles what is
// set and asio halves what it reports). Sizes stay below a stock
// net.core.wmem_max / rmem_max (212992), which would clamp them.
TEST_F(ConnectionTest, TcpbufSizeSetsBothBuffers) {
  ConnectionOptions o;
  o.tcpbuf_size = 131072;
  Open(o);
  EXPECT_EQ(conn_->send_buffer(), 131072);
  // The accepted socket starts at net.ipv4.tcp_rmem's default (131072 on
  // a stock kernel, i.e. 65536 here): growing it is applied.
  EXPECT_EQ(conn_->receive_buffer(), 131072);
}

TEST_F(ConnectionTest, ZeroLeavesBuffersToTheKernelUntilSet) {
  ConnectionOptions o;
  o.tcpbuf_size = 0;
  Open(o);
  const int snd0 = conn_->send_buffer();
  const int rcv0 = conn_->receive_buffer();
  ASSERT_GT(snd0, 0);
  ASSERT_GT(rcv0, 0);
  // Nothing set: what a fresh socket has (the client's is untouched too).
  asio::socket_base::receive_buffer_size client_rcv;
  client_.get_option(client_rcv);
  EXPECT_EQ(rcv0, client_rcv.value());
  // Set later (the server's client sessions after HELLO): both applied.
  const uint32_t size = static_cast<uint32_t>(rcv0);
  o.tcpbuf_size = size;
  conn_->SetOptions(o);
  EXPECT_EQ(conn_->send_buffer(), static_cast<int>(size));
  EXPECT_EQ(conn_->receive_buffer(), static_cast<int>(size));
  o.tcpbuf_size = 2 * size;  // growing
  conn_->SetOptions(o);
  EXPECT_EQ(conn_->send_buffer(), static_cast<int>(2 * size));
  EXPECT_EQ(conn_->receive_buffer(), static_cast<int>(2 * size));
  // Data still flows both ways.
  asio::write(client_, asio::buffer(JoinFrame("after")));
  RunUntil([&] { return rec_.frames.size() == 1; });
}

TEST_F(ConnectionTest, ReceiveBufferIsNeverShrunkOnALiveConnection) {
  ConnectionOptions o;
  o.tcpbuf_size = 0;
  Open(o);
  const int rcv0 = conn_->receive_buffer();
  ASSERT_GE(rcv0, 16384);
  o.tcpbuf_size = static_cast<uint32_t>(rcv0 / 4);  // smaller than current
  conn_->SetOptions(o);
  EXPECT_EQ(conn_->receive_buffer(), rcv0);
  // The send buffer may shrink: only data not yet queued is affected.
  EXPECT_EQ(conn_->send_buffer(), rcv0 / 4);
}

TEST_F(ConnectionTest, DeliversFramesSplitAnywhere) {
  Open({});
  std::string bytes = JoinFrame("a") + JoinFrame("bb") + JoinFrame("ccc");
  for (char c : bytes) asio::write(client_, asio::buffer(&c, 1));
  RunUntil([&] { return rec_.frames.size() == 3; });
  EXPECT_EQ(rec_.types[2], wire::FrameType::kJoin);
}

TEST_F(ConnectionTest, SharedFramesAreWrittenInOrder) {
  Open({});
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    auto f = std::make_shared<std::string>(JoinFrame(std::to_string(i)));
    expected += *f;
    conn_->Send(f);
  }
  std::string got;
  RunUntil([&] {
    got += ClientRead();
    return got.size() >= expected.size();
  });
  EXPECT_EQ(got, expected);
  EXPECT_EQ(conn_->queued_frames(), 0u);
}

TEST_F(ConnectionTest, UrgentFramesOvertakeQueuedData) {
  ConnectionOptions o;
  o.tcpbuf_size = 4096;  // small socket buffer: most data stays queued
  Open(o);
  // Queue more data than the socket takes, let one write start, then
  // queue an urgent NOOP: it must arrive before the data still queued and
  // the byte stream must stay a well-formed sequence of frames.
  const std::string big(64 * 1024, 'x');
  for (int i = 0; i < 40; ++i) {
    std::string f;
    std::vector<std::string_view> g = {"g"};
    wire::EncodeSend(wire::Service::kFifo, 0, i, g, big, &f);
    conn_->Send(std::make_shared<const std::string>(std::move(f)));
  }
  io_.run_for(20ms);
  io_.restart();
  ASSERT_GT(conn_->queued_frames(), 2u);
  std::string noop;
  wire::EncodeNoop(&noop);
  conn_->SendUrgent(std::make_shared<const std::string>(noop));
  wire::FrameDecoder dec(1 << 20);
  std::vector<wire::FrameType> types;
  RunUntil([&] {
    dec.Append(ClientRead());
    wire::Frame f;
    wire::FrameDecoder::Result r;
    while ((r = dec.Next(&f)) == wire::FrameDecoder::Result::kFrame) {
      types.push_back(f.header.type);
    }
    EXPECT_NE(r, wire::FrameDecoder::Result::kError) << dec.error();
    return types.size() == 41;
  });
  auto noop_at = std::find(types.begin(), types.end(), wire::FrameType::kNoop);
  ASSERT_NE(noop_at, types.end());
  // Only the frames of the write in flight (and a partly written one) may
  // precede it: far fewer than the 40 queued.
  EXPECT_LT(noop_at - types.begin(), 20);
}

TEST_F(ConnectionTest, BacklogOverflowClosesAsSlowConsumer) {
  ConnectionOptions o;
  o.max_backlog = 3;
  Open(o);
  auto f = std::make_shared<const std::string>(JoinFrame("x"));
  // Four frames queued within one loop turn (the flush is only posted).
  for (int i = 0; i < 4; ++i) conn_->Send(f);
  EXPECT_FALSE(conn_->is_open());
  EXPECT_EQ(conn_->close_reason(), CloseReason::kSlowConsumer);
  EXPECT_EQ(conn_->close_detail(), "4 messages queued > max_backlog 3");
  EXPECT_EQ(rec_.closes, 0);  // OnClose is posted, never re-entrant
  RunUntil([&] { return rec_.closes == 1; });
  EXPECT_EQ(rec_.reason, CloseReason::kSlowConsumer);
}

// An owner with its own backlog tops the queue up from OnDrained: many more
// frames than max_backlog go through, in order, without a slow-consumer
// close, because the queue never holds more than max_backlog.
TEST_F(ConnectionTest, OnDrainedPacesAnOwnerBacklog) {
  ConnectionOptions o;
  o.max_backlog = 10;
  Open(o);
  EXPECT_EQ(conn_->low_water_mark(), 5u);
  std::vector<std::shared_ptr<const std::string>> backlog;
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    backlog.push_back(
        std::make_shared<const std::string>(JoinFrame(std::to_string(i))));
    expected += *backlog.back();
  }
  size_t next = 0;
  size_t max_queued = 0;
  auto top_up = [&](Connection& c) {
    while (next < backlog.size() && c.queued_frames() < 8) {
      c.Send(backlog[next++]);
      max_queued = std::max(max_queued, c.queued_frames());
    }
  };
  rec_.on_drained = top_up;
  top_up(*conn_);
  std::string got;
  RunUntil([&] {
    got += ClientRead();
    return got.size() >= expected.size();
  });
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(conn_->is_open());
  EXPECT_LE(max_queued, 8u);
  EXPECT_GT(rec_.drained, 100);
  // Below the low-water mark without having reached it: no notification.
  const int before = rec_.drained;
  conn_->Send(backlog[0]);
  RunUntil([&] {
    got += ClientRead();
    return conn_->queued_frames() == 0;
  });
  EXPECT_EQ(rec_.drained, before);
}

TEST_F(ConnectionTest, OwnerMayDropConnectionInOnClose) {
  Open({});
  rec_.on_close = [&] { conn_.reset(); };
  client_.close();
  RunUntil([&] { return rec_.closes == 1; });
  EXPECT_EQ(rec_.reason, CloseReason::kPeerClosed);
  EXPECT_EQ(conn_, nullptr);
}

TEST_F(ConnectionTest, MalformedInputSendsBadFrameAndCloses) {
  Open({});
  const unsigned char bad[8] = {0, 0, 0, 0, 0x99, 0, 0, 0};  // unknown type
  asio::write(client_, asio::buffer(bad, 8));
  RunUntil([&] { return rec_.closes == 1; });
  EXPECT_EQ(rec_.reason, CloseReason::kProtocolError);
  std::string got;
  RunUntil([&] {
    got += ClientRead();
    return got.size() >= wire::kHeaderSize;
  });
  EXPECT_EQ(static_cast<uint8_t>(got[4]),
            static_cast<uint8_t>(wire::FrameType::kError));
}

TEST_F(ConnectionTest, MessagesPerIterYieldsButDeliversAll) {
  ConnectionOptions o;
  o.messages_per_iter = 2;
  Open(o);
  std::string bytes;
  for (int i = 0; i < 50; ++i) bytes += JoinFrame(std::to_string(i));
  asio::write(client_, asio::buffer(bytes));
  RunUntil([&] { return rec_.frames.size() == 50; });
  ASSERT_EQ(rec_.frames.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(rec_.frames[i],
              JoinFrame(std::to_string(i)).substr(wire::kHeaderSize));
  }
}

// Connections of one thread share one read buffer: frames one connection
// left for a later turn (messages_per_iter) must survive the other's reads,
// and a frame split across reads must be completed from the right stream.
TEST_F(ConnectionTest, ConnectionsSharingTheReadBufferKeepTheirOwnFrames) {
  ConnectionOptions o;
  o.messages_per_iter = 3;
  auto listener = Listener::Create(io_);
  ASSERT_TRUE(
      listener
          ->Open(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0))
          .ok());
  Recorder recs[2];
  std::vector<std::shared_ptr<Connection>> conns;
  listener->Start([&](asio::ip::tcp::socket s) {
    conns.push_back(
        Connection::Create(std::move(s), conns.size(), o, &recs[conns.size()]));
    conns.back()->Start();
  });
  asio::ip::tcp::socket clients[2] = {asio::ip::tcp::socket(io_),
                                      asio::ip::tcp::socket(io_)};
  clients[0].connect(listener->local_endpoint());
  RunUntil([&] { return conns.size() == 1; });
  clients[1].connect(listener->local_endpoint());
  RunUntil([&] { return conns.size() == 2; });
  listener->Close();
  // Both streams are in the kernel before either connection reads: each
  // read is one big chunk ending inside a frame, and leaves most of its
  // frames for posted turns that alternate with the other connection.
  std::string bytes[2];
  std::vector<std::string> want[2];
  for (int c = 0; c < 2; ++c) {
    for (int i = 0; i < 400; ++i) {
      const std::string f =
          JoinFrame(std::string(1 + i % 37, 'a' + c) + std::to_string(i));
      bytes[c] += f;
      want[c].push_back(f.substr(wire::kHeaderSize));
    }
  }
  for (int c = 0; c < 2; ++c) {
    asio::write(clients[c], asio::buffer(bytes[c].data(), 7001));
  }
  RunUntil([&] {
    return conns[0]->input_buffer_bytes() > 0 &&
           conns[1]->input_buffer_bytes() > 0;
  });
  for (int c = 0; c < 2; ++c) {
    asio::write(clients[c], asio::buffer(bytes[c].substr(7001)));
  }
  RunUntil([&] {
    return recs[0].frames.size() == 400 && recs[1].frames.size() == 400;
  });
  EXPECT_EQ(recs[0].frames, want[0]);
  EXPECT_EQ(recs[1].frames, want[1]);
  // Everything consumed: neither keeps an input buffer while idle.
  EXPECT_EQ(conns[0]->input_buffer_bytes(), 0u);
  EXPECT_EQ(conns[1]->input_buffer_bytes(), 0u);
  for (auto& c : conns) c->Close(CloseReason::kShutdown, "test over");
  RunUntil([&] { return recs[0].closes == 1 && recs[1].closes == 1; });
}

TEST_F(ConnectionTest, IdleConnectionHoldsNoInputBuffer) {
  Open({});
  EXPECT_EQ(conn_->input_buffer_bytes(), 0u);
  const std::string f = JoinFrame("group");
  asio::write(client_, asio::buffer(f));
  RunUntil([&] { return rec_.frames.size() == 1; });
  EXPECT_EQ(conn_->input_buffer_bytes(), 0u);
  // Half a frame is kept (and only then is there a buffer) ...
  asio::write(client_, asio::buffer(f.data(), 5));
  RunUntil([&] { return conn_->input_buffer_bytes() > 0; });
  EXPECT_EQ(rec_.frames.size(), 1u);
  // ... until the frame is complete.
  asio::write(client_, asio::buffer(f.substr(5)));
  RunUntil([&] { return rec_.frames.size() == 2; });
  EXPECT_EQ(rec_.frames[1], f.substr(wire::kHeaderSize));
  EXPECT_EQ(conn_->input_buffer_bytes(), 0u);
}

// CloseAfterFlush: the final frame arrives, then the connection discards
// input until the other side's FIN and closes at once (not after
// kCloseLinger); after that nothing holds the connection.
TEST_F(ConnectionTest, CloseAfterFlushDrainsUntilTheOtherSideCloses) {
  Open({});
  auto last = std::make_shared<std::string>(JoinFrame("last"));
  conn_->CloseAfterFlush(CloseReason::kShutdown, "test", last);
  std::weak_ptr<Connection> weak = conn_;
  RunUntil([&] { return rec_.closes == 1; });
  conn_.reset();
  // Input sent after the close is read and discarded, not answered with a
  // reset that could destroy `last`.
  asio::write(client_, asio::buffer(JoinFrame("ignored")));
  std::string got;
  RunUntil([&] {
    got += ClientRead();
    return got.size() >= last->size();
  });
  EXPECT_EQ(got, *last);
  const auto t0 = std::chrono::steady_clock::now();
  client_.shutdown(asio::ip::tcp::socket::shutdown_send);
  RunUntil([&] { return weak.expired(); });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, kCloseLinger / 2);
  EXPECT_TRUE(rec_.frames.empty());
}

TEST_F(ConnectionTest, OversizedSendIsSkipped) {
  ConnectionOptions o;
  o.max_body = 100;
  Open(o);
  std::string big;
  const std::string_view g[] = {"g"};
  wire::EncodeSend(wire::Service::kFifo, 0, 1, g, std::string(1000, 'x'), &big);
  asio::write(client_, asio::buffer(big + JoinFrame("after")));
  RunUntil([&] { return rec_.frames.size() == 1; });
  ASSERT_EQ(rec_.too_large.size(), 1u);
  EXPECT_TRUE(conn_->is_open());
}

TEST_F(ConnectionTest, KeepaliveAndIdleTimeout) {
  ConnectionOptions o;
  o.keepalive_interval = 20ms;
  o.idle_timeout = 150ms;
  Open(o);
  std::string got;
  RunUntil([&] {
    got += ClientRead();
    return rec_.closes == 1;
  });
  EXPECT_EQ(rec_.reason, CloseReason::kIdleTimeout);
  // Several NOOPs (8-byte frames of type 4) came first.
  ASSERT_GE(got.size(), 3 * wire::kHeaderSize);
  EXPECT_EQ(got[4], static_cast<char>(wire::FrameType::kNoop));
}

TEST_F(ConnectionTest, SetHandlerHandsOverRemainingFrames) {
  Open({});
  Recorder second;
  struct Switcher : ConnectionHandler {
    Recorder* first;
    Recorder* next;
    void OnFrame(Connection& c, const wire::Frame& f) override {
      first->OnFrame(c, f);
      c.set_handler(next);  // e.g. the server handing a peer to the mesh
    }
    void OnTooLarge(Connection&, const wire::FrameHeader&) override {}
    void OnClose(Connection& c) override { first->OnClose(c); }
  } switcher;
  switcher.first = &rec_;
  switcher.next = &second;
  conn_->set_handler(&switcher);
  asio::write(client_,
              asio::buffer(JoinFrame("a") + JoinFrame("b") + JoinFrame("c")));
  RunUntil([&] { return second.frames.size() == 2; });
  EXPECT_EQ(rec_.frames.size(), 1u);
  client_.close();
  RunUntil([&] { return second.closes == 1; });
  EXPECT_EQ(rec_.closes, 0);
}

}  // namespace
}  // namespace msgc::net
