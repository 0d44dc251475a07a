// msgc-fault-client: a client for the fault-injection harness (run.sh).
//
// Connects to a server (with an optional fail-over list), joins every group
// given, sends paced messages with a rotating service (fifo, agreed, safe)
// to one or two of those groups, and logs EVERY event it sees to a
// JSON-lines file for checker.py:
//
//   {"t":..,"ev":"start","name":N,"pid":P,"groups":[..]}
//   {"t":..,"ev":"connected","inc":I,"server":S,"priv":"#N#node"}
//   {"t":..,"ev":"disconnected","inc":I,"reason":R,"unsent":U}
//   {"t":..,"ev":"send","seq":Q,"svc":"agreed","groups":[..],"ok":true,"err":""}
//   {"t":..,"ev":"deliver","inc":I,"idx":X,"from":N,"seq":Q,"svc":..,
//        "groups":[..],"wsvc":"agreed","sender":"#N#node"}
//   {"t":..,"ev":"view","inc":I,"idx":X,"group":G,"view":V,"cause":C,
//        "trans":false,"self_leave":false,"members":[..]}
//   {"t":..,"ev":"error","code":..,"request":..,"text":..}
//   {"t":..,"ev":"quiesce"}  (SIGUSR1: stop sending)
//   {"t":..,"ev":"exit"}     (SIGTERM / SIGINT: close and exit)
//
// Events are taken from Receive()'s queue by one receiver thread, so the
// log keeps their arrival order. "inc" is the connection incarnation (1 for the
// first session, +1 for every reconnection); "idx" is a per-process receive
// index over messages and views. The payload of each message is "<name> <seq>
// <service>".
//
// Usage: msgc-fault-client --name N --servers h:p[,h:p...] --groups g1,g2
//        --log FILE [--rate MSGS_PER_S] [--seed S] [--idle-timeout S]
// (--idle-timeout: the client's idle timeout in seconds, default 2; its
// keepalive interval is 0.15 of it.)
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "msgc/client.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_quiesce{false};

void OnSignal(int sig) {
  if (sig == SIGUSR1) {
    g_quiesce = true;
  } else {
    g_stop = true;
  }
}

std::string Esc(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string Arr(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += Esc(v[i]);
  }
  return out + "]";
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double Now() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Log {
 public:
  explicit Log(const std::string& path) : f_(std::fopen(path.c_str(), "a")) {}
  ~Log() {
    if (f_) std::fclose(f_);
  }
  bool ok() const { return f_ != nullptr; }
  // `body` is the JSON object's fields after "t" (starting with ',').
  void Write(const std::string& body) {
    std::lock_guard<std::mutex> lock(mu_);
    char t[32];
    std::snprintf(t, sizeof t, "%.6f", Now());
    std::fprintf(f_, "{\"t\":%s%s}\n", t, body.c_str());
  }
  void Flush() {
    std::lock_guard<std::mutex> lock(mu_);
    std::fflush(f_);
  }

 private:
  std::mutex mu_;
  FILE* f_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string name, servers, groups_arg, log_path;
  double rate = 20;
  double idle_timeout = 2;
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--name")
      name = next();
    else if (a == "--servers")
      servers = next();
    else if (a == "--groups")
      groups_arg = next();
    else if (a == "--log")
      log_path = next();
    else if (a == "--rate")
      rate = std::atof(next().c_str());
    else if (a == "--idle-timeout")
      idle_timeout = std::atof(next().c_str());
    else if (a == "--seed")
      seed = static_cast<unsigned>(std::atol(next().c_str()));
    else {
      std::fprintf(stderr,
                   "usage: %s --name N --servers h:p[,h:p] --groups g1,g2 "
                   "--log FILE [--rate R] [--seed S] [--idle-timeout S]\n",
                   argv[0]);
      return 2;
    }
  }
  std::vector<std::string> groups = Split(groups_arg, ',');
  if (name.empty() || servers.empty() || groups.empty() || log_path.empty() ||
      rate <= 0 || idle_timeout <= 0) {
    std::fprintf(stderr, "--name, --servers, --groups, --log are required\n");
    return 2;
  }
  Log log(log_path);
  if (!log.ok()) {
    std::perror(log_path.c_str());
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  log.Write(",\"ev\":\"start\",\"name\":" + Esc(name) + ",\"pid\":" +
            std::to_string(getpid()) + ",\"groups\":" + Arr(groups) +
            ",\"servers\":" + Arr(Split(servers, ',')));
  log.Flush();

  msgc::ClientOptions opts;
  opts.servers = Split(servers, ',');
  opts.name = name;
  opts.connect_timeout = 1;
  opts.reconnect_interval = 0.2;
  opts.keepalive_interval = 0.15 * idle_timeout;
  opts.idle_timeout = idle_timeout;
  opts.send_timeout = 0.2;
  opts.close_timeout = 2;
  opts.wait_for_connection = false;

  // Incarnation and receive index are only touched by the receiver thread.
  int inc = 0;
  uint64_t idx = 0;
  std::atomic<bool> connected{false};

  msgc::Client::Callbacks cb;
  cb.on_message = [&](const msgc::MessageEvent& m) {
    // payload: "<name> <seq> <service>"
    std::vector<std::string> parts = Split(m.data, ' ');
    std::string from = parts.size() > 0 ? parts[0] : "";
    std::string seq = parts.size() > 1 ? parts[1] : "-1";
    std::string psvc = parts.size() > 2 ? parts[2] : "";
    for (char c : seq) {
      if (c < '0' || c > '9') {
        seq = "-1";
        break;
      }
    }
    log.Write(",\"ev\":\"deliver\",\"inc\":" + std::to_string(inc) +
              ",\"idx\":" + std::to_string(++idx) + ",\"from\":" + Esc(from) +
              ",\"seq\":" + seq + ",\"svc\":" + Esc(psvc) +
              ",\"wsvc\":" + Esc(msgc::ServiceName(m.service)) +
              ",\"groups\":" + Arr(m.groups) + ",\"sender\":" + Esc(m.sender));
  };
  cb.on_membership = [&](const msgc::MembershipEvent& v) {
    std::vector<std::string> members;
    for (const auto& mem : v.members) members.push_back(mem.name);
    std::vector<std::string> changed;
    for (const auto& mem : v.changed) changed.push_back(mem.name);
    log.Write(",\"ev\":\"view\",\"inc\":" + std::to_string(inc) +
              ",\"idx\":" + std::to_string(++idx) +
              ",\"group\":" + Esc(v.group) + ",\"view\":" + Esc(v.view) +
              ",\"cause\":" + Esc(msgc::MembershipCauseName(v.cause)) +
              ",\"trans\":" + (v.transitional ? "true" : "false") +
              ",\"self_leave\":" + (v.self_leave ? "true" : "false") +
              ",\"members\":" + Arr(members) + ",\"changed\":" + Arr(changed));
  };
  cb.on_connection = [&](bool up, const msgc::ConnectionEvent& c) {
    if (up) {
      ++inc;
      connected = true;
      log.Write(",\"ev\":\"connected\",\"inc\":" + std::to_string(inc) +
                ",\"server\":" + Esc(c.server) +
                ",\"priv\":" + Esc(c.private_name) +
                ",\"reconnect\":" + (c.reconnect ? "true" : "false"));
    } else {
      connected = false;
      log.Write(",\"ev\":\"disconnected\",\"inc\":" + std::to_string(inc) +
                ",\"reason\":" + Esc(c.reason.ToString()) +
                ",\"unsent\":" + std::to_string(c.unsent_messages));
    }
    log.Flush();
  };
  cb.on_error = [&](const msgc::ServerError& e) {
    log.Write(",\"ev\":\"error\",\"code\":" + Esc(e.code_name) + ",\"fatal\":" +
              (e.fatal ? "true" : "false") + ",\"request\":" + Esc(e.request) +
              ",\"ref\":" + std::to_string(e.ref) +
              ",\"subject\":" + Esc(e.subject) + ",\"text\":" + Esc(e.text));
  };

  std::unique_ptr<msgc::Client> client;
  msgc::Result r = msgc::Client::Connect(opts, &client);
  if (!r.ok()) {
    log.Write(",\"ev\":\"fatal\",\"text\":" + Esc(r.ToString()));
    log.Flush();
    std::fprintf(stderr, "connect: %s\n", r.ToString().c_str());
    return 1;
  }
  // Every event goes through Receive()'s queue, handled by one thread in
  // arrival order. (Callbacks set after Connect() could miss the first
  // kConnected event, which may already be queued by then.)
  std::atomic<bool> receiver_stop{false};
  std::thread receiver([&] {
    msgc::Event ev;
    while (!receiver_stop) {
      msgc::Result rr = client->Receive(&ev, std::chrono::milliseconds(100));
      if (!rr.ok()) {
        if (rr.code() == msgc::Result::Code::kTimedOut) continue;
        break;  // closed and drained
      }
      switch (ev.type) {
        case msgc::Event::Type::kMessage:
          cb.on_message(ev.message);
          break;
        case msgc::Event::Type::kMembership:
          cb.on_membership(ev.membership);
          break;
        case msgc::Event::Type::kConnected:
          cb.on_connection(true, ev.connection);
          break;
        case msgc::Event::Type::kDisconnected:
          cb.on_connection(false, ev.connection);
          break;
        case msgc::Event::Type::kError:
          cb.on_error(ev.error);
          break;
      }
    }
  });
  for (const auto& g : groups) {
    msgc::Result jr = client->Join(g, "");
    if (!jr.ok()) {
      log.Write(",\"ev\":\"join_failed\",\"group\":" + Esc(g) +
                ",\"text\":" + Esc(jr.ToString()));
    }
  }

  std::mt19937 rng(seed);
  const msgc::Service services[3] = {
      msgc::Service::kFifo, msgc::Service::kAgreed, msgc::Service::kSafe};
  uint64_t seq = 0;
  auto period = std::chrono::duration<double>(1.0 / rate);
  auto next_send = std::chrono::steady_clock::now();
  auto next_flush = next_send;
  bool quiesce_logged = false;
  while (!g_stop) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_flush) {
      log.Flush();
      next_flush = now + std::chrono::milliseconds(100);
    }
    if (g_quiesce) {
      if (!quiesce_logged) {
        log.Write(",\"ev\":\"quiesce\",\"last_seq\":" + std::to_string(seq));
        log.Flush();
        quiesce_logged = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (now < next_send) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          next_send - now, std::chrono::milliseconds(20)));
      continue;
    }
    next_send +=
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
    if (next_send < now) next_send = now;  // do not burst after a stall
    if (!connected) continue;
    ++seq;
    msgc::Service svc = services[seq % 3];
    std::vector<std::string> dest;
    size_t first = rng() % groups.size();
    dest.push_back(groups[first]);
    if (groups.size() > 1 && rng() % 2 == 0) {
      size_t second = (first + 1 + rng() % (groups.size() - 1)) % groups.size();
      dest.push_back(groups[second]);
    }
    std::string svc_name(msgc::ServiceName(svc));
    std::string payload = name + " " + std::to_string(seq) + " " + svc_name;
    msgc::SendOptions so;
    so.service = svc;
    so.timeout = std::chrono::milliseconds(200);
    // Logged before the call, completed after: a delivery (self-delivery
    // included) can never precede the record of its send in wall time.
    log.Write(",\"ev\":\"send\",\"seq\":" + std::to_string(seq) +
              ",\"svc\":" + Esc(svc_name) + ",\"groups\":" + Arr(dest));
    msgc::Result sr = client->Send(dest, payload, so);
    log.Write(",\"ev\":\"sent\",\"seq\":" + std::to_string(seq) +
              ",\"ok\":" + (sr.ok() ? "true" : "false") +
              ",\"err\":" + Esc(sr.ok() ? "" : sr.ToString()));
  }
  log.Write(",\"ev\":\"closing\"");
  log.Flush();
  client->Close();
  receiver_stop = true;
  receiver.join();
  log.Write(",\"ev\":\"exit\"");
  log.Flush();
  return 0;
}
