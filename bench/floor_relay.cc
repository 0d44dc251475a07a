// msgc-floor: the floor of bench/compare. A minimal relay that does only
// what any bus must do to move a message between processes over TCP, so
// that msgc/floor shows what msgc's own work (groups, membership, ordering,
// its client library) costs on top.
//
//   msgc-floor relay --listen 127.0.0.1:PORT [--peer 127.0.0.1:PORT]...
//   msgc-floor [--server 127.0.0.1:PORT] sub --group G --count N [--json]
//   msgc-floor [--server 127.0.0.1:PORT] pub --group G --count N --size S
//              [--rate R] [--subscribers K] [--json]
//
// Framing: u32 little-endian body length, then the body. The first frame of
// a connection is a one-byte hello: 'C' (client) or 'P' (relay peer).
// No routing, no groups: a frame from a client goes to every other client
// and every peer relay; a frame from a peer goes to every local client (one
// hop, as in NATS). Reads are forwarded as whole runs of complete frames,
// appended to each target's output buffer and written once per loop turn
// (batched writes). When an output buffer passes kHighWater the relay stops
// reading until it drains (TCP back-pressure, nothing dropped).
//
// The relay is one thread with one epoll set; it owns every connection.
// The sub/pub roles use blocking sockets and the payload/report of
// bench_common.h; the publisher sends PROBEs until K subscribers ACKed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kReadBudget = 1024 * 1024;  // per connection per turn
constexpr size_t kHighWater = 32u << 20;
constexpr uint32_t kMaxFrame = 64u << 20;

bool ParseAddress(const std::string& text, sockaddr_in* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = text.substr(0, colon);
  if (host.empty()) host = "127.0.0.1";
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port =
      htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return inet_pton(AF_INET, host.c_str(), &out->sin_addr) == 1;
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int Dial(const std::string& address, double timeout_s) {
  sockaddr_in sa;
  if (!ParseAddress(address, &sa)) return -1;
  uint64_t start = bench_now_ns();
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) {
      SetNoDelay(fd);
      return fd;
    }
    close(fd);
    if (static_cast<double>(bench_now_ns() - start) / 1e9 > timeout_s) {
      return -1;
    }
    usleep(50 * 1000);
  }
}

void AppendFrame(std::string* out, const void* body, uint32_t len) {
  char hdr[4];
  std::memcpy(hdr, &len, 4);
  out->append(hdr, 4);
  out->append(static_cast<const char*>(body), len);
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// A read buffer that never zero-fills: bytes [begin, end) of `data` are
// unconsumed; Prepare() makes room at the end by compacting or growing.
class ReadBuf {
 public:
  char* Prepare(size_t n) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (data_.size() - end_ < n && begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (data_.size() - end_ < n) data_.resize(end_ + n);
    return data_.data() + end_;
  }
  void Commit(size_t n) { end_ += n; }
  void Consume(size_t n) { begin_ += n; }
  const char* head() const { return data_.data() + begin_; }
  size_t size() const { return end_ - begin_; }

 private:
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// ---- The relay ----

struct Conn {
  int fd = -1;
  enum class Kind { kUnknown, kClient, kPeer } kind = Kind::kUnknown;
  ReadBuf in;
  std::string out;
  size_t out_off = 0;
  bool readable = false;
  bool dead = false;
  size_t pending() const { return out.size() - out_off; }
};

class Relay {
 public:
  int Run(const std::string& listen_addr,
          const std::vector<std::string>& peers) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    sockaddr_in sa;
    if (!ParseAddress(listen_addr, &sa)) {
      std::fprintf(stderr, "msgc-floor relay: bad --listen '%s'\n",
                   listen_addr.c_str());
      return 2;
    }
    lfd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        listen(lfd_, 128) != 0) {
      std::fprintf(stderr, "msgc-floor relay: listen %s: %s\n",
                   listen_addr.c_str(), std::strerror(errno));
      return 1;
    }
    Watch(lfd_, nullptr);
    for (const std::string& p : peers) {
      int fd = Dial(p, 10);
      if (fd < 0) {
        std::fprintf(stderr, "msgc-floor relay: cannot reach peer %s\n",
                     p.c_str());
        return 1;
      }
      Conn* c = Add(fd);
      c->kind = Conn::Kind::kPeer;
      const char hello = 'P';
      AppendFrame(&c->out, &hello, 1);
    }
    std::vector<epoll_event> events(256);
    for (;;) {
      bool more = Congested() ? false : AnyReadable();
      int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()),
                         more ? 0 : -1);
      if (n < 0 && errno != EINTR) return 1;
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(events[i].data.ptr);
        if (c == nullptr) {
          Accept();
          continue;
        }
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
          c->readable = true;
        }
      }
      if (!Congested()) {
        for (auto& c : conns_) {
          if (c->readable && !c->dead) Read(c.get());
        }
      }
      for (auto& c : conns_) {
        if (c->pending() > 0 && !c->dead) Write(c.get());
      }
      Reap();
    }
  }

 private:
  void Watch(int fd, Conn* c) {
    epoll_event ev{};
    ev.events = c ? (EPOLLIN | EPOLLOUT | EPOLLET) : EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  }

  Conn* Add(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    SetNoDelay(fd);
    conns_.push_back(std::make_unique<Conn>());
    Conn* c = conns_.back().get();
    c->fd = fd;
    Watch(fd, c);
    return c;
  }

  void Accept() {
    for (;;) {
      int fd = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      Add(fd);
    }
  }

  bool AnyReadable() const {
    for (const auto& c : conns_) {
      if (c->readable && !c->dead) return true;
    }
    return false;
  }

  bool Congested() const {
    for (const auto& c : conns_) {
      if (!c->dead && c->pending() > kHighWater) return true;
    }
    return false;
  }

  void Read(Conn* c) {
    size_t budget = kReadBudget;
    while (budget > 0) {
      ssize_t r = read(c->fd, c->in.Prepare(kReadChunk), kReadChunk);
      if (r > 0) c->in.Commit(static_cast<size_t>(r));
      if (r == 0) {
        c->dead = true;
        break;
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN)
          c->readable = false;
        else
          c->dead = true;
        break;
      }
      budget -= std::min(budget, static_cast<size_t>(r));
    }
    Forward(c);
  }

  // Finds the run of complete frames at the front of c->in and appends it,
  // unchanged, to every target: no per-frame work beyond the length walk.
  void Forward(Conn* c) {
    if (c->kind == Conn::Kind::kUnknown) {
      uint32_t len;
      if (c->in.size() < 5) return;
      std::memcpy(&len, c->in.head(), 4);
      if (len != 1) {
        c->dead = true;
        return;
      }
      c->kind =
          c->in.head()[4] == 'P' ? Conn::Kind::kPeer : Conn::Kind::kClient;
      c->in.Consume(5);
    }
    const char* base = c->in.head();
    const size_t end = c->in.size();
    size_t pos = 0;
    while (end - pos >= 4) {
      uint32_t len;
      std::memcpy(&len, base + pos, 4);
      if (len > kMaxFrame) {
        c->dead = true;
        return;
      }
      if (end - pos - 4 < len) break;
      pos += 4 + len;
    }
    if (pos == 0) return;
    for (auto& t : conns_) {
      if (t.get() == c || t->dead || t->kind == Conn::Kind::kUnknown) {
        continue;
      }
      if (c->kind == Conn::Kind::kPeer && t->kind == Conn::Kind::kPeer) {
        continue;  // one hop: what came from a peer goes to clients only
      }
      t->out.append(base, pos);
    }
    c->in.Consume(pos);  // the incomplete tail stays
  }

  void Write(Conn* c) {
    while (c->pending() > 0) {
      ssize_t w = write(c->fd, c->out.data() + c->out_off, c->pending());
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) c->dead = true;
        break;
      }
      c->out_off += static_cast<size_t>(w);
    }
    if (c->out_off == c->out.size()) {
      c->out.clear();
      c->out_off = 0;
    } else if (c->out_off > (1u << 20)) {
      c->out.erase(0, c->out_off);
      c->out_off = 0;
    }
  }

  void Reap() {
    for (auto& c : conns_) {
      if (c->dead && c->fd >= 0) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
        close(c->fd);
        c->fd = -1;
      }
    }
    std::erase_if(conns_,
                  [](const std::unique_ptr<Conn>& c) { return c->fd < 0; });
  }

  int epfd_ = -1;
  int lfd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
};

// ---- Client roles ----

// Reads whatever is available (waiting up to timeout_ms) into *buf and calls
// on_frame(body, len) for every complete frame. false on EOF / error.
template <typename F>
bool ReadFrames(int fd, ReadBuf* buf, int timeout_ms, F on_frame) {
  pollfd pfd{fd, POLLIN, 0};
  if (poll(&pfd, 1, timeout_ms) <= 0) return true;
  ssize_t r = read(fd, buf->Prepare(kReadChunk), kReadChunk);
  if (r <= 0) return r < 0 && errno == EINTR;
  buf->Commit(static_cast<size_t>(r));
  size_t pos = 0;
  while (buf->size() - pos >= 4) {
    uint32_t len;
    std::memcpy(&len, buf->head() + pos, 4);
    if (buf->size() - pos - 4 < len) break;
    on_frame(buf->head() + pos + 4, len);
    pos += 4 + len;
  }
  buf->Consume(pos);
  return true;
}

int Connect(const bench_args& a) {
  int fd = Dial(a.server ? a.server : "127.0.0.1:4900", 10);
  if (fd < 0) {
    std::fprintf(stderr, "msgc-floor: cannot connect to %s\n",
                 a.server ? a.server : "127.0.0.1:4900");
    return -1;
  }
  std::string hello;
  const char c = 'C';
  AppendFrame(&hello, &c, 1);
  WriteAll(fd, hello.data(), hello.size());
  return fd;
}

double Since(uint64_t start) {
  return static_cast<double>(bench_now_ns() - start) / 1e9;
}

int RunSub(const bench_args& a) {
  bench_sub_stats st;
  if (bench_sub_init(&st, a.count) != 0) return 1;
  int fd = Connect(a);
  if (fd < 0) return 1;
  ReadBuf buf;
  std::string acks;
  const uint64_t id = static_cast<uint64_t>(getpid());
  uint64_t start = bench_now_ns(), last = 0;
  bool done = false;
  while (!done) {
    acks.clear();
    bool ok = ReadFrames(fd, &buf, 100, [&](const char* body, uint32_t len) {
      uint64_t now = bench_now_ns();
      int kind = bench_sub_on_payload(&st, body, len, now);
      if (kind == BENCH_DATA) last = now;
      if (kind == BENCH_PROBE) {
        char ack[BENCH_HEADER_SIZE];
        bench_encode(ack, BENCH_ACK, id, now);
        AppendFrame(&acks, ack, sizeof(ack));
      }
      if (kind == BENCH_END || bench_sub_complete(&st)) done = true;
    });
    if (!acks.empty()) WriteAll(fd, acks.data(), acks.size());
    if (!ok) break;
    if (!st.any) {
      if (Since(start) > a.start_timeout) break;
    } else if (static_cast<double>(bench_now_ns() - last) / 1e9 >
               a.idle_timeout) {
      break;
    }
  }
  bench_sub_report(&st, "floor", a.json, "", stdout);
  int rc = st.received == 0 ? 3 : st.received < a.count ? 4 : 0;
  bench_sub_free(&st);
  close(fd);
  return rc;
}

int RunPub(const bench_args& a) {
  int fd = Connect(a);
  if (fd < 0) return 1;
  std::string payload(a.size, 'x'), out;
  ReadBuf in;
  std::set<uint64_t> acked;
  uint64_t probe = 0, wait_start = bench_now_ns();
  while (acked.size() < a.subscribers || probe < a.probes) {
    if (Since(wait_start) > a.wait_timeout) {
      std::fprintf(stderr,
                   "msgc-floor pub: timed out waiting for %u subscriber(s) "
                   "(saw %zu)\n",
                   a.subscribers, acked.size());
      return 3;
    }
    bench_fill(payload.data(), payload.size(), BENCH_PROBE, probe++,
               bench_now_ns());
    out.clear();
    AppendFrame(&out, payload.data(), static_cast<uint32_t>(payload.size()));
    WriteAll(fd, out.data(), out.size());
    uint64_t deadline = bench_now_ns() + 20 * 1000 * 1000;
    while (bench_now_ns() < deadline && acked.size() < a.subscribers) {
      ReadFrames(fd, &in, 5, [&](const char* body, uint32_t len) {
        uint32_t kind;
        uint64_t seq, t;
        if (bench_decode(body, len, &kind, &seq, &t) == 0 &&
            kind == BENCH_ACK) {
          acked.insert(seq);
        }
      });
    }
  }
  usleep(20 * 1000);
  out.clear();
  uint64_t max_late = 0;
  const uint64_t start = bench_now_ns();
  for (uint64_t i = 0; i < a.count; ++i) {
    max_late = std::max(max_late, bench_pace(start, i, a.rate));
    bench_encode(payload.data(), BENCH_DATA, i, bench_now_ns());
    AppendFrame(&out, payload.data(), static_cast<uint32_t>(payload.size()));
    // Batched writes when flooding; one write per message when paced.
    if (a.rate > 0 || out.size() >= 64 * 1024) {
      if (!WriteAll(fd, out.data(), out.size())) return 1;
      out.clear();
    }
  }
  if (!WriteAll(fd, out.data(), out.size())) return 1;
  const uint64_t elapsed = bench_now_ns() - start;
  for (int k = 0; k < 3; ++k) {
    usleep(static_cast<useconds_t>(k * 100 * 1000));
    out.clear();
    bench_fill(payload.data(), payload.size(), BENCH_END, a.count,
               bench_now_ns());
    AppendFrame(&out, payload.data(), static_cast<uint32_t>(payload.size()));
    WriteAll(fd, out.data(), out.size());
  }
  bench_pub_report("floor", a.count, a.size, a.rate, elapsed, max_late, a.json,
                   stdout);
  close(fd);
  return 0;
}

constexpr char kUsage[] =
    "usage: msgc-floor relay --listen HOST:PORT [--peer HOST:PORT]...\n"
    "       msgc-floor [--server HOST:PORT] sub|pub --group G --count N "
    "[--size S] [--rate R] [--subscribers K] [--json]";

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && std::strcmp(argv[1], "relay") == 0) {
    std::string listen_addr;
    std::vector<std::string> peers;
    for (int i = 2; i + 1 < argc; i += 2) {
      if (std::strcmp(argv[i], "--listen") == 0) {
        listen_addr = argv[i + 1];
      } else if (std::strcmp(argv[i], "--peer") == 0) {
        peers.push_back(argv[i + 1]);
      } else {
        std::fprintf(stderr, "%s\n", kUsage);
        return 2;
      }
    }
    if (listen_addr.empty()) {
      std::fprintf(stderr, "%s\n", kUsage);
      return 2;
    }
    return Relay().Run(listen_addr, peers);
  }
  bench_args a;
  int rc = bench_parse_args(argc, argv, &a, kUsage);
  if (rc != 0) return rc;
  if (std::strcmp(a.role, "sub") == 0) return RunSub(a);
  if (std::strcmp(a.role, "pub") == 0) return RunPub(a);
  std::fprintf(stderr, "%s\nunknown role '%s'\n", kUsage, a.role);
  return 2;
}
