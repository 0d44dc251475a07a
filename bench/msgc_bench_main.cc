// msgc-bench: standalone driver of the `msgc bench` roles (msgc_bench.h),
// with the same command line as the subcommand of the `msgc` tool:
//
//   msgc-bench [--server HOST:PORT]... [--name NAME]
//              sub --group G --count N [--json] [--timeout SEC]
//   msgc-bench [--server HOST:PORT]... [--name NAME]
//              pub --group G --count N --size S [--rate R]
//              [--service fifo|agreed|safe] [--subscribers K] [--json]
#include "base/log.h"
#include "bench/msgc_bench.h"
#include "bench/msgc_bench_cli.h"

int main(int argc, char** argv) {
  CLI::App app{"msgc-bench: the msgc bench sub / pub roles"};
  std::vector<std::string> servers;
  std::string name;
  app.add_option("-s,--server", servers,
                 "msgcd address HOST:PORT (default 127.0.0.1:4809)");
  app.add_option("-n,--name", name, "session name");
  msgc::bench::BenchSubOptions sub;
  msgc::bench::BenchPubOptions pub;
  msgc::bench::BenchCommands cmds =
      msgc::bench::AddBenchCommands(&app, &sub, &pub);
  CLI11_PARSE(app, argc, argv);
  // stdout carries the report only; client chatter stays below ERROR.
  msgc::InitLogging("msgc-bench");
  msgc::SetDebugLevel(msgc::DebugLevel::kError);
  if (!servers.empty()) {
    sub.servers = servers;
    pub.servers = servers;
  }
  sub.name = name;
  pub.name = name;
  if (*cmds.sub) return msgc::bench::RunBenchSub(sub);
  return msgc::bench::RunBenchPub(pub);
}
