// Typed, validated msgc configuration and the functions that load it.
//
// Loading happens in two stages: the parser (parser.h) turns text into a
// syntax tree whose nodes carry positions, and the mapping pass (load.cc)
// expands includes, checks every scope, option and value and produces an
// immutable Config. All errors are collected and reported as
// "file:line:column: message"; a Config is only produced if there are none.
//
// Scopes understood (names are case-insensitive):
//   msgc_server { ... }                   -> Config::server
//   msgcserver_listener { listen ... }    -> Config::listener
//   msgc_client { ... }                   -> Config::client
// See docs/config.md for every option, its type and default.
//
// Ownership / thread-safety: a Config is immutable once loaded and is handed
// out as std::shared_ptr<const Config>; any number of threads may read it.
// A reload produces a new Config (compare with Diff()). All functions here
// are thread-safe (they share no state; LoadFile reads the file system).
#ifndef MSGC_CONFIG_CONFIG_H_
#define MSGC_CONFIG_CONFIG_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "config/syntax.h"

namespace msgc::config {

inline constexpr uint16_t kDefaultPort = 4809;
inline constexpr uint64_t kDefaultMaxMessageSize = 64ull << 20;  // 64 MiB
inline constexpr uint64_t kMaxMaxMessageSize = 1ull << 30;       // 1 GiB
inline constexpr double kMaxSeconds = 86400;  // upper bound for any time

// One entry of msgc_server `peers`: `name = "address[:port]"`.
struct Peer {
  std::string name;  // lower-cased
  std::string host;  // IPv4/IPv6 literal (without brackets) or host name
  std::optional<uint16_t> port;  // only if written "addr:port"/"[v6]:port"
  Position pos;                  // of the dictionary key

  friend bool operator==(const Peer& a, const Peer& b) {
    return a.name == b.name && a.host == b.host && a.port == b.port;
  }
};

// Scope msgc_server. All options can be changed at runtime.
struct ServerOptions {
  bool enabled = true;
  double connect_timeout = 60;  // seconds (fractions allowed: "0.2")
  DebugLevel debug_level = DebugLevel::kError;
  double idle_timeout = 30;
  double keepalive_interval = 5;
  uint32_t max_backlog = 5000;
  uint32_t messages_per_iter = 20;
  std::vector<Peer> peers;  // in the order written
  uint16_t port = kDefaultPort;
  double reconnect_interval = 5;
  // SO_SNDBUF/SO_RCVBUF of client sessions; of peer links only when set
  // explicitly (tcpbuf_size_set), see PeerLinkTcpbufSize. 0 = the kernel's
  // autotuning.
  uint32_t tcpbuf_size = 131072;
  // Whether `tcpbuf_size` was written in msgc_server (file or SetOption).
  bool tcpbuf_size_set = false;
  // msgc extension: largest message payload accepted, in bytes.
  uint64_t max_message_size = kDefaultMaxMessageSize;
};

// The socket buffer size (SO_SNDBUF and SO_RCVBUF) for links between
// servers: `tcpbuf_size` when it is set explicitly in msgc_server, else 0,
// which leaves the kernel's buffer autotuning on. An explicit buffer size
// turns autotuning off for the socket, and the default 131072 then caps a
// link at about 180 KB per round trip (8,500 msgs/s of 1 KiB at 20 ms; see
// docs/operations.md, "tcpbuf_size and the distance between servers").
// Client sessions always use `tcpbuf_size`.
inline uint32_t PeerLinkTcpbufSize(const ServerOptions& s) {
  return s.tcpbuf_size_set ? s.tcpbuf_size : 0;
}

// A `listen "spec" { ... }` scope of msgcserver_listener.
struct ListenAddress {
  std::string host;  // "" = all addresses (":port" or "*:port")
  uint16_t port = 0;
  bool ipv6 = false;  // written as "[v6]:port"
  std::string spec;   // as written, e.g. ":4809"
  Position pos;       // of the listen scope (or what implied it)

  // Effective values (the listen scope's own, else msgcserver_listener's).
  uint32_t accept_queue_backlog = 0;
  bool enable = true;
  uint32_t file_mode = 0660;

  // What the listen scope itself set (for Format / SetOption fallback).
  std::optional<uint32_t> own_accept_queue_backlog;
  std::optional<bool> own_enable;
  std::optional<uint32_t> own_file_mode;
};

// Scope msgcserver_listener. When the configuration has msgc_server but no
// msgcserver_listener, `listen` holds one implied address: 127.0.0.1:<port>
// if `peers` is empty, else *:<port> (Config::has_listener_scope is false).
struct ListenerOptions {
  uint32_t accept_queue_backlog = 0;  // 0 = the system default
  bool enable = true;
  uint32_t file_mode = 0660;  // octal; only meaningful for unix sockets
  std::vector<ListenAddress> listen;
};

// Scope msgc_client.
struct ClientOptions {
  bool enabled = true;
  std::optional<std::string> bind_address;  // local address, no port
  double connect_timeout = 60;
  DebugLevel debug_level = DebugLevel::kError;
  double idle_timeout = 30;
  double keepalive_interval = 5;
  uint32_t max_backlog = 5000;
  uint32_t messages_per_iter = 20;
  double reconnect_interval = 5;
  uint32_t tcpbuf_size = 131072;
  std::vector<std::string> server = {"127.0.0.1:4809"};  // fail-over order
};

struct Config {
  ServerOptions server;
  bool has_server_scope = false;
  ListenerOptions listener;
  bool has_listener_scope = false;
  ClientOptions client;
  bool has_client_scope = false;

  std::vector<std::string> files;           // every file read, in order
  std::vector<std::string> readonly_files;  // subset of `files`

  // Where each option that was explicitly set came from, keyed
  // "scope.option" in lower case (e.g. "msgc_server.port"). Scopes are
  // recorded under their bare name ("msgc_server").
  std::map<std::string, Position> origins;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when there are errors
  std::vector<Diagnostic> errors;

  bool ok() const { return config != nullptr && errors.empty(); }
  // Each error's ToString(), one per line (each line ends in '\n').
  std::string ErrorText() const;
};

struct LoadOptions {
  // Folder that relative includes of the top-level text are resolved
  // against first (then the working directory). LoadFile uses the file's
  // own folder.
  std::string base_dir = ".";
  // When false, every include directive is an error ("includes are
  // disabled") and no file is touched. Used by the fuzzer.
  bool allow_includes = true;
};

// Maximum include nesting and error count (further errors are dropped with a
// final "too many errors" diagnostic).
inline constexpr int kMaxIncludeDepth = 32;
inline constexpr size_t kMaxErrors = 100;

// Reads and validates `path` and everything it includes.
LoadResult LoadFile(const std::string& path);

// Validates `text`, naming it `name` in positions; relative includes are
// resolved against `base_dir`, then the working directory.
LoadResult LoadString(std::string_view text, std::string_view name,
                      const std::string& base_dir = ".");
LoadResult LoadString(std::string_view text, std::string_view name,
                      const LoadOptions& options);

// The embedded default configuration (msgc_server with no peers, listener
// 127.0.0.1:4809, msgc_client server ("127.0.0.1:4809")), and its text.
std::shared_ptr<const Config> DefaultConfig();
std::string DefaultConfigText();

// The effective configuration in file syntax, every option written out;
// msgc_server tcpbuf_size, when not set, as a comment (its default applies
// to client sessions only; peer links autotune), so that loading the output
// does not pin the peer links' buffers.
// Format(*LoadString(Format(c)).config) == Format(c).
std::string Format(const Config& config);

// One difference between two configs. Values are in file syntax; an empty
// old_value means "added", an empty new_value means "removed".
struct Change {
  std::string path;  // "msgc_server.idle_timeout", "msgc_server.peers.node2"
  std::string old_value;
  std::string new_value;

  friend bool operator==(const Change&, const Change&) = default;
};

// What changed from `before` to `after` (for reload), in a stable order:
// msgc_server, msgcserver_listener, msgc_client; options alphabetically.
// msgc_server tcpbuf_size counts as "" while not set (setting it to its
// default value is a change: the peer links' buffers become fixed).
std::vector<Change> Diff(const Config& before, const Config& after);

// The effective value of `scope`.`option` in file syntax (names are
// case-insensitive). NotFound for unknown scopes/options (with a
// suggestion) and for options without a value (msgc_client bind_address).
Status GetOption(const Config& config, std::string_view scope,
                 std::string_view option, std::string* value_out);

// Returns a copy of `base` with `scope`.`option` set to `value_text` (file
// syntax, an optional leading '=' is accepted), fully re-validated. Errors
// are positioned in the file "<console>". For msgcserver_listener, option
// `listen` takes an array of listen addresses and replaces all listen
// scopes.
LoadResult SetOption(const Config& base, std::string_view scope,
                     std::string_view option, std::string_view value_text);

}  // namespace msgc::config

#endif  // MSGC_CONFIG_CONFIG_H_
