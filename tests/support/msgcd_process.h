// Msgcd: a real msgcd server process for integration tests.
//
//   auto d = StartMsgcd(R"(msgc_server { port = @PORT@ max_backlog = 50 })");
//   ASSERT_NE(d, nullptr);
//   RawClient c;  ASSERT_TRUE(c.Connect(d->port()).ok());
//
// StartMsgcd writes `config_text` to a file in a fresh TempDir, replacing
// every "@PORT@" with a free loopback port, starts the binary named by the
// environment variable MSGCD (set by tests/CMakeLists.txt through
// MSGC_TEST_ENV) with `-c FILE --node NODE`, and waits (bounded) for its
// "msgcd: node NODE listening on ADDR" line. If binding fails because
// another process took the port, it retries with a new one. Without
// "@PORT@" the port is read from that line. A config that has no
// msgc_server scope gets nothing added: the text is used as is.
//
// msgcd's stderr (its log) goes to a file; Log() reads it, WaitForLog()
// polls it. When a test has failed, the destructor prints the log's tail to
// help debugging. The process is stopped by its PID when the Msgcd is
// destroyed (SIGKILL if still running).
//
// Thread-safety: not thread-safe; use from the test's thread.
#ifndef MSGC_TESTS_SUPPORT_MSGCD_PROCESS_H_
#define MSGC_TESTS_SUPPORT_MSGCD_PROCESS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "support/test_support.h"

namespace msgc::test {

struct MsgcdOptions {
  std::string node = "n1";              // --node
  std::vector<std::string> extra_args;  // e.g. {"--debug-level", "INFO"}
  std::vector<std::string> env;         // extra "NAME=value"
  milliseconds start_timeout{10000};
};

class Msgcd {
 public:
  ~Msgcd();
  Msgcd(const Msgcd&) = delete;
  Msgcd& operator=(const Msgcd&) = delete;

  uint16_t port() const { return port_; }
  const std::string& node() const { return options_.node; }
  pid_t pid() const { return process_.pid(); }
  Subprocess& process() { return process_; }
  const std::string& config_path() const { return config_path_; }
  const TempDir& dir() const { return dir_; }
  // The config text as written (with the port substituted).
  const std::string& config_text() const { return config_text_; }
  // "#<session>#<node>".
  std::string PrivateName(std::string_view session) const {
    return "#" + std::string(session) + "#" + options_.node;
  }

  // msgcd's stderr so far.
  std::string Log() const { return process_.ReadStderr(); }
  // Polls the log for `needle` (at most `timeout`).
  bool WaitForLog(std::string_view needle,
                  milliseconds timeout = kDefaultTimeout) const;
  // Number of occurrences of `needle` in the log.
  size_t CountInLog(std::string_view needle) const;

  // Rewrites the config file ("@PORT@" replaced by port()) and sends SIGHUP.
  Status Reconfigure(std::string_view config_text);
  // Sends SIGTERM and waits for the exit; returns the exit code.
  std::optional<int> Stop(milliseconds timeout = kDefaultTimeout);

 private:
  friend std::unique_ptr<Msgcd> StartMsgcd(const std::string& config_text,
                                           const MsgcdOptions& options);
  Msgcd() = default;
  Status StartOnce(const std::string& config_text, uint16_t port);

  MsgcdOptions options_;
  TempDir dir_;
  std::string config_path_;
  std::string config_text_;
  uint16_t port_ = 0;
  Subprocess process_;
};

// Starts msgcd as described above. On failure records a GoogleTest failure
// (with msgcd's output) and returns null: ASSERT_NE(d, nullptr).
std::unique_ptr<Msgcd> StartMsgcd(const std::string& config_text,
                                  const MsgcdOptions& options = {});

// Replaces every "@PORT@" in `text` with `port`.
std::string SubstitutePort(std::string_view text, uint16_t port);

}  // namespace msgc::test

#endif  // MSGC_TESTS_SUPPORT_MSGCD_PROCESS_H_
