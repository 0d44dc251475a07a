// msgc-upgrade-mbus: converts a Spread-era mbus.conf into msgc_server.conf.
//
//   msgc-upgrade-mbus [-o OUT] [--port N] [--force] MBUS_CONF
//
// Warnings go to stderr as "file:line:column: warning: ...". The result is
// written to OUT (never over an existing file unless --force) or stdout.
// Exit codes: 0 converted; 1 bad input or output error (each error as
// "file:line:column: error: ..."); 2 usage (CLI11).
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "upgrade/mbus_conf.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;

void Print(const std::vector<msgc::config::Diagnostic>& diagnostics,
           const char* kind) {
  for (const auto& d : diagnostics) {
    std::cerr << d.pos.ToString() << ": " << kind << ": " << d.message << "\n";
  }
}

// Writes `text` to `path` through a temporary file renamed into place, so a
// failed write never leaves a truncated msgc_server.conf behind.
bool WriteFile(const std::string& path, const std::string& text, bool force,
               std::string* error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!force && fs::exists(path, ec)) {
    *error = path + ": exists; use --force to overwrite it";
    return false;
  }
  const std::string tmp = path + ".tmp-msgc-upgrade";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      *error = tmp + ": " + std::strerror(errno);
      return false;
    }
    out << text;
    out.flush();
    if (!out) {
      *error = tmp + ": write failed";
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    *error = path + ": " + ec.message();
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "msgc-upgrade-mbus: convert a Spread-era mbus.conf into "
      "msgc_server.conf (peers from every Spread_Segment; the Spread port "
      "and parameters are dropped)"};
  std::string input;
  std::string output;
  int port = msgc::config::kDefaultPort;
  bool force = false;
  app.add_option("MBUS_CONF", input, "the mbus.conf (or spread.conf) to read")
      ->required();
  app.add_option("-o,--output", output,
                 "write msgc_server.conf here instead of stdout");
  app.add_option("--port", port,
                 "msgc port for msgc_server and the listener (never taken "
                 "from the Spread port)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_flag("-f,--force", force, "overwrite OUT if it exists");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(input, std::ios::binary);
  if (!in) {
    std::cerr << input << ": error: cannot read: " << std::strerror(errno)
              << "\n";
    return kExitFailure;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();

  msgc::upgrade::ConvertOptions options;
  options.port = static_cast<uint16_t>(port);
  const msgc::upgrade::ConvertResult result =
      msgc::upgrade::ConvertMbusConf(buffer.str(), input, options);
  Print(result.warnings, "warning");
  if (!result.ok()) {
    Print(result.errors, "error");
    return kExitFailure;
  }
  if (output.empty() || output == "-") {
    std::cout << result.text;
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailure;
  }
  std::string error;
  if (!WriteFile(output, result.text, force, &error)) {
    std::cerr << "error: " << error << "\n";
    return kExitFailure;
  }
  std::cerr << "wrote " << output << " (" << result.peers.size() << " peers)\n";
  return kExitOk;
}
