// Listener: accepts TCP connections on one local endpoint.
//
// Open() binds (with SO_REUSEADDR, so a restarted msgcd can bind at once
// while old connections sit in TIME_WAIT) and listens; Start() begins the
// accept loop, handing each new socket to the callback. Transient accept
// errors (e.g. EMFILE) are logged and retried after kAcceptRetryDelay
// instead of spinning or stopping. Close() stops accepting; existing
// connections are not affected (they are owned elsewhere).
//
// Ownership: held by std::shared_ptr (Create()); a pending accept keeps the
// listener alive until it completes, so dropping the owner's reference right
// after Close() is safe.
//
// Thread-safety: none; use on the io_context's thread.
#ifndef MSGC_NET_LISTENER_H_
#define MSGC_NET_LISTENER_H_

#include <asio.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"

namespace msgc::net {

inline constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
inline constexpr int kListenBacklog = 1024;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  using AcceptCallback = std::function<void(asio::ip::tcp::socket)>;

  static std::shared_ptr<Listener> Create(asio::io_context& io);

  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. For port 0 the OS picks one: see local_endpoint().
  // `receive_buffer` (0 = OS default) is set on the listening socket so that
  // accepted sockets inherit it *before* the handshake: shrinking SO_RCVBUF
  // of an established connection below the window already advertised makes
  // the kernel drop in-flight data and stalls the connection.
  Status Open(const asio::ip::tcp::endpoint& endpoint,
              uint32_t receive_buffer = 0);
  // Changes the receive buffer for connections accepted from now on.
  void SetReceiveBuffer(uint32_t bytes);
  // Starts accepting. REQUIRES: Open() succeeded.
  void Start(AcceptCallback on_accept);
  void Close();

  bool is_open() const { return acceptor_.is_open(); }
  // The bound endpoint (with the actual port), valid after Open().
  const asio::ip::tcp::endpoint& local_endpoint() const { return local_; }

 private:
  explicit Listener(asio::io_context& io);
  void Accept();

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  asio::ip::tcp::endpoint local_;
  AcceptCallback on_accept_;
};

}  // namespace msgc::net

#endif  // MSGC_NET_LISTENER_H_
