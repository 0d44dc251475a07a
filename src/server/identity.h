// Identity: which entry of msgc_server `peers` this server is.
//
// Every server of a cluster reads the same `peers` list and has to find
// itself in it (docs/config.md, issue 3). The rules, in order:
//   1. `--node NAME`: must be a key of peers (case-insensitive);
//   2. else the host name, long or short (the part before the first dot),
//      matching a key;
//   3. else the one peer whose address is an address of a local interface
//      (host names are resolved).
// Finding nothing, or two peers at one step, is an error that says what was
// tried: a server must never silently pick the wrong identity, because its
// node name is part of every private name and of the mesh handshake.
// With no peers the node is `--node` or the short host name.
//
// The decision is a pure function of IdentityInput (unit-tested with fake
// host names, addresses and resolver); SystemIdentityInput() fills the
// input from the running system.
#ifndef MSGC_SERVER_IDENTITY_H_
#define MSGC_SERVER_IDENTITY_H_

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/config.h"

namespace msgc::server {

struct IdentityInput {
  std::string node_flag;                // --node, "" if not given
  std::vector<std::string> host_names;  // e.g. {"db1.example.com", "db1"}
  std::vector<asio::ip::address> local_addresses;
  // Resolves a peer's host (literals are handled before calling it); an
  // empty result means "could not resolve".
  std::function<std::vector<asio::ip::address>(const std::string&)> resolve;
};

struct Identity {
  std::string node;  // lower-case peer key, or --node / host name
  bool in_peers = false;
  config::Peer peer;  // valid if in_peers
  uint16_t port = 0;  // the peer's port or `port`
};

// Applies the rules above to `peers` (`default_port` = msgc_server.port).
Status ResolveIdentity(const std::vector<config::Peer>& peers,
                       uint16_t default_port, const IdentityInput& input,
                       Identity* out);

// Host names (gethostname and its short form), interface addresses
// (getifaddrs) and a blocking getaddrinfo resolver.
IdentityInput SystemIdentityInput(std::string node_flag);

}  // namespace msgc::server

#endif  // MSGC_SERVER_IDENTITY_H_
