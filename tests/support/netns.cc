#include "support/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

namespace msgc::test {
namespace {

std::string FindBinary(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    const std::string p = std::string(dir) + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return name;
}

std::string Join(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

bool ProcessExists(long pid) {
  return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

constexpr char kPrefix[] = "msgct";

}  // namespace

Status RunCommand(const std::vector<std::string>& argv, std::string* output,
                  milliseconds timeout) {
  if (argv.empty()) return Status::InvalidArgument("empty command");
  TempDir dir;
  Subprocess p;
  Subprocess::Options o;
  o.argv = argv;
  o.argv[0] = FindBinary(argv[0]);
  o.stdout_path = dir.File("out");
  o.stderr_path = dir.File("err");
  if (Status s = p.Start(o); !s.ok()) return s;
  const std::optional<int> code = p.Wait(timeout);
  const std::string text = p.ReadStdout() + p.ReadStderr();
  if (output != nullptr) *output = text;
  if (!code) {
    p.Kill(SIGKILL);
    p.Wait(timeout);
    return Status::TimedOut("'" + Join(argv) + "' did not finish in " +
                            std::to_string(timeout.count()) + " ms: " + text);
  }
  if (*code != 0) {
    return Status::IoError("'" + Join(argv) + "' exited with " +
                           std::to_string(*code) + ": " + text);
  }
  return Status::OK();
}

std::unique_ptr<NetnsLab> NetnsLab::Create(const Options& options,
                                           std::string* why_not) {
  if (geteuid() != 0) {
    *why_not = "network namespace tests need root (CI runs them as root)";
    return nullptr;
  }
  if (options.hosts < 1 || options.hosts > 26) {
    *why_not = "bad number of hosts";
    return nullptr;
  }
  // Namespaces of earlier runs that died without cleaning up.
  std::string list;
  if (Status s = RunCommand({"ip", "netns", "list"}, &list); !s.ok()) {
    *why_not = "`ip netns` is not available: " + s.ToString();
    return nullptr;
  }
  std::istringstream in(list);
  for (std::string line; std::getline(in, line);) {
    const std::string name = line.substr(0, line.find(' '));
    if (name.rfind(kPrefix, 0) != 0) continue;
    const long pid =
        std::strtol(name.c_str() + sizeof(kPrefix) - 1, nullptr, 10);
    if (pid != getpid() && !ProcessExists(pid)) {
      (void)RunCommand({"ip", "netns", "delete", name});
    }
  }

  std::unique_ptr<NetnsLab> lab(new NetnsLab());
  lab->options_ = options;
  // "msgct<pid>-<serial>": several labs may exist one after another in one
  // test process; the '-' ends the PID for the stale-namespace check.
  static int serial = 0;
  const std::string stem =
      kPrefix + std::to_string(getpid()) + "-" + std::to_string(serial++);
  lab->switch_ns_ = stem + "s";
  for (int i = 0; i < options.hosts; ++i) {
    lab->host_ns_.push_back(stem + static_cast<char>('a' + i));
  }
  if (Status s = lab->Setup(); !s.ok()) {
    *why_not = "cannot set up network namespaces: " + s.ToString();
    return nullptr;  // the destructor deletes what was created
  }
  return lab;
}

Status NetnsLab::Setup() {
  auto ip = [](std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    return RunCommand(args);
  };
  const std::string& sw = switch_ns_;
  if (Status s = ip({"netns", "add", sw}); !s.ok()) return s;
  created_.push_back(sw);
  const int nets = options_.external_net ? 2 : 1;
  for (Status s : {ip({"-n", sw, "link", "set", "lo", "up"})}) {
    if (!s.ok()) return s;
  }
  for (int n = 0; n < nets; ++n) {
    const std::string br = "br" + std::to_string(n);
    if (Status s = ip({"-n", sw, "link", "add", br, "type", "bridge"});
        !s.ok()) {
      return s;
    }
    if (Status s = ip({"-n", sw, "link", "set", br, "up"}); !s.ok()) return s;
  }
  for (int i = 0; i < options_.hosts; ++i) {
    const std::string& h = host_ns_[i];
    if (Status s = ip({"netns", "add", h}); !s.ok()) return s;
    created_.push_back(h);
    if (Status s = ip({"-n", h, "link", "set", "lo", "up"}); !s.ok()) return s;
    for (int n = 0; n < nets; ++n) {
      const Net net = n == 0 ? Net::kInternal : Net::kExternal;
      const std::string port = "h" + std::to_string(i) + (n == 0 ? "i" : "x");
      const std::string dev = "eth" + std::to_string(n);
      const std::string br = "br" + std::to_string(n);
      for (const std::vector<std::string>& args :
           std::vector<std::vector<std::string>>{
               {"-n", sw, "link", "add", port, "type", "veth", "peer", "name",
                dev, "netns", h},
               {"-n", sw, "link", "set", port, "master", br},
               {"-n", sw, "link", "set", port, "up"},
               {"-n", h, "addr", "add", Address(i, net) + "/24", "dev", dev},
               {"-n", h, "link", "set", dev, "up"}}) {
        if (Status s = ip(args); !s.ok()) return s;
      }
    }
  }
  return Status::OK();
}

NetnsLab::~NetnsLab() {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    if (Status s = RunCommand({"ip", "netns", "delete", *it}); !s.ok()) {
      std::fprintf(stderr, "NetnsLab: %s\n", s.ToString().c_str());
    }
  }
}

std::string NetnsLab::Address(int host, Net net) {
  return std::string(net == Net::kInternal ? "169.254.213." : "169.254.214.") +
         std::to_string(host + 1);
}

std::vector<std::string> NetnsLab::Wrap(
    int host, const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {FindBinary("ip"), "netns", "exec", ns(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Status NetnsLab::Exec(int host, const std::vector<std::string>& argv,
                      std::string* output) const {
  std::vector<std::string> a = {"ip", "netns", "exec", ns(host)};
  a.insert(a.end(), argv.begin(), argv.end());
  return RunCommand(a, output);
}

Status NetnsLab::RunIn(int host, const std::function<void()>& fn) const {
  const std::string path = "/var/run/netns/" + ns(host);
  Status result;
  std::thread t([&] {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = Status::IoError("open " + path + ": " + std::strerror(errno));
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      result = Status::IoError("setns " + path + ": " + std::strerror(errno));
      close(fd);
      return;
    }
    close(fd);
    fn();
  });
  t.join();
  return result;
}

Status NetnsLab::Isolate(int host, bool cut, Net net) {
  const std::string port =
      "h" + std::to_string(host) + (net == Net::kInternal ? "i" : "x");
  return RunCommand(
      {"ip", "-n", switch_ns_, "link", "set", port, cut ? "down" : "up"});
}

Status NetnsLab::CutPair(int a, int b, bool cut) {
  for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
    for (Net net : {Net::kInternal, Net::kExternal}) {
      if (net == Net::kExternal && !options_.external_net) continue;
      Status s = RunCommand({"ip", "-n", ns(from), "route", cut ? "add" : "del",
                             "blackhole", Address(to, net) + "/32"});
      if (!s.ok()) return s;
    }
  }
  return Status::OK();
}

std::vector<std::string> NetnsLab::EstablishedTcp(int host) const {
  std::string out;
  std::vector<std::string> lines;
  if (!Exec(host, {"ss", "-Htn", "state", "established"}, &out).ok()) {
    return lines;
  }
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    // Recv-Q Send-Q Local Peer
    std::istringstream f(line);
    std::string rq, sq, local, peer;
    if (f >> rq >> sq >> local >> peer) lines.push_back(local + " " + peer);
  }
  return lines;
}

}  // namespace msgc::test
