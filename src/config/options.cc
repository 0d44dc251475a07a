#include "config/options.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "config/lexer.h"

namespace msgc::config::internal {
namespace {

void Fail(Errors* errors, const Position& pos, std::string message) {
  errors->push_back(Diagnostic{pos, std::move(message)});
}

// Most options take a single scalar; reports arrays/dictionaries.
bool ExpectScalar(std::string_view name, const Value& value, const char* what,
                  Errors* errors) {
  if (value.is_scalar()) return true;
  Fail(errors, value.pos,
       fmt::format("option '{}' expects {}, got {}", name, what,
                   ValueKindName(value.kind)));
  return false;
}

// ---- Numbers -------------------------------------------------------------

bool ParseSeconds(std::string_view name, const Value& value, double* out,
                  Errors* errors) {
  if (!ExpectScalar(name, value, "a number of seconds", errors)) return false;
  const std::string& t = value.text;
  double d = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() ||
      !std::isfinite(d)) {
    Fail(errors, value.pos,
         fmt::format("option '{}' expects a number of seconds, got '{}'", name,
                     t));
    return false;
  }
  if (d <= 0) {
    Fail(errors, value.pos,
         fmt::format("option '{}' must be greater than 0 seconds, got {}", name,
                     t));
    return false;
  }
  if (d > kMaxSeconds) {
    Fail(errors, value.pos,
         fmt::format("option '{}' must be at most {} seconds, got {}", name,
                     kMaxSeconds, t));
    return false;
  }
  *out = d;
  return true;
}

// Parses decimal digits (an optional leading '-' is recognised so that it
// can be reported as out of range). Returns false if not an integer.
bool ParseInteger(std::string_view t, bool* negative, uint64_t* magnitude,
                  bool* overflow) {
  *negative = !t.empty() && t[0] == '-';
  if (*negative) t.remove_prefix(1);
  if (t.empty()) return false;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] =
      std::from_chars(t.data(), t.data() + t.size(), *magnitude);
  (void)end;
  *overflow = ec == std::errc::result_out_of_range;
  return ec == std::errc() || *overflow;
}

bool ParseUnsigned(std::string_view name, const Value& value, uint64_t min,
                   uint64_t max, uint64_t* out, Errors* errors) {
  if (!ExpectScalar(name, value, "an integer", errors)) return false;
  bool negative = false;
  bool overflow = false;
  uint64_t n = 0;
  if (!ParseInteger(value.text, &negative, &n, &overflow)) {
    Fail(errors, value.pos,
         fmt::format("option '{}' expects an integer, got '{}'", name,
                     value.text));
    return false;
  }
  if (negative || overflow || n < min || n > max) {
    Fail(errors, value.pos,
         fmt::format("option '{}' must be between {} and {}, got {}", name, min,
                     max, value.text));
    return false;
  }
  *out = n;
  return true;
}

template <typename T>
bool ApplyUnsigned(std::string_view name, const Value& value, uint64_t min,
                   T* field, Errors* errors) {
  uint64_t n = 0;
  if (!ParseUnsigned(name, value, min, std::numeric_limits<T>::max(), &n,
                     errors)) {
    return false;
  }
  *field = static_cast<T>(n);
  return true;
}

bool ParseSize(std::string_view name, const Value& value, uint64_t* out,
               Errors* errors) {
  if (!ExpectScalar(name, value, "a size in bytes", errors)) return false;
  std::string_view t = value.text;
  uint64_t unit = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 'k':
      case 'K':
        unit = 1ull << 10;
        break;
      case 'm':
      case 'M':
        unit = 1ull << 20;
        break;
      case 'g':
      case 'G':
        unit = 1ull << 30;
        break;
      default:
        break;
    }
    if (unit != 1) t.remove_suffix(1);
  }
  bool negative = false;
  bool overflow = false;
  uint64_t n = 0;
  if (!ParseInteger(t, &negative, &n, &overflow)) {
    Fail(errors, value.pos,
         fmt::format("option '{}' expects a size in bytes (e.g. 1048576, 512K, "
                     "64M, 1G), got '{}'",
                     name, value.text));
    return false;
  }
  if (n > std::numeric_limits<uint64_t>::max() / unit) overflow = true;
  if (negative || overflow || n == 0 || n * unit > kMaxMaxMessageSize) {
    Fail(errors, value.pos,
         fmt::format("option '{}' must be between 1 byte and 1G, got {}", name,
                     value.text));
    return false;
  }
  *out = n * unit;
  return true;
}

bool ParseOctal(std::string_view name, const Value& value, uint32_t* out,
                Errors* errors) {
  if (!ExpectScalar(name, value, "an octal file mode", errors)) return false;
  const std::string& t = value.text;
  uint32_t mode = 0;
  const auto [end, ec] =
      std::from_chars(t.data(), t.data() + t.size(), mode, 8);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() ||
      mode > 07777) {
    Fail(errors, value.pos,
         fmt::format("option '{}' expects an octal file mode such as 0660, "
                     "got '{}'",
                     name, t));
    return false;
  }
  *out = mode;
  return true;
}

// ---- Booleans and levels -------------------------------------------------

bool ParseBool(std::string_view name, const Value& value, bool* out,
               Errors* errors) {
  if (!ExpectScalar(name, value, "a boolean", errors)) return false;
  const std::string t = ToLower(value.text);
  if (t == "on" || t == "true" || t == "yes" || t == "enabled" || t == "1") {
    *out = true;
    return true;
  }
  if (t == "off" || t == "false" || t == "no" || t == "disabled" || t == "0") {
    *out = false;
    return true;
  }
  Fail(errors, value.pos,
       fmt::format("option '{}' expects a boolean (on/off, true/false, yes/no, "
                   "enabled/disabled, 1/0), got '{}'",
                   name, value.text));
  return false;
}

bool ParseLevel(std::string_view name, const Value& value, DebugLevel* out,
                Errors* errors) {
  if (!ExpectScalar(name, value, "a debug level", errors)) return false;
  const std::optional<DebugLevel> level = ParseDebugLevel(value.text);
  if (!level) {
    Fail(errors, value.pos,
         fmt::format("bad debug level '{}' for option '{}'; valid levels are "
                     "DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL",
                     value.text, name));
    return false;
  }
  *out = *level;
  return true;
}

// ---- Addresses -----------------------------------------------------------

enum class PortRule { kOptional, kRequired, kForbidden };

struct HostPort {
  std::string host;
  std::optional<uint16_t> port;
  bool ipv6 = false;
};

bool IsIpv4(const std::string& s) {
  in_addr a;
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool IsIpv6(const std::string& s) {
  in6_addr a;
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

std::optional<std::string> CheckHost(const std::string& host) {
  if (host.empty()) return "empty host";
  if (host.size() > 253) return "host name too long";
  const bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.';
  });
  if (numeric) {
    if (!IsIpv4(host)) return fmt::format("bad IPv4 address '{}'", host);
    return std::nullopt;
  }
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return fmt::format("bad host name '{}'", host);
  }
  return std::nullopt;
}

std::optional<std::string> ParsePort(std::string_view t, uint16_t* out) {
  uint32_t port = 0;
  const bool digits = !t.empty() && t.size() <= 5 &&
                      std::all_of(t.begin(), t.end(),
                                  [](char c) { return c >= '0' && c <= '9'; });
  if (digits) std::from_chars(t.data(), t.data() + t.size(), port);
  if (!digits || port < 1 || port > 65535) {
    return fmt::format("bad port '{}' (must be 1..65535)", t);
  }
  *out = static_cast<uint16_t>(port);
  return std::nullopt;
}

// Parses "host", "host:port", "[v6]", "[v6]:port" and (when no port can
// follow) a bare IPv6 literal. `allow_wildcard`: "" or "*" host = any.
std::optional<std::string> ParseHostPort(std::string_view text, PortRule rule,
                                         bool allow_wildcard, HostPort* out) {
  std::string_view host;
  std::optional<std::string_view> port;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return "missing ']'";
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return "unexpected text after ']'";
      port = rest.substr(1);
    }
    if (!IsIpv6(std::string(host))) {
      return fmt::format("bad IPv6 address '{}'", host);
    }
    out->ipv6 = true;
  } else if (std::count(text.begin(), text.end(), ':') > 1) {
    if (rule == PortRule::kRequired) {
      return "IPv6 addresses must be bracketed: [address]:port";
    }
    if (!IsIpv6(std::string(text))) {
      return fmt::format("bad IPv6 address '{}'", text);
    }
    out->host = std::string(text);
    out->ipv6 = true;
    return std::nullopt;
  } else {
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
  }
  if (port && rule == PortRule::kForbidden) return "a port is not allowed here";
  if (!port && rule == PortRule::kRequired) return "missing ':port'";
  if (port) {
    uint16_t p = 0;
    if (auto err = ParsePort(*port, &p)) return err;
    out->port = p;
  }
  out->host = std::string(host);
  if (allow_wildcard && (out->host.empty() || out->host == "*")) {
    out->host.clear();
    return std::nullopt;
  }
  if (!out->ipv6) {
    if (auto err = CheckHost(out->host)) return err;
  }
  return std::nullopt;
}

std::string FormatHostPort(const std::string& host,
                           std::optional<uint16_t> port, bool ipv6) {
  if (!port) return host;
  if (ipv6) return fmt::format("[{}]:{}", host, *port);
  return fmt::format("{}:{}", host, *port);
}

// ---- Composite options ---------------------------------------------------

bool ApplyPeers(std::string_view name, const Value& value, Config* config,
                Errors* errors) {
  if (value.kind != Value::Kind::kDict) {
    Fail(errors, value.pos,
         fmt::format("option '{}' expects a dictionary [ name = \"address\" "
                     "... ], got {}",
                     name, ValueKindName(value.kind)));
    return false;
  }
  std::vector<Peer> peers;
  bool ok = true;
  for (const DictEntry& e : value.entries) {
    Peer peer;
    peer.name = ToLower(e.key);
    peer.pos = e.pos;
    if (!e.value.is_scalar()) {
      Fail(errors, e.value.pos,
           fmt::format("peer '{}' expects an address string, got {}", peer.name,
                       ValueKindName(e.value.kind)));
      ok = false;
      continue;
    }
    HostPort hp;
    if (auto err =
            ParseHostPort(e.value.text, PortRule::kOptional, false, &hp)) {
      Fail(errors, e.value.pos,
           fmt::format("bad address '{}' for peer '{}': {}", e.value.text,
                       peer.name, *err));
      ok = false;
      continue;
    }
    const auto dup =
        std::find_if(peers.begin(), peers.end(),
                     [&](const Peer& p) { return p.name == peer.name; });
    if (dup != peers.end()) {
      Fail(errors, e.pos,
           fmt::format("duplicate peer '{}' (first at {})", peer.name,
                       dup->pos.ToString()));
      ok = false;
      continue;
    }
    peer.host = hp.host;
    peer.port = hp.port;
    peers.push_back(std::move(peer));
  }
  if (ok) config->server.peers = std::move(peers);
  return ok;
}

// A scalar or an array of scalars, as a list of items; anything else is an
// error "option 'NAME' expects an array of WHAT, got KIND".
bool ScalarOrArrayItems(std::string_view name, const Value& value,
                        std::string_view what, Errors* errors,
                        std::vector<const Value*>* items) {
  if (value.is_scalar()) {
    items->push_back(&value);
  } else if (value.kind == Value::Kind::kArray) {
    for (const Value& v : value.items) items->push_back(&v);
  } else {
    Fail(errors, value.pos,
         fmt::format("option '{}' expects an array of {}, got {}", name, what,
                     ValueKindName(value.kind)));
    return false;
  }
  return true;
}

bool ApplyServerList(std::string_view name, const Value& value, Config* config,
                     Errors* errors) {
  std::vector<const Value*> items;
  if (!ScalarOrArrayItems(name, value, "\"host:port\"", errors, &items)) {
    return false;
  }
  if (items.empty()) {
    Fail(errors, value.pos,
         fmt::format("option '{}' must list at least one server", name));
    return false;
  }
  std::vector<std::string> servers;
  bool ok = true;
  for (const Value* v : items) {
    if (!v->is_scalar()) {
      Fail(errors, v->pos,
           fmt::format("option '{}' expects \"host:port\" strings, got {}",
                       name, ValueKindName(v->kind)));
      ok = false;
      continue;
    }
    HostPort hp;
    if (auto err = ParseHostPort(v->text, PortRule::kRequired, false, &hp)) {
      Fail(errors, v->pos,
           fmt::format("bad server address '{}' in option '{}': {}", v->text,
                       name, *err));
      ok = false;
      continue;
    }
    servers.push_back(v->text);
  }
  if (ok) config->client.server = std::move(servers);
  return ok;
}

bool ApplyBindAddress(std::string_view name, const Value& value, Config* config,
                      Errors* errors) {
  if (!ExpectScalar(name, value, "an address", errors)) return false;
  HostPort hp;
  if (auto err = ParseHostPort(value.text, PortRule::kForbidden, false, &hp)) {
    Fail(errors, value.pos,
         fmt::format("bad address '{}' for option '{}': {}", value.text, name,
                     *err));
    return false;
  }
  config->client.bind_address = hp.host;
  return true;
}

std::string FormatListenList(const Config& config) {
  std::string out = "(";
  for (const ListenAddress& a : config.listener.listen) {
    out += " " + Quote(a.spec);
  }
  return out + " )";
}

bool ApplyListenList(std::string_view name, const Value& value, Config* config,
                     Errors* errors) {
  std::vector<const Value*> items;
  if (!ScalarOrArrayItems(name, value, "listen addresses", errors, &items)) {
    return false;
  }
  std::vector<ListenAddress> listen;
  bool ok = true;
  for (const Value* v : items) {
    ListenAddress a;
    a.pos = v->pos;
    if (!v->is_scalar()) {
      Fail(errors, v->pos,
           fmt::format("option '{}' expects address strings, got {}", name,
                       ValueKindName(v->kind)));
      ok = false;
      continue;
    }
    if (auto err = ParseListenSpec(v->text, &a)) {
      Fail(errors, v->pos, *err);
      ok = false;
      continue;
    }
    listen.push_back(std::move(a));
  }
  if (ok) {
    config->listener.listen = std::move(listen);
    config->has_listener_scope = true;
  }
  return ok;
}

// Option tables. Macros keep the field name and option name in one place.
#define MSGC_SECONDS(scope, field)                                        \
  OptionDef {                                                             \
#field,                                                                 \
        [](std::string_view n, const Value& v, Config* c, Errors* e) {      \
          return ParseSeconds(n, v, &c->scope.field, e);                    \
        },                                                                  \
        [](const Config& c) { return FormatSeconds(c.scope.field); } \
  }
#define MSGC_UNSIGNED(scope, field, min)                                  \
  OptionDef {                                                             \
#field,                                                                 \
        [](std::string_view n, const Value& v, Config* c, Errors* e) {      \
          return ApplyUnsigned(n, v, min, &c->scope.field, e);              \
        },                                                                  \
        [](const Config& c) { return fmt::format("{}", c.scope.field); } \
  }
#define MSGC_BOOL(scope, field)                                           \
  OptionDef {                                                             \
#field,                                                                 \
        [](std::string_view n, const Value& v, Config* c, Errors* e) {      \
          return ParseBool(n, v, &c->scope.field, e);                       \
        },                                                                  \
        [](const Config& c) { return FormatBool(c.scope.field); } \
  }
#define MSGC_LEVEL(scope, field)                                          \
  OptionDef {                                                             \
#field,                                                                 \
        [](std::string_view n, const Value& v, Config* c, Errors* e) {      \
          return ParseLevel(n, v, &c->scope.field, e);                      \
        },                                                                  \
        [](const Config& c) {                                               \
          return std::string(DebugLevelName(c.scope.field));                \
        } \
  }

const std::vector<OptionDef>& ServerOptionsTable() {
  static const std::vector<OptionDef> table = {
      MSGC_SECONDS(server, connect_timeout),
      MSGC_LEVEL(server, debug_level),
      MSGC_BOOL(server, enabled),
      MSGC_SECONDS(server, idle_timeout),
      MSGC_SECONDS(server, keepalive_interval),
      MSGC_UNSIGNED(server, max_backlog, 1),
      OptionDef{"max_message_size",
                [](std::string_view n, const Value& v, Config* c, Errors* e) {
                  return ParseSize(n, v, &c->server.max_message_size, e);
                },
                [](const Config& c) {
                  return FormatSize(c.server.max_message_size);
                }},
      MSGC_UNSIGNED(server, messages_per_iter, 1),
      OptionDef{"peers", ApplyPeers, FormatPeers},
      MSGC_UNSIGNED(server, port, 1),
      MSGC_SECONDS(server, reconnect_interval),
      OptionDef{"tcpbuf_size",
                [](std::string_view n, const Value& v, Config* c, Errors* e) {
                  if (!ApplyUnsigned(n, v, 0, &c->server.tcpbuf_size, e)) {
                    return false;
                  }
                  c->server.tcpbuf_size_set = true;
                  return true;
                },
                [](const Config& c) {
                  return fmt::format("{}", c.server.tcpbuf_size);
                }},
  };
  return table;
}

const std::vector<OptionDef>& ListenerOptionsTable() {
  static const std::vector<OptionDef> table = {
      OptionDef{"accept_queue_backlog",
                [](std::string_view n, const Value& v, Config* c, Errors* e) {
                  uint64_t x = 0;
                  if (!ParseUnsigned(n, v, 0, 65535, &x, e)) return false;
                  c->listener.accept_queue_backlog = static_cast<uint32_t>(x);
                  return true;
                },
                [](const Config& c) {
                  return fmt::format("{}", c.listener.accept_queue_backlog);
                }},
      MSGC_BOOL(listener, enable),
      OptionDef{
          "file_mode",
          [](std::string_view n, const Value& v, Config* c, Errors* e) {
            return ParseOctal(n, v, &c->listener.file_mode, e);
          },
          [](const Config& c) { return FormatOctal(c.listener.file_mode); }},
      OptionDef{"listen", ApplyListenList, FormatListenList},
  };
  return table;
}

const std::vector<OptionDef>& ClientOptionsTable() {
  static const std::vector<OptionDef> table = {
      OptionDef{"bind_address", ApplyBindAddress,
                [](const Config& c) {
                  return c.client.bind_address ? Quote(*c.client.bind_address)
                                               : std::string();
                }},
      MSGC_SECONDS(client, connect_timeout),
      MSGC_LEVEL(client, debug_level),
      MSGC_BOOL(client, enabled),
      MSGC_SECONDS(client, idle_timeout),
      MSGC_SECONDS(client, keepalive_interval),
      MSGC_UNSIGNED(client, max_backlog, 1),
      MSGC_UNSIGNED(client, messages_per_iter, 1),
      MSGC_SECONDS(client, reconnect_interval),
      OptionDef{"server", ApplyServerList,
                [](const Config& c) {
                  std::string out = "(";
                  for (const std::string& s : c.client.server) {
                    out += " " + Quote(s);
                  }
                  return out + " )";
                }},
      MSGC_UNSIGNED(client, tcpbuf_size, 0),
  };
  return table;
}

#undef MSGC_SECONDS
#undef MSGC_UNSIGNED
#undef MSGC_BOOL
#undef MSGC_LEVEL

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string_view ScopeName(ScopeId id) {
  switch (id) {
    case ScopeId::kServer:
      return kServerScope;
    case ScopeId::kListener:
      return kListenerScope;
    case ScopeId::kClient:
      return kClientScope;
  }
  return "";
}

std::optional<ScopeId> FindScope(std::string_view name) {
  const std::string lower = ToLower(name);
  if (lower == kServerScope) return ScopeId::kServer;
  if (lower == kListenerScope) return ScopeId::kListener;
  if (lower == kClientScope) return ScopeId::kClient;
  return std::nullopt;
}

std::vector<std::string_view> ScopeNames() {
  return {kServerScope, kListenerScope, kClientScope};
}

const std::vector<OptionDef>& OptionsOf(ScopeId id) {
  switch (id) {
    case ScopeId::kServer:
      return ServerOptionsTable();
    case ScopeId::kListener:
      return ListenerOptionsTable();
    case ScopeId::kClient:
      break;
  }
  return ClientOptionsTable();
}

const OptionDef* FindOption(ScopeId id, std::string_view name) {
  const std::string lower = ToLower(name);
  for (const OptionDef& def : OptionsOf(id)) {
    if (def.name == lower) return &def;
  }
  return nullptr;
}

std::vector<std::string_view> OptionNames(ScopeId id) {
  std::vector<std::string_view> names;
  for (const OptionDef& def : OptionsOf(id)) names.push_back(def.name);
  return names;
}

bool ApplyListenOption(std::string_view name, const Value& value,
                       ListenAddress* address, Errors* errors) {
  const std::string lower = ToLower(name);
  if (lower == "accept_queue_backlog") {
    uint64_t x = 0;
    if (!ParseUnsigned(name, value, 0, 65535, &x, errors)) return false;
    address->own_accept_queue_backlog = static_cast<uint32_t>(x);
    return true;
  }
  if (lower == "enable") {
    bool b = true;
    if (!ParseBool(name, value, &b, errors)) return false;
    address->own_enable = b;
    return true;
  }
  uint32_t mode = 0;
  if (!ParseOctal(name, value, &mode, errors)) return false;
  address->own_file_mode = mode;
  return true;
}

std::optional<std::string> ParseListenSpec(std::string_view spec,
                                           ListenAddress* out) {
  HostPort hp;
  if (!spec.empty() && spec[0] == '/') {
    return fmt::format(
        "bad listen address '{}': unix socket listeners are not supported",
        spec);
  }
  if (auto err = ParseHostPort(spec, PortRule::kRequired, true, &hp)) {
    return fmt::format(
        "bad listen address '{}': {} (expected ':port', '*:port', "
        "'host:port' or '[ipv6]:port')",
        spec, *err);
  }
  out->host = hp.host;
  out->port = *hp.port;
  out->ipv6 = hp.ipv6;
  out->spec = std::string(spec);
  return std::nullopt;
}

std::string DidYouMean(std::string_view name,
                       const std::vector<std::string_view>& candidates) {
  const std::string lower = ToLower(name);
  std::string_view best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (std::string_view c : candidates) {
    const size_t d = EditDistance(lower, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  const size_t limit = std::max<size_t>(2, lower.size() / 3);
  if (best.empty() || best_distance > limit) return "";
  return fmt::format("; did you mean '{}'?", best);
}

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out.push_back(c);
    }
  }
  return out + "\"";
}

std::string FormatKey(std::string_view key) {
  return IsBareWord(key) ? std::string(key) : Quote(key);
}

std::string FormatSeconds(double seconds) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), seconds);
  if (ec != std::errc()) return fmt::format("{}", seconds);
  return std::string(buf, end);
}

std::string FormatSize(uint64_t bytes) {
  if (bytes != 0 && bytes % (1ull << 30) == 0) {
    return fmt::format("{}G", bytes >> 30);
  }
  if (bytes != 0 && bytes % (1ull << 20) == 0) {
    return fmt::format("{}M", bytes >> 20);
  }
  if (bytes != 0 && bytes % (1ull << 10) == 0) {
    return fmt::format("{}K", bytes >> 10);
  }
  return fmt::format("{}", bytes);
}

std::string FormatBool(bool value) { return value ? "true" : "false"; }

std::string FormatOctal(uint32_t mode) { return fmt::format("{:#o}", mode); }

std::string FormatPeerAddress(const Peer& peer) {
  return Quote(FormatHostPort(peer.host, peer.port,
                              peer.host.find(':') != std::string::npos));
}

std::string FormatPeers(const Config& config) {
  std::string out = "[";
  for (const Peer& p : config.server.peers) {
    out += fmt::format(" {} = {}", FormatKey(p.name), FormatPeerAddress(p));
  }
  return out + " ]";
}

std::string FormatListenBody(const ListenAddress& address) {
  std::string out = "{";
  if (address.own_accept_queue_backlog) {
    out += fmt::format(" accept_queue_backlog = {}",
                       *address.own_accept_queue_backlog);
  }
  if (address.own_enable) {
    out += fmt::format(" enable = {}", FormatBool(*address.own_enable));
  }
  if (address.own_file_mode) {
    out += fmt::format(" file_mode = {}", FormatOctal(*address.own_file_mode));
  }
  return out + " }";
}

}  // namespace msgc::config::internal
