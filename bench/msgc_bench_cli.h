// The command line of `msgc bench sub|pub`, shared by the `msgc` tool and
// the standalone msgc-bench driver so both accept exactly the same flags.
//
//   CLI::App* bench = app.add_subcommand("bench", "...");
//   msgc::bench::BenchSubOptions sub;
//   msgc::bench::BenchPubOptions pub;
//   msgc::bench::BenchCommands cmds = msgc::bench::AddBenchCommands(
//       bench, &sub, &pub);
//   ... parse ...
//   if (*cmds.sub) return msgc::bench::RunBenchSub(sub);   // after copying
//   if (*cmds.pub) return msgc::bench::RunBenchPub(pub);   // --server/--name
//
// Header-only (CLI11 is header-only); the options objects must outlive
// parsing.
#ifndef MSGC_BENCH_MSGC_BENCH_CLI_H_
#define MSGC_BENCH_MSGC_BENCH_CLI_H_

#include <CLI/CLI.hpp>

#include "bench/msgc_bench.h"

namespace msgc::bench {

struct BenchCommands {
  CLI::App* sub = nullptr;
  CLI::App* pub = nullptr;
};

// Adds the `sub` and `pub` subcommands to `parent` (e.g. the `bench`
// subcommand of `msgc`), bound to *sub and *pub. `parent` then requires one.
inline BenchCommands AddBenchCommands(CLI::App* parent, BenchSubOptions* sub,
                                      BenchPubOptions* pub) {
  BenchCommands c;
  parent->require_subcommand(1);
  c.sub =
      parent->add_subcommand("sub", "join the group, count and time messages");
  c.sub->add_option("--group", sub->group, "group to join")->required();
  c.sub->add_option("--count", sub->count, "data messages expected")
      ->required();
  c.sub->add_flag("--json", sub->json, "print the report as one JSON object");
  c.sub->add_option("--timeout", sub->idle_timeout,
                    "seconds without a message before reporting (default 10)");
  c.sub->add_option("--start-timeout", sub->start_timeout,
                    "seconds to wait for the first message (default 120)");

  c.pub = parent->add_subcommand(
      "pub", "wait for the subscribers, then publish timed messages");
  c.pub->add_option("--group", pub->group, "destination group")->required();
  c.pub->add_option("--count", pub->count, "data messages to send")->required();
  c.pub->add_option("--size", pub->size, "payload bytes (>= 24)")->required();
  c.pub->add_option("--rate", pub->rate,
                    "messages per second (default: as fast as possible)");
  c.pub->add_option("--service", pub->service, "fifo (default), agreed or safe")
      ->check(CLI::IsMember({"fifo", "agreed", "safe"}));
  c.pub->add_option("--subscribers", pub->subscribers,
                    "subscribers to wait for before sending (default 1)");
  c.pub->add_option("--probes", pub->probes,
                    "uncounted probe messages before the data (default 3)");
  c.pub->add_option("--wait", pub->wait_timeout,
                    "seconds to wait for the subscribers (default 30)");
  c.pub->add_flag("--json", pub->json, "print the report as one JSON object");
  return c;
}

}  // namespace msgc::bench

#endif  // MSGC_BENCH_MSGC_BENCH_CLI_H_
