#include "net/endpoint.h"

#include <charconv>

namespace msgc::net {

std::string FormatEndpoint(const asio::ip::tcp::endpoint& ep) {
  const asio::ip::address addr = ep.address();
  if (addr.is_v6()) {
    return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  }
  return addr.to_string() + ":" + std::to_string(ep.port());
}

Status MakeEndpoint(std::string_view host, uint16_t port, bool ipv6,
                    asio::ip::tcp::endpoint* out) {
  if (host.empty() || host == "*") {
    *out = asio::ip::tcp::endpoint(
        ipv6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), port);
    return Status::OK();
  }
  if (host == "localhost") {
    *out = asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port);
    return Status::OK();
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::error_code ec;
  asio::ip::address addr = asio::ip::make_address(std::string(host), ec);
  if (ec) {
    return Status::InvalidArgument("not an IP address: '" + std::string(host) +
                                   "'");
  }
  *out = asio::ip::tcp::endpoint(addr, port);
  return Status::OK();
}

Status ParseListenSpec(std::string_view spec, uint16_t default_port,
                       asio::ip::tcp::endpoint* out) {
  std::string_view host = spec;
  std::string_view port_text;
  bool ipv6 = false;
  if (!spec.empty() && spec.front() == '[') {
    const size_t close = spec.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("missing ']' in '" + std::string(spec) +
                                     "'");
    }
    host = spec.substr(1, close - 1);
    ipv6 = true;
    std::string_view rest = spec.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Status::InvalidArgument("expected ':port' after ']' in '" +
                                       std::string(spec) + "'");
      }
      port_text = rest.substr(1);
    }
    if (host.empty() || host == "*") host = "::";
  } else {
    const size_t colon = spec.rfind(':');
    if (colon != std::string_view::npos) {
      if (spec.find(':') != colon) {
        return Status::InvalidArgument("IPv6 addresses need brackets: '" +
                                       std::string(spec) + "'");
      }
      host = spec.substr(0, colon);
      port_text = spec.substr(colon + 1);
    }
  }
  uint16_t port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), value);
    if (ec != std::errc() || p != port_text.data() + port_text.size() ||
        value > 65535) {
      return Status::InvalidArgument("bad port in '" + std::string(spec) + "'");
    }
    port = static_cast<uint16_t>(value);
  }
  return MakeEndpoint(host, port, ipv6, out);
}

}  // namespace msgc::net
