// Reading a Spread-era mbus.conf (or any spread.conf) and converting it to an
// msgc_server.conf in Momentum's configuration grammar.
//
// Two stages, each usable on its own:
//   ParseMbusConf()  text -> MbusConf (parameters, segments, hosts and the
//                    installer's "# Subcluster: X => Y" markers), every item
//                    carrying its file:line:column.
//   Convert()        MbusConf -> msgc_server.conf text (peers from every
//                    segment of every subcluster, listener on the msgc port),
//                    re-validated with msgc::config::LoadString.
// ConvertMbusConf() runs both. The accepted grammar is the superset of
// Spread's config_parse.y described in docs/upgrade.md; the conversion
// rules (what is kept, dropped, warned about or refused) are listed there.
//
// Errors and warnings are Diagnostics ("file:line:column: message"); a
// result carries text only if it has no errors.
//
// Ownership / thread-safety: all types are plain values; the functions are
// pure (no I/O, no shared state) and may run concurrently.
#ifndef MSGC_UPGRADE_MBUS_CONF_H_
#define MSGC_UPGRADE_MBUS_CONF_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/syntax.h"

namespace msgc::upgrade {

using config::Diagnostic;
using config::Position;

// Spread's default daemon port (segment addresses without ":port").
inline constexpr uint16_t kSpreadDefaultPort = 4803;
// Spread's limit on daemon names (MAX_PROC_NAME - 1).
inline constexpr size_t kSpreadMaxNameLength = 19;

// A top-level `Name = value` or bare `Name` (e.g. EventTimeStamp).
struct SpreadParameter {
  std::string name;    // as written
  std::string value;   // as written; "{ EXIT !PRINT }" for blocks; "" if bare
  bool bare = false;   // written without '='
  bool known = false;  // a parameter Spread documents
  Position pos;        // of the name
};

// One line of an interface block `{ D 10.0.0.1  C 192.168.0.1 }`.
struct SpreadInterface {
  std::string roles;    // upper-cased subset of "DCM"; "" = all roles
  std::string address;  // IPv4, as written
  Position pos;         // of the address
};

// One daemon of a segment: `name ip`, `name` or `ip`, optionally followed by
// an interface block.
struct SpreadHost {
  std::string name;      // as written; "" for an IP-only entry
  std::string address;   // IPv4 as written; "" for a name-only entry
  Position pos;          // of the first token of the entry
  Position address_pos;  // of `address` (if any)
  std::vector<SpreadInterface> interfaces;
};

// `Spread_Segment addr[:port] [addr[:port]...] { hosts }`.
struct SpreadSegment {
  std::string address;  // broadcast or multicast address (IPv4)
  uint16_t port = kSpreadDefaultPort;
  std::vector<std::string> extra_addresses;  // as written (with :port)
  std::string subcluster;         // name of the last marker before it, or ""
  Position pos;                   // of the Spread_Segment keyword
  std::vector<SpreadHost> hosts;  // in file order
};

// An installer comment `# Subcluster: default => manager-0-1` (or
// `# Subcluster: east = rh52mgr`).
struct SubclusterMarker {
  std::string name;     // "default"
  std::string manager;  // "manager-0-1" (may be empty)
  Position pos;         // of the '#'
};

struct MbusConf {
  std::string file;  // the name positions use
  std::vector<SpreadParameter> parameters;
  std::vector<SpreadSegment> segments;
  std::vector<SubclusterMarker> subclusters;
};

struct ParseResult {
  MbusConf conf;                     // meaningful only if ok()
  std::vector<Diagnostic> errors;    // syntax errors
  std::vector<Diagnostic> warnings;  // e.g. unknown parameters

  bool ok() const { return errors.empty(); }
};

// Parses Spread configuration text; `file` names it in positions.
ParseResult ParseMbusConf(std::string_view text, std::string_view file);

struct ConvertOptions {
  // Port of the generated listener and msgc_server `port`. The Spread port
  // is never used. When it is the default, no `port` option is written.
  uint16_t port = config::kDefaultPort;
};

struct ConvertResult {
  std::string text;  // msgc_server.conf; empty when there are errors
  std::vector<config::Peer> peers;  // what `text` lists, in order
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;

  bool ok() const { return errors.empty(); }
  // Each diagnostic's ToString(), one per line (each ending in '\n').
  std::string ErrorText() const;
  std::string WarningText() const;
};

// Builds msgc_server.conf from a parsed mbus.conf. Peers come from every
// segment in file order; a host's address is its first `D` interface, else
// its first all-roles interface, else its own address, else its name
// (resolved by msgcd). Names are lower-cased; exact repeats are dropped with
// a warning; one name with two addresses or one address under two names is
// an error naming both positions. The text is validated with
// config::LoadString before it is returned (failure is an error too).
ConvertResult Convert(const MbusConf& conf, const ConvertOptions& options = {});

// ParseMbusConf + Convert; parse warnings come first.
ConvertResult ConvertMbusConf(std::string_view text, std::string_view file,
                              const ConvertOptions& options = {});

}  // namespace msgc::upgrade

#endif  // MSGC_UPGRADE_MBUS_CONF_H_
