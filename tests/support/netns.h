// NetnsLab: a few "hosts" made of Linux network namespaces, for cluster
// tests that need real separate network stacks (link cuts, two interfaces).
//
//   std::string why;
//   auto lab = NetnsLab::Create({.hosts = 3, .external_net = true}, &why);
//   if (lab == nullptr) GTEST_SKIP() << why;
//
// Layout (everything lives in namespaces the lab creates; the test's own
// namespace is not touched):
//   - one "switch" namespace `msgct<pid>-<n>s` with bridge br0 (the internal
//     network) and, with external_net, bridge br1 (the external network);
//   - per host i a namespace `msgct<pid>-<n><'a'+i>` with lo up, eth0 on br0
//     with 169.254.213.(i+1)/24 and, with external_net, eth1 on br1 with
//     169.254.214.(i+1)/24. The switch-side ends are `h<i>i` and `h<i>x`.
// Link-local addresses exist only inside the lab's namespaces.
//
// Cutting a host off (Isolate) sets its switch-side veth end down: its
// packets are dropped in both directions, like a pulled cable, while its
// own address stays configured. CutPair blackholes the traffic between two
// hosts only (routes in both hosts).
//
// Processes run inside a host through `ip netns exec NS ...` (Wrap), which
// execs the command, so the Subprocess PID is the command's PID. Sockets
// of the test itself are opened inside a host with RunIn (a short-lived
// thread that setns()es into the host's namespace; threads it starts, e.g. a
// libmsgc I/O thread, inherit that namespace).
//
// Every command is bounded in time (RunCommand). The destructor deletes every
// namespace the lab created (which removes their veths and bridges).
// Namespaces left behind by a crashed earlier test (named with a PID that no
// longer exists) are deleted by Create.
//
// Requires root and a working `ip netns`; otherwise Create returns null with
// the reason (tests skip). Thread-safety: not thread-safe.
#ifndef MSGC_TESTS_SUPPORT_NETNS_H_
#define MSGC_TESTS_SUPPORT_NETNS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "support/test_support.h"

namespace msgc::test {

// Runs argv (argv[0] looked up as an absolute path or in /usr/sbin, /sbin,
// /usr/bin, /bin) with a time bound; its stdout+stderr go to *output when
// given. A non-zero exit or a timeout (the command is then killed) is an
// error naming the command and its output.
Status RunCommand(const std::vector<std::string>& argv,
                  std::string* output = nullptr,
                  milliseconds timeout = milliseconds{5000});

class NetnsLab {
 public:
  enum class Net { kInternal, kExternal };
  struct Options {
    int hosts = 3;              // 1..26
    bool external_net = false;  // second interface (eth1 on br1) per host
  };

  // Null (with *why_not set) when not root or `ip netns` does not work.
  static std::unique_ptr<NetnsLab> Create(const Options& options,
                                          std::string* why_not);
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  int hosts() const { return options_.hosts; }
  const std::string& ns(int host) const { return host_ns_.at(host); }
  const std::string& switch_ns() const { return switch_ns_; }
  static std::string Address(int host, Net net = Net::kInternal);

  // `ip netns exec NS argv...`.
  std::vector<std::string> Wrap(int host,
                                const std::vector<std::string>& argv) const;
  // Runs `fn` on a thread inside host's network namespace (waits for it).
  Status RunIn(int host, const std::function<void()>& fn) const;
  // Runs a command inside the host's namespace (bounded).
  Status Exec(int host, const std::vector<std::string>& argv,
              std::string* output = nullptr) const;

  // Cuts (cut=true) or heals host's link to the given network.
  Status Isolate(int host, bool cut, Net net = Net::kInternal);
  // Drops all traffic between hosts a and b (both directions), or heals it.
  Status CutPair(int a, int b, bool cut);

  // Established TCP connections in the host as "local remote" lines
  // (`ss -Htn state established`).
  std::vector<std::string> EstablishedTcp(int host) const;

 private:
  NetnsLab() = default;
  Status Setup();

  Options options_;
  std::string switch_ns_;
  std::vector<std::string> host_ns_;
  std::vector<std::string> created_;  // namespaces to delete
};

}  // namespace msgc::test

#endif  // MSGC_TESTS_SUPPORT_NETNS_H_
