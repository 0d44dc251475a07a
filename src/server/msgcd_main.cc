// msgcd: the msgc server daemon. A thin main over server::Server.
//
//   msgcd [-c FILE] [--node NAME] [--check-config] [--debug-level LEVEL]
//
// Without -c the embedded default configuration is used (a single node on
// 127.0.0.1:4809). With `peers` the node is found in them (identity.h:
// --node, else the host name, else a local address); msgcd refuses to start
// if it is not there. SIGHUP reloads FILE; SIGINT/SIGTERM shut down gracefully
// and exit 0. Once listening, one line
//   msgcd: node NAME listening on ADDR[, ADDR...]
// is printed to stderr whatever the debug level (tests wait for it).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <cctype>
#include <cstdio>
#include <random>
#include <string>

#include "base/log.h"
#include "config/config.h"
#include "net/endpoint.h"
#include "server/identity.h"
#include "server/server.h"

namespace {

bool ValidNodeName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' &&
        c != '.') {
      return false;
    }
  }
  return true;
}

uint64_t RandomIncarnation() {
  std::random_device rd;
  uint64_t v = 0;
  while (v == 0) v = (uint64_t{rd()} << 32) ^ rd();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"msgcd: the msgc group-communication server"};
  std::string config_path;
  std::string node;
  bool check_config = false;
  std::string debug_level_text;
  app.add_option("-c,--config", config_path, "configuration file");
  app.add_option("--node", node,
                 "node name: a key of peers (default: found by host name "
                 "or address; without peers the short host name)");
  app.add_flag("--check-config", check_config,
               "validate the configuration and exit (1 on errors)");
  app.add_option("--debug-level", debug_level_text,
                 "DEBUG, INFO, NOTICE, WARNING, ERROR or CRITICAL "
                 "(overrides the configuration)");
  CLI11_PARSE(app, argc, argv);

  msgc::InitLogging("msgcd");
  std::optional<msgc::DebugLevel> level_override;
  if (!debug_level_text.empty()) {
    level_override = msgc::ParseDebugLevel(debug_level_text);
    if (!level_override) {
      std::fprintf(stderr, "msgcd: bad --debug-level '%s'\n",
                   debug_level_text.c_str());
      return 2;
    }
    msgc::SetDebugLevel(*level_override);
  }

  std::shared_ptr<const msgc::config::Config> config;
  if (config_path.empty()) {
    config = msgc::config::DefaultConfig();
  } else {
    msgc::config::LoadResult r = msgc::config::LoadFile(config_path);
    if (!r.ok()) {
      std::fputs(r.ErrorText().c_str(), stderr);
      return 1;
    }
    config = r.config;
  }
  if (check_config) {
    std::fprintf(stderr, "msgcd: %s: configuration OK\n",
                 config_path.empty() ? "(default)" : config_path.c_str());
    return 0;
  }

  msgc::server::Identity identity;
  if (msgc::Status s = msgc::server::ResolveIdentity(
          config->server.peers, config->server.port,
          msgc::server::SystemIdentityInput(node), &identity);
      !s.ok()) {
    std::fprintf(stderr, "msgcd: %s\n", s.message().c_str());
    return 1;
  }
  node = identity.node;
  if (!ValidNodeName(node)) {
    std::fprintf(stderr,
                 "msgcd: bad node name '%s' (1..64 of [A-Za-z0-9_.-])\n",
                 node.c_str());
    return 2;
  }

  asio::io_context io(1);
  msgc::server::Server server(
      io, msgc::server::ServerIdentity{node, RandomIncarnation()}, config,
      config_path);
  server.set_debug_level_override(level_override);
  if (msgc::Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "msgcd: %s\n", s.ToString().c_str());
    return 1;
  }

  std::string addrs;
  for (const auto& ep : server.ListenEndpoints()) {
    if (!addrs.empty()) addrs += ", ";
    addrs += msgc::net::FormatEndpoint(ep);
  }
  std::fprintf(stderr, "msgcd: node %s listening on %s\n", node.c_str(),
               addrs.c_str());
  std::fflush(stderr);

  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const std::error_code&, int)> on_signal =
      [&](const std::error_code& ec, int signo) {
        if (ec) return;
        if (signo == SIGHUP) {
          server.Reload();
          signals.async_wait(on_signal);
          return;
        }
        MSGC_LOG_INFO("signal {}: shutting down", signo);
        server.Shutdown();
        std::error_code ignored;
        signals.cancel(ignored);
      };
  signals.async_wait(on_signal);

  io.run();
  std::fprintf(stderr, "msgcd: node %s stopped\n", node.c_str());
  return 0;
}
