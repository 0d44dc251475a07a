// Endpoint helpers: parsing listen specifications and printing endpoints.
//
// A listen specification is what a `listen "..." { }` scope names:
//   ":4809" or "*:4809"      any IPv4 address
//   "127.0.0.1:4809"         one IPv4 address
//   "[::1]:4809", "[::]:4809" IPv6
//   "localhost:4809"         127.0.0.1
// Only IP literals (and "localhost") are accepted: msgcd never blocks on a
// name lookup.
//
// Thread-safety: pure functions.
#ifndef MSGC_NET_ENDPOINT_H_
#define MSGC_NET_ENDPOINT_H_

#include <asio.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace msgc::net {

// "ip:port", or "[ip]:port" for IPv6.
std::string FormatEndpoint(const asio::ip::tcp::endpoint& ep);

// Builds an endpoint from a host ("" or "*" = any address of the family; an
// IP literal; "localhost"), a port and a family hint used for "any".
Status MakeEndpoint(std::string_view host, uint16_t port, bool ipv6,
                    asio::ip::tcp::endpoint* out);

// Parses a listen specification (above). A spec without ":port" uses
// `default_port`.
Status ParseListenSpec(std::string_view spec, uint16_t default_port,
                       asio::ip::tcp::endpoint* out);

}  // namespace msgc::net

#endif  // MSGC_NET_ENDPOINT_H_
