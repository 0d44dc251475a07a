// The roles of `msgc bench`: a subscriber and a publisher that measure the
// bus from outside, as separate processes, with the payload and report of
// bench/bench_common.h (the same as the NATS, Redis and floor clients).
// Include as "bench/msgc_bench.h" (target msgc_bench_roles).
//
//   msgc --server HOST:PORT bench sub --group G --count N [--json]
//   msgc --server HOST:PORT bench pub --group G --count N --size S
//        [--rate R] [--service fifo|agreed|safe] [--subscribers K]
//
// No join race: the subscriber joins G with capabilities "bench-sub" and
// waits; the publisher joins G too (capabilities "bench-pub", its own
// messages self-discarded) and starts only when its view of G holds
// `subscribers` members that said "bench-sub". It then sends `probes`
// uncounted PROBE messages, the N data messages (seq 0..N-1, each stamped
// with CLOCK_MONOTONIC at the Multicast call; paced when rate > 0), and END.
//
// The subscriber stops at the N-th distinct message, at END, or after
// `idle_timeout` seconds without a message, and prints one report: received,
// msgs_per_s (received / (last receive - send time of the first message)),
// p50_us, p99_us, p999_us, lost, duplicates, out_of_order (+ extras).
//
// Both functions block until done and return a process exit code (kBench*).
// They own their Client; not thread-safe with respect to each other's
// options (each call is independent).
#ifndef MSGC_BENCH_MSGC_BENCH_H_
#define MSGC_BENCH_MSGC_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

namespace msgc::bench {

// Exit codes of RunBenchSub / RunBenchPub.
inline constexpr int kBenchOk = 0;
inline constexpr int kBenchError = 1;       // connect / send failure
inline constexpr int kBenchUsage = 2;       // bad options
inline constexpr int kBenchNoPeers = 3;     // pub: subscribers never appeared;
                                            // sub: no message arrived
inline constexpr int kBenchIncomplete = 4;  // sub: report printed, some lost

struct BenchSubOptions {
  std::vector<std::string> servers = {"127.0.0.1:4809"};
  std::string name;  // session name; "" = the server picks
  std::string group;
  uint64_t count = 0;  // data messages expected
  bool json = false;
  // Seconds without a message (once one arrived) before reporting.
  double idle_timeout = 10;
  // Seconds to wait for the first message.
  double start_timeout = 120;
};

struct BenchPubOptions {
  std::vector<std::string> servers = {"127.0.0.1:4809"};
  std::string name;
  std::string group;
  uint64_t count = 0;
  uint64_t size = 100;           // payload bytes, >= 24 (the bench header)
  double rate = 0;               // messages per second; 0 = as fast as possible
  std::string service = "fifo";  // fifo | agreed | safe
  uint32_t subscribers = 1;      // members saying "bench-sub" to wait for
  uint32_t probes = 3;           // uncounted messages sent before the data
  double wait_timeout = 30;      // seconds to wait for the subscribers
  bool json = false;
};

int RunBenchSub(const BenchSubOptions& options);
int RunBenchPub(const BenchPubOptions& options);

}  // namespace msgc::bench

#endif  // MSGC_BENCH_MSGC_BENCH_H_
