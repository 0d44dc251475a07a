#include "server/identity.h"

#include <fmt/format.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace msgc::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// v4-mapped v6 addresses compare as their v4 form.
asio::ip::address Normalize(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string JoinStrings(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

Identity Found(const config::Peer& p, uint16_t default_port) {
  Identity id;
  id.node = p.name;
  id.in_peers = true;
  id.peer = p;
  id.port = p.port.value_or(default_port);
  return id;
}

}  // namespace

Status ResolveIdentity(const std::vector<config::Peer>& peers,
                       uint16_t default_port, const IdentityInput& input,
                       Identity* out) {
  std::vector<std::string> short_names;
  for (const std::string& h : input.host_names) {
    if (h.empty()) continue;
    std::string l = Lower(h);
    if (std::find(short_names.begin(), short_names.end(), l) ==
        short_names.end()) {
      short_names.push_back(l);
    }
    std::string s = l.substr(0, l.find('.'));
    if (std::find(short_names.begin(), short_names.end(), s) ==
        short_names.end()) {
      short_names.push_back(s);
    }
  }
  if (peers.empty()) {
    Identity id;
    id.node = !input.node_flag.empty()
                  ? input.node_flag
                  : (short_names.empty() ? std::string("localhost")
                                         : short_names.back());
    id.port = default_port;
    *out = std::move(id);
    return Status::OK();
  }
  std::vector<std::string> keys;
  for (const config::Peer& p : peers) keys.push_back(p.name);

  // 1. --node.
  if (!input.node_flag.empty()) {
    const std::string want = Lower(input.node_flag);
    for (const config::Peer& p : peers) {
      if (p.name == want) {
        *out = Found(p, default_port);
        return Status::OK();
      }
    }
    return Status::InvalidArgument(fmt::format(
        "--node {} is not in peers ({})", input.node_flag, JoinStrings(keys)));
  }

  // 2. Host names.
  std::vector<const config::Peer*> hits;
  for (const config::Peer& p : peers) {
    if (std::find(short_names.begin(), short_names.end(), p.name) !=
        short_names.end()) {
      hits.push_back(&p);
    }
  }
  if (hits.size() > 1) {
    return Status::InvalidArgument(fmt::format(
        "this server matches two peers by host name ({} and {}); use --node",
        hits[0]->name, hits[1]->name));
  }
  if (hits.size() == 1) {
    *out = Found(*hits[0], default_port);
    return Status::OK();
  }

  // 3. Addresses of local interfaces.
  std::vector<asio::ip::address> local;
  for (const auto& a : input.local_addresses) local.push_back(Normalize(a));
  std::vector<std::string> tried;
  for (const config::Peer& p : peers) {
    std::vector<asio::ip::address> addrs;
    std::error_code ec;
    auto literal = asio::ip::make_address(p.host, ec);
    if (!ec) {
      addrs.push_back(literal);
    } else if (input.resolve) {
      addrs = input.resolve(p.host);
    }
    std::string seen;
    bool match = false;
    for (const auto& a : addrs) {
      const auto n = Normalize(a);
      if (!seen.empty()) seen += "/";
      seen += n.to_string();
      if (std::find(local.begin(), local.end(), n) != local.end()) match = true;
    }
    tried.push_back(fmt::format(
        "{}={}", p.name, seen.empty() ? p.host + " (unresolved)" : seen));
    if (match) hits.push_back(&p);
  }
  if (hits.size() > 1) {
    return Status::InvalidArgument(fmt::format(
        "this server has the addresses of two peers ({} and {}); use --node",
        hits[0]->name, hits[1]->name));
  }
  if (hits.size() == 1) {
    *out = Found(*hits[0], default_port);
    return Status::OK();
  }
  std::string local_text;
  for (const auto& a : local) {
    if (!local_text.empty()) local_text += ", ";
    local_text += a.to_string();
  }
  return Status::InvalidArgument(fmt::format(
      "this server is not in peers: tried node name (none given), host "
      "names {}, addresses [{}] against peers [{}]; use --node",
      short_names.empty() ? std::string("(none)") : JoinStrings(short_names),
      local_text, JoinStrings(tried)));
}

IdentityInput SystemIdentityInput(std::string node_flag) {
  IdentityInput in;
  in.node_flag = std::move(node_flag);
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) == 0 && buf[0] != '\0') {
    in.host_names.push_back(buf);
  }
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
      if (i->ifa_addr == nullptr) continue;
      if (i->ifa_addr->sa_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), &sin->sin_addr, 4);
        in.local_addresses.push_back(asio::ip::address_v4(b));
      } else if (i->ifa_addr->sa_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), &sin6->sin6_addr, 16);
        in.local_addresses.push_back(asio::ip::address_v6(b));
      }
    }
    freeifaddrs(ifs);
  }
  // Blocking, at startup only: msgcd cannot do anything before it knows who
  // it is.
  in.resolve = [](const std::string& host) {
    std::vector<asio::ip::address> out;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
    for (addrinfo* r = res; r != nullptr; r = r->ai_next) {
      if (r->ai_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(r->ai_addr);
        asio::ip::address_v4::bytes_type b;
        std::memcpy(b.data(), &sin->sin_addr, 4);
        out.push_back(asio::ip::address_v4(b));
      } else if (r->ai_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(r->ai_addr);
        asio::ip::address_v6::bytes_type b;
        std::memcpy(b.data(), &sin6->sin6_addr, 16);
        out.push_back(asio::ip::address_v6(b));
      }
    }
    freeaddrinfo(res);
    return out;
  };
  return in;
}

}  // namespace msgc::server
