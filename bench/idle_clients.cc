// msgc-idle-clients: opens N client connections to one msgcd, completes the
// HELLO / WELCOME handshake on each (optionally joins a group), and then
// holds them idle until SIGTERM / SIGINT or --hold seconds have passed. Used
// by bench/memory to measure what one idle client connection costs a server
// (docs/performance.md, "Memory").
//
//   msgc-idle-clients --server 127.0.0.1:4809 --count 1000 [--join PREFIX]
//                     [--hold SEC]
//
// --join PREFIX: connection i also joins its own group PREFIX<i> (one
// member per group, so the measurement has no fan-out of membership events).
//
// Prints "ready N" on stdout once every connection is established (and
// joined), then "done" when it exits. It never reads after the handshake:
// the server's keepalives stay in this process's socket receive buffer, so
// the server must run with a keepalive_interval / idle_timeout longer than
// the measurement. One blocking socket per connection, no threads.
//
// Thread-safety: a single-threaded program.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "wire/frame.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

bool WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads until one complete frame of type `want` arrived (others skipped),
// at most 10 s.
bool AwaitFrame(int fd, msgc::wire::FrameType want) {
  msgc::wire::FrameDecoder dec(1 << 20);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    msgc::wire::Frame f;
    for (;;) {
      const auto r = dec.Next(&f);
      if (r == msgc::wire::FrameDecoder::Result::kFrame) {
        if (f.header.type == want) return true;
        continue;
      }
      if (r != msgc::wire::FrameDecoder::Result::kNeedMore) return false;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    std::span<uint8_t> buf = dec.PrepareAppend(4096);
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) return false;
    dec.CommitAppend(static_cast<size_t>(n));
  }
  return false;
}

int Usage() {
  std::fprintf(stderr,
               "usage: msgc-idle-clients --server HOST:PORT --count N "
               "[--join PREFIX] [--hold SEC]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server = "127.0.0.1:4809";
  std::string group;
  int count = 1000;
  double hold = 3600;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--server") {
      server = argv[++i];
    } else if (a == "--count") {
      count = std::atoi(argv[++i]);
    } else if (a == "--join") {
      group = argv[++i];
    } else if (a == "--hold") {
      hold = std::atof(argv[++i]);
    } else {
      return Usage();
    }
  }
  const size_t colon = server.rfind(':');
  if (colon == std::string::npos || count <= 0) return Usage();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(&server[colon + 1])));
  if (inet_pton(AF_INET, server.substr(0, colon).c_str(), &addr.sin_addr) !=
      1) {
    return Usage();
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);

  std::vector<int> fds;
  for (int i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::fprintf(stderr, "idle-clients: connect %d: %s\n", i,
                   std::strerror(errno));
      return 1;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const std::string name = "idle" + std::to_string(i);
    msgc::wire::Hello hello;
    hello.name = name;
    hello.software = "msgc-idle-clients";
    std::string out;
    msgc::wire::EncodeHello(hello, &out);
    if (!WriteAll(fd, out) ||
        !AwaitFrame(fd, msgc::wire::FrameType::kWelcome)) {
      std::fprintf(stderr, "idle-clients: handshake %d failed\n", i);
      return 1;
    }
    if (!group.empty()) {
      const std::string g = group + std::to_string(i);
      msgc::wire::Join join;
      join.group = g;
      out.clear();
      msgc::wire::EncodeJoin(join, &out);
      if (!WriteAll(fd, out) ||
          !AwaitFrame(fd, msgc::wire::FrameType::kMembership)) {
        std::fprintf(stderr, "idle-clients: join %d failed\n", i);
        return 1;
      }
    }
    fds.push_back(fd);
  }
  std::printf("ready %d\n", count);
  std::fflush(stdout);
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(static_cast<long>(hold * 1000));
  while (!g_stop && std::chrono::steady_clock::now() < end) {
    usleep(50 * 1000);
  }
  for (int fd : fds) close(fd);
  std::printf("done\n");
  return 0;
}
