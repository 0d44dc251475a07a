#include "support/msgcd_process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>

namespace msgc::test {
namespace {

constexpr std::string_view kPortMarker = "@PORT@";
constexpr int kStartAttempts = 3;
constexpr size_t kLogTailOnFailure = 8000;

}  // namespace

std::string SubstitutePort(std::string_view text, uint16_t port) {
  std::string out;
  const std::string p = std::to_string(port);
  size_t pos = 0;
  for (;;) {
    const size_t hit = text.find(kPortMarker, pos);
    out.append(text.substr(pos, hit - pos));
    if (hit == std::string_view::npos) break;
    out += p;
    pos = hit + kPortMarker.size();
  }
  return out;
}

Msgcd::~Msgcd() {
  if (::testing::Test::HasFailure()) {
    std::string log = Log();
    if (log.size() > kLogTailOnFailure) {
      log = "..." + log.substr(log.size() - kLogTailOnFailure);
    }
    std::fprintf(stderr, "---- msgcd (node %s, pid %d) log ----\n%s\n----\n",
                 options_.node.c_str(), static_cast<int>(process_.pid()),
                 log.c_str());
  }
  // ~Subprocess kills and reaps the process by PID.
}

bool Msgcd::WaitForLog(std::string_view needle, milliseconds timeout) const {
  return WaitFor(timeout,
                 [&] { return Log().find(needle) != std::string::npos; });
}

size_t Msgcd::CountInLog(std::string_view needle) const {
  const std::string log = Log();
  size_t n = 0;
  for (size_t pos = log.find(needle); pos != std::string::npos;
       pos = log.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

Status Msgcd::Reconfigure(std::string_view config_text) {
  config_text_ = SubstitutePort(config_text, port_);
  if (Status s = WriteFile(config_path_, config_text_); !s.ok()) return s;
  if (!process_.Running()) return Status::NotConnected("msgcd is not running");
  process_.Kill(SIGHUP);
  return Status::OK();
}

std::optional<int> Msgcd::Stop(milliseconds timeout) {
  process_.Kill(SIGTERM);
  return process_.Wait(timeout);
}

Status Msgcd::StartOnce(const std::string& config_text, uint16_t port) {
  config_text_ = SubstitutePort(config_text, port);
  config_path_ = dir_.File("msgcd.conf");
  if (Status s = WriteFile(config_path_, config_text_); !s.ok()) return s;
  const std::string binary = GetEnv("MSGCD");
  if (binary.empty()) {
    return Status::InvalidArgument(
        "environment variable MSGCD is not set (run through ctest, or set "
        "MSGCD=/path/to/msgcd)");
  }
  Subprocess::Options o;
  o.argv = {binary, "-c", config_path_, "--node", options_.node};
  for (const std::string& a : options_.extra_args) o.argv.push_back(a);
  o.env = options_.env;
  o.stdout_path = dir_.File("msgcd.stdout");
  o.stderr_path = dir_.File("msgcd.stderr");
  if (Status s = process_.Start(o); !s.ok()) return s;

  const std::string marker = "msgcd: node " + options_.node + " listening on ";
  std::string line;
  const bool up = WaitFor(options_.start_timeout, [&] {
    const std::string log = process_.ReadStderr();
    const size_t pos = log.find(marker);
    if (pos != std::string::npos) {
      const size_t eol = log.find('\n', pos);
      if (eol != std::string::npos) {
        line = log.substr(pos + marker.size(), eol - pos - marker.size());
        return true;
      }
    }
    return !process_.Running();
  });
  if (!up || line.empty()) {
    if (process_.Running()) process_.Kill(SIGKILL);
    process_.Wait(kDefaultTimeout);
    return Status::IoError("msgcd did not start (exit " +
                           std::to_string(process_.exit_code().value_or(-1)) +
                           "):\n" + process_.ReadStderr());
  }
  // "127.0.0.1:4809[, ...]": the first address's port.
  const std::string first = line.substr(0, line.find(','));
  port_ = static_cast<uint16_t>(
      std::strtoul(first.c_str() + first.rfind(':') + 1, nullptr, 10));
  return Status::OK();
}

std::unique_ptr<Msgcd> StartMsgcd(const std::string& config_text,
                                  const MsgcdOptions& options) {
  std::unique_ptr<Msgcd> d(new Msgcd());
  d->options_ = options;
  const bool pick = config_text.find(kPortMarker) != std::string::npos;
  Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    const uint16_t port = pick ? PickFreePort() : 0;
    last = d->StartOnce(config_text, port);
    if (last.ok()) return d;
    // Only a lost race for the picked port is worth another try.
    if (!pick || last.message().find("in use") == std::string::npos) break;
  }
  ADD_FAILURE() << "StartMsgcd: " << last.ToString();
  return nullptr;
}

}  // namespace msgc::test
