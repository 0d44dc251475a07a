#include "bench/msgc_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "bench_common.h"
#include "msgc/client.h"

namespace msgc::bench {
namespace {

constexpr char kSubCapabilities[] = "bench-sub";
constexpr char kPubCapabilities[] = "bench-pub";

bool ParseService(const std::string& text, Service* out) {
  if (text == "fifo") {
    *out = Service::kFifo;
  } else if (text == "agreed") {
    *out = Service::kAgreed;
  } else if (text == "safe") {
    *out = Service::kSafe;
  } else {
    return false;
  }
  return true;
}

ClientOptions MakeClientOptions(const std::vector<std::string>& servers,
                                const std::string& name) {
  ClientOptions o;
  o.servers = servers;
  o.name = name;
  o.connect_timeout = 10;
  // A benchmark run must not reconnect behind our back: a drop shows up as
  // loss in the report instead.
  o.reconnect_interval = 3600;
  o.idle_timeout = 120;
  o.keepalive_interval = 5;
  return o;
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

int RunBenchSub(const BenchSubOptions& options) {
  if (options.group.empty() || options.count == 0) {
    std::fprintf(stderr, "bench sub: --group and --count > 0 are required\n");
    return kBenchUsage;
  }
  bench_sub_stats stats;
  if (bench_sub_init(&stats, options.count) != 0) {
    std::fprintf(stderr, "bench sub: out of memory for %llu messages\n",
                 static_cast<unsigned long long>(options.count));
    return kBenchError;
  }
  std::unique_ptr<Client> client;
  Result r = Client::Connect(MakeClientOptions(options.servers, options.name),
                             &client);
  if (!r.ok()) {
    std::fprintf(stderr, "bench sub: connect: %s\n", r.ToString().c_str());
    bench_sub_free(&stats);
    return kBenchError;
  }

  // The I/O thread owns `stats` until Close() stopped it; the main thread
  // only reads these atomics meanwhile.
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> any{false};
  std::atomic<bool> disconnected{false};
  std::atomic<bool> closing{false};
  std::atomic<uint64_t> last_ns{0};
  Client::Callbacks cb;
  cb.on_message = [&](const MessageEvent& m) {
    uint64_t now = bench_now_ns();
    int kind = bench_sub_on_payload(&stats, m.data.data(), m.data.size(), now);
    if (kind != BENCH_DATA && kind != BENCH_END) return;
    last_ns.store(now, std::memory_order_relaxed);
    if (kind == BENCH_DATA) any.store(true, std::memory_order_relaxed);
    if (kind == BENCH_END || bench_sub_complete(&stats)) {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    }
  };
  cb.on_connection = [&](bool connected, const ConnectionEvent&) {
    if (!connected && !closing.load()) {
      disconnected.store(true);
      std::lock_guard<std::mutex> lock(mu);
      done = true;
      cv.notify_all();
    }
  };
  client->SetCallbacks(std::move(cb));
  r = client->Join(options.group, kSubCapabilities);
  if (!r.ok()) {
    std::fprintf(stderr, "bench sub: join: %s\n", r.ToString().c_str());
    client->Close();
    bench_sub_free(&stats);
    return kBenchError;
  }

  const uint64_t start = bench_now_ns();
  {
    std::unique_lock<std::mutex> lock(mu);
    while (!done) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      // Load `last` before reading the clock: the I/O thread may store a
      // newer time meanwhile, and an unsigned difference must not wrap.
      const bool got_any = any.load();
      const uint64_t last = last_ns.load();
      const uint64_t now = bench_now_ns();
      if (!got_any) {
        if (Seconds(now - start) > options.start_timeout) break;
      } else if (now > last && Seconds(now - last) > options.idle_timeout) {
        break;
      }
    }
  }
  closing.store(true);
  client->Close();  // stops the I/O thread: `stats` is ours from here
  client.reset();

  char extra[128];
  std::snprintf(extra, sizeof(extra), "\"disconnected\":%s",
                disconnected.load() ? "true" : "false");
  bench_sub_report(&stats, "msgc", options.json ? 1 : 0, extra, stdout);
  int rc = stats.received == 0              ? kBenchNoPeers
           : stats.received < options.count ? kBenchIncomplete
                                            : kBenchOk;
  bench_sub_free(&stats);
  return rc;
}

int RunBenchPub(const BenchPubOptions& options) {
  Service service;
  if (options.group.empty() || options.count == 0 ||
      options.size < BENCH_HEADER_SIZE ||
      !ParseService(options.service, &service)) {
    std::fprintf(stderr,
                 "bench pub: needs --group, --count > 0, --size >= %u and "
                 "--service fifo|agreed|safe\n",
                 BENCH_HEADER_SIZE);
    return kBenchUsage;
  }
  std::unique_ptr<Client> client;
  Result r = Client::Connect(MakeClientOptions(options.servers, options.name),
                             &client);
  if (!r.ok()) {
    std::fprintf(stderr, "bench pub: connect: %s\n", r.ToString().c_str());
    return kBenchError;
  }
  r = client->Join(options.group, kPubCapabilities);
  if (!r.ok()) {
    std::fprintf(stderr, "bench pub: join: %s\n", r.ToString().c_str());
    return kBenchError;
  }

  // Wait until the group's view holds every expected subscriber: from then
  // on the server delivers to them, so no message is lost to a join race.
  size_t seen = 0;
  const uint64_t wait_start = bench_now_ns();
  while (seen < options.subscribers) {
    if (Seconds(bench_now_ns() - wait_start) > options.wait_timeout) {
      std::fprintf(stderr,
                   "bench pub: timed out after %.0f s waiting for %u "
                   "subscriber(s) in '%s' (saw %zu)\n",
                   options.wait_timeout, options.subscribers,
                   options.group.c_str(), seen);
      client->Close();
      return kBenchNoPeers;
    }
    Event ev;
    if (!client->Receive(&ev, std::chrono::milliseconds(100)).ok()) continue;
    if (ev.type == Event::Type::kDisconnected) {
      std::fprintf(stderr, "bench pub: disconnected while waiting: %s\n",
                   ev.connection.reason.ToString().c_str());
      return kBenchError;
    }
    if (ev.type != Event::Type::kMembership ||
        ev.membership.group != options.group) {
      continue;
    }
    seen = std::count_if(
        ev.membership.members.begin(), ev.membership.members.end(),
        [](const Member& m) { return m.capabilities == kSubCapabilities; });
  }
  // From here on nothing reads the event queue: drop what arrives.
  client->SetCallbacks(
      Client::Callbacks{.on_message = [](const MessageEvent&) {},
                        .on_membership = [](const MembershipEvent&) {},
                        .on_connection = nullptr,
                        .on_error = nullptr});

  SendOptions send;
  send.service = service;
  send.self_discard = true;
  send.timeout = std::chrono::seconds(60);
  std::string buf(options.size, 'x');
  for (uint32_t i = 0; i < options.probes; ++i) {
    bench_fill(buf.data(), buf.size(), BENCH_PROBE, i, bench_now_ns());
    client->Multicast(options.group, buf, send);
  }
  client->Flush(std::chrono::seconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));

  uint64_t max_late = 0, sent = 0;
  const uint64_t start = bench_now_ns();
  for (uint64_t i = 0; i < options.count; ++i) {
    max_late = std::max(max_late, bench_pace(start, i, options.rate));
    bench_encode(buf.data(), BENCH_DATA, i, bench_now_ns());
    r = client->Multicast(options.group, buf, send);
    if (!r.ok()) {
      std::fprintf(stderr, "bench pub: send %llu: %s\n",
                   static_cast<unsigned long long>(i), r.ToString().c_str());
      break;
    }
    ++sent;
  }
  client->Flush(std::chrono::seconds(60));
  const uint64_t elapsed = bench_now_ns() - start;
  // END tells the subscribers to report; repeated in case one is late.
  for (int delay_ms : {0, 100, 200}) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    bench_fill(buf.data(), buf.size(), BENCH_END, options.count,
               bench_now_ns());
    client->Multicast(options.group, buf, send);
    client->Flush(std::chrono::seconds(5));
  }
  bench_pub_report("msgc", sent, options.size, options.rate, elapsed, max_late,
                   options.json ? 1 : 0, stdout);
  client->Close();
  return sent == options.count ? kBenchOk : kBenchError;
}

}  // namespace msgc::bench
