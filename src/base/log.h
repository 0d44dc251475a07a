// Logging for msgc: spdlog underneath, Momentum's debug levels on top.
//
// Momentum modules have a `debug_level` of DEBUG, INFO, NOTICE, WARNING, ERROR
// or CRITICAL (default ERROR). spdlog has no NOTICE, so NOTICE maps to info
// with a "notice" prefix in the text and both INFO and NOTICE enable info.
//
// Thread-safety: the functions here may be called from any thread; the logger
// is spdlog's thread-safe stderr sink.
#ifndef MSGC_BASE_LOG_H_
#define MSGC_BASE_LOG_H_

#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>

namespace msgc {

enum class DebugLevel : int {
  kDebug = 0,
  kInfo = 1,
  kNotice = 2,
  kWarning = 3,
  kError = 4,
  kCritical = 5,
};

// Parses DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL in any case.
std::optional<DebugLevel> ParseDebugLevel(std::string_view text);
std::string_view DebugLevelName(DebugLevel level);

// Sets the level of the process-wide logger (spdlog's default logger).
void SetDebugLevel(DebugLevel level);
DebugLevel CurrentDebugLevel();

// Installs the default logger: stderr, "[time] [level] [name] message".
// `name` is the program name (msgcd, msgc, ...). Idempotent.
void InitLogging(std::string_view name);

}  // namespace msgc

// Log macros. Arguments are fmt format strings, checked at compile time.
// Debug arguments are evaluated only when debug logging is on: debug lines
// sit on hot paths (one per delivered item in the mesh).
#define MSGC_LOG_DEBUG(...)                             \
  do {                                                  \
    if (::spdlog::should_log(::spdlog::level::debug)) { \
      ::spdlog::debug(__VA_ARGS__);                     \
    }                                                   \
  } while (0)
#define MSGC_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define MSGC_LOG_NOTICE(fmtstr, ...) \
  ::spdlog::info("notice: " fmtstr __VA_OPT__(, ) __VA_ARGS__)
#define MSGC_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define MSGC_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
#define MSGC_LOG_CRITICAL(...) ::spdlog::critical(__VA_ARGS__)

#endif  // MSGC_BASE_LOG_H_
