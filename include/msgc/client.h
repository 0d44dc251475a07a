// libmsgc: the C++ client of the msgc group-communication bus.
//
// A Client holds one TCP session with one msgcd at a time (docs/protocol.md).
// Through it the application joins groups, multicasts to groups, unicasts to
// private names ("#session#node") and receives messages and membership
// views. When the connection drops the Client reconnects by itself: it waits
// `reconnect_interval`, tries `servers` in order, says HELLO with the same
// session name, naming the session it replaces (so that nothing the old
// connection still delivers late to its server is ordered after the new
// session's messages: docs/semantics.md §4), and re-joins every group it
// had joined, with the same capabilities. Connection changes are reported
// as events.
//
//   msgc::ClientOptions options;
//   options.servers = {"127.0.0.1:4809"};
//   std::unique_ptr<msgc::Client> client;
//   msgc::Result r = msgc::Client::Connect(options, &client);
//   if (!r.ok()) ...;
//   client->Join("g", "");
//   client->Multicast("g", "hello");
//   msgc::Event ev;
//   while (client->Receive(&ev, std::chrono::seconds(1)).ok()) ...;
//   client->Close();
//
// Threading: every Client runs one internal I/O thread. All public methods
// are thread-safe and may be called from any thread. Callbacks (SetCallbacks)
// run on the I/O thread, one at a time, in arrival order; they may call the
// Client's methods (a Multicast from a callback never blocks: it may exceed
// the backlog bound instead) but must not destroy the Client.
//
// Sending: Multicast/Unicast/Send copy the data into a bounded outgoing queue
// and return; the I/O thread writes the queue in batches. When the queue
// holds `max_backlog` messages (or `max_backlog_bytes`), a send blocks up to
// its timeout and then fails with kTimedOut: back-pressure, never a silent
// drop. A send while not connected fails with kNotConnected. Messages that
// were accepted but not yet written when the connection dropped are counted
// in the kDisconnected event (`unsent_messages`); the protocol has no
// acknowledgements, so bytes already written may also be lost with the
// server.
#ifndef MSGC_CLIENT_H_
#define MSGC_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "msgc/export.h"
#include "msgc/status.h"

namespace msgc {

// Delivery service of a message (docs/semantics.md). Values are on the wire.
enum class Service : uint8_t { kFifo = 0, kAgreed = 1, kSafe = 2 };
// "fifo", "agreed", "safe".
MSGC_EXPORT std::string_view ServiceName(Service service);

// Why a group's view changed. Values are on the wire.
enum class MembershipCause : uint8_t {
  kJoin = 1,
  kLeave = 2,
  kDisconnect = 3,  // the member's connection dropped
  kNetwork = 4,     // servers were lost or came back
};
// "join", "leave", "disconnect", "network".
MSGC_EXPORT std::string_view MembershipCauseName(MembershipCause cause);

struct ClientOptions {
  // ---- Where to connect ----

  // Ordered fail-over list of "host:port" ("[v6addr]:port" for IPv6). Every
  // (re)connection tries them in this order, one connection at a time.
  std::vector<std::string> servers = {"127.0.0.1:4809"};
  // Session name: 1..64 bytes of [A-Za-z0-9_.-]; "" lets the server pick
  // one (it is then kept for reconnections).
  std::string name;
  // Local address to bind the outgoing connection to ("" = any).
  std::string bind_address;

  // ---- Timing (seconds; fractions allowed) ----

  // Per server attempt: TCP connect plus HELLO/WELCOME.
  double connect_timeout = 60;
  // Pause after a connection drops (or after a full pass over `servers`
  // failed) before trying again.
  double reconnect_interval = 5;
  // A NOOP is sent this often while connected.
  double keepalive_interval = 5;
  // The connection is dropped (and re-established) when nothing arrived
  // from the server for this long. Never less than twice the server's own
  // keepalive interval (from WELCOME).
  double idle_timeout = 30;
  // Default time a send blocks while the outgoing queue is full.
  double send_timeout = 30;
  // Close(): time allowed to flush the queue, say GOODBYE and see the
  // server close.
  double close_timeout = 5;

  // ---- Sizes ----

  // SO_SNDBUF / SO_RCVBUF of the connection (0 = system default).
  uint32_t tcpbuf_size = 131072;
  // Bound of the outgoing queue, in messages and in bytes. A single message
  // larger than max_backlog_bytes is accepted when the queue is empty.
  uint32_t max_backlog = 5000;
  uint64_t max_backlog_bytes = 64ull << 20;
  // Received events waiting in Receive()'s queue; at this many the client
  // stops reading from the socket (TCP back-pressure) until the application
  // catches up. 0 = unbounded.
  uint32_t max_pending_events = 100000;
  // Accepted for Momentum configuration compatibility. The I/O thread checks
  // every this many received frames whether it has been handling frames for
  // about 100 us; if so, timers and writes get a turn.
  uint32_t messages_per_iter = 20;

  // ---- Behaviour ----

  // true: Connect() fails unless one server of the list accepts the first
  // session. false: Connect() returns at once and keeps trying in the
  // background (sends fail with kNotConnected meanwhile).
  bool wait_for_connection = true;

  // Fills *out from the `msgc_client { ... }` scope of a Momentum/msgc
  // configuration file (server, bind_address, connect_timeout,
  // idle_timeout, keepalive_interval, max_backlog, messages_per_iter,
  // reconnect_interval, tcpbuf_size). Options the file does not set keep
  // *out's values. Errors are kInvalidArgument with one
  // "file:line:column: message" line per problem.
  static Result FromConfigFile(const std::string& path, ClientOptions* out);

  // kInvalidArgument naming the first bad field, else OK.
  Result Validate() const;
};

struct SendOptions {
  Service service = Service::kFifo;
  // Do not deliver the message back to the sender even if it is a member
  // of a destination group.
  bool self_discard = false;
  // How long to block while the outgoing queue is full; negative means
  // ClientOptions::send_timeout.
  std::chrono::milliseconds timeout{-1};
};

struct Member {
  std::string name;          // private name "#session#node"
  std::string capabilities;  // opaque blob given at join
};

struct MessageEvent {
  std::string sender;               // private name of the sender
  std::vector<std::string> groups;  // every destination, as sent
  Service service = Service::kFifo;
  bool self_discard = false;
  std::string data;
};

struct MembershipEvent {
  std::string group;
  MembershipCause cause = MembershipCause::kJoin;
  bool transitional = false;  // members moving on together before a change
  bool self_leave = false;    // we left: `members` is empty
  // View id: text form "<epoch as 16 hex digits>.<seq>", its parts, and
  // Momentum's 32-bit gid derived from it. Distinct for every view.
  std::string view;
  uint64_t view_epoch = 0;
  uint64_t view_seq = 0;
  uint32_t gid = 0;
  std::vector<Member> changed;  // who joined / left / disconnected / moved
  std::vector<Member> members;  // the whole new view, same order everywhere
};

// kConnected / kDisconnected.
struct ConnectionEvent {
  std::string server;        // "host:port" from ClientOptions::servers
  std::string private_name;  // ours on that server
  bool reconnect = false;    // kConnected: not the first session
  // kDisconnected: why (OK after Close()).
  Result reason;
  // kDisconnected: accepted messages dropped unsent.
  uint64_t unsent_messages = 0;
};

// An ERROR frame from the server (docs/protocol.md §3).
struct ServerError {
  uint16_t code = 0;      // the protocol's error code
  std::string code_name;  // e.g. "NO_SUCH_RECIPIENT"
  bool fatal = false;     // the server closes the connection after it
  std::string request;    // frame type that failed, e.g. "SEND"
  uint64_t ref = 0;       // msg_id of the failed send, 0 when unknown
  std::string subject;    // group or name concerned, may be empty
  std::string text;       // human-readable reason
};

// One thing that happened. Only the member matching `type` is meaningful.
struct Event {
  enum class Type { kMessage, kMembership, kConnected, kDisconnected, kError };
  Type type = Type::kMessage;
  MessageEvent message;
  MembershipEvent membership;
  ConnectionEvent connection;
  ServerError error;
};

class MSGC_EXPORT Client {
 public:
  // Each callback, when set, receives its kind of event on the I/O thread
  // instead of Receive()'s queue. Unset (empty) ones leave their kind queued.
  // The event passed is valid only during the call (on_message refills one
  // reused MessageEvent): copy what you keep.
  struct Callbacks {
    std::function<void(const MessageEvent&)> on_message;
    std::function<void(const MembershipEvent&)> on_membership;
    // Both kConnected and kDisconnected; `connected` tells which.
    std::function<void(bool connected, const ConnectionEvent&)> on_connection;
    std::function<void(const ServerError&)> on_error;
  };

  // Validates `options`, starts the I/O thread and (when
  // options.wait_for_connection) establishes the first session, trying
  // options.servers in order. On success stores a new Client in *client;
  // the caller owns it. On failure *client is untouched and the result says
  // why (the last server's error: kIoError / kTimedOut / kAlreadyExists for
  // a name in use / kInvalidArgument / kRefused).
  static Result Connect(const ClientOptions& options,
                        std::unique_ptr<Client>* client);

  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Close()s if needed. Must not run on the I/O thread (in a callback).
  virtual ~Client() = default;

  // Joins `group` (1..255 bytes, not starting with '#') announcing
  // `capabilities` (<= 65535 bytes) to its members. The group is remembered
  // and re-joined after every reconnection; joining while disconnected only
  // remembers it. The effect arrives later as a kMembership event.
  virtual Result Join(std::string_view group,
                      std::string_view capabilities) = 0;
  // Forgets `group` and leaves it (a self-leave kMembership event follows).
  // kNotFound if it was not joined.
  virtual Result Leave(std::string_view group) = 0;

  // Sends `data` to `group`, which need not be joined (groups are open).
  virtual Result Multicast(std::string_view group, std::string_view data,
                           const SendOptions& options) = 0;
  // Sends `data` to one session by its private name "#session#node".
  virtual Result Unicast(std::string_view private_name, std::string_view data,
                         const SendOptions& options) = 0;
  // Sends one message to 1..64 destinations: group names and/or private
  // names. Each member of the union gets it once, with the whole list.
  virtual Result Send(const std::vector<std::string>& destinations,
                      std::string_view data, const SendOptions& options) = 0;

  Result Multicast(std::string_view group, std::string_view data) {
    return Multicast(group, data, SendOptions());
  }
  Result Unicast(std::string_view private_name, std::string_view data) {
    return Unicast(private_name, data, SendOptions());
  }

  // Blocks until every message accepted so far was written to the socket
  // (kOk), the connection dropped (kNotConnected) or `timeout` passed
  // (kTimedOut). A negative timeout waits for ever.
  virtual Result Flush(std::chrono::milliseconds timeout) = 0;

  // Our private name on the current (or last) session; "" before the first.
  virtual std::string PrivateName() const = 0;
  virtual bool IsConnected() const = 0;
  // The server's max_message_size (0 before the first session). Larger
  // sends fail locally with kTooLarge.
  virtual uint64_t MaxMessageSize() const = 0;

  // Takes the oldest queued event into *event. Waits up to `timeout` (0:
  // poll, negative: for ever). Received messages become visible at the end
  // of each read pass of the I/O thread (at most about 100 us or one 64 KiB
  // read later); order is always the server's. kTimedOut when none
  // arrived; kNotConnected when the client is closed and the queue is empty.
  virtual Result Receive(Event* event, std::chrono::milliseconds timeout) = 0;
  // A file descriptor that is readable while events are queued, for
  // poll()/select()/epoll loops; do not read or close it. Valid until the
  // Client is destroyed.
  virtual int EventFd() const = 0;
  // Replaces the callbacks (see Callbacks). Events already queued stay.
  virtual void SetCallbacks(Callbacks callbacks) = 0;

  // Clean shutdown: stops reconnecting, flushes the outgoing queue, sends
  // GOODBYE and waits (up to close_timeout) for the server to close, then
  // stops the I/O thread. Queued events remain readable with Receive().
  // Idempotent. Sends after Close() fail with kNotConnected.
  virtual Result Close() = 0;
};

}  // namespace msgc

#endif  // MSGC_CLIENT_H_
