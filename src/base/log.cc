#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <atomic>
#include <cctype>
#include <string>

namespace msgc {
namespace {

constexpr std::array<std::string_view, 6> kLevelNames = {
    "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"};

std::atomic<int> g_level{static_cast<int>(DebugLevel::kError)};

spdlog::level::level_enum ToSpdlog(DebugLevel level) {
  switch (level) {
    case DebugLevel::kDebug:
      return spdlog::level::debug;
    case DebugLevel::kInfo:
    case DebugLevel::kNotice:
      // spdlog has no NOTICE; notices are logged at info with a prefix.
      return spdlog::level::info;
    case DebugLevel::kWarning:
      return spdlog::level::warn;
    case DebugLevel::kError:
      return spdlog::level::err;
    case DebugLevel::kCritical:
      return spdlog::level::critical;
  }
  return spdlog::level::err;
}

}  // namespace

std::optional<DebugLevel> ParseDebugLevel(std::string_view text) {
  for (size_t i = 0; i < kLevelNames.size(); ++i) {
    const std::string_view name = kLevelNames[i];
    if (name.size() != text.size()) continue;
    bool same = true;
    for (size_t j = 0; j < name.size() && same; ++j) {
      same = std::toupper(static_cast<unsigned char>(text[j])) == name[j];
    }
    if (same) return static_cast<DebugLevel>(i);
  }
  return std::nullopt;
}

std::string_view DebugLevelName(DebugLevel level) {
  return kLevelNames[static_cast<size_t>(level)];
}

void SetDebugLevel(DebugLevel level) {
  g_level.store(static_cast<int>(level));
  spdlog::set_level(ToSpdlog(level));
}

DebugLevel CurrentDebugLevel() {
  return static_cast<DebugLevel>(g_level.load());
}

void InitLogging(std::string_view name) {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  auto logger = spdlog::stderr_color_mt(std::string(name));
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] [%n] %v");
  SetDebugLevel(CurrentDebugLevel());
}

}  // namespace msgc
