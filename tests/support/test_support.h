// Test harness for msgc integration tests: temporary folders, files, free
// ports, bounded waiting and child processes.
//
// Rules the harness enforces so that tests stay fast and leave nothing
// behind:
//   - no bare sleeps: wait with WaitFor(timeout, predicate), which polls with
//     a short, growing interval and always gives up at `timeout`;
//   - every process a test starts is a Subprocess, stopped by its PID when
//     the Subprocess is destroyed (SIGKILL, then reaped), and also killed by
//     the kernel if the test process dies first (PR_SET_PDEATHSIG);
//   - only loopback addresses are used.
//
// See raw_client.h (wire-protocol client) and msgcd_process.h (starting a
// server) for the other parts of the harness.
//
// Thread-safety: free functions are thread-safe; objects are not.
#ifndef MSGC_TESTS_SUPPORT_TEST_SUPPORT_H_
#define MSGC_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace msgc::test {

using std::chrono::milliseconds;

// Default bound for waits in tests. Generous for loaded CI machines; a
// passing test never waits this long.
inline constexpr milliseconds kDefaultTimeout{5000};

// Polls `predicate` until it returns true or `timeout` passes. Returns the
// predicate's last value. Polling starts at 1 ms and grows to 20 ms.
bool WaitFor(milliseconds timeout, const std::function<bool()>& predicate);

// A fresh folder under $TMPDIR (or /tmp), removed with its contents when
// destroyed unless the environment sets MSGC_KEEP_TEST_DIRS.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string File(std::string_view name) const;

 private:
  std::string path_;
};

// Writes (replaces) a whole file.
Status WriteFile(const std::string& path, std::string_view contents);
// The whole file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// released). Another process may take it before it is used; StartMsgcd
// retries with a new port when binding fails.
uint16_t PickFreePort();

// Environment variable `name`, or "" when unset.
std::string GetEnv(const char* name);

// A child process started with fork/exec, its stdout and stderr going to
// files. Destroying a running Subprocess kills it (SIGKILL) and reaps it.
class Subprocess {
 public:
  struct Options {
    std::vector<std::string> argv;  // argv[0] is the path of the binary
    std::vector<std::string> env;   // extra "NAME=value", added to ours
    std::string stdout_path;        // "" = /dev/null
    std::string stderr_path;        // "" = /dev/null
  };

  Subprocess() = default;
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Starts the child. Fails if the binary cannot be executed (reported by
  // the child through a close-on-exec pipe, so this is reliable).
  Status Start(const Options& options);

  pid_t pid() const { return pid_; }
  // True while the child has not exited (reaps it if it has).
  bool Running();
  // Sends `sig` to the child's PID (nothing if it already exited).
  void Kill(int sig);
  // Waits up to `timeout` for the child to exit. Returns its exit code, or
  // 128 + signal number if it was killed by a signal; nullopt on timeout.
  std::optional<int> Wait(milliseconds timeout);
  // Exit status once Running() returned false or Wait() succeeded.
  std::optional<int> exit_code() const { return exit_code_; }

  const std::string& stdout_path() const { return options_.stdout_path; }
  const std::string& stderr_path() const { return options_.stderr_path; }
  std::string ReadStdout() const { return ReadFile(options_.stdout_path); }
  std::string ReadStderr() const { return ReadFile(options_.stderr_path); }

 private:
  bool Reap(bool block);

  Options options_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Resident set size of a process in bytes (from /proc/PID/status VmRSS), or
// nullopt if it cannot be read. Peak: VmHWM.
std::optional<uint64_t> ProcessRss(pid_t pid);
std::optional<uint64_t> ProcessPeakRss(pid_t pid);

}  // namespace msgc::test

#endif  // MSGC_TESTS_SUPPORT_TEST_SUPPORT_H_
