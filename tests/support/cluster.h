// Cluster: N real msgcd processes forming one mesh, for multi-server tests.
//
//   auto c = StartCluster(3);               // n1..n3 on 127.0.0.2..4, one port
//   ASSERT_NE(c, nullptr);
//   ASSERT_TRUE(c->WaitFormed());           // every node: configuration n1..n3
//   auto m = ClusterMember::Connect(*c, 0, "a");   // a libmsgc client on n1
//   c->Kill(2, SIGKILL);  c->Restart(2);
//
// Node i (0-based) is named "n<i+1>". Addressing:
//   - kLoopbackAddresses: node i on 127.0.0.(i+2), every node the same port;
//   - kLoopbackPorts: every node on 127.0.0.1, a port each;
//   - kNetns: node i inside host i of a NetnsLab (netns.h), on its internal
//     address, every node the same port.
// Each node gets its own generated config: msgc_server with the timing of
// ClusterOptions, `peers` naming every node of `peers` (default: all) and a
// msgcserver_listener on its own address (or ":port" with listen_all). It
// runs `msgcd -c FILE --node nK` (without --node if !pass_node) and the
// harness waits for "msgcd: node nK listening on".
//
// Ports: picked free on every address used, and if a node still fails to
// bind ("in use") the whole start is retried with new ports.
//
// The mesh logs "mesh: configuration <id> members [a, b, c]" (INFO) on each
// configuration change; Configurations() parses them from a node's log.
//
// Processes are stopped by PID (Subprocess); each node keeps the log of every
// start (Log() is the current one). When the test failed, the destructor
// prints the tail of every node's logs.
//
// ClusterMember: a libmsgc client (it sends keepalives, which the short
// idle_timeout of the tests requires) with blocking, bounded helpers that
// return AssertionResults describing what arrived instead.
//
// Thread-safety: not thread-safe; use from the test's thread.
#ifndef MSGC_TESTS_SUPPORT_CLUSTER_H_
#define MSGC_TESTS_SUPPORT_CLUSTER_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "msgc/client.h"
#include "support/netns.h"
#include "support/test_support.h"

namespace msgc::test {

struct ClusterOptions {
  enum class Addressing { kLoopbackAddresses, kLoopbackPorts, kNetns };
  Addressing addressing = Addressing::kLoopbackAddresses;
  NetnsLab* netns = nullptr;  // required for kNetns (host i = node i)

  // msgc_server timing (seconds) written into every config.
  double idle_timeout = 1.5;
  double keepalive_interval = 0.3;
  double reconnect_interval = 0.2;
  double connect_timeout = 1;
  // More msgc_server option lines, e.g. "max_backlog = 100".
  std::string extra_server_options;

  // Nodes named in the initial `peers` of every config (default: all).
  std::vector<int> peers;
  // Nodes started by StartCluster (default: all); others via StartNode().
  std::vector<int> start;
  // listen ":port" (all addresses) instead of the node's own address.
  bool listen_all = false;
  // Pass --node nK (else msgcd must find itself).
  bool pass_node = true;
  milliseconds start_timeout{10000};
};

// One parsed "mesh: configuration <id> members [...]" line.
struct MeshConfiguration {
  std::string id;
  std::vector<std::string> members;
};

class Cluster;

class ClusterNode {
 public:
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;
  ~ClusterNode();

  int index() const { return index_; }
  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }  // what peers use
  uint16_t port() const { return port_; }
  std::string endpoint() const {
    return address_ + ":" + std::to_string(port_);
  }
  // "#<session>#<node>".
  std::string PrivateName(std::string_view session) const {
    return "#" + std::string(session) + "#" + name_;
  }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  bool Running() { return process_ && process_->Running(); }
  int starts() const { return starts_; }

  const std::string& config_path() const { return config_path_; }
  const std::string& config_text() const { return config_text_; }

  // Log (stderr) of the current start; AllLogs: of every start.
  std::string Log() const;
  std::string AllLogs() const;
  bool WaitForLog(std::string_view needle,
                  milliseconds timeout = kDefaultTimeout) const;
  size_t CountInLog(std::string_view needle) const;

  // Configurations logged by the current start, in order.
  std::vector<MeshConfiguration> Configurations() const;
  std::optional<MeshConfiguration> LastConfiguration() const;

 private:
  friend class Cluster;
  ClusterNode() = default;

  int index_ = 0;
  std::string name_;
  std::string address_;
  std::string listen_host_;
  uint16_t port_ = 0;
  int starts_ = 0;
  TempDir dir_;
  std::string config_path_;
  std::string config_text_;
  std::unique_ptr<Subprocess> process_;
  std::vector<std::string> old_logs_;  // stderr paths of earlier starts
};

class Cluster {
 public:
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  size_t size() const { return nodes_.size(); }
  ClusterNode& node(int i) { return *nodes_.at(i); }
  const ClusterOptions& options() const { return options_; }
  // Node names of `indexes`, sorted (as the mesh lists them).
  std::vector<std::string> Names(const std::vector<int>& indexes) const;
  std::vector<int> All() const;

  // `peers = [ ... ]` naming `indexes`.
  std::string PeersText(const std::vector<int>& indexes) const;
  // The whole config of node i with `peers` naming `peer_indexes` and
  // `extra` appended inside msgc_server.
  std::string ConfigText(int i, const std::vector<int>& peer_indexes,
                         std::string_view extra = "") const;
  // Writes node i's config (ConfigText of `peer_indexes`) and sends SIGHUP.
  Status Reconfigure(int i, const std::vector<int>& peer_indexes,
                     std::string_view extra = "");
  // Writes `text` as node i's config (for its next start or SIGHUP).
  Status WriteConfig(int i, const std::string& text);
  // Writes `text` as node i's config and sends SIGHUP.
  Status ReconfigureText(int i, const std::string& text);

  // Starts node i (not running) with its current config file and port, and
  // waits for it to listen (retries while the port is still in use).
  Status StartNode(int i);
  Status Restart(int i) { return StartNode(i); }
  void Kill(int i, int sig);
  // SIGTERM, then waits; the exit code.
  std::optional<int> Stop(int i, milliseconds timeout = kDefaultTimeout);

  // Every node in `at` logged, as its latest configuration, exactly the
  // nodes `members`, and all of them the same id.
  bool WaitConfiguration(const std::vector<int>& at,
                         const std::vector<int>& members,
                         milliseconds timeout = milliseconds{10000});
  // WaitConfiguration(all, all).
  bool WaitFormed(milliseconds timeout = milliseconds{10000});
  // Latest configuration id of node i ("" if none).
  std::string ConfigurationId(int i) const;
  // "n1: <id> [n1, n2]; n2: ..." for failure messages.
  std::string DescribeConfigurations() const;

  // Runs `fn` where node i's address is reachable (inside its namespace for
  // kNetns, else directly).
  Status RunNear(int i, const std::function<void()>& fn) const;

 private:
  friend std::unique_ptr<Cluster> StartCluster(int n,
                                               const ClusterOptions& options);
  Cluster() = default;
  Status Assign(int n, int attempt);  // addresses, ports, configs
  Status Launch(int i);               // start the process, no waiting
  Status AwaitListening(int i);

  ClusterOptions options_;
  std::vector<std::unique_ptr<ClusterNode>> nodes_;
};

// Starts the cluster described above (only ClusterOptions::start nodes).
// Does not wait for the mesh to form (WaitFormed). On failure records a
// GoogleTest failure and returns null.
std::unique_ptr<Cluster> StartCluster(int n,
                                      const ClusterOptions& options = {});

// A libmsgc client connected to one node, for cluster tests.
class ClusterMember {
 public:
  // Connects (bounded) to node i as session `name`; null + test failure if
  // it cannot. `servers_override`: connect to these instead.
  static std::unique_ptr<ClusterMember> Connect(
      Cluster& cluster, int i, const std::string& name,
      std::vector<std::string> servers_override = {});
  ~ClusterMember();

  msgc::Client& client() { return *client_; }
  const std::string& private_name() const { return private_name_; }
  int node() const { return node_; }

  msgc::Result Join(std::string_view group, std::string_view caps = "") {
    return client_->Join(group, caps);
  }
  msgc::Result Multicast(std::string_view group, std::string_view data,
                         msgc::Service service = msgc::Service::kFifo);

  // The next membership event (transitional ones skipped and counted
  // unless keep_transitional). Connection events are skipped and counted.
  ::testing::AssertionResult NextView(msgc::MembershipEvent* out,
                                      milliseconds t = kDefaultTimeout,
                                      bool keep_transitional = false);
  // Join(group) then the view that admits us (our own join).
  ::testing::AssertionResult JoinAndWait(std::string_view group,
                                         msgc::MembershipEvent* out = nullptr,
                                         std::string_view caps = "");
  // The next event must be a message (transitional views are an error here
  // too: none is expected between messages).
  ::testing::AssertionResult NextMessage(msgc::MessageEvent* out,
                                         milliseconds t = kDefaultTimeout);
  // Nothing (message or membership) arrives within t.
  ::testing::AssertionResult ExpectQuiet(milliseconds t);
  // Consumes events until a regular view of `group` lists exactly
  // `members`; stores it in *out. Messages seen on the way are kept in
  // skipped_messages().
  ::testing::AssertionResult WaitForView(
      std::string_view group, const std::vector<std::string>& members,
      msgc::MembershipEvent* out = nullptr,
      milliseconds t = milliseconds{10000});

  int transitional_views() const { return transitional_; }
  // Views a configuration change gave with the same members (cause
  // network, nobody changed: docs/semantics.md §5) are skipped by every
  // call above and counted, unless set_keep_renumbered(true).
  int renumbered_views() const { return renumbered_; }
  const msgc::MembershipEvent& last_renumbered() const {
    return last_renumbered_;
  }
  void set_keep_renumbered(bool keep) { keep_renumbered_ = keep; }
  int disconnects() const { return disconnects_; }
  int reconnects() const { return reconnects_; }
  std::vector<msgc::MessageEvent>& skipped_messages() { return skipped_; }

 private:
  ClusterMember() = default;
  // Next event that is not a connection event.
  msgc::Result Next(msgc::Event* ev, milliseconds t);

  std::unique_ptr<msgc::Client> client_;
  std::string private_name_;
  int node_ = 0;
  int transitional_ = 0;
  int renumbered_ = 0;
  bool keep_renumbered_ = false;
  msgc::MembershipEvent last_renumbered_;
  int disconnects_ = 0;
  int reconnects_ = 0;
  std::vector<msgc::MessageEvent> skipped_;
};

// A view that only renumbers: cause network, not transitional, nobody
// changed.
bool IsRenumbering(const msgc::MembershipEvent& e);
// Member names of a view, in order.
std::vector<std::string> MemberNames(const msgc::MembershipEvent& e);
std::vector<std::string> ChangedNames(const msgc::MembershipEvent& e);
std::string Describe(const msgc::MembershipEvent& e);

}  // namespace msgc::test

#endif  // MSGC_TESTS_SUPPORT_CLUSTER_H_
