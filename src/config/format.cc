// Format (effective config as text) and Diff (what changed on reload).
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "config/config.h"
#include "config/options.h"

namespace msgc::config {
namespace {

using internal::OptionDef;
using internal::ScopeId;

constexpr std::string_view kScopePresent = "{ ... }";

void FormatScope(const Config& config, ScopeId id, std::string* out) {
  *out += fmt::format("{} {{\n", internal::ScopeName(id));
  for (const OptionDef& def : internal::OptionsOf(id)) {
    if (def.name == "peers") {
      if (config.server.peers.empty()) {
        *out += "  peers = [ ]\n";
        continue;
      }
      *out += "  peers = [\n";
      for (const Peer& p : config.server.peers) {
        *out += fmt::format("    {} = {}\n", internal::FormatKey(p.name),
                            internal::FormatPeerAddress(p));
      }
      *out += "  ]\n";
      continue;
    }
    if (def.name == "listen") {
      for (const ListenAddress& a : config.listener.listen) {
        *out += fmt::format("  listen {} {}\n", internal::Quote(a.spec),
                            internal::FormatListenBody(a));
      }
      continue;
    }
    if (id == ScopeId::kServer && def.name == "tcpbuf_size" &&
        !config.server.tcpbuf_size_set) {
      // Not set: written as a comment, so that loading this output leaves
      // it unset (the peer links keep the kernel's autotuning).
      *out += fmt::format(
          "  # tcpbuf_size = {} (not set: client sessions only; peer links "
          "autotune)\n",
          config.server.tcpbuf_size);
      continue;
    }
    const std::string value = def.format(config);
    if (!value.empty()) *out += fmt::format("  {} = {}\n", def.name, value);
  }
  *out += "}\n";
}

// The value Diff compares: msgc_server tcpbuf_size is "" while not set.
std::string DiffValue(const Config& config, ScopeId id, const OptionDef& def) {
  if (id == ScopeId::kServer && def.name == "tcpbuf_size" &&
      !config.server.tcpbuf_size_set) {
    return "";
  }
  return def.format(config);
}

bool HasScope(const Config& config, ScopeId id) {
  switch (id) {
    case ScopeId::kServer:
      return config.has_server_scope;
    case ScopeId::kListener:
      // The implied listener of a msgc_server is shown too.
      return config.has_listener_scope || config.has_server_scope;
    case ScopeId::kClient:
      return config.has_client_scope;
  }
  return false;
}

}  // namespace

std::string Format(const Config& config) {
  std::string out = "# msgc effective configuration\n";
  for (ScopeId id : {ScopeId::kServer, ScopeId::kListener, ScopeId::kClient}) {
    if (!HasScope(config, id)) continue;
    out += "\n";
    FormatScope(config, id, &out);
  }
  return out;
}

std::vector<Change> Diff(const Config& before, const Config& after) {
  std::vector<Change> changes;
  for (ScopeId id : {ScopeId::kServer, ScopeId::kListener, ScopeId::kClient}) {
    const std::string scope(internal::ScopeName(id));
    const bool had = HasScope(before, id);
    const bool has = HasScope(after, id);
    if (had != has) {
      changes.push_back(Change{scope, had ? std::string(kScopePresent) : "",
                               has ? std::string(kScopePresent) : ""});
    }
    for (const OptionDef& def : internal::OptionsOf(id)) {
      const std::string path = fmt::format("{}.{}", scope, def.name);
      if (def.name == "peers") {
        std::map<std::string, std::pair<std::string, std::string>> peers;
        for (const Peer& p : before.server.peers) {
          peers[p.name].first = internal::FormatPeerAddress(p);
        }
        for (const Peer& p : after.server.peers) {
          peers[p.name].second = internal::FormatPeerAddress(p);
        }
        for (const auto& [name, values] : peers) {
          if (values.first != values.second) {
            changes.push_back(
                Change{path + "." + name, values.first, values.second});
          }
        }
        continue;
      }
      if (def.name == "listen") {
        std::map<std::string, std::pair<std::string, std::string>> listen;
        for (const ListenAddress& a : before.listener.listen) {
          listen[a.spec].first = internal::FormatListenBody(a);
        }
        for (const ListenAddress& a : after.listener.listen) {
          listen[a.spec].second = internal::FormatListenBody(a);
        }
        for (const auto& [spec, values] : listen) {
          if (values.first != values.second) {
            changes.push_back(
                Change{path + "." + spec, values.first, values.second});
          }
        }
        continue;
      }
      const std::string old_value = DiffValue(before, id, def);
      const std::string new_value = DiffValue(after, id, def);
      if (old_value != new_value) {
        changes.push_back(Change{path, old_value, new_value});
      }
    }
  }
  return changes;
}

}  // namespace msgc::config
