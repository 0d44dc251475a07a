// Internal to msgc_config: the option tables of each scope and the value
// converters/formatters they use. Shared by load.cc (mapping, SetOption,
// GetOption) and format.cc (Format, Diff) so that parsing and printing can
// never disagree.
//
// Thread-safety: the tables are immutable statics; all functions are pure.
#ifndef MSGC_CONFIG_OPTIONS_H_
#define MSGC_CONFIG_OPTIONS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/syntax.h"

namespace msgc::config::internal {

using Errors = std::vector<Diagnostic>;

enum class ScopeId { kServer, kListener, kClient };

inline constexpr std::string_view kServerScope = "msgc_server";
inline constexpr std::string_view kListenerScope = "msgcserver_listener";
inline constexpr std::string_view kClientScope = "msgc_client";

std::string_view ScopeName(ScopeId id);
// `name` in any case.
std::optional<ScopeId> FindScope(std::string_view name);
std::vector<std::string_view> ScopeNames();

// One option of a scope. `apply` converts `value` into `config` (appending
// errors and returning false if it cannot); `format` renders the current
// value in file syntax on one line ("" when unset).
struct OptionDef {
  std::string_view name;
  bool (*apply)(std::string_view name, const Value& value, Config* config,
                Errors* errors);
  std::string (*format)(const Config& config);
};

// Options of a scope, alphabetically. For kListener this includes `listen`
// (whose apply replaces every listen address, as SetOption does).
const std::vector<OptionDef>& OptionsOf(ScopeId id);
const OptionDef* FindOption(ScopeId id, std::string_view name);
std::vector<std::string_view> OptionNames(ScopeId id);

// Options of a `listen` scope (and msgcserver_listener's own defaults).
bool ApplyListenOption(std::string_view name, const Value& value,
                       ListenAddress* address, Errors* errors);
inline constexpr std::string_view kListenOptionNames[] = {
    "accept_queue_backlog", "enable", "file_mode"};

// Parses a listen address spec (":4809", "*:4809", "host:4809",
// "[::1]:4809") into `out` (host, port, ipv6, spec). Returns the reason it is
// bad, or nullopt.
std::optional<std::string> ParseListenSpec(std::string_view spec,
                                           ListenAddress* out);

// "; did you mean 'x'?" when a candidate is close to `name`, else "".
std::string DidYouMean(std::string_view name,
                       const std::vector<std::string_view>& candidates);

// File-syntax renderers.
std::string Quote(std::string_view text);     // "..." with escapes
std::string FormatKey(std::string_view key);  // bare if possible
std::string FormatSeconds(double seconds);
std::string FormatSize(uint64_t bytes);
std::string FormatBool(bool value);
std::string FormatOctal(uint32_t mode);
std::string FormatPeerAddress(const Peer& peer);  // quoted
std::string FormatPeers(const Config& config);    // one line
// `{ }` or `{ enable = false ... }` with the listen scope's own options.
std::string FormatListenBody(const ListenAddress& address);

}  // namespace msgc::config::internal

#endif  // MSGC_CONFIG_OPTIONS_H_
