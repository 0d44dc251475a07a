// msgc: command-line client of the msgc bus.
//
//   msgc [--server HOST:PORT]... [--name NAME] [--config FILE]
//        listen [--json] [--count N] [--timeout SEC] GROUP...
//   msgc [--server HOST:PORT]... [--name NAME] [--config FILE]
//        send [--no-self] [--lines] [--fifo|--agreed|--safe] DEST [MESSAGE]
//
// Exit codes: see tools/commands.h.
#include <CLI/CLI.hpp>

#include "base/log.h"
#include "bench/msgc_bench_cli.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  using msgc::tools::kExitUsage;
  CLI::App app{"msgc: command-line client of the msgc group-communication bus"};
  app.require_subcommand(1);
  msgc::tools::GlobalArgs global;
  bool verbose = false;
  app.add_option("-s,--server", global.servers,
                 "msgcd address HOST:PORT; repeat for an ordered fail-over "
                 "list (default 127.0.0.1:4809 or --config's)");
  app.add_option("-n,--name", global.name,
                 "session name (default: the server picks one)");
  app.add_option("-c,--config", global.config_file,
                 "Momentum/msgc configuration file; its msgc_client scope "
                 "gives the defaults");
  app.add_option("--connect-timeout", global.connect_timeout,
                 "seconds per server attempt");
  app.add_flag("-v,--verbose", verbose, "log connection details to stderr");

  msgc::tools::ListenArgs listen;
  CLI::App* listen_cmd = app.add_subcommand(
      "listen", "join groups and print every message and membership event");
  listen_cmd->add_flag("--json", listen.json, "one JSON object a line");
  listen_cmd->add_option("--count", listen.count,
                         "exit 0 after this many messages");
  listen_cmd->add_option("--timeout", listen.timeout,
                         "exit 0 after this many seconds");
  listen_cmd->add_option("GROUP", listen.groups, "groups to join")->required();

  msgc::tools::SendArgs send;
  std::string message;
  bool fifo = false, agreed = false, safe = false;
  CLI::App* send_cmd = app.add_subcommand(
      "send", "send MESSAGE (or stdin) to groups or a private name");
  send_cmd->add_flag("--no-self", send.no_self,
                     "do not deliver the message back to this session");
  send_cmd->add_flag("--lines", send.lines,
                     "send every line of stdin as its own message");
  CLI::Option* o_fifo =
      send_cmd->add_flag("--fifo", fifo, "FIFO service (default)");
  CLI::Option* o_agreed =
      send_cmd->add_flag("--agreed", agreed, "AGREED service");
  CLI::Option* o_safe = send_cmd->add_flag("--safe", safe, "SAFE service");
  o_fifo->excludes(o_agreed)->excludes(o_safe);
  o_agreed->excludes(o_safe);
  send_cmd
      ->add_option("DEST", send.destination,
                   "group, comma-separated groups, or a private name "
                   "#session#node")
      ->required();
  CLI::Option* o_message =
      send_cmd->add_option("MESSAGE", message, "the message (default: stdin)");

  CLI::App* bench_cmd = app.add_subcommand(
      "bench", "measure the bus: run a subscriber or a publisher role");
  msgc::bench::BenchSubOptions bench_sub;
  msgc::bench::BenchPubOptions bench_pub;
  msgc::bench::BenchCommands bench =
      msgc::bench::AddBenchCommands(bench_cmd, &bench_sub, &bench_pub);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  msgc::InitLogging("msgc");
  msgc::SetDebugLevel(verbose ? msgc::DebugLevel::kDebug
                              : msgc::DebugLevel::kError);

  if (*listen_cmd) return msgc::tools::RunListen(global, listen);
  if (*bench_cmd) {
    // The roles print their report on stdout; library logs stay at ERROR
    // so that they never mix into the JSON.
    if (!global.servers.empty()) {
      bench_sub.servers = global.servers;
      bench_pub.servers = global.servers;
    }
    bench_sub.name = global.name;
    bench_pub.name = global.name;
    if (*bench.sub) return msgc::bench::RunBenchSub(bench_sub);
    return msgc::bench::RunBenchPub(bench_pub);
  }
  if (agreed) send.service = msgc::Service::kAgreed;
  if (safe) send.service = msgc::Service::kSafe;
  if (o_message->count() > 0) send.message = message;
  return msgc::tools::RunSend(global, send);
}
