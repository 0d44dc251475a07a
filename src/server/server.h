// Server: the msgcd core. Accepts client connections, runs the handshake,
// and is a deterministic state machine over the mesh's agreed order
// (docs/protocol.md §2, §4, docs/mesh.md).
//
// Threading: the Server is driven by one asio::io_context run by ONE thread;
// every member function (including the ConnectionHandler and MeshListener
// callbacks and Reload()) must be called on that thread. All state is
// touched only from it, so the hot path takes no locks.
//
// The mesh: msgcd always runs a mesh::Mesh (a server without peers is a
// configuration of one). Client requests that change shared state (CONNECT,
// JOIN, LEAVE, DISCONNECT, MESSAGE; items.h) are only validated locally and
// submitted; nothing changes the replicated GroupTable except delivered
// items, so every server of a configuration computes the same views and
// delivers the same messages in the same order. An inbound connection whose
// HELLO says role=peer is handed over to the mesh.
//
// Configuration changes: OnTransitional sends TRANSITIONAL membership events
// for groups with members on servers that are not moving on with us. Each
// server hands its state (its sessions and their groups, as they are after
// its own items still undelivered, which the flush delivers) to the mesh
// when it accepts a configuration (ConfigurationState); the mesh gives every
// member all the states with OnConfiguration, before any item of the new
// configuration. There the table is rebuilt as the union of the states
// (each server is authoritative for its own members), every group gets a
// new view id (GroupTable::Renumber, epoch = configuration id mixed with
// the members' incarnations, so that it never repeats) and groups whose
// member list changed get a `network` event. Every member computes the
// same views from the same states, so every item of the configuration is
// delivered in the same views everywhere, however soon the configuration
// ends (docs/semantics.md).
//
// Routing: a SEND becomes a MESSAGE item whose body holds the DELIVER frame
// encoded once by the sender's server. At delivery each server picks its
// local recipients (each member of the union of the destinations once; the
// list is cached per destination list until the table or the sessions
// change) and appends the frame to the loop turn's fan-out batch: one
// shared immutable buffer of whole DELIVER frames for consecutive messages
// with the same recipients, queued once on each recipient's connection
// when the turn ends (a posted handler), when it is full, or before any
// other frame goes to a session. So a stream of small messages costs one
// buffer and one queue entry per batch, not per message, and no copy per
// recipient. The agreed order is per-sender FIFO, so delivery is FIFO per
// sender across groups and servers. MEMBERSHIP frames are encoded once per
// view change.
//
// Flow control: a recipient whose queue passes max_backlog is closed (slow
// consumer) by its Connection; its groups then see a `disconnect` event.
// Submissions the mesh cannot take (during a configuration change, more
// than max_backlog waiting) wait in a local queue in order; a client whose
// SEND finds that queue full too is closed (SLOW_CONSUMER, "server backlog")
// rather than having its message dropped.
//
// Runtime configuration: ApplyConfig() diffs the running config against a
// new one and applies every change live: debug level, connection options
// (pushed to every connection and to the mesh's links), max_message_size,
// listen addresses (listeners are re-bound; existing connections stay up)
// and peers (mesh::Mesh::UpdateOptions: added peers are dialled, removed
// ones closed and their members leave with cause `network`).
//
// Ownership: the Server owns its listeners, sessions and the mesh; the
// io_context must outlive the Server, and the Server must outlive
// io_context::run().
#ifndef MSGC_SERVER_SERVER_H_
#define MSGC_SERVER_SERVER_H_

#include <asio.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/status.h"
#include "config/config.h"
#include "mesh/mesh.h"
#include "net/connection.h"
#include "net/listener.h"
#include "server/group_table.h"
#include "server/items.h"
#include "server/session.h"

namespace msgc::server {

// Bytes of a SEND body besides its payload, at most (service, msg_id, count,
// 64 destinations of 255 bytes, data length): the decoder limit is
// max_message_size plus this.
inline constexpr uint64_t kMaxSendOverhead =
    1 + 8 + 2 + wire::kMaxGroupsPerSend * (2 + wire::kMaxGroupLen) + 4;

// Largest fan-out batch (see the class comment): about one gather write's
// worth. A DELIVER frame above half of it is queued on its own.
inline constexpr size_t kMaxFanoutBatchBytes = 64 * 1024;

struct ServerIdentity {
  std::string node;          // this server's node name (its key in peers)
  uint64_t incarnation = 0;  // random per start, never 0
};

// The mesh options for `config` as seen by `node`: every peer (port
// defaulting to msgc_server.port), or {node at 127.0.0.1:port} when there
// are no peers. Fails if peers is not empty and does not list `node`.
Status MeshOptionsFor(const config::Config& config, const ServerIdentity& id,
                      const net::ConnectionOptions& link,
                      mesh::MeshOptions* out);

class Server : public net::ConnectionHandler, public mesh::MeshListener {
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

  // Binds every listen address of the config, starts accepting and starts
  // the mesh. Fails (and binds nothing) if any address cannot be bound or
  // the mesh options are invalid.
  Status Start();

  // The bound endpoints, with the actual ports.
  std::vector<asio::ip::tcp::endpoint> ListenEndpoints() const;

  // SIGHUP: re-reads the config file. On errors logs them (file:line:col)
  // and keeps running the current configuration.
  void Reload();
  // Applies `config` live (see the class comment). Logs each change.
  void ApplyConfig(std::shared_ptr<const config::Config> config);

  // Stops listening, says BYE to the peers and closes every connection
  // (kShutdown, after a fatal SHUTTING_DOWN error). io_context::run()
  // returns once they are flushed.
  void Shutdown();

  const config::Config& config() const { return *config_; }
  size_t session_count() const { return sessions_.size(); }

  // net::ConnectionHandler
  void OnFrame(net::Connection& conn, const wire::Frame& frame) override;
  void OnTooLarge(net::Connection& conn,
                  const wire::FrameHeader& header) override;
  void OnClose(net::Connection& conn) override;

  // mesh::MeshListener
  void OnDeliver(const mesh::Item& item) override;
  void OnTransitional(const mesh::Configuration& old_conf,
                      const std::vector<std::string>& moving) override;
  void OnConfiguration(const mesh::Configuration& conf,
                       const std::vector<std::string>& joined,
                       const std::vector<std::string>& left,
                       std::span<const std::string> states) override;
  std::string ConfigurationState(
      std::span<const mesh::Item> undelivered) override;
  void SelectBodies(const mesh::Item& item,
                    std::span<const std::string> members,
                    std::span<uint8_t> need) override;

 private:
  // A submission the mesh could not take yet.
  struct PendingSubmit {
    wire::Service service;
    uint8_t kind;
    std::string body;
    uint8_t flags;        // mesh::kSubmit*
    MemberId sender = 0;  // the session of a MESSAGE (0: none)
  };

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
  // Hands a connection that said HELLO(role=peer) to the mesh.
  void HandOverToMesh(Session& s, const wire::Hello& hello);

  // Orders `body` through the mesh, or queues it locally while the mesh is
  // changing configuration or has max_backlog items waiting. Returns false
  // if the local queue is over max_backlog: the caller pushes back on its
  // client. `sender`: the session a MESSAGE comes from.
  bool SubmitItem(ItemKind kind, std::string&& body,
                  wire::Service service = wire::Service::kAgreed,
                  MemberId sender = 0);
  void DrainSubmits();
  // The session `id` failed (closed without GOODBYE): its messages not
  // handed to the mesh yet are discarded (docs/semantics.md §4). Returns
  // how many.
  size_t DiscardPendingMessages(MemberId id);
  // Applies one delivered item to the table and the local sessions.
  void Apply(std::string_view origin, uint64_t ts, uint8_t kind,
             std::span<const uint8_t> body);
  // `owned`: the string holding `body`, which may be taken (mesh::Item).
  void ApplyMessage(std::string_view origin, std::span<const uint8_t> body,
                    std::string* owned = nullptr);
  // Makes route_ the local recipients of `destinations` (a DELIVER's
  // destination list), unless it already is and is still current.
  void Route(const wire::NameList& destinations);
  // Queues the fan-out batch on its recipients. Called at the end of the
  // loop turn, and before anything else is sent to a session or a session
  // goes away, so that every connection sees its frames in order.
  void FlushFanout();
  // Posts the end-of-turn flush of the fan-out batch.
  void PostFanoutFlush();
  // Rebuilds the table from the members' states of configuration `conf`
  // and announces the views that changed.
  void Rebuild(const mesh::Configuration& conf,
               std::span<const std::string> states);

  // A non-fatal ERROR to `s`.
  void SendError(Session& s, wire::ErrorCode code, wire::FrameType request,
                 uint64_t ref, std::string_view subject, std::string_view text);
  // A fatal ERROR, then close with `reason`.
  void Fail(Session& s, net::CloseReason reason, wire::ErrorCode code,
            wire::FrameType request, std::string text);
  // Sends the MEMBERSHIP of `change` to every local member of the new view
  // (one shared frame) and, for a leave, the SELF_LEAVE event to the leaver
  // if it is local.
  // `skip`: local members not to send it to (by private name).
  void Publish(const ViewChange& change, uint8_t flags = 0,
               const std::set<std::string>* skip = nullptr);
  Session* FindSession(MemberId id) const;
  // The local session of a table member (null if remote or gone).
  Session* LocalSession(const GroupMember& m) const;
  // Closes our session `name` if it is the session `sid` (replaced by the
  // client's next session, `by`).
  void CloseReplaced(std::string_view name, MemberId sid, std::string_view by);
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
  // Bumped when a session is activated or erased (route_ holds pointers).
  uint64_t sessions_version_ = 0;

  // What a routing cache answer was computed for: a DELIVER's destination
  // list (raw bytes and count) and the membership table's version.
  struct RouteKey {
    std::string destinations;  // wire::NameList::raw()
    uint16_t count = 0;
    uint64_t table_version = 0;
    bool valid = false;
    bool Matches(const wire::NameList& d, uint64_t version) const;
    void Set(const wire::NameList& d, uint64_t version);
  };
  // The local recipients of the last destination list routed, valid while
  // the key and sessions_version_ are as recorded.
  struct RouteCache {
    RouteKey key;
    uint64_t sessions_version = 0;
    uint64_t id = 0;  // bumped when recomputed: identifies the route
    std::vector<Session*> sessions;
  };
  RouteCache route_;
  // SelectBodies' answer for the last destination list, valid while
  // groups_.version() and the configuration's members are as recorded.
  struct BodyRouteCache {
    RouteKey key;
    uint64_t conf_id = 0;  // an id of the configuration of `members`
    std::vector<std::string> members;
    std::vector<uint8_t> need;
  };
  BodyRouteCache body_route_;
  // The last message sender found in the table (ApplyMessage checks every
  // message's; a stream comes from few senders), valid while the table's
  // version is unchanged.
  struct LiveSender {
    std::string name;
    std::string origin;
    MemberId sid = 0;
    uint64_t version = UINT64_MAX;
  };
  LiveSender live_sender_;

  // The fan-out batch of this loop turn (see the class comment).
  struct FanoutBatch {
    std::shared_ptr<std::string> frames;  // null: no batch open
    uint32_t messages = 0;
    uint64_t route_id = 0;     // route_.id the recipients came from
    MemberId excluded = 0;     // self-discarding sender left out (0: none)
    std::vector<Session*> to;  // the recipients
    size_t last_bytes = 0;     // size of the previous batch, to reserve
    bool flush_posted = false;
    uint32_t messages_at_check = 0;  // `messages` when the flush last ran
  };
  FanoutBatch fanout_;
  // Buffers of delivered MESSAGE items that the mesh gave up (a
  // configuration of one server), reused for the next SENDs' items: a
  // steady stream then allocates nothing per message. Bounded in number
  // and size. With peers, the mesh keeps such buffers itself
  // (Mesh::TakeBodyBuffer).
  std::vector<std::string> spare_bodies_;
  static constexpr size_t kMaxSpareBodies = 64;
  static constexpr size_t kMaxSpareBodyCapacity = 4096;

  // Submissions waiting for the mesh, in order; retried by submit_timer_.
  std::deque<PendingSubmit> pending_submits_;
  asio::steady_timer submit_timer_;
  bool submit_timer_armed_ = false;

  // Per group, the members the last transitional events said were lost.
  std::map<std::string, std::set<std::string>> transitional_gone_;
  // Per group, the local members the last transitional events went to.
  std::map<std::string, std::set<std::string>> transitional_told_;

  mesh::MeshOptions mesh_options_;
  // Last: destroyed first, so it makes no listener calls into a
  // half-destroyed Server.
  std::unique_ptr<mesh::Mesh> mesh_;
};

}  // namespace msgc::server

#endif  // MSGC_SERVER_SERVER_H_
