// Loading: include expansion, mapping the syntax tree to a typed Config, and
// the console helpers GetOption / SetOption.
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>
#include <utility>

#include "config/config.h"
#include "config/options.h"
#include "config/parser.h"

namespace msgc::config {
namespace {

namespace fs = std::filesystem;
using internal::Errors;
using internal::ScopeId;

constexpr uintmax_t kMaxFileSize = 16u << 20;  // refuse absurd includes

void Fail(Errors* errors, const Position& pos, std::string message) {
  errors->push_back(Diagnostic{pos, std::move(message)});
}

std::string Key(std::string_view scope, std::string_view option) {
  return fmt::format("{}.{}", scope, ToLower(option));
}

// ---- Include expansion ---------------------------------------------------

// Replaces include nodes (at any depth) by the statements of the files they
// name, recording every file read in the Config.
class IncludeExpander {
 public:
  IncludeExpander(const LoadOptions& options, Config* config, Errors* errors)
      : options_(options), config_(config), errors_(errors) {}

  // Expands `nodes`, which came from a file in folder `dir`. `stack` holds
  // the display names of the files being read (outermost first) and
  // `canonical` their canonical paths, for cycle detection.
  void Expand(std::vector<Node>* nodes, const fs::path& dir, bool readonly) {
    std::vector<Node> out;
    out.reserve(nodes->size());
    for (Node& node : *nodes) {
      if (node.kind == Node::Kind::kScope) {
        Expand(&node.children, dir, readonly);
        out.push_back(std::move(node));
      } else if (node.kind == Node::Kind::kInclude) {
        Include(node, dir, readonly || node.readonly, &out);
      } else {
        out.push_back(std::move(node));
      }
    }
    *nodes = std::move(out);
  }

  // Reads and parses one file; appends its (expanded) statements to `out`.
  // `name` is the display name, `at` the include directive (or line 0).
  void ReadFile(const fs::path& path, const Position& at, bool readonly,
                std::vector<Node>* out) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    if (ec) canonical = path.lexically_normal();
    const std::string name = path.lexically_normal().string();
    if (std::find(canonical_.begin(), canonical_.end(), canonical) !=
        canonical_.end()) {
      std::string chain;
      for (const std::string& s : stack_) chain += fmt::format("'{}' -> ", s);
      Fail(errors_, at, fmt::format("include cycle: {}'{}'", chain, name));
      return;
    }
    if (static_cast<int>(stack_.size()) > kMaxIncludeDepth) {
      Fail(errors_, at,
           fmt::format("includes nested more than {} deep", kMaxIncludeDepth));
      return;
    }
    const auto size = fs::file_size(path, ec);
    if (!ec && size > kMaxFileSize) {
      Fail(errors_, at,
           fmt::format("cannot read '{}': file larger than {} bytes", name,
                       kMaxFileSize));
      return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      Fail(errors_, at,
           fmt::format("cannot read '{}': {}", name, std::strerror(errno)));
      return;
    }
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    if (in.bad()) {
      Fail(errors_, at, fmt::format("cannot read '{}': I/O error", name));
      return;
    }
    RecordFile(name, readonly);
    ParseResult parsed = Parse(text, name);
    for (Diagnostic& d : parsed.errors) errors_->push_back(std::move(d));
    stack_.push_back(name);
    canonical_.push_back(canonical);
    Expand(&parsed.nodes, path.parent_path(), readonly);
    stack_.pop_back();
    canonical_.pop_back();
    for (Node& n : parsed.nodes) out->push_back(std::move(n));
  }

  // For LoadString: the top-level text is not a file on disk.
  void PushText(const std::string& name) {
    RecordFile(name, false);
    stack_.push_back(name);
    canonical_.emplace_back();
  }

 private:
  void RecordFile(const std::string& name, bool readonly) {
    auto& files = config_->files;
    auto& ro = config_->readonly_files;
    const bool seen =
        std::find(files.begin(), files.end(), name) != files.end();
    if (!seen) files.push_back(name);
    // A file included more than once is read-only, as in Momentum.
    if ((readonly || seen) &&
        std::find(ro.begin(), ro.end(), name) == ro.end()) {
      ro.push_back(name);
    }
  }

  void Include(const Node& node, const fs::path& dir, bool readonly,
               std::vector<Node>* out) {
    if (!options_.allow_includes) {
      Fail(errors_, node.pos,
           fmt::format("includes are disabled here ('{}')", node.path));
      return;
    }
    if (node.path.empty()) {
      Fail(errors_, node.path_pos, "empty include path");
      return;
    }
    const fs::path wanted(node.path);
    fs::path resolved;
    std::error_code ec;
    if (wanted.is_absolute()) {
      resolved = wanted;
    } else if (fs::exists(dir / wanted, ec)) {
      resolved = dir / wanted;
    } else if (fs::exists(wanted, ec)) {
      resolved = wanted;
    } else {
      Fail(errors_, node.path_pos,
           fmt::format("cannot find include '{}' (looked in '{}' and the "
                       "working directory)",
                       node.path, dir.string()));
      return;
    }
    if (fs::is_directory(resolved, ec)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& e :
           fs::directory_iterator(resolved, ec)) {
        const std::string base = e.path().filename().string();
        if (base.empty() || base[0] == '.') continue;
        std::error_code ec2;
        if (!fs::is_regular_file(e.path(), ec2)) continue;  // no recursion
        files.push_back(e.path());
      }
      if (ec) {
        Fail(errors_, node.path_pos,
             fmt::format("cannot list '{}': {}", resolved.string(),
                         ec.message()));
        return;
      }
      std::sort(files.begin(), files.end(),
                [](const fs::path& a, const fs::path& b) {
                  return a.filename().string() < b.filename().string();
                });
      for (const fs::path& f : files) ReadFile(f, node.pos, readonly, out);
      return;
    }
    if (!fs::is_regular_file(resolved, ec)) {
      Fail(errors_, node.path_pos,
           fmt::format("cannot include '{}': not a regular file or directory",
                       resolved.lexically_normal().string()));
      return;
    }
    ReadFile(resolved, node.pos, readonly, out);
  }

  const LoadOptions& options_;
  Config* config_;
  Errors* errors_;
  std::vector<std::string> stack_;
  std::vector<fs::path> canonical_;
};

// ---- Mapping ---------------------------------------------------------------

// Maps expanded statements onto a Config and validates it.
class Mapper {
 public:
  Mapper(Config* config, Errors* errors) : config_(config), errors_(errors) {}

  void MapTop(const std::vector<Node>& nodes) {
    for (const Node& node : nodes) {
      if (node.kind == Node::Kind::kOption) {
        Fail(errors_, node.pos,
             fmt::format(
                 "unknown top-level option '{}'; options belong "
                 "inside msgc_server, msgcserver_listener or "
                 "msgc_client{}",
                 node.name,
                 internal::DidYouMean(node.name, internal::ScopeNames())));
        continue;
      }
      if (node.kind != Node::Kind::kScope) continue;  // expanded includes
      const std::optional<ScopeId> id = internal::FindScope(node.name);
      if (!id) {
        Fail(errors_, node.pos,
             fmt::format(
                 "unknown scope '{}'{}", node.name,
                 internal::DidYouMean(node.name, internal::ScopeNames())));
        continue;
      }
      const std::string_view scope = internal::ScopeName(*id);
      if (node.has_instance) {
        Fail(errors_, node.instance_pos,
             fmt::format("scope '{}' is a singleton and takes no instance "
                         "name (got '{}')",
                         scope, node.instance));
      }
      config_->origins.emplace(std::string(scope), node.pos);
      MarkScopePresent(*id);
      MapScope(*id, node);
    }
  }

  void MarkScopePresent(ScopeId id) {
    switch (id) {
      case ScopeId::kServer:
        config_->has_server_scope = true;
        break;
      case ScopeId::kListener:
        config_->has_listener_scope = true;
        break;
      case ScopeId::kClient:
        config_->has_client_scope = true;
        break;
    }
  }

  // Sets one option (SetOption): no duplicate check, the value replaces.
  void SetOne(ScopeId id, const internal::OptionDef& def, const Value& value) {
    MarkScopePresent(id);
    const std::string_view scope = internal::ScopeName(id);
    config_->origins.emplace(std::string(scope), value.pos);
    const std::string key = Key(scope, def.name);
    if (def.apply(def.name, value, config_, errors_)) {
      config_->origins[key] = value.pos;
    } else {
      failed_.insert(key);
    }
  }

  // Cross-option checks and derived values; call after mapping.
  void Finish() {
    ListenerOptions& l = config_->listener;
    const ServerOptions& s = config_->server;
    if (config_->has_listener_scope) {
      for (ListenAddress& a : l.listen) {
        a.accept_queue_backlog =
            a.own_accept_queue_backlog.value_or(l.accept_queue_backlog);
        a.enable = a.own_enable.value_or(l.enable);
        a.file_mode = a.own_file_mode.value_or(l.file_mode);
      }
      if (config_->has_server_scope && !failed_.count("msgc_server.port")) {
        const Position port_pos = Origin("msgc_server.port", "msgc_server");
        for (const ListenAddress& a : l.listen) {
          if (a.port != s.port) {
            Fail(errors_, a.pos,
                 fmt::format("listener port {} disagrees with msgc_server "
                             "port {} (at {})",
                             a.port, s.port, port_pos.ToString()));
          }
        }
      }
    } else if (config_->has_server_scope) {
      // Implied listener: loopback only for a single-node setup, all
      // addresses as soon as other servers must reach us.
      ListenAddress a;
      a.host = s.peers.empty() ? "127.0.0.1" : "";
      a.port = s.port;
      a.spec =
          fmt::format("{}:{}", s.peers.empty() ? "127.0.0.1" : "*", s.port);
      a.pos = Origin("msgc_server.port", "msgc_server");
      a.accept_queue_backlog = l.accept_queue_backlog;
      a.enable = l.enable;
      a.file_mode = l.file_mode;
      l.listen = {a};
    } else {
      l.listen.clear();
    }
    CheckKeepalive("msgc_server", s.keepalive_interval, s.idle_timeout);
    CheckKeepalive("msgc_client", config_->client.keepalive_interval,
                   config_->client.idle_timeout);
  }

 private:
  Position Origin(const std::string& key, const std::string& fallback) const {
    auto it = config_->origins.find(key);
    if (it != config_->origins.end()) return it->second;
    it = config_->origins.find(fallback);
    if (it != config_->origins.end()) return it->second;
    return Position{};
  }

  void CheckKeepalive(const std::string& scope, double keepalive, double idle) {
    const std::string k = scope + ".keepalive_interval";
    if (keepalive < idle || failed_.count(k) ||
        failed_.count(scope + ".idle_timeout")) {
      return;
    }
    const Position pos = config_->origins.count(k)
                             ? Origin(k, scope)
                             : Origin(scope + ".idle_timeout", scope);
    Fail(errors_, pos,
         fmt::format("keepalive_interval ({}) must be smaller than "
                     "idle_timeout ({}) in scope '{}'",
                     internal::FormatSeconds(keepalive),
                     internal::FormatSeconds(idle), scope));
  }

  // Records the first position of `key`; reports a duplicate otherwise.
  bool Claim(const std::string& key, std::string_view what,
             std::string_view scope, const Position& pos) {
    const auto [it, inserted] = config_->origins.emplace(key, pos);
    if (!inserted) {
      Fail(errors_, pos,
           fmt::format("duplicate option '{}' in scope '{}' (first set at {})",
                       what, scope, it->second.ToString()));
    }
    return inserted;
  }

  void MapScope(ScopeId id, const Node& scope_node) {
    const std::string_view scope = internal::ScopeName(id);
    const auto names = internal::OptionNames(id);
    for (const Node& node : scope_node.children) {
      if (node.kind == Node::Kind::kInclude) continue;
      const std::string lower = ToLower(node.name);
      if (node.kind == Node::Kind::kScope) {
        if (id == ScopeId::kListener && lower == "listen") {
          MapListen(node);
        } else if (internal::FindOption(id, lower)) {
          Fail(errors_, node.pos,
               fmt::format("'{}' is an option of scope '{}', not a scope; "
                           "write {} = value",
                           node.name, scope, lower));
        } else {
          Fail(errors_, node.pos,
               fmt::format("unknown scope '{}' inside '{}'{}", node.name, scope,
                           id == ScopeId::kListener
                               ? internal::DidYouMean(node.name, {"listen"})
                               : std::string()));
        }
        continue;
      }
      if (id == ScopeId::kListener && lower == "listen") {
        Fail(errors_, node.pos,
             fmt::format("'listen' is a scope in '{}': write listen "
                         "\":4809\" {{ }}",
                         scope));
        continue;
      }
      const internal::OptionDef* def = internal::FindOption(id, lower);
      if (!def) {
        Fail(errors_, node.pos,
             fmt::format("unknown option '{}' in scope '{}'{}", node.name,
                         scope, internal::DidYouMean(node.name, names)));
        continue;
      }
      const std::string key = Key(scope, lower);
      if (!Claim(key, lower, scope, node.pos)) continue;
      if (!def->apply(def->name, node.value, config_, errors_)) {
        failed_.insert(key);
      }
    }
  }

  void MapListen(const Node& node) {
    if (!node.has_instance) {
      Fail(errors_, node.pos,
           "listen scope needs an address, e.g. listen \":4809\" { }");
      return;
    }
    ListenAddress address;
    address.pos = node.pos;
    if (auto err = internal::ParseListenSpec(node.instance, &address)) {
      Fail(errors_, node.instance_pos, *err);
      return;
    }
    const std::string key = fmt::format(
        "msgcserver_listener.listen.{}:{}",
        address.ipv6 ? "[" + address.host + "]" : address.host, address.port);
    const auto [it, inserted] = config_->origins.emplace(key, node.pos);
    if (!inserted) {
      Fail(errors_, node.pos,
           fmt::format("duplicate listen address '{}' (first at {})",
                       node.instance, it->second.ToString()));
      return;
    }
    std::set<std::string> seen;
    for (const Node& child : node.children) {
      if (child.kind == Node::Kind::kInclude) continue;
      const std::string lower = ToLower(child.name);
      const bool known =
          std::find(std::begin(internal::kListenOptionNames),
                    std::end(internal::kListenOptionNames),
                    lower) != std::end(internal::kListenOptionNames);
      if (child.kind == Node::Kind::kScope || !known) {
        Fail(errors_, child.pos,
             fmt::format(
                 "unknown {} '{}' in listen scope '{}'{}",
                 child.kind == Node::Kind::kScope ? "scope" : "option",
                 child.name, node.instance,
                 internal::DidYouMean(
                     child.name, {std::begin(internal::kListenOptionNames),
                                  std::end(internal::kListenOptionNames)})));
        continue;
      }
      if (!Claim(key + "." + lower, lower,
                 fmt::format("listen \"{}\"", node.instance), child.pos)) {
        continue;
      }
      internal::ApplyListenOption(lower, child.value, &address, errors_);
    }
    config_->listener.listen.push_back(std::move(address));
  }

  Config* config_;
  Errors* errors_;
  std::set<std::string> failed_;  // options whose value was rejected
};

void CapErrors(Errors* errors) {
  if (errors->size() <= kMaxErrors) return;
  const size_t dropped = errors->size() - kMaxErrors;
  errors->resize(kMaxErrors);
  errors->push_back(
      Diagnostic{errors->back().pos,
                 fmt::format("too many errors; {} more not shown", dropped)});
}

LoadResult Finish(Config config, Errors errors, std::vector<Node> nodes) {
  Mapper mapper(&config, &errors);
  mapper.MapTop(nodes);
  mapper.Finish();
  LoadResult result;
  if (errors.empty()) {
    result.config = std::make_shared<const Config>(std::move(config));
  } else {
    CapErrors(&errors);
    result.errors = std::move(errors);
  }
  return result;
}

}  // namespace

std::string LoadResult::ErrorText() const {
  std::string out;
  for (const Diagnostic& d : errors) out += d.ToString() + "\n";
  return out;
}

LoadResult LoadFile(const std::string& path) {
  Config config;
  Errors errors;
  LoadOptions options;
  std::vector<Node> nodes;
  IncludeExpander expander(options, &config, &errors);
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    Fail(&errors, Position{path, 0, 0},
         "cannot read configuration: is a directory");
  } else if (!fs::exists(path, ec)) {
    Fail(&errors, Position{path, 0, 0},
         "cannot read configuration: no such file");
  } else {
    expander.ReadFile(fs::path(path), Position{path, 0, 0}, false, &nodes);
  }
  return Finish(std::move(config), std::move(errors), std::move(nodes));
}

LoadResult LoadString(std::string_view text, std::string_view name,
                      const std::string& base_dir) {
  LoadOptions options;
  options.base_dir = base_dir;
  return LoadString(text, name, options);
}

LoadResult LoadString(std::string_view text, std::string_view name,
                      const LoadOptions& options) {
  Config config;
  Errors errors;
  const std::string file(name);
  ParseResult parsed = Parse(text, file);
  errors = std::move(parsed.errors);
  IncludeExpander expander(options, &config, &errors);
  expander.PushText(file);
  expander.Expand(&parsed.nodes, fs::path(options.base_dir), false);
  return Finish(std::move(config), std::move(errors), std::move(parsed.nodes));
}

std::string DefaultConfigText() {
  return R"(# msgc embedded default configuration (msgcd --print-default-config).
# A single node: the server listens on loopback only and the client talks
# to it. For a cluster, list every node (including this one) in `peers`
# and listen on all addresses.

msgc_server {
  # peers = [
  #   node1 = "192.168.0.10"
  #   node2 = "192.168.0.11"
  # ]
  port = 4809
}

msgcserver_listener {
  listen "127.0.0.1:4809" { }
}

msgc_client {
  server = ( "127.0.0.1:4809" )
}
)";
}

std::shared_ptr<const Config> DefaultConfig() {
  static const std::shared_ptr<const Config> config = [] {
    LoadOptions options;
    options.allow_includes = false;
    return LoadString(DefaultConfigText(), "<default>", options).config;
  }();
  return config;
}

Status GetOption(const Config& config, std::string_view scope,
                 std::string_view option, std::string* value_out) {
  const std::optional<ScopeId> id = internal::FindScope(scope);
  if (!id) {
    return Status::NotFound(
        fmt::format("unknown scope '{}'{}", scope,
                    internal::DidYouMean(scope, internal::ScopeNames())));
  }
  const internal::OptionDef* def = internal::FindOption(*id, option);
  if (!def) {
    return Status::NotFound(fmt::format(
        "unknown option '{}' in scope '{}'{}", option, internal::ScopeName(*id),
        internal::DidYouMean(option, internal::OptionNames(*id))));
  }
  std::string value = def->format(config);
  if (value.empty()) {
    return Status::NotFound(fmt::format("option '{}' is not set in scope '{}'",
                                        def->name, internal::ScopeName(*id)));
  }
  *value_out = std::move(value);
  return Status::OK();
}

LoadResult SetOption(const Config& base, std::string_view scope,
                     std::string_view option, std::string_view value_text) {
  static const std::string kConsole = "<console>";
  LoadResult result;
  const Position where{kConsole, 1, 1};
  const std::optional<ScopeId> id = internal::FindScope(scope);
  if (!id) {
    result.errors.push_back(Diagnostic{
        where,
        fmt::format("unknown scope '{}'{}", scope,
                    internal::DidYouMean(scope, internal::ScopeNames()))});
    return result;
  }
  const internal::OptionDef* def = internal::FindOption(*id, option);
  if (!def) {
    result.errors.push_back(Diagnostic{
        where,
        fmt::format("unknown option '{}' in scope '{}'{}", option,
                    internal::ScopeName(*id),
                    internal::DidYouMean(option, internal::OptionNames(*id)))});
    return result;
  }
  Value value;
  ParseResult parsed = ParseValue(value_text, kConsole, &value);
  if (!parsed.ok()) {
    result.errors = std::move(parsed.errors);
    return result;
  }
  Config config = base;
  Errors errors;
  Mapper mapper(&config, &errors);
  mapper.SetOne(*id, *def, value);
  mapper.Finish();
  if (errors.empty()) {
    result.config = std::make_shared<const Config>(std::move(config));
  } else {
    CapErrors(&errors);
    result.errors = std::move(errors);
  }
  return result;
}

}  // namespace msgc::config
