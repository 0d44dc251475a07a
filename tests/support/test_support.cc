#include "support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace msgc::test {

bool WaitFor(milliseconds timeout, const std::function<bool()>& predicate) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  milliseconds interval{1};
  for (;;) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(interval);
    interval = std::min(interval * 2, milliseconds{20});
  }
}

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

TempDir::TempDir() {
  std::string base = GetEnv("TMPDIR");
  if (base.empty()) base = "/tmp";
  std::string tmpl = base + "/msgc-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp(%s): %s\n", tmpl.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (!GetEnv("MSGC_KEEP_TEST_DIRS").empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::File(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

Status WriteFile(const std::string& path, std::string_view contents) {
  // Write to a temporary name and rename, so that a process reading the file
  // (e.g. msgcd on SIGHUP) never sees half of it.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot write " + tmp);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) return Status::IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("rename " + tmp + ": " + std::strerror(errno));
  }
  return Status::OK();
}

std::string ReadFile(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint16_t PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
  }
  close(fd);
  return port;
}

// ---- Subprocess ----

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    Reap(/*block=*/true);
  }
}

Status Subprocess::Start(const Options& options) {
  if (options.argv.empty()) return Status::InvalidArgument("empty argv");
  options_ = options;
  exit_code_.reset();

  // Build everything the child needs before fork: after fork only
  // async-signal-safe calls are allowed.
  std::vector<char*> argv;
  for (const std::string& a : options_.argv) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  for (const std::string& e : options_.env) env_storage.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string out_path =
      options_.stdout_path.empty() ? "/dev/null" : options_.stdout_path;
  const std::string err_path =
      options_.stderr_path.empty() ? "/dev/null" : options_.stderr_path;

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Status::IoError(std::string("pipe2: ") + std::strerror(errno));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return Status::IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child. Dies with the test process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) {
      const int e = errno;
      (void)!write(pipe_fds[1], &e, sizeof(e));
      _exit(127);
    }
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execve(argv[0], argv.data(), envp.data());
    const int e = errno;
    (void)!write(pipe_fds[1], &e, sizeof(e));
    _exit(127);
  }
  close(pipe_fds[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(pipe_fds[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(pipe_fds[0]);
  pid_ = pid;
  if (n == sizeof(child_errno)) {
    Reap(/*block=*/true);
    return Status::IoError("cannot start " + options_.argv[0] + ": " +
                           std::strerror(child_errno));
  }
  return Status::OK();
}

bool Subprocess::Reap(bool block) {
  if (pid_ <= 0 || exit_code_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    if (WIFEXITED(status)) {
      exit_code_ = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      exit_code_ = 128 + WTERMSIG(status);
    } else {
      exit_code_ = -1;
    }
    return true;
  }
  if (r < 0) {
    exit_code_ = -1;  // not our child any more; nothing to wait for
    return true;
  }
  return false;
}

bool Subprocess::Running() { return pid_ > 0 && !Reap(/*block=*/false); }

void Subprocess::Kill(int sig) {
  if (Running()) kill(pid_, sig);
}

std::optional<int> Subprocess::Wait(milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  WaitFor(timeout, [this] { return Reap(/*block=*/false); });
  return exit_code_;
}

namespace {
std::optional<uint64_t> ProcStatusKb(pid_t pid, std::string_view key) {
  const std::string text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  size_t pos = text.find(std::string(key) + ":");
  if (pos == std::string::npos) return std::nullopt;
  pos += key.size() + 1;
  return std::strtoull(text.c_str() + pos, nullptr, 10) * 1024;
}
}  // namespace

std::optional<uint64_t> ProcessRss(pid_t pid) {
  return ProcStatusKb(pid, "VmRSS");
}
std::optional<uint64_t> ProcessPeakRss(pid_t pid) {
  return ProcStatusKb(pid, "VmHWM");
}

}  // namespace msgc::test
