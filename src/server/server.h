// Server: the msgcd core. Accepts client connections, runs the handshake,
// keeps group membership and routes messages (docs/protocol.md §2, §4).
//
// Threading: the Server is driven by one asio::io_context run by ONE thread;
// every member function (including the ConnectionHandler callbacks and
// Reload()) must be called on that thread. All state (sessions, groups,
// configuration) is touched only from it, so the hot path takes no locks.
//
// Routing: a SEND is decoded straight from the connection's input buffer,
// its DELIVER frame is encoded ONCE into a shared immutable buffer and that
// buffer is queued on every recipient's connection. Each member of the
// union of the destinations gets it once. Because one thread handles each
// sender's frames in arrival order and appends to every recipient's queue in
// that order, delivery is FIFO per sender across groups. MEMBERSHIP frames
// are encoded once per view change in the same way.
//
// Flow control: a recipient whose queue passes max_backlog is closed (slow
// consumer) by its Connection; its groups then see a `disconnect` event.
//
// Runtime configuration: ApplyConfig() diffs the running config against a
// new one and applies every change live: debug level, connection options
// (pushed to every connection), max_message_size, and listen addresses
// (listeners are re-bound; existing connections stay up). Peers are stored
// for the mesh.
//
// Ownership: the Server owns its listeners and sessions; the io_context must
// outlive the Server, and the Server must outlive io_context::run().
#ifndef MSGC_SERVER_SERVER_H_
#define MSGC_SERVER_SERVER_H_

#include <asio.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "config/config.h"
#include "net/connection.h"
#include "net/listener.h"
#include "server/group_table.h"
#include "server/session.h"

namespace msgc::server {

// Bytes of a SEND body besides its payload, at most (service, msg_id, count,
// 64 destinations of 255 bytes, data length): the decoder limit is
// max_message_size plus this.
inline constexpr uint64_t kMaxSendOverhead =
    1 + 8 + 2 + wire::kMaxGroupsPerSend * (2 + wire::kMaxGroupLen) + 4;

struct ServerIdentity {
  std::string node;          // this server's node name
  uint64_t incarnation = 0;  // random per start; the view epoch
};

class Server : public net::ConnectionHandler {
 public:
  // `config_path` is re-read by Reload() ("" = no file: Reload() only logs).
  Server(asio::io_context& io, ServerIdentity identity,
         std::shared_ptr<const config::Config> config, std::string config_path);
  ~Server() override;

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The debug level given on the command line wins over the config's, also
  // across reloads.
  void set_debug_level_override(std::optional<DebugLevel> level) {
    debug_level_override_ = level;
  }

  // Binds every listen address of the config and starts accepting. Fails
  // (and binds nothing) if any address cannot be bound.
  Status Start();

  // The bound endpoints, with the actual ports.
  std::vector<asio::ip::tcp::endpoint> ListenEndpoints() const;

  // SIGHUP: re-reads the config file. On errors logs them (file:line:col)
  // and keeps running the current configuration.
  void Reload();
  // Applies `config` live (see the class comment). Logs each change.
  void ApplyConfig(std::shared_ptr<const config::Config> config);

  // Stops listening and closes every connection (kShutdown, after a fatal
  // SHUTTING_DOWN error). io_context::run() returns once they are flushed.
  void Shutdown();

  const config::Config& config() const { return *config_; }
  size_t session_count() const { return sessions_.size(); }

  // net::ConnectionHandler
  void OnFrame(net::Connection& conn, const wire::Frame& frame) override;
  void OnTooLarge(net::Connection& conn,
                  const wire::FrameHeader& header) override;
  void OnClose(net::Connection& conn) override;

 private:
  void OnAccept(asio::ip::tcp::socket socket);
  net::ConnectionOptions ConnectionOptionsFor(
      const config::ServerOptions& s) const;
  // Opens listeners for `addresses` that are not bound yet and closes the
  // ones not listed. New listeners get SO_RCVBUF = `tcpbuf_size`. With
  // `all_or_nothing`, any failure undoes the new ones.
  Status BindListeners(const std::vector<config::ListenAddress>& addresses,
                       uint32_t tcpbuf_size, bool all_or_nothing);

  void HandleHello(Session& s, const wire::Frame& frame);
  void HandleJoin(Session& s, const wire::Frame& frame);
  void HandleLeave(Session& s, const wire::Frame& frame);
  void HandleSend(Session& s, const wire::Frame& frame);

  // A non-fatal ERROR to `s`.
  void SendError(Session& s, wire::ErrorCode code, wire::FrameType request,
                 uint64_t ref, std::string_view subject, std::string_view text);
  // A fatal ERROR, then close with `reason`.
  void Fail(Session& s, net::CloseReason reason, wire::ErrorCode code,
            wire::FrameType request, std::string text);
  // Sends the MEMBERSHIP of `change` to every member of the new view (one
  // shared frame) and, for a leave, the SELF_LEAVE event to the leaver.
  void Publish(const ViewChange& change);
  Session* FindSession(MemberId id) const;
  // Picks a session name for a HELLO with an empty one.
  std::string GenerateName();

  asio::io_context& io_;
  const ServerIdentity identity_;
  std::shared_ptr<const config::Config> config_;
  const std::string config_path_;
  std::optional<DebugLevel> debug_level_override_;
  net::ConnectionOptions conn_options_;
  uint64_t max_message_size_;
  bool shutting_down_ = false;

  struct BoundListener {
    std::string spec;  // as configured
    asio::ip::tcp::endpoint endpoint;
    std::shared_ptr<net::Listener> listener;
  };
  std::vector<BoundListener> listeners_;

  GroupTable groups_;
  std::unordered_map<MemberId, std::unique_ptr<Session>> sessions_;
  StringMap<Session*> by_name_;  // active sessions by private name
  MemberId next_id_ = 0;
  uint64_t next_anonymous_ = 0;
  uint64_t delivery_mark_ = 0;
  std::vector<Session*> recipients_;  // scratch for HandleSend
};

}  // namespace msgc::server

#endif  // MSGC_SERVER_SERVER_H_
