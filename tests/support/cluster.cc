#include "support/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

namespace msgc::test {
namespace {

constexpr int kStartAttempts = 4;
constexpr size_t kLogTailOnFailure = 6000;
constexpr std::string_view kConfMarker = "mesh: configuration ";
constexpr uint16_t kNetnsPort = 4809;

// True if `port` can be bound on `address` right now.
bool CanBind(const std::string& address, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

// A port free on every one of `addresses` (0 if none found).
uint16_t PickSharedPort(const std::vector<std::string>& addresses) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, addresses.front().c_str(), &a.sin_addr);
    uint16_t port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
      socklen_t len = sizeof(a);
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
      }
    }
    close(fd);
    if (port == 0) continue;
    bool all = true;
    for (const std::string& addr : addresses) all = all && CanBind(addr, port);
    if (all) return port;
  }
  return 0;
}

std::string FormatSeconds(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

std::string Tail(std::string s) {
  if (s.size() > kLogTailOnFailure) {
    s = "..." + s.substr(s.size() - kLogTailOnFailure);
  }
  return s;
}

std::string JoinNames(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

bool BindFailure(const std::string& log) {
  return log.find("in use") != std::string::npos;
}

}  // namespace

// ---- ClusterNode ----

ClusterNode::~ClusterNode() = default;

std::string ClusterNode::Log() const {
  return process_ ? process_->ReadStderr() : std::string();
}

std::string ClusterNode::AllLogs() const {
  std::string out;
  int n = 0;
  for (const std::string& p : old_logs_) {
    out += "== start " + std::to_string(++n) + " ==\n" + ReadFile(p);
  }
  out += "== start " + std::to_string(++n) + " (current) ==\n" + Log();
  return out;
}

bool ClusterNode::WaitForLog(std::string_view needle,
                             milliseconds timeout) const {
  return WaitFor(timeout,
                 [&] { return Log().find(needle) != std::string::npos; });
}

size_t ClusterNode::CountInLog(std::string_view needle) const {
  const std::string log = Log();
  size_t n = 0;
  for (size_t pos = log.find(needle); pos != std::string::npos;
       pos = log.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

std::vector<MeshConfiguration> ClusterNode::Configurations() const {
  std::vector<MeshConfiguration> out;
  const std::string log = Log();
  for (size_t pos = log.find(kConfMarker); pos != std::string::npos;
       pos = log.find(kConfMarker, pos + 1)) {
    const size_t eol = log.find('\n', pos);
    if (eol == std::string::npos) break;  // line not complete yet
    const std::string line =
        log.substr(pos + kConfMarker.size(), eol - pos - kConfMarker.size());
    // "<id> members [a, b, c]"
    const size_t sp = line.find(' ');
    const size_t open = line.find(" members [");
    const size_t close =
        open == std::string::npos ? open : line.find(']', open);
    if (sp == std::string::npos || open == std::string::npos ||
        close == std::string::npos || close < open) {
      continue;
    }
    MeshConfiguration c;
    c.id = line.substr(0, sp);
    std::string list = line.substr(open + 10, close - open - 10);
    size_t start = 0;
    while (start < list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      std::string name = list.substr(start, comma - start);
      while (!name.empty() && name.front() == ' ') name.erase(0, 1);
      while (!name.empty() && name.back() == ' ') name.pop_back();
      if (!name.empty()) c.members.push_back(name);
      start = comma + 1;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<MeshConfiguration> ClusterNode::LastConfiguration() const {
  std::vector<MeshConfiguration> all = Configurations();
  if (all.empty()) return std::nullopt;
  return all.back();
}

// ---- Cluster ----

Cluster::~Cluster() {
  if (::testing::Test::HasFailure()) {
    for (auto& n : nodes_) {
      std::fprintf(stderr, "---- msgcd %s (%s, pid %d) logs ----\n%s\n----\n",
                   n->name_.c_str(), n->endpoint().c_str(),
                   static_cast<int>(n->pid()), Tail(n->AllLogs()).c_str());
    }
  }
  // Each node's Subprocess kills (SIGKILL; SIGCONT first is not needed: a
  // stopped process dies of SIGKILL) and reaps its process by PID.
  for (auto& n : nodes_) {
    if (n->process_ && n->process_->Running()) {
      n->process_->Kill(SIGKILL);
      n->process_->Wait(kDefaultTimeout);
    }
  }
}

std::vector<int> Cluster::All() const {
  std::vector<int> v;
  for (size_t i = 0; i < nodes_.size(); ++i) v.push_back(static_cast<int>(i));
  return v;
}

std::vector<std::string> Cluster::Names(const std::vector<int>& idx) const {
  std::vector<std::string> v;
  for (int i : idx) v.push_back(nodes_.at(i)->name_);
  std::sort(v.begin(), v.end());
  return v;
}

std::string Cluster::PeersText(const std::vector<int>& indexes) const {
  std::string s = "  peers = [\n";
  for (int i : indexes) {
    const ClusterNode& n = *nodes_.at(i);
    std::string addr = n.address_;
    if (options_.addressing == ClusterOptions::Addressing::kLoopbackPorts) {
      addr += ":" + std::to_string(n.port_);
    }
    s += "    " + n.name_ + " = \"" + addr + "\"\n";
  }
  return s + "  ]\n";
}

std::string Cluster::ConfigText(int i, const std::vector<int>& peer_indexes,
                                std::string_view extra) const {
  const ClusterNode& n = *nodes_.at(i);
  std::string s = "# generated by tests/support/cluster.cc for node " +
                  n.name_ + "\nmsgc_server {\n";
  s += "  port = " + std::to_string(n.port_) + "\n";
  s += "  debug_level = INFO\n";
  s += "  idle_timeout = " + FormatSeconds(options_.idle_timeout) + "\n";
  s += "  keepalive_interval = " + FormatSeconds(options_.keepalive_interval) +
       "\n";
  s += "  reconnect_interval = " + FormatSeconds(options_.reconnect_interval) +
       "\n";
  s += "  connect_timeout = " + FormatSeconds(options_.connect_timeout) + "\n";
  if (!options_.extra_server_options.empty()) {
    s += "  " + options_.extra_server_options + "\n";
  }
  if (!extra.empty()) s += "  " + std::string(extra) + "\n";
  s += PeersText(peer_indexes);
  s += "}\nmsgcserver_listener {\n  listen \"" +
       (options_.listen_all ? std::string() : n.listen_host_) + ":" +
       std::to_string(n.port_) + "\" { }\n}\n";
  return s;
}

Status Cluster::WriteConfig(int i, const std::string& text) {
  ClusterNode& n = *nodes_.at(i);
  n.config_text_ = text;
  return WriteFile(n.config_path_, text);
}

Status Cluster::ReconfigureText(int i, const std::string& text) {
  ClusterNode& n = *nodes_.at(i);
  if (Status s = WriteConfig(i, text); !s.ok()) return s;
  if (!n.Running()) return Status::NotConnected(n.name_ + " is not running");
  n.process_->Kill(SIGHUP);
  return Status::OK();
}

Status Cluster::Reconfigure(int i, const std::vector<int>& peer_indexes,
                            std::string_view extra) {
  return ReconfigureText(i, ConfigText(i, peer_indexes, extra));
}

Status Cluster::Assign(int n, int attempt) {
  using A = ClusterOptions::Addressing;
  if (nodes_.empty()) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::unique_ptr<ClusterNode>(new ClusterNode()));
      nodes_.back()->index_ = i;
      nodes_.back()->name_ = "n" + std::to_string(i + 1);
    }
  }
  std::vector<std::string> addresses;
  for (int i = 0; i < n; ++i) {
    ClusterNode& node = *nodes_[i];
    switch (options_.addressing) {
      case A::kLoopbackAddresses:
        node.address_ = "127.0.0." + std::to_string(i + 2);
        break;
      case A::kLoopbackPorts:
        node.address_ = "127.0.0.1";
        break;
      case A::kNetns:
        if (options_.netns == nullptr || options_.netns->hosts() < n) {
          return Status::InvalidArgument("kNetns needs a NetnsLab with " +
                                         std::to_string(n) + " hosts");
        }
        node.address_ = NetnsLab::Address(i);
        break;
    }
    node.listen_host_ = node.address_;
    addresses.push_back(node.address_);
  }
  switch (options_.addressing) {
    case A::kLoopbackAddresses: {
      const uint16_t port = PickSharedPort(addresses);
      if (port == 0) return Status::IoError("no free port on " + addresses[0]);
      for (auto& node : nodes_) node->port_ = port;
      break;
    }
    case A::kLoopbackPorts: {
      std::set<uint16_t> used;
      for (auto& node : nodes_) {
        uint16_t p = 0;
        for (int k = 0; k < 50 && (p == 0 || used.count(p)); ++k) {
          p = PickFreePort();
        }
        if (p == 0 || used.count(p)) return Status::IoError("no free port");
        used.insert(p);
        node->port_ = p;
      }
      break;
    }
    case A::kNetns:
      // The namespaces are ours: nothing else listens there.
      for (auto& node : nodes_) node->port_ = kNetnsPort + attempt;
      break;
  }
  const std::vector<int> peers =
      options_.peers.empty() ? All() : options_.peers;
  for (int i = 0; i < n; ++i) {
    ClusterNode& node = *nodes_[i];
    node.config_path_ = node.dir_.File("msgcd.conf");
    node.config_text_ = ConfigText(i, peers);
    if (Status s = WriteFile(node.config_path_, node.config_text_); !s.ok()) {
      return s;
    }
  }
  return Status::OK();
}

Status Cluster::Launch(int i) {
  ClusterNode& n = *nodes_.at(i);
  if (n.process_ && n.process_->Running()) {
    return Status::AlreadyExists(n.name_ + " is running");
  }
  const std::string binary = GetEnv("MSGCD");
  if (binary.empty()) {
    return Status::InvalidArgument(
        "environment variable MSGCD is not set (run through ctest, or set "
        "MSGCD=/path/to/msgcd)");
  }
  if (n.process_) n.old_logs_.push_back(n.process_->stderr_path());
  ++n.starts_;
  std::vector<std::string> argv = {binary, "-c", n.config_path_};
  if (options_.pass_node) {
    argv.push_back("--node");
    argv.push_back(n.name_);
  }
  Subprocess::Options o;
  o.argv = options_.addressing == ClusterOptions::Addressing::kNetns
               ? options_.netns->Wrap(i, argv)
               : argv;
  const std::string stem = "msgcd." + std::to_string(n.starts_);
  o.stdout_path = n.dir_.File(stem + ".stdout");
  o.stderr_path = n.dir_.File(stem + ".stderr");
  n.process_ = std::make_unique<Subprocess>();
  return n.process_->Start(o);
}

Status Cluster::AwaitListening(int i) {
  ClusterNode& n = *nodes_.at(i);
  const std::string marker = "msgcd: node " + n.name_ + " listening on ";
  const bool up = WaitFor(options_.start_timeout, [&] {
    const std::string log = n.Log();
    const size_t pos = log.find(marker);
    if (pos != std::string::npos && log.find('\n', pos) != std::string::npos) {
      return true;
    }
    return !n.process_->Running();
  });
  if (up && n.Log().find(marker) != std::string::npos) return Status::OK();
  if (n.process_->Running()) n.process_->Kill(SIGKILL);
  n.process_->Wait(kDefaultTimeout);
  return Status::IoError(n.name_ + " did not start (exit " +
                         std::to_string(n.process_->exit_code().value_or(-1)) +
                         "):\n" + n.Log());
}

Status Cluster::StartNode(int i) {
  Status last;
  // After a kill the old process may still hold the port for a moment.
  const auto deadline = std::chrono::steady_clock::now() + milliseconds{5000};
  do {
    if (Status s = Launch(i); !s.ok()) return s;
    last = AwaitListening(i);
    if (last.ok() || !BindFailure(last.message())) return last;
    std::this_thread::sleep_for(milliseconds{100});  // port not yet released
  } while (std::chrono::steady_clock::now() < deadline);
  return last;
}

void Cluster::Kill(int i, int sig) {
  ClusterNode& n = *nodes_.at(i);
  if (!n.process_) return;
  n.process_->Kill(sig);
  if (sig == SIGKILL) n.process_->Wait(kDefaultTimeout);
}

std::optional<int> Cluster::Stop(int i, milliseconds timeout) {
  ClusterNode& n = *nodes_.at(i);
  if (!n.process_) return std::nullopt;
  n.process_->Kill(SIGTERM);
  return n.process_->Wait(timeout);
}

std::string Cluster::ConfigurationId(int i) const {
  std::optional<MeshConfiguration> c = nodes_.at(i)->LastConfiguration();
  return c ? c->id : std::string();
}

bool Cluster::WaitConfiguration(const std::vector<int>& at,
                                const std::vector<int>& members,
                                milliseconds timeout) {
  const std::vector<std::string> want = Names(members);
  return WaitFor(timeout, [&] {
    std::string id;
    for (int i : at) {
      std::optional<MeshConfiguration> c = nodes_.at(i)->LastConfiguration();
      if (!c || c->members != want) return false;
      if (id.empty()) id = c->id;
      if (c->id != id) return false;
    }
    return true;
  });
}

bool Cluster::WaitFormed(milliseconds timeout) {
  return WaitConfiguration(All(), All(), timeout);
}

std::string Cluster::DescribeConfigurations() const {
  std::string s;
  for (const auto& n : nodes_) {
    std::optional<MeshConfiguration> c = n->LastConfiguration();
    s += n->name_ + ": " +
         (c ? c->id + " " + JoinNames(c->members) : std::string("(none)")) +
         "; ";
  }
  return s;
}

Status Cluster::RunNear(int i, const std::function<void()>& fn) const {
  if (options_.addressing == ClusterOptions::Addressing::kNetns) {
    return options_.netns->RunIn(i, fn);
  }
  fn();
  return Status::OK();
}

std::unique_ptr<Cluster> StartCluster(int n, const ClusterOptions& options) {
  std::unique_ptr<Cluster> c(new Cluster());
  c->options_ = options;
  const std::vector<int> start =
      options.start.empty() ? [n] {
        std::vector<int> v;
        for (int i = 0; i < n; ++i) v.push_back(i);
        return v;
      }()
                            : options.start;
  Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    if (attempt > 0) {
      for (size_t i = 0; i < c->nodes_.size(); ++i) {
        c->Kill(static_cast<int>(i), SIGKILL);
      }
    }
    last = c->Assign(n, attempt);
    if (!last.ok()) break;
    for (int i : start) {
      last = c->Launch(i);
      if (!last.ok()) break;
    }
    if (!last.ok()) break;
    bool bind_failure = false;
    for (int i : start) {
      Status s = c->AwaitListening(i);
      if (!s.ok()) {
        last = s;
        bind_failure = bind_failure || BindFailure(s.message());
      }
    }
    if (last.ok()) return c;
    if (!bind_failure) break;  // only a lost port race is worth a retry
  }
  ADD_FAILURE() << "StartCluster(" << n << "): " << last.ToString();
  return nullptr;
}

// ---- ClusterMember ----

std::vector<std::string> MemberNames(const msgc::MembershipEvent& e) {
  std::vector<std::string> v;
  for (const msgc::Member& m : e.members) v.push_back(m.name);
  return v;
}

std::vector<std::string> ChangedNames(const msgc::MembershipEvent& e) {
  std::vector<std::string> v;
  for (const msgc::Member& m : e.changed) v.push_back(m.name);
  return v;
}

std::string Describe(const msgc::MembershipEvent& e) {
  return "view " + e.view + " of '" + e.group + "' cause " +
         std::string(msgc::MembershipCauseName(e.cause)) +
         (e.transitional ? " TRANSITIONAL" : "") +
         (e.self_leave ? " SELF_LEAVE" : "") + " changed " +
         JoinNames(ChangedNames(e)) + " members " + JoinNames(MemberNames(e));
}

namespace {
std::string DescribeEvent(const msgc::Event& ev) {
  switch (ev.type) {
    case msgc::Event::Type::kMessage:
      return "message from " + ev.message.sender + ": '" +
             ev.message.data.substr(0, 60) + "'";
    case msgc::Event::Type::kMembership:
      return Describe(ev.membership);
    case msgc::Event::Type::kConnected:
      return "connected to " + ev.connection.server;
    case msgc::Event::Type::kDisconnected:
      return "disconnected: " + ev.connection.reason.ToString();
    case msgc::Event::Type::kError:
      return "error " + ev.error.code_name + " (" + ev.error.text + ")";
  }
  return "?";
}
}  // namespace

std::unique_ptr<ClusterMember> ClusterMember::Connect(
    Cluster& cluster, int i, const std::string& name,
    std::vector<std::string> servers_override) {
  std::unique_ptr<ClusterMember> m(new ClusterMember());
  m->node_ = i;
  msgc::ClientOptions o;
  o.servers = servers_override.empty()
                  ? std::vector<std::string>{cluster.node(i).endpoint()}
                  : servers_override;
  o.name = name;
  o.connect_timeout = 2;
  o.reconnect_interval = 0.2;
  o.keepalive_interval = 0.3;
  o.idle_timeout = 1.5;
  o.send_timeout = 10;
  o.close_timeout = 1;
  msgc::Result r;
  Status near =
      cluster.RunNear(i, [&] { r = msgc::Client::Connect(o, &m->client_); });
  if (!near.ok() || !r.ok()) {
    ADD_FAILURE() << "ClusterMember::Connect(" << cluster.node(i).name() << ", "
                  << name
                  << "): " << (near.ok() ? r.ToString() : near.ToString());
    return nullptr;
  }
  m->private_name_ = m->client_->PrivateName();
  return m;
}

ClusterMember::~ClusterMember() {
  if (client_) client_->Close();
}

msgc::Result ClusterMember::Multicast(std::string_view group,
                                      std::string_view data,
                                      msgc::Service service) {
  msgc::SendOptions so;
  so.service = service;
  return client_->Multicast(group, data, so);
}

bool IsRenumbering(const msgc::MembershipEvent& e) {
  return e.cause == msgc::MembershipCause::kNetwork && !e.transitional &&
         e.changed.empty();
}

msgc::Result ClusterMember::Next(msgc::Event* ev, milliseconds t) {
  const auto deadline = std::chrono::steady_clock::now() + t;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    msgc::Result r = client_->Receive(ev, std::max(left, milliseconds{0}));
    if (!r.ok()) return r;
    if (ev->type == msgc::Event::Type::kConnected) {
      if (ev->connection.reconnect) ++reconnects_;
      continue;
    }
    if (ev->type == msgc::Event::Type::kDisconnected) {
      ++disconnects_;
      continue;
    }
    if (ev->type == msgc::Event::Type::kMembership && !keep_renumbered_ &&
        IsRenumbering(ev->membership)) {
      ++renumbered_;
      last_renumbered_ = ev->membership;
      continue;
    }
    return r;
  }
}

::testing::AssertionResult ClusterMember::NextView(msgc::MembershipEvent* out,
                                                   milliseconds t,
                                                   bool keep_transitional) {
  const auto deadline = std::chrono::steady_clock::now() + t;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    msgc::Event ev;
    msgc::Result r = Next(&ev, std::max(left, milliseconds{0}));
    if (!r.ok()) {
      return ::testing::AssertionFailure()
             << private_name_ << ": no membership event within " << t.count()
             << " ms (" << r.ToString() << ")";
    }
    if (ev.type != msgc::Event::Type::kMembership) {
      return ::testing::AssertionFailure()
             << private_name_ << ": expected a membership event, got "
             << DescribeEvent(ev);
    }
    if (ev.membership.transitional && !keep_transitional) {
      ++transitional_;
      continue;
    }
    if (out != nullptr) *out = ev.membership;
    return ::testing::AssertionSuccess();
  }
}

::testing::AssertionResult ClusterMember::JoinAndWait(
    std::string_view group, msgc::MembershipEvent* out, std::string_view caps) {
  if (msgc::Result r = Join(group, caps); !r.ok()) {
    return ::testing::AssertionFailure() << "Join: " << r.ToString();
  }
  msgc::MembershipEvent e;
  ::testing::AssertionResult a = NextView(&e);
  if (!a) return a;
  if (e.group != group || e.cause != msgc::MembershipCause::kJoin ||
      ChangedNames(e) != std::vector<std::string>{private_name_}) {
    return ::testing::AssertionFailure()
           << private_name_ << ": expected our own join, got " << Describe(e);
  }
  if (out != nullptr) *out = e;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ClusterMember::NextMessage(msgc::MessageEvent* out,
                                                      milliseconds t) {
  msgc::Event ev;
  msgc::Result r = Next(&ev, t);
  if (!r.ok()) {
    return ::testing::AssertionFailure()
           << private_name_ << ": no message within " << t.count() << " ms ("
           << r.ToString() << ")";
  }
  if (ev.type != msgc::Event::Type::kMessage) {
    return ::testing::AssertionFailure()
           << private_name_ << ": expected a message, got "
           << DescribeEvent(ev);
  }
  if (out != nullptr) *out = std::move(ev.message);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ClusterMember::ExpectQuiet(milliseconds t) {
  msgc::Event ev;
  msgc::Result r = Next(&ev, t);
  if (r.ok()) {
    return ::testing::AssertionFailure()
           << private_name_ << ": expected nothing, got " << DescribeEvent(ev);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ClusterMember::WaitForView(
    std::string_view group, const std::vector<std::string>& members,
    msgc::MembershipEvent* out, milliseconds t) {
  const auto deadline = std::chrono::steady_clock::now() + t;
  std::string seen;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(
        deadline - std::chrono::steady_clock::now());
    msgc::Event ev;
    msgc::Result r = Next(&ev, std::max(left, milliseconds{0}));
    if (!r.ok()) {
      return ::testing::AssertionFailure()
             << private_name_ << ": no view of '" << group << "' with "
             << JoinNames(members) << " within " << t.count()
             << " ms; saw: " << (seen.empty() ? "nothing" : seen);
    }
    if (ev.type == msgc::Event::Type::kMessage) {
      skipped_.push_back(ev.message);
      continue;
    }
    seen += DescribeEvent(ev) + "; ";
    if (ev.type != msgc::Event::Type::kMembership) continue;
    if (ev.membership.transitional) {
      ++transitional_;
      continue;
    }
    if (ev.membership.group == group && MemberNames(ev.membership) == members) {
      if (out != nullptr) *out = ev.membership;
      return ::testing::AssertionSuccess();
    }
  }
}

}  // namespace msgc::test
