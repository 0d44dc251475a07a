#include "net/listener.h"

#include "base/log.h"
#include "net/endpoint.h"

namespace msgc::net {

std::shared_ptr<Listener> Listener::Create(asio::io_context& io) {
  return std::shared_ptr<Listener>(new Listener(io));
}

Listener::Listener(asio::io_context& io)
    : io_(io), acceptor_(io), retry_timer_(io) {}

Status Listener::Open(const asio::ip::tcp::endpoint& endpoint,
                      uint32_t receive_buffer) {
  std::error_code ec;
  auto fail = [&](const char* what) {
    std::error_code ignored;
    acceptor_.close(ignored);
    return Status::IoError(std::string(what) + " " + FormatEndpoint(endpoint) +
                           ": " + ec.message());
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  if (endpoint.address().is_v6()) {
    // "[::]" means IPv6 only; IPv4 has its own listen spec.
    acceptor_.set_option(asio::ip::v6_only(true), ec);
    if (ec) return fail("IPV6_V6ONLY");
  }
  SetReceiveBuffer(receive_buffer);
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(kListenBacklog, ec);
  if (ec) return fail("listen");
  local_ = acceptor_.local_endpoint(ec);
  if (ec) return fail("getsockname");
  return Status::OK();
}

void Listener::SetReceiveBuffer(uint32_t bytes) {
  if (bytes == 0 || !acceptor_.is_open()) return;
  std::error_code ec;
  acceptor_.set_option(
      asio::socket_base::receive_buffer_size(static_cast<int>(bytes)), ec);
  if (ec) MSGC_LOG_DEBUG("SO_RCVBUF {}: {}", bytes, ec.message());
}

void Listener::Start(AcceptCallback on_accept) {
  on_accept_ = std::move(on_accept);
  Accept();
}

void Listener::Close() {
  std::error_code ec;
  retry_timer_.cancel();
  acceptor_.close(ec);
}

void Listener::Accept() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept([self = shared_from_this()](
                             const std::error_code& ec,
                             asio::ip::tcp::socket socket) {
    if (!self->acceptor_.is_open() || ec == asio::error::operation_aborted) {
      return;
    }
    if (ec) {
      // E.g. out of file descriptors: retry later rather than spin.
      MSGC_LOG_WARN("accept on {}: {}", FormatEndpoint(self->local_),
                    ec.message());
      self->retry_timer_.expires_after(kAcceptRetryDelay);
      self->retry_timer_.async_wait([self](const std::error_code& tec) {
        if (!tec) self->Accept();
      });
      return;
    }
    self->on_accept_(std::move(socket));
    self->Accept();
  });
}

}  // namespace msgc::net
