#include "tools/commands.h"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include "tools/event_format.h"

namespace msgc::tools {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

void PrintLine(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void Error(const std::string& text) {
  std::fprintf(stderr, "msgc: %s\n", text.c_str());
  std::fflush(stderr);
}

std::vector<std::string> SplitDestinations(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(
        start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int Connect(const GlobalArgs& global, std::unique_ptr<Client>* client) {
  ClientOptions options;
  if (!MakeClientOptions(global, &options)) return kExitUsage;
  Result r = Client::Connect(options, client);
  if (!r.ok()) {
    Error(r.ToString());
    return r.code() == Result::Code::kInvalidArgument ? kExitUsage
                                                      : kExitNoConnection;
  }
  return kExitOk;
}

}  // namespace

bool MakeClientOptions(const GlobalArgs& global, ClientOptions* out) {
  ClientOptions o;
  if (!global.config_file.empty()) {
    Result r = ClientOptions::FromConfigFile(global.config_file, &o);
    if (!r.ok()) {
      Error(r.message());
      return false;
    }
  }
  if (!global.servers.empty()) o.servers = global.servers;
  if (!global.name.empty()) o.name = global.name;
  if (global.connect_timeout > 0) o.connect_timeout = global.connect_timeout;
  Result r = o.Validate();
  if (!r.ok()) {
    Error(r.message());
    return false;
  }
  *out = std::move(o);
  return true;
}

int RunListen(const GlobalArgs& global, const ListenArgs& args) {
  std::unique_ptr<Client> client;
  int rc = Connect(global, &client);
  if (rc != kExitOk) return rc;
  for (const std::string& g : args.groups) {
    Result r = client->Join(g, "");
    if (!r.ok()) {
      Error("join " + g + ": " + r.ToString());
      client->Close();
      return kExitUsage;
    }
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  using Clock = std::chrono::steady_clock;
  const bool has_deadline = args.timeout > 0;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(args.timeout));
  uint64_t messages = 0;
  while (!g_stop && (args.count == 0 || messages < args.count)) {
    auto wait = std::chrono::milliseconds(200);  // re-check g_stop
    if (has_deadline) {
      Clock::time_point now = Clock::now();
      if (now >= deadline) break;
      wait =
          std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                             deadline - now) +
                             std::chrono::milliseconds(1));
    }
    Event ev;
    Result r = client->Receive(&ev, wait);
    if (r.code() == Result::Code::kTimedOut) continue;
    if (!r.ok()) {
      Error(r.ToString());
      return kExitFailure;
    }
    switch (ev.type) {
      case Event::Type::kMessage:
        ++messages;
        PrintLine(args.json ? MessageToJson(ev.message)
                            : MessageToText(ev.message));
        break;
      case Event::Type::kMembership:
        PrintLine(args.json ? MembershipToJson(ev.membership)
                            : MembershipToText(ev.membership));
        break;
      case Event::Type::kConnected:
        if (ev.connection.reconnect) {
          Error("reconnected to " + ev.connection.server + " as " +
                ev.connection.private_name);
        }
        break;
      case Event::Type::kDisconnected:
        Error("disconnected from " + ev.connection.server + ": " +
              ev.connection.reason.ToString() + "; reconnecting");
        break;
      case Event::Type::kError:
        Error("server error " + ev.error.code_name +
              (ev.error.subject.empty() ? "" : " (" + ev.error.subject + ")") +
              ": " + ev.error.text);
        break;
    }
  }
  client->Close();
  return kExitOk;
}

int RunSend(const GlobalArgs& global, const SendArgs& args) {
  std::vector<std::string> dests = SplitDestinations(args.destination);
  if (dests.empty()) {
    Error("send: no destination");
    return kExitUsage;
  }
  std::vector<std::string> messages;
  if (args.message) {
    messages.push_back(*args.message);
  } else if (args.lines) {
    std::string line;
    while (std::getline(std::cin, line)) messages.push_back(line);
  } else {
    std::ostringstream all;
    all << std::cin.rdbuf();
    messages.push_back(all.str());
  }
  std::unique_ptr<Client> client;
  int rc = Connect(global, &client);
  if (rc != kExitOk) return rc;
  SendOptions so;
  so.service = args.service;
  so.self_discard = args.no_self;
  for (const std::string& m : messages) {
    Result r = client->Send(dests, m, so);
    if (!r.ok()) {
      Error("send: " + r.ToString());
      client->Close();
      return r.code() == Result::Code::kInvalidArgument ? kExitUsage
                                                        : kExitFailure;
    }
  }
  // Close() flushes the queue, says GOODBYE and waits for the server to
  // close: every message reached the server, and any error it had about
  // them (e.g. NO_SUCH_RECIPIENT) has arrived.
  client->Close();
  rc = kExitOk;
  Event ev;
  while (client->Receive(&ev, std::chrono::milliseconds(0)).ok()) {
    if (ev.type == Event::Type::kError) {
      Error("server error " + ev.error.code_name +
            (ev.error.subject.empty() ? "" : " (" + ev.error.subject + ")") +
            ": " + ev.error.text);
      rc = kExitFailure;
    } else if (ev.type == Event::Type::kDisconnected &&
               ev.connection.unsent_messages > 0) {
      Error("connection lost with " +
            std::to_string(ev.connection.unsent_messages) +
            " messages unsent: " + ev.connection.reason.ToString());
      rc = kExitFailure;
    } else if (ev.type == Event::Type::kDisconnected &&
               ev.connection.reason.code() != Result::Code::kOk &&
               ev.connection.reason.code() != Result::Code::kTimedOut) {
      Error("connection lost: " + ev.connection.reason.ToString());
      rc = kExitFailure;
    }
  }
  return rc;
}

}  // namespace msgc::tools
