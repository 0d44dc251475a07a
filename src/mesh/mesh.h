// Mesh: total-order broadcast with configuration membership (extended
// virtual synchrony) over a full TCP mesh of msgcd servers.
//
// Every server of a configuration gets, through MeshListener, the same
// sequence of OnDeliver calls, and configuration changes at the same point
// of that sequence (OnTransitional then OnConfiguration), so that the server
// layer above can be a deterministic state machine. docs/mesh.md has the
// protocol, the frames and the correctness argument.
//
// Layers inside (all in mesh.cc): links (one reliable FIFO channel per pair
// of servers over net::Connection, surviving TCP reconnects), ordering
// (Lamport stamps + clock condition, no token), membership (reachability
// gossip, PROPOSE/ACCEPT/INSTALL with a flush).
//
// Ownership: Mesh owns its links and their connections. The listener is not
// owned and must outlive the Mesh. Inbound peer connections are handed over
// by the server with AdoptInbound (see there for the forwarding contract).
//
// Thread-safety: none. Construct, call and destroy on the thread that runs
// `io` (the server's single loop thread). Listener callbacks run on it too,
// never from inside Submit() (always from a handler of their own), and may
// call Submit() but not Stop(), UpdateOptions() or the destructor.
#ifndef MSGC_MESH_MESH_H_
#define MSGC_MESH_MESH_H_

#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/connection.h"
#include "wire/frame.h"

namespace msgc::mesh {

// Protocol timing that is not configuration (see docs/mesh.md §4).
// Delay before a coordinator proposes, so that a burst of reachability
// changes (e.g. a node's links failing one after the other) gives one change.
inline constexpr std::chrono::milliseconds kSettleDelay{30};
// A coordinator abandons a proposal not accepted by everyone in this time.
inline constexpr std::chrono::milliseconds kFormTimeout{600};
// A member gives up a proposal it accepted if no INSTALL came in this time.
inline constexpr std::chrono::milliseconds kLockTimeout{1500};
// First redial after an established link broke (plus up to 100% jitter);
// later attempts wait reconnect_interval +-20%.
inline constexpr std::chrono::milliseconds kQuickRedial{20};
// A standalone LINK_ACK is sent this long after an unacknowledged frame
// arrived, unless a sequenced frame carried the ack first.
inline constexpr std::chrono::milliseconds kAckDelay{10};
// An ITEMS frame (a loop turn's items for one peer) is sent early once its
// bodies pass this size. Below 64 KiB on purpose: a frame written alone
// then fits one TSO/GSO packet at the usual MSS of 1448 (at most 45
// segments, 65,160 bytes); at 64 KiB each write left a tail of a few dozen
// bytes that went out as a packet of its own (TCP_NODELAY), a third of a
// link's packets (docs/performance.md, "Delay between nodes").
inline constexpr size_t kMaxBatchBytes = 60 * 1024;
// ... or once it holds this many items (or max_backlog / 8, if lower).
inline constexpr size_t kMaxBatchItems = 256;
// ... or once it waited this long for turns that kept adding items to it
// (the flush waits while the batches grow; Mesh::Impl::PostFlushBatches).
inline constexpr std::chrono::microseconds kMaxBatchWait{1000};
// Items delivered per handler before the loop gets a turn (the connections
// the deliveries went to can write meanwhile, instead of a burst of a whole
// backlog landing in their queues within one turn).
inline constexpr size_t kMaxDeliverPerTurn = 256;
// A server announces its `stable` in a CLOCK of its own once it rose by this
// many stamps (the others keep our items until it covers them).
inline constexpr uint64_t kStableNewsStep = 256;
// A link whose buffers autotune (tcpbuf_size unset) and whose sender is
// limited by its send buffer over a long round trip has SO_SNDBUF raised
// step by step up to this (net::Connection::GrowSendBufferIfLimited;
// without CAP_NET_ADMIN the kernel's net.core.wmem_max may clamp it lower).
// Memory is used only while the link is backed up.
inline constexpr int kMaxLinkSendBuffer = 64 << 20;
// CLOCK news that nothing in the agreed order waits for (the clock rising
// with fast-path fifo items, stability for garbage collection, numbers of
// skipped fifo items) is sent within this, not every loop turn.
inline constexpr std::chrono::milliseconds kClockPace{1};
// CLOCK news the agreed order waits for goes out at most once per
// 1/kClockGapDivisor of the shortest round trip to a member (at most
// kClockPace): every loop turn on a LAN, where a turn is the round trip's
// scale, but on a 20 ms path one per 1 ms instead of a packet per turn on
// every link, for at most that much more agreed latency (issue 5 §4).
inline constexpr uint32_t kClockGapDivisor = 16;
// Acks are sent at once after this many unacknowledged frames.
inline constexpr uint64_t kAckEvery = 256;
// Resolution of the reachability (idle) check.
inline constexpr std::chrono::milliseconds kTickInterval{50};
// Unacknowledged frames kept per link before the peer is treated as lost
// (a peer unreachable and out of the configuration has its frames released
// earlier, docs/mesh.md §2).
inline constexpr size_t kMaxResendFrames = 1 << 20;

// Flags of Mesh::Submit.
// The body goes only to the servers the listener selects (SelectBodies).
inline constexpr uint8_t kSubmitRouted = 0x01;
// The item may make its origin need bodies of routed items it did not get
// (a join): every other server sends it the bodies it skipped that are
// ordered after this item, and the origin delivers nothing of theirs beyond
// it until they have (docs/mesh.md §3.1).
inline constexpr uint8_t kSubmitInterest = 0x02;
// A membership item (msgcd: a client's connect, join, leave or
// disconnect). It stays in the agreed order and ends a membership epoch:
// fifo items are delivered in the epoch their origin stamped them in
// (docs/mesh.md §3.2).
inline constexpr uint8_t kSubmitMembership = 0x04;
// Servers per configuration up to which routing is used; beyond it every
// body goes to every server (the routing state is a 64-bit mask).
inline constexpr size_t kMaxRoutedMembers = 64;

struct PeerSpec {
  std::string name;  // lower-case node name
  std::string host;  // IP literal, "localhost" or a host name
  uint16_t port = 0;
};

struct MeshOptions {
  std::string self;             // this server's node name; must be in peers
  uint64_t incarnation = 0;     // random per process start, never 0
  std::vector<PeerSpec> peers;  // all servers including self
  net::ConnectionOptions link;  // keepalive, idle_timeout, max_backlog, ...
  std::chrono::milliseconds connect_timeout{60000};
  std::chrono::milliseconds reconnect_interval{5000};  // +-20% jitter
};

struct Configuration {
  uint64_t id = 0;
  std::vector<std::string> members;  // sorted by name
};

// One entry of the agreed order, as handed to OnDeliver.
struct Item {
  std::string_view origin;  // node that submitted it
  uint64_t ts = 0;          // Lamport stamp; (ts, origin) is the order
  uint64_t conf_id = 0;     // configuration it was ordered in
  wire::Service service = wire::Service::kAgreed;
  uint8_t kind = 0;               // opaque to the mesh
  std::span<const uint8_t> body;  // valid during the call only
  // When not null, the string holding `body` (exactly): OnDeliver may move
  // it out, the mesh needs it no more (a configuration of one server).
  std::string* owned = nullptr;
};

class MeshListener {
 public:
  virtual ~MeshListener() = default;
  // The next item of the agreed order. Every server that stays in the
  // configuration gets the same sequence.
  virtual void OnDeliver(const Item& item) = 0;
  // Configuration `old_conf` ends; the servers of `moving_together` (sorted,
  // self included) delivered the same items of it. Always followed by
  // OnConfiguration.
  virtual void OnTransitional(
      const Configuration& old_conf,
      const std::vector<std::string>& moving_together) = 0;
  // A new configuration. The first call (from Start) is the singleton
  // configuration of this server, with joined = {self}. `states[i]` is what
  // ConfigurationState returned at member conf.members[i] when it accepted
  // this configuration: every member gets the same states, before any item
  // of the configuration (docs/mesh.md §4 "State").
  virtual void OnConfiguration(const Configuration& conf,
                               const std::vector<std::string>& joined,
                               const std::vector<std::string>& left,
                               std::span<const std::string> states) = 0;
  // This server's state for the next configuration, opaque to the mesh;
  // asked for whenever it accepts (or proposes) one, and at Start for the
  // singleton. `undelivered`: this server's own items of the current
  // configuration that it has not delivered yet, in their order (bodies
  // valid during the call only). The flush delivers every one of them here
  // before the next OnConfiguration, so the state must be the one after
  // them. At most wire::kMaxStateLen bytes.
  virtual std::string ConfigurationState(std::span<const Item> undelivered) {
    (void)undelivered;
    return {};
  }
  // Interest-based routing (docs/mesh.md §3.1). Called once for each item
  // submitted with kSubmitRouted, before it is sent: set need[i] to 1 for
  // every server members[i] of the configuration (sorted; self included and
  // ignored) that must get the body. `need` arrives all 0. The others get no
  // frame for it, only the item number in a later CLOCK. The answer must
  // cover every server that has, in the replicated state as of the items
  // this server delivered so far, a reason to deliver the item; joins not
  // delivered yet are the mesh's business (kSubmitInterest).
  virtual void SelectBodies(const Item& item,
                            std::span<const std::string> members,
                            std::span<uint8_t> need) {
    (void)item;
    (void)members;
    std::fill(need.begin(), need.end(), uint8_t{1});
  }
};

// Link state for status output and tests.
struct LinkInfo {
  std::string peer;
  std::string state;            // "down", "connecting", "up"
  bool reachable = false;       // counted as reachable by the failure detector
  uint64_t incarnation = 0;     // the peer's, 0 if never seen
  size_t unacked = 0;           // frames in the resend buffer (including those
                                // not handed to the connection yet)
  size_t queued = 0;            // messages in the connection's output queue
  uint64_t bodies_sent = 0;     // routed item bodies sent to it
  uint64_t bodies_skipped = 0;  // routed items it did not need
  uint64_t clocks_sent = 0;     // CLOCK frames sent to it
  uint64_t items_received = 0;  // its own items received from it, in the
                                // configurations it shared with us (marks
                                // included; not those it forwarded)
  std::chrono::steady_clock::time_point last_rx;
  std::string remote;  // "ip:port" of the live connection, or ""
};

class Mesh {
 public:
  Mesh(asio::io_context& io, MeshOptions options, MeshListener* listener);
  ~Mesh();  // Stop()s
  Mesh(const Mesh&) = delete;
  Mesh& operator=(const Mesh&) = delete;

  // Validates the options, installs the singleton configuration (its
  // OnConfiguration is posted) and starts dialling peers.
  Status Start();
  // Says BYE to every peer and closes every link. No listener calls after.
  void Stop();

  // The server's listener accepted `conn` and decoded a HELLO with
  // role=peer. The mesh checks the name and the source address against
  // `peers` (refusing with a fatal ERROR NOT_ALLOWED and a logged reason),
  // answers WELCOME and from then on owns the link.
  // The caller hands `conn` over with conn->set_handler(link_handler()), or
  // forwards every later OnFrame/OnTooLarge/OnClose/OnDrained of it there.
  void AdoptInbound(std::shared_ptr<net::Connection> conn,
                    const wire::Hello& hello,
                    const asio::ip::tcp::endpoint& remote);
  net::ConnectionHandler* link_handler();

  // Orders an item originated here. Returns false (nothing queued) if more
  // than max_backlog submitted items wait (during a configuration change);
  // the caller back-pressures. The item is delivered to this server too, from
  // a handler of its own, never from inside Submit.
  // `flags`: kSubmitRouted, kSubmitInterest, kSubmitMembership. A `fifo`
  // item is not in the agreed order: it is delivered after its origin's
  // earlier items and in the same membership epoch everywhere
  // (docs/mesh.md §3.2).
  bool Submit(wire::Service service, uint8_t kind, std::string body,
              uint8_t flags = 0);

  // Swaps the buffer of a collected item's body (empty), when one is spare,
  // into *into, which must be empty: for building the body of the next
  // Submit without allocating (the mesh keeps the buffers of items it no
  // longer needs). Leaves *into alone otherwise.
  void TakeBodyBuffer(std::string* into);

  // Applies reloaded options: timing to live links, added peers dialled,
  // removed peers closed (they leave the configuration). self and
  // incarnation cannot change.
  Status UpdateOptions(const MeshOptions& options);

  // For status, console and tests.
  Configuration configuration() const;
  std::vector<LinkInfo> links() const;
  size_t submit_queue() const;
  // True while a Submit is stamped at once (no configuration change in
  // progress); otherwise it waits in the mesh's queue for the next one.
  bool ordering() const;

  // Test hooks (fault injection). Blocking a peer closes its links, refuses
  // its connections and stops dialling it; unblocking resumes.
  void TestBlockPeer(std::string_view peer, bool blocked);
  // Closes the live TCP connection to `peer` at once (both redial).
  void TestCloseLink(std::string_view peer);
  // Takes `rtt_us` as the round trip to `peer` instead of TCP's figure (0:
  // TCP's again); for tests of what depends on a long path.
  void TestSetRtt(std::string_view peer, uint32_t rtt_us);
  // Holds back every sequenced frame to `peer` (items, clocks, gossip wait
  // in the resend buffer; the link stays up, acks and keepalives go):
  // `peer` hears nothing new from us while the others do. Released, they
  // go out in order.
  void TestHoldFramesTo(std::string_view peer, bool hold);
  // Holds back this server's own CLOCK frames (its items, marks included,
  // still go); released, the clock news goes out. For tests of what waits
  // for the clock round.
  void TestHoldClocks(bool hold);

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace msgc::mesh

#endif  // MSGC_MESH_MESH_H_
