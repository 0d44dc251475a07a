#include "mesh/mesh.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cassert>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>

#include "base/log.h"
#include "base/ring_deque.h"
#include "mesh/undelivered_index.h"
#include "net/endpoint.h"
#include "wire/mesh_frame.h"

namespace msgc::mesh {
namespace {

using SteadyClock = std::chrono::steady_clock;
using FramePtr = net::Connection::FramePtr;
using wire::MeshFrameType;

constexpr std::string_view kSoftware = "msgc-mesh/0.1";
// Internal flag of Stamp (beside the kSubmit* ones): a mark, docs/mesh.md
// §3.2.
constexpr uint8_t kStampMark = 0x80;
constexpr int kConfCounterShift = 16;

// The most one TSO/GSO packet carries at the usual MSS of 1448 (Ethernet
// MTU 1500 with timestamps): 45 segments, the kernel's cap of 64 KiB
// including headers. An ITEMS frame written alone must fit, or its last
// few bytes go out as a packet of their own (see kMaxBatchBytes).
constexpr size_t kOnePacketBytes = 45 * 1448;
// AppendBatch sends a batch before an item would take its bodies past
// kMaxBatchBytes, so a frame is at most that plus one record's head (the
// frame and ITEMS headers are within the bytes counted).
static_assert(kMaxBatchBytes + wire::kItemRecordHeadSize <= kOnePacketBytes);

// 16-bit FNV-1a fold of a node name: the low bits of configuration ids, so
// that two partitions that pick the same counter still get different ids.
uint64_t Hash16(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 16777619u;
  }
  return (h ^ (h >> 16)) & 0xffff;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string JoinNames(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, ","));
}

}  // namespace

// ---------------------------------------------------------------------------
// Internal state.

// One peer: the reliable FIFO channel and the TCP connections carrying it.
struct Link {
  Link(asio::io_context& io, PeerSpec s)
      : spec(std::move(s)),
        redial_timer(io),
        connect_timer(io),
        ack_timer(io) {}

  PeerSpec spec;
  std::vector<asio::ip::address> addrs;  // resolved spec.host
  bool resolving = false;

  // Connections. `active` is established (HELLO/WELCOME done) and is the
  // only one sequenced frames are sent on, once `synced`.
  std::shared_ptr<net::Connection> active;
  bool synced = false;  // the peer's LINK_SYNC arrived on `active`
  std::shared_ptr<net::Connection> dialing;           // waiting for WELCOME
  std::shared_ptr<asio::ip::tcp::socket> connecting;  // connect() pending
  asio::steady_timer redial_timer;
  asio::steady_timer connect_timer;
  bool redial_armed = false;
  SteadyClock::time_point redial_at{};  // when the armed redial fires

  // The channel (survives reconnects, reset when the peer restarts).
  uint64_t peer_inc = 0;
  uint64_t next_seq = 1;
  // Unacknowledged frames, link_seq contiguous. Those above sent_seq have not
  // been handed to `active` yet: they wait here, not in the connection's
  // queue, until it has room (Pump), so that a resend after a reconnect goes
  // at the pace the peer reads instead of passing max_backlog at once.
  struct Unacked {
    uint64_t first;     // link_seq
    FramePtr second;    // the frame
    uint32_t messages;  // items in it (an ITEMS frame), for max_backlog
  };
  std::deque<Unacked> resend;
  uint64_t sent_seq = 0;  // last link_seq handed to `active` (while synced)
  // Our send channel restarted at 1 (MaybeReleaseChannel); the peer has not
  // shown yet that it saw the LINK_SYNC with kSyncReset saying so.
  bool reset_unconfirmed = false;
  uint64_t recv_seq = 0;    // last link_seq received in order
  uint64_t acked_sent = 0;  // last ack we sent
  asio::steady_timer ack_timer;
  bool ack_armed = false;

  // Failure detector.
  bool alive = false;  // synced once and not declared lost since
  SteadyClock::time_point last_rx{};

  bool blocked = false;  // test hook
  bool removed = false;  // no longer in peers

  // This loop turn's items for the peer, an ITEMS frame being built (empty:
  // none). Sent before any other sequenced frame and at the end of the turn.
  std::string batch;
  uint64_t batch_conf = 0;
  // Size of the last ITEMS frame sent: the next one is reserved at that
  // size, so that a steady stream builds its frames without regrowing them.
  size_t batch_hint = 0;

  uint64_t bodies_sent = 0;     // routed bodies (items and late bodies)
  uint64_t bodies_skipped = 0;  // routed items not sent
  uint64_t clocks_sent = 0;     // CLOCK frames (LinkInfo)
  uint64_t items_received = 0;  // its own items, marks included (LinkInfo)
  uint32_t rtt_us = 0;          // TCP's smoothed round trip (tick; 0: unknown)
  uint32_t test_rtt_us = 0;     // TestSetRtt
  bool test_held = false;       // TestHoldFramesTo: sequenced frames wait
};

struct ConnInfo {
  Link* link = nullptr;
  bool outbound = false;
  bool established = false;
  bool sent_reset = false;  // our LINK_SYNC on it carried kSyncReset
};

struct StoredItem {
  uint64_t ts = 0;  // of an unknown item: an upper bound (the CLOCK's)
  wire::Service service = wire::Service::kAgreed;
  uint8_t kind = 0;
  uint8_t flags = 0;  // wire::kItem*; kItemHasBody: the body is held
  // False: only the number is known (a routed item skipped for us, or
  // forwarded as skipped); never in undelivered_ until a body fills it.
  bool known = true;
  bool delivered = false;
  uint32_t epoch = 0;      // wire::Item::epoch (fast items and marks)
  uint64_t sent_mask = 0;  // own routed items: member indexes given the body
  std::string body;

  bool has_body() const { return known && (flags & wire::kItemHasBody); }
  // On the fifo fast path (docs/mesh.md §3.2): not in the agreed order.
  bool fast() const { return (flags & wire::kItemFast) != 0; }
};

// A member of the current configuration and what we hold of its items.
struct ConfMember {
  std::string name;
  uint64_t inc = 0;
  Link* link = nullptr;         // null for self
  RingDeque<StoredItem> items;  // items[i] has oseq first_oseq + i
  uint32_t first_oseq = 1;
  uint32_t held = 0;  // highest contiguous oseq held
  // Every item of it below `next` is delivered (or passed): its items are
  // delivered in their order, by the agreed order or the fast path.
  uint32_t next = 1;
  // Its marks (docs/mesh.md §3.2) for membership epochs we have not
  // delivered yet: (epoch, oseq), in order.
  std::deque<std::pair<uint32_t, uint32_t>> marks;
  uint64_t high = 0;    // highest stamp received from it (items, clocks)
  uint64_t stable = 0;  // it announced holding every item <= stable
  // Interest items (joins) received from it and not delivered yet: while
  // any is, it gets every routed body (its join may precede them).
  uint32_t pending_interest = 0;
  // Our own interest items sent to it that it has not acknowledged on a
  // sequenced frame yet: (link_seq, ts). Its stamps count only up to the
  // first one's ts (it may still send us late bodies, docs/mesh.md §3.1).
  std::deque<std::pair<uint64_t, uint64_t>> barriers;
  bool owe_clock = false;  // skipped an item for it since the last CLOCK
  // Our first own item whose body we did not give it since we last gave it
  // one (0: none): the next body it gets brings those along (finding F14,
  // SendSkippedBodies).
  uint32_t first_skipped = 0;
  // Since we froze: the stamp of our first interest item it had not
  // acknowledged then (UINT64_MAX: none). Only its items known by number
  // and stamped later can be ones we need (docs/mesh.md §4.1).
  uint64_t interest_from = UINT64_MAX;

  StoredItem* Find(uint32_t oseq) {
    if (oseq < first_oseq || oseq > held) return nullptr;
    return &items[oseq - first_oseq];
  }
};

struct ProposalKey {
  std::string coordinator;
  uint64_t attempt = 0;
  friend bool operator==(const ProposalKey&, const ProposalKey&) = default;
};

struct Gossip {
  uint64_t conf_id = 0;
  uint8_t flags = 0;
  ProposalKey lock;
  std::map<std::string, uint64_t> reach;
};

namespace {

// The last bytes of a body, printable, for debug logs (a client payload
// usually ends with what identifies it).
std::string BodyTail(std::string_view body) {
  constexpr size_t kTail = 32;
  std::string out;
  for (char c : body.substr(body.size() > kTail ? body.size() - kTail : 0)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '.');
  }
  return out;
}

}  // namespace

struct AcceptData {
  uint64_t old_conf_id = 0;
  uint64_t max_conf_id = 0;
  uint64_t safe_bound = 0;
  struct Held {
    std::string origin;
    uint32_t held = 0;
    uint64_t high = 0;
  };
  std::vector<Held> held;
  std::string state;  // MeshListener::ConfigurationState
};

class Mesh::Impl : public net::ConnectionHandler,
                   public std::enable_shared_from_this<Mesh::Impl> {
 public:
  Impl(asio::io_context& io, MeshOptions options, MeshListener* listener)
      : io_(io),
        options_(std::move(options)),
        listener_(listener),
        rng_(options_.incarnation),
        tick_timer_(io),
        clock_pace_timer_(io),
        settle_timer_(io),
        form_timer_(io) {}

  Status Start();
  void Stop();
  void AdoptInbound(std::shared_ptr<net::Connection> conn,
                    const wire::Hello& hello,
                    const asio::ip::tcp::endpoint& remote);
  bool Submit(wire::Service service, uint8_t kind, std::string body,
              uint8_t flags);
  Status UpdateOptions(const MeshOptions& options);
  Configuration PublicConf() const;
  std::vector<LinkInfo> Links() const;
  size_t submit_queue() const { return submit_queue_.size(); }
  void TakeBodyBuffer(std::string* into) { TakeSpareBody(into); }
  bool ordering() const { return running_ && state_ == State::kOperational; }
  asio::io_context& io() { return io_; }
  void BlockPeer(std::string_view peer, bool blocked);
  void CloseLink(std::string_view peer);
  void SetRtt(std::string_view peer, uint32_t rtt_us);  // TestSetRtt
  void HoldFramesTo(std::string_view peer, bool hold);  // TestHoldFramesTo
  void HoldClocks(bool hold) {
    hold_clocks_ = hold;
    if (!hold) ScheduleClock();
  }

  // net::ConnectionHandler
  void OnFrame(net::Connection& conn, const wire::Frame& frame) override;
  void OnTooLarge(net::Connection& conn,
                  const wire::FrameHeader& header) override;
  void OnClose(net::Connection& conn) override;
  void OnDrained(net::Connection& conn) override;

 private:
  enum class State {
    kOperational,  // ordering in conf_
    kLocked,       // accepted a proposal; own submissions wait
    kInstalling,   // INSTALL received, flushing conf_
    kGathering,    // gave a proposal up; waiting for the next one
  };

  // ---- links ----
  Status AddLink(const PeerSpec& spec);
  void Resolve(Link& l);
  void Dial(Link& l);
  void OnConnected(Link& l, std::shared_ptr<asio::ip::tcp::socket> sock,
                   const std::error_code& ec);
  void ScheduleRedial(Link& l, bool quick);
  void Establish(Link& l, const std::shared_ptr<net::Connection>& conn,
                 ConnInfo& info);
  void NotePeerIncarnation(Link& l, uint64_t inc);
  void HandleMeshFrame(Link& l, ConnInfo& info, net::Connection& conn,
                       const wire::Frame& frame);
  void HandleSync(Link& l, ConnInfo& info, net::Connection& conn,
                  const wire::Frame& frame);
  void ProcessAck(Link& l, uint64_t ack);
  void NoteReceived(Link& l);
  void SendAck(Link& l);
  void SendSeq(Link& l, const std::string& frame) {
    SendSeq(l, std::string(frame));
  }
  // Takes the frame's buffer (no copy). The link's batch goes first.
  void SendSeq(Link& l, std::string&& frame) {
    if (!l.batch.empty()) FlushBatch(l);
    SendSeqNow(l, std::move(frame));
  }
  // `messages`: items carried (an ITEMS frame), counted against max_backlog.
  void SendSeqNow(Link& l, std::string&& frame, uint32_t messages = 1);
  // Adds an item to the link's ITEMS frame of this loop turn. `head` is
  // wire::EncodeItemRecordHead(item), encoded once for all links.
  void AppendBatch(Link& l, const wire::Item& item,
                   const wire::ItemRecordHead& head);
  void FlushBatch(Link& l);
  // A batch counts as its items against max_backlog: it must stay well
  // below it, or one frame could close a healthy link (and a paced resend,
  // which tops the queue up to 3/4 max_backlog, could never fit it).
  size_t BatchItemsLimit() const {
    return std::clamp<size_t>(options_.link.max_backlog / 8, 1, kMaxBatchItems);
  }
  void ScheduleFlushBatches();
  void PostFlushBatches();
  void Pump(Link& l);
  void MaybeReleaseChannel(Link& l);
  void CloseConns(Link& l, net::CloseReason reason, const std::string& why);
  void MarkLost(Link& l, const std::string& why);
  bool Admissible(const Link& l) const;
  void RecomputeReach(bool force_gossip);
  void SendReach(Link& l);
  std::string EncodeReachFrame() const;
  void Tick();
  std::shared_ptr<net::Connection> Shared(net::Connection& conn);

  // ---- ordering ----
  int MemberIndex(std::string_view name) const;
  // Stores the next item of member idx (or fills an unknown one when
  // `fill`); the body is kept only with `accept_body` (docs/mesh.md §4.1).
  // `take`: the body's owner, moved from instead of copying item.body.
  void StoreItem(int idx, const wire::Item& item, bool accept_body,
                 bool fill = false, std::string* take = nullptr);
  void OnItem(Link& l, const wire::Frame& frame);
  void OnItems(Link& l, const wire::Frame& frame);
  // An item of conf_ from member idx (over link l).
  void HandleItem(int idx, const wire::Item& item);
  void OnClock(Link& l, const wire::Frame& frame);
  void OnLateBody(Link& l, const wire::Frame& frame);
  void SendLateBodies(int idx, uint64_t after_ts);
  void SendSkippedBodies(int idx);
  // Sends member idx the body of our item `oseq` in a LATE_BODY frame.
  void SendLateBody(int idx, uint32_t oseq, StoredItem& it);
  // Every member holds every item stamped at or below this (UINT64_MAX
  // alone).
  uint64_t MinStable() const;
  void ReleaseBarriers(Link& l, uint64_t ack);
  void SendClockTo(int idx);
  std::string EncodeClockFrame() const;
  void OnGatherReq(Link& l, const wire::Frame& frame);
  void OnGatherItem(Link& l, const wire::Frame& frame);
  void OnGatherDone(Link& l, const wire::Frame& frame);
  void SendGatherReq();
  void KeepEarly(Link& l, const wire::Frame& frame);
  static std::string FrameBytes(const wire::Frame& frame);
  void Stamp(wire::Service service, uint8_t kind, std::string body,
             uint8_t flags);
  void ScheduleDeliver();
  void Deliver();
  // Delivers local_ (all of it, or up to kMaxDeliverPerTurn when `paced`).
  void DeliverLocal(bool paced);
  void DeliverOne(int idx, uint32_t oseq, StoredItem& it);
  // The fifo fast path (docs/mesh.md §3.2). Delivers the fast items (and
  // passes the marks) at the head of member idx's undelivered items, up to
  // oseq `upto`; with `check_epoch` only those of the current membership
  // epoch, with `hold_bodiless` not a routed one without a body (frozen).
  // Stops when `deliver_budget_` runs out. Returns how many it delivered.
  size_t PumpOrigin(int idx, uint32_t upto, bool check_epoch,
                    bool hold_bodiless);
  // PumpOrigin for every member, up to limits[i] (empty: everything held).
  size_t PumpAll(const std::vector<uint32_t>& limits, bool check_epoch,
                 bool hold_bodiless);
  void DeliverFast(int idx, uint32_t oseq, StoredItem& it);
  // Whether a fifo item submitted now may take the fast path.
  bool FastOk() const;
  // Before the membership item that ends epoch_ is delivered: every member's
  // mark for it came (stamping ours if due) and the fast items before the
  // marks are delivered. `limits`: what counts as held (the reports while
  // frozen).
  bool MembershipBarrierDone(const std::vector<uint32_t>& limits, bool frozen);
  // The same in a flush: members moving on with us (`in_set`) need no mark,
  // we hold all their items up to the cut.
  bool FlushBarrierDone(const std::vector<uint32_t>& cut,
                        const std::vector<bool>& in_set);
  // Whether member idx's undelivered items from `next` up to oseq `upto`
  // include a fast one (not a mark) of an epoch up to `max_epoch`.
  bool FastPending(int idx, uint32_t upto, uint32_t max_epoch = UINT32_MAX);
  // Drops the marks of epochs up to epoch_ (delivered).
  void DropMarks();
  // An item of the current configuration as the listener sees it; `body`
  // must outlive its use.
  Item ListenerItem(std::string_view origin, uint64_t ts, wire::Service service,
                    uint8_t kind, const std::string& body) const {
    Item out;
    out.origin = origin;
    out.ts = ts;
    out.conf_id = conf_id_;
    out.service = service;
    out.kind = kind;
    out.body = AsBytes(body);
    return out;
  }
  uint64_t Bound() const;
  // Whether `bound` (our Bound()) is worth a CLOCK of its own: until it
  // covers every safe item we hold (they wait for it), and otherwise once
  // it rose by kStableNewsStep since announced, so that the others can drop
  // our delivered items (a server that only sends never has clock news, and
  // its peers would keep every item of its stream).
  bool StableNews(uint64_t bound) const {
    return bound > announced_stable_ &&
           (announced_stable_ < safe_high_ ||
            bound - announced_stable_ >= kStableNewsStep);
  }
  // Safe items stamped up to this are known held by every member.
  uint64_t SafeBound() const;
  void ScheduleClock();
  // Sends a CLOCK at `at` at the latest (paced news, see SendClock).
  void ArmClockPace(SteadyClock::time_point at);
  void SendClock();
  // clock_gap_ from the member links' round trips (the tick).
  void UpdateClockGap();
  void CollectGarbage();

  // ---- membership ----
  void ScheduleEvaluate();
  void Evaluate();
  std::vector<wire::NodeInc> Desired() const;
  // Whether `a` reaches `b` (incarnation `b_inc`): our own reach for us,
  // else a's last gossip.
  bool Reaches(std::string_view a, std::string_view b, uint64_t b_inc) const;
  // The greedy clique of mutual reachability that `from` computes: `from`,
  // then each of `candidates` (in name order, reached by `from`) that
  // reaches `from` and is mutually reachable with every one added, except
  // those in `excluded`. Sorted by name.
  std::vector<wire::NodeInc> Clique(
      const wire::NodeInc& from, const std::vector<wire::NodeInc>& candidates,
      const std::set<std::string>& excluded) const;
  bool NeedsChange(const std::vector<wire::NodeInc>& desired) const;
  void Propose();
  void LockTo(const ProposalKey& key);
  AcceptData MakeAccept() const;
  void OnPropose(Link& l, const wire::Frame& frame);
  void OnAccept(Link& l, const wire::Frame& frame);
  void RecordAccept(const std::string& member, AcceptData data);
  void DoInstall();
  void OnInstall(Link& l, const wire::Frame& frame);
  void ApplyInstall(const ProposalKey& by, uint64_t conf_id,
                    const std::vector<wire::InstallMember>& members,
                    const std::vector<wire::HeldReport>& held);
  void TryCompleteInstall();
  void OnRetrans(Link& l, const wire::Frame& frame);
  void GiveUp(const std::string& why);
  void AbortProposal();
  void InstallSingleton();

  asio::io_context& io_;
  MeshOptions options_;
  MeshListener* listener_;
  bool running_ = false;
  std::mt19937_64 rng_;
  std::map<std::string, std::unique_ptr<Link>> links_;  // by peer name
  std::unordered_map<net::Connection*, ConnInfo> conns_;
  uint64_t next_conn_id_ = 1;
  std::optional<asio::ip::address> bind_addr_;
  asio::steady_timer tick_timer_;
  // CLOCK news only the fast path made (docs/mesh.md §3.2) waits for this
  // timer (kClockPace); clock_urgent_: news someone may be waiting for.
  asio::steady_timer clock_pace_timer_;
  bool clock_pace_armed_ = false;
  bool clock_urgent_ = false;
  // Urgent news waits at most this long after the last CLOCK we sent
  // (kClockGapDivisor; recomputed every tick from the links' round trips).
  std::chrono::microseconds clock_gap_{0};
  SteadyClock::time_point last_clock_at_{};

  // Reachability and gossip.
  std::vector<wire::NodeInc> reach_;  // sorted; excluding self
  std::map<std::string, Gossip> gossip_;

  // Current configuration.
  State state_ = State::kOperational;
  uint64_t conf_id_ = 0;
  std::vector<ConfMember> members_;  // sorted by name
  int self_idx_ = 0;
  ProposalKey installed_by_;
  uint64_t max_conf_id_ = 0;
  uint64_t clock_ = 0;
  uint64_t announced_ts_ = 0;
  uint64_t announced_stable_ = 0;
  bool clock_posted_ = false;
  bool deliver_posted_ = false;
  bool batch_posted_ = false;
  // Items appended to any link's batch, that count when the posted flush
  // last looked, and when it was posted (PostFlushBatches: batches still
  // growing wait, up to kMaxBatchWait).
  uint64_t batched_items_ = 0;
  uint64_t batched_at_check_ = 0;
  SteadyClock::time_point batch_since_;
  // False while submissions queued during a change are stamped, before the
  // listener learns of the new configuration (SelectBodies would answer
  // from the old one).
  bool route_ok_ = true;
  std::vector<wire::Item> items_scratch_;  // OnItems
  // A configuration of one: its items need no order with others, no
  // stability and no flush, so they wait here (not in members_/undelivered_)
  // and the listener may take their bodies.
  struct LocalItem {
    uint64_t ts = 0;
    wire::Service service = wire::Service::kAgreed;
    uint8_t kind = 0;
    std::string body;
  };
  std::deque<LocalItem> local_;
  bool evaluate_posted_ = false;
  // Highest stamp of a safe item held in conf_: until our announced
  // `stable` covers it, some member may wait for our stability news (also
  // after we delivered it ourselves).
  uint64_t safe_high_ = 0;
  // Place in the order of the last item delivered in conf_ (ts, index).
  std::pair<uint64_t, int> last_delivered_{0, -1};
  // The fifo fast path (docs/mesh.md §3.2). Membership items delivered in
  // conf_ (the current membership epoch); the last epoch we stamped a mark
  // for (above epoch_: we reached its membership item, and stamp no fast
  // item until it is delivered); our last item not on the fast path (until
  // it is delivered our fifo items take the agreed path too).
  uint32_t epoch_ = 0;
  uint32_t own_mark_ = 0;
  uint32_t last_own_slow_ = 0;
  bool hold_clocks_ = false;  // TestHoldClocks
  // Deliveries left in this handler (kMaxDeliverPerTurn; unlimited in a
  // flush).
  size_t deliver_budget_ = 0;
  // Undelivered items in the agreed order: (ts, member index, oseq).
  UndeliveredIndex undelivered_;
  std::deque<std::tuple<wire::Service, uint8_t, std::string, uint8_t>>
      submit_queue_;
  std::vector<std::string> member_names_;  // members_' names (SelectBodies)
  std::vector<uint8_t> need_;              // scratch for SelectBodies
  // Body buffers of collected items, reused for the bodies of new items
  // (received ones, and through TakeBodyBuffer the listener's submissions):
  // a steady stream then allocates and frees no body per item. Bounded in
  // bytes and per buffer (a burst of large bodies is not kept). Stability
  // comes in steps (kStableNewsStep, the clock pace, each member's news
  // crossing its links), so a collection frees thousands of items at a
  // time under load: at 1 MiB, a third of a 1 KiB fan-out's bodies were
  // allocated anew. Given back to the allocator by the tick after one in
  // which none was taken (traffic stopped): an idle server keeps none.
  std::vector<std::string> spare_bodies_;
  size_t spare_bytes_ = 0;    // capacity of spare_bodies_' buffers
  bool spare_taken_ = false;  // since the last Tick
  static constexpr size_t kMaxSpareBytes = 4 << 20;
  static constexpr size_t kMaxSpareBodyCapacity = 4096;
  // Keeps a collected item's body buffer in spare_bodies_ (if it fits).
  void RecycleBody(std::string& body) {
    const size_t cap = body.capacity();
    if (spare_bytes_ + cap <= kMaxSpareBytes && cap <= kMaxSpareBodyCapacity &&
        cap > std::string().capacity()) {  // not inline (SSO)
      body.clear();
      spare_bytes_ += cap;
      spare_bodies_.push_back(std::move(body));
    }
  }
  // Swaps a spare buffer (empty) into *into, which must be empty; swapped
  // in place, as moving it out costs several string moves per item.
  void TakeSpareBody(std::string* into) {
    if (spare_bodies_.empty()) return;
    spare_taken_ = true;
    spare_bytes_ -= spare_bodies_.back().capacity();
    into->swap(spare_bodies_.back());
    spare_bodies_.pop_back();
  }

  // Membership protocol.
  ProposalKey lock_;
  SteadyClock::time_point lock_deadline_{};
  std::vector<uint32_t> reported_held_;  // per member index, while frozen
  std::vector<uint64_t> reported_high_;  // their `high`, taken with them
  // Our safe bound (SafeBound) when we first froze: we deliver no safe item
  // above it while frozen, and report it (the flush's regular part).
  uint64_t locked_safe_bound_ = 0;
  uint64_t attempt_ = 0;
  bool proposing_ = false;
  std::vector<wire::NodeInc> proposal_members_;
  std::vector<std::string> proposal_names_;  // owns the names above
  std::map<std::string, AcceptData> accepts_;
  asio::steady_timer settle_timer_;
  bool settle_armed_ = false;
  asio::steady_timer form_timer_;
  // The INSTALL being flushed.
  struct Pending {
    ProposalKey by;
    uint64_t conf_id = 0;
    std::vector<std::tuple<std::string, uint64_t, uint64_t>> members;
    std::map<std::string, std::string> states;  // by member, from INSTALL
    std::vector<uint32_t> cut;                  // per old member index
    std::vector<std::string> moving_together;
    // ITEM/CLOCK frames of the new configuration that arrived early.
    std::vector<std::pair<Link*, std::string>> early;
    // The body gathering (docs/mesh.md §4.1): our GATHER_REQ went out;
    // members whose answer is complete; members whose request we answered.
    uint64_t safe_threshold = 0;  // max safe_bound of the transitional set
    // The regular part of the flush ends above this stamp: every item of a
    // departing origin stamped up to it is held by the transitional set
    // (docs/mesh.md §4 "Flush").
    uint64_t regular_bound = std::numeric_limits<uint64_t>::max();
    bool gather_sent = false;
    std::set<std::string> gather_done;
    std::set<std::string> gather_asked;
  };
  std::optional<Pending> pending_;
  // ITEM/CLOCK frames of a newer configuration whose INSTALL has not
  // arrived yet: a member that installed first may send them before the
  // coordinator's INSTALL reaches us over another link. Moved into
  // pending_->early when that INSTALL comes; dropped at the next install.
  std::vector<std::tuple<Link*, uint64_t, std::string>> future_;
  // GATHER_REQs answered for an INSTALL that has not reached us yet, by
  // new configuration id.
  std::map<uint64_t, std::set<std::string>> gather_asked_early_;
};

// ---------------------------------------------------------------------------
// Start / stop / options.

Status Mesh::Impl::Start() {
  if (running_) return Status::OK();
  if (options_.incarnation == 0) {
    return Status::InvalidArgument("mesh: incarnation must not be 0");
  }
  bool self_found = false;
  std::set<std::string> names;
  for (const PeerSpec& p : options_.peers) {
    if (!names.insert(p.name).second) {
      return Status::InvalidArgument(
          fmt::format("mesh: peer {} listed twice", p.name));
    }
    if (p.name == options_.self) {
      self_found = true;
      std::error_code ec;
      auto a = asio::ip::make_address(p.host, ec);
      if (!ec && !a.is_unspecified()) bind_addr_ = a;
      if (p.host == "localhost") bind_addr_ = asio::ip::address_v4::loopback();
    }
  }
  if (!self_found) {
    return Status::InvalidArgument(
        fmt::format("mesh: self {} is not in peers", options_.self));
  }
  for (const PeerSpec& p : options_.peers) {
    if (p.name == options_.self) continue;
    Status s = AddLink(p);
    if (!s.ok()) return s;
  }
  running_ = true;
  InstallSingleton();
  for (auto& [name, l] : links_) Dial(*l);
  Tick();
  return Status::OK();
}

void Mesh::Impl::InstallSingleton() {
  conf_id_ = (uint64_t{1} << kConfCounterShift) | Hash16(options_.self);
  max_conf_id_ = conf_id_;
  members_.clear();
  members_.push_back(ConfMember{});
  members_[0].name = options_.self;
  members_[0].inc = options_.incarnation;
  self_idx_ = 0;
  member_names_ = {options_.self};
  std::weak_ptr<Impl> w = weak_from_this();
  asio::post(io_, [w] {
    auto self = w.lock();
    if (!self || !self->running_) return;
    Configuration c = self->PublicConf();
    MSGC_LOG_NOTICE("mesh {}: configuration {:x} [{}]", self->options_.self,
                    c.id, JoinNames(c.members));
    const std::string state = self->listener_->ConfigurationState({});
    self->listener_->OnConfiguration(c, {self->options_.self}, {},
                                     std::span<const std::string>(&state, 1));
  });
}

void Mesh::Impl::Stop() {
  if (!running_) return;
  running_ = false;
  std::string bye;
  wire::EncodeBye({}, &bye);
  auto bye_frame = std::make_shared<const std::string>(std::move(bye));
  for (auto& [name, l] : links_) {
    if (l->active && l->active->is_open()) {
      l->active->CloseAfterFlush(net::CloseReason::kShutdown, "mesh stopping",
                                 bye_frame);
    }
    CloseConns(*l, net::CloseReason::kShutdown, "mesh stopping");
    l->redial_timer.cancel();
    l->ack_timer.cancel();
  }
  tick_timer_.cancel();
  clock_pace_timer_.cancel();
  settle_timer_.cancel();
  form_timer_.cancel();
}

Status Mesh::Impl::AddLink(const PeerSpec& spec) {
  if (spec.name.empty() || spec.name.size() > wire::kMaxNodeNameLen) {
    return Status::InvalidArgument(
        fmt::format("mesh: bad peer name '{}'", spec.name));
  }
  auto l = std::make_unique<Link>(io_, spec);
  std::error_code ec;
  auto a = asio::ip::make_address(spec.host, ec);
  if (!ec) {
    l->addrs.push_back(a);
  } else if (spec.host == "localhost") {
    l->addrs.push_back(asio::ip::address_v4::loopback());
  }
  links_[spec.name] = std::move(l);
  return Status::OK();
}

Status Mesh::Impl::UpdateOptions(const MeshOptions& options) {
  if (options.self != options_.self ||
      options.incarnation != options_.incarnation) {
    return Status::InvalidArgument(
        "mesh: self and incarnation cannot change at runtime");
  }
  std::map<std::string, const PeerSpec*> want;
  for (const PeerSpec& p : options.peers) {
    if (p.name != options_.self) want[p.name] = &p;
  }
  options_.link = options.link;
  options_.connect_timeout = options.connect_timeout;
  options_.reconnect_interval = options.reconnect_interval;
  options_.peers = options.peers;
  for (auto& [name, l] : links_) {
    auto it = want.find(name);
    if (it == want.end()) {
      if (!l->removed) {
        l->removed = true;
        MSGC_LOG_NOTICE("mesh {}: peer {} removed from peers", options_.self,
                        name);
        CloseConns(*l, net::CloseReason::kShutdown, "peer removed");
        MarkLost(*l, "removed from peers");
      }
      continue;
    }
    if (it->second->host != l->spec.host || it->second->port != l->spec.port) {
      // A new address: drop the links so that they are re-made there.
      l->spec = *it->second;
      l->addrs.clear();
      std::error_code ec;
      auto a = asio::ip::make_address(l->spec.host, ec);
      if (!ec) l->addrs.push_back(a);
      CloseConns(*l, net::CloseReason::kShutdown, "peer address changed");
    }
    l->removed = false;
    if (l->active) l->active->SetOptions(options_.link);
  }
  for (auto& [name, spec] : want) {
    if (links_.count(name)) continue;
    Status s = AddLink(*spec);
    if (!s.ok()) return s;
    MSGC_LOG_NOTICE("mesh {}: peer {} added", options_.self, name);
  }
  if (running_) {
    for (auto& [name, l] : links_) Dial(*l);
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// Dialling.

void Mesh::Impl::Resolve(Link& l) {
  if (l.resolving) return;
  l.resolving = true;
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(io_);
  std::weak_ptr<Impl> w = weak_from_this();
  Link* lp = &l;
  resolver->async_resolve(
      l.spec.host, std::to_string(l.spec.port),
      [w, lp, resolver](const std::error_code& ec,
                        asio::ip::tcp::resolver::results_type results) {
        auto self = w.lock();
        if (!self || !self->running_) return;
        lp->resolving = false;
        if (ec) {
          MSGC_LOG_WARN("mesh {}: cannot resolve {} ({}): {}",
                        self->options_.self, lp->spec.name, lp->spec.host,
                        ec.message());
          self->ScheduleRedial(*lp, false);
          return;
        }
        lp->addrs.clear();
        for (const auto& r : results)
          lp->addrs.push_back(r.endpoint().address());
        self->Dial(*lp);
      });
}

void Mesh::Impl::Dial(Link& l) {
  if (!running_ || l.blocked || l.removed || l.active || l.dialing ||
      l.connecting) {
    return;
  }
  if (l.addrs.empty()) {
    Resolve(l);
    return;
  }
  l.redial_timer.cancel();
  l.redial_armed = false;
  const asio::ip::address& addr = l.addrs.front();
  auto sock = std::make_shared<asio::ip::tcp::socket>(io_);
  std::error_code ec;
  sock->open(addr.is_v4() ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), ec);
  // Peers check the source address against `peers`: leave from ours.
  if (!ec && bind_addr_ && bind_addr_->is_v4() == addr.is_v4()) {
    sock->bind(asio::ip::tcp::endpoint(*bind_addr_, 0), ec);
  }
  // tcpbuf_size on the dialled side too. SO_RCVBUF only takes full effect
  // (window scale) before the handshake, so both are set before connect().
  if (!ec && options_.link.tcpbuf_size > 0) {
    const int size = static_cast<int>(options_.link.tcpbuf_size);
    std::error_code bec;
    sock->set_option(asio::socket_base::receive_buffer_size(size), bec);
    sock->set_option(asio::socket_base::send_buffer_size(size), bec);
    if (bec) {
      MSGC_LOG_DEBUG("mesh {}: buffers for {}: {}", options_.self, l.spec.name,
                     bec.message());
    }
  }
  if (ec) {
    MSGC_LOG_WARN("mesh {}: socket for {}: {}", options_.self, l.spec.name,
                  ec.message());
    ScheduleRedial(l, false);
    return;
  }
  l.connecting = sock;
  std::weak_ptr<Impl> w = weak_from_this();
  Link* lp = &l;
  if (options_.connect_timeout.count() > 0) {
    l.connect_timer.expires_after(options_.connect_timeout);
    l.connect_timer.async_wait([w, lp, sock](const std::error_code& e) {
      if (e) return;
      auto self = w.lock();
      if (!self || lp->connecting != sock) return;
      std::error_code ignored;
      sock->close(ignored);  // completes the connect with operation_aborted
    });
  }
  sock->async_connect(asio::ip::tcp::endpoint(addr, l.spec.port),
                      [w, lp, sock](const std::error_code& e) {
                        auto self = w.lock();
                        if (!self) return;
                        self->OnConnected(*lp, sock, e);
                      });
}

void Mesh::Impl::OnConnected(Link& l,
                             std::shared_ptr<asio::ip::tcp::socket> sock,
                             const std::error_code& ec) {
  if (l.connecting != sock) return;  // cancelled
  l.connecting.reset();
  l.connect_timer.cancel();
  if (!running_ || l.blocked || l.removed) return;
  if (ec) {
    std::string why = ec == asio::error::operation_aborted
                          ? std::string("connect timed out")
                          : ec.message();
    MSGC_LOG_DEBUG("mesh {}: connect to {}: {}", options_.self, l.spec.name,
                   why);
    // A refused connect means nothing listens there: the process is gone
    // (kill -9), no need to wait for idle_timeout.
    if (ec == asio::error::connection_refused) {
      MarkLost(l, "connection refused");
    }
    if (!l.active) ScheduleRedial(l, false);
    return;
  }
  if (l.active) {
    // An inbound link was established meanwhile; keep it unless ours is the
    // preferred one (dialled by the lower name).
    if (options_.self > l.spec.name) {
      std::error_code ignored;
      sock->close(ignored);
      return;
    }
  }
  auto conn = net::Connection::Create(std::move(*sock), next_conn_id_++,
                                      options_.link, this);
  conn->set_name("peer:" + l.spec.name);
  conns_[conn.get()] = ConnInfo{&l, true, false};
  l.dialing = conn;
  conn->Start();
  wire::Hello hello;
  hello.role = wire::Role::kPeer;
  hello.name = options_.self;
  hello.incarnation = options_.incarnation;
  hello.software = kSoftware;
  auto f = std::make_shared<std::string>();
  wire::EncodeHello(hello, f.get());
  conn->Send(std::move(f));
}

void Mesh::Impl::ScheduleRedial(Link& l, bool quick) {
  if (!running_ || l.blocked || l.removed) return;
  std::chrono::milliseconds delay;
  if (quick) {
    // Both sides redial at once after a break; the jitter spreads them.
    std::uniform_int_distribution<int64_t> d(0, kQuickRedial.count());
    delay = kQuickRedial + std::chrono::milliseconds(d(rng_));
  } else {
    const int64_t base = options_.reconnect_interval.count();
    std::uniform_int_distribution<int64_t> d(-base / 5, base / 5);
    delay = std::chrono::milliseconds(std::max<int64_t>(1, base + d(rng_)));
  }
  if (l.redial_armed) {
    // A slow redial armed earlier (e.g. after our own attempt lost to the
    // peer's inbound link) must not delay the quick one after a break:
    // that redial is what finds a killed peer refused within the second.
    if (SteadyClock::now() + delay >= l.redial_at) return;
    l.redial_timer.cancel();
  }
  l.redial_armed = true;
  l.redial_at = SteadyClock::now() + delay;
  std::weak_ptr<Impl> w = weak_from_this();
  Link* lp = &l;
  l.redial_timer.expires_after(delay);
  l.redial_timer.async_wait([w, lp](const std::error_code& ec) {
    if (ec) return;
    auto self = w.lock();
    if (!self) return;
    if (SteadyClock::now() < lp->redial_at) return;  // re-armed meanwhile
    lp->redial_armed = false;
    self->Dial(*lp);
  });
}

std::shared_ptr<net::Connection> Mesh::Impl::Shared(net::Connection& conn) {
  return conn.shared_from_this();
}

void Mesh::Impl::CloseConns(Link& l, net::CloseReason reason,
                            const std::string& why) {
  if (l.active && l.active->is_open()) l.active->Close(reason, why);
  if (l.dialing && l.dialing->is_open()) l.dialing->Close(reason, why);
  if (l.connecting) {
    std::error_code ignored;
    l.connecting->close(ignored);
    l.connecting.reset();
    l.connect_timer.cancel();
  }
}

// ---------------------------------------------------------------------------
// Handshake and link establishment.

void Mesh::Impl::AdoptInbound(std::shared_ptr<net::Connection> conn,
                              const wire::Hello& hello,
                              const asio::ip::tcp::endpoint& remote) {
  auto refuse = [&](std::string why) {
    MSGC_LOG_ERROR("mesh {}: refusing peer '{}' from {}: {}", options_.self,
                   hello.name, net::FormatEndpoint(remote), why);
    conn->CloseWithError(net::CloseReason::kRefused,
                         wire::ErrorCode::kNotAllowed, why,
                         wire::FrameType::kHello);
  };
  if (!running_) {
    conn->CloseWithError(net::CloseReason::kShutdown,
                         wire::ErrorCode::kShuttingDown, "mesh not running",
                         wire::FrameType::kHello);
    return;
  }
  std::string name(hello.name);
  auto it = links_.find(name);
  if (name == options_.self || it == links_.end() || it->second->removed) {
    refuse(fmt::format("'{}' is not a peer", name));
    return;
  }
  Link& l = *it->second;
  if (l.addrs.empty()) {
    Resolve(l);
    refuse(
        fmt::format("address of {} ({}) not resolved yet", name, l.spec.host));
    return;
  }
  auto a = remote.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  if (std::find(l.addrs.begin(), l.addrs.end(), a) == l.addrs.end()) {
    refuse(fmt::format("{} must connect from {} ({}), not {}", name,
                       l.spec.host, l.addrs.front().to_string(),
                       a.to_string()));
    return;
  }
  if (hello.incarnation == 0) {
    refuse("incarnation 0");
    return;
  }
  if (l.blocked) {
    conn->Close(net::CloseReason::kRefused, "blocked (test)");
    return;
  }
  // Duplicate resolution: the link dialled by the lower name wins. If we are
  // lower and our own link is up, the peer is merely racing us.
  if (options_.self < name && l.active && conns_[l.active.get()].outbound &&
      hello.incarnation == l.peer_inc) {
    MSGC_LOG_DEBUG("mesh {}: duplicate link from {} closed", options_.self,
                   name);
    conn->CloseAfterFlush(net::CloseReason::kRefused, "duplicate peer link");
    return;
  }
  conn->set_name("peer:" + name);
  auto [ci, inserted] = conns_.emplace(conn.get(), ConnInfo{&l, false, false});
  (void)inserted;
  NotePeerIncarnation(l, hello.incarnation);
  wire::Welcome welcome;
  welcome.private_name = name;
  welcome.node = options_.self;
  welcome.incarnation = options_.incarnation;
  welcome.max_message_size = options_.link.max_body;
  welcome.keepalive_ms =
      static_cast<uint32_t>(options_.link.keepalive_interval.count());
  welcome.idle_timeout_ms =
      static_cast<uint32_t>(options_.link.idle_timeout.count());
  auto f = std::make_shared<std::string>();
  wire::EncodeWelcome(welcome, f.get());
  conn->Send(std::move(f));
  Establish(l, conn, ci->second);
}

void Mesh::Impl::NotePeerIncarnation(Link& l, uint64_t inc) {
  if (l.peer_inc == inc) return;
  if (l.peer_inc != 0) {
    MSGC_LOG_NOTICE("mesh {}: peer {} restarted (incarnation {:x} -> {:x})",
                    options_.self, l.spec.name, l.peer_inc, inc);
    // The old process is gone with everything it had not acknowledged;
    // the channel starts over.
    l.resend.clear();
    l.next_seq = 1;
    l.sent_seq = 0;
    l.reset_unconfirmed = false;  // the new process starts at 1 anyway
    l.recv_seq = 0;
    l.acked_sent = 0;
    gossip_.erase(l.spec.name);
    if (l.active) {
      auto old = l.active;
      l.active.reset();
      l.synced = false;
      old->Close(net::CloseReason::kPeerClosed, "peer restarted");
    }
    l.peer_inc = inc;
    MarkLost(l, "restarted");
    return;
  }
  l.peer_inc = inc;
}

void Mesh::Impl::Establish(Link& l,
                           const std::shared_ptr<net::Connection>& conn,
                           ConnInfo& info) {
  const bool preferred = info.outbound == (options_.self < l.spec.name);
  if (l.active && l.active != conn) {
    const bool active_preferred =
        conns_[l.active.get()].outbound == (options_.self < l.spec.name);
    if (active_preferred && !preferred) {
      conn->CloseAfterFlush(net::CloseReason::kRefused, "duplicate peer link");
      return;
    }
    auto old = l.active;
    l.active.reset();
    old->Close(net::CloseReason::kRefused, "replaced by a newer peer link");
  }
  if (l.dialing == conn) l.dialing.reset();
  if (!info.outbound && options_.self > l.spec.name) {
    // The lower name dialled us: that link wins, drop our own attempt.
    if (l.dialing) {
      auto d = l.dialing;
      l.dialing.reset();
      d->Close(net::CloseReason::kRefused, "peer dialled us first");
    }
    if (l.connecting) {
      std::error_code ignored;
      l.connecting->close(ignored);
      l.connecting.reset();
      l.connect_timer.cancel();
    }
  }
  info.established = true;
  l.active = conn;
  l.synced = false;
  l.last_rx = SteadyClock::now();
  wire::LinkSync sync;
  // Repeated on every connection until the peer shows it saw it: a peer that
  // still counts our old stream would take frame 1 for a gap.
  info.sent_reset = l.reset_unconfirmed;
  if (info.sent_reset) sync.flags |= wire::kSyncReset;
  sync.incarnation = options_.incarnation;
  sync.your_incarnation = l.peer_inc;
  sync.received = l.recv_seq;
  auto f = std::make_shared<std::string>();
  wire::EncodeLinkSync({0, l.recv_seq}, sync, f.get());
  l.acked_sent = l.recv_seq;
  conn->Send(std::move(f));
}

// ---------------------------------------------------------------------------
// Frames.

void Mesh::Impl::OnFrame(net::Connection& conn, const wire::Frame& frame) {
  auto it = conns_.find(&conn);
  if (it == conns_.end() || !running_) return;
  ConnInfo& info = it->second;
  Link& l = *info.link;
  if (l.blocked) return;
  const auto type = frame.header.type;
  if (!info.established) {
    // Outbound, waiting for WELCOME.
    if (type == wire::FrameType::kWelcome) {
      wire::Welcome w;
      Status s = wire::DecodeWelcome(frame, &w);
      if (!s.ok()) {
        conn.Close(net::CloseReason::kProtocolError, s.message());
        return;
      }
      if (w.node != l.spec.name || w.incarnation == 0) {
        conn.Close(
            net::CloseReason::kProtocolError,
            fmt::format("WELCOME from '{}', expected {}", w.node, l.spec.name));
        return;
      }
      l.last_rx = SteadyClock::now();
      NotePeerIncarnation(l, w.incarnation);
      Establish(l, Shared(conn), info);
      return;
    }
    if (type == wire::FrameType::kError) {
      wire::Error e;
      std::string why = "refused us";
      if (wire::DecodeError(frame, &e).ok()) {
        why = fmt::format("refused us: {}: {}", wire::ErrorCodeName(e.code),
                          e.text);
      }
      MSGC_LOG_ERROR("mesh {}: peer {} {}", options_.self, l.spec.name, why);
      conn.Close(net::CloseReason::kRefused, why);
      // Like ECONNREFUSED: the peer will not take us (e.g. a reload removed
      // us from its peers), so waiting for idle_timeout would only delay
      // the configuration change. The redial goes on every
      // reconnect_interval, in case we are added back. A link that is up on
      // another connection is left to its own failure detection.
      if (!(l.active && l.synced)) MarkLost(l, why);
      return;
    }
    if (type == wire::FrameType::kNoop) return;
    conn.Close(net::CloseReason::kProtocolError,
               fmt::format("{} before WELCOME",
                           static_cast<unsigned>(frame.header.type)));
    return;
  }
  if (l.active.get() != &conn) return;  // a replaced link draining
  l.last_rx = SteadyClock::now();
  if (type == wire::FrameType::kNoop) return;
  if (type == wire::FrameType::kError) {
    // The peer closes this connection with a reason, e.g. it took a newer
    // one of ours while we were stopped ("duplicate peer link"). Not a
    // protocol error of ours: the redial and the link sync recover.
    wire::Error e;
    std::string why = "peer closed the link";
    if (wire::DecodeError(frame, &e).ok()) {
      why = fmt::format("peer closed the link: {}: {}",
                        wire::ErrorCodeName(e.code), e.text);
    }
    MSGC_LOG_INFO("mesh {}: {} {}", options_.self, l.spec.name, why);
    conn.Close(net::CloseReason::kPeerClosed, why);
    return;
  }
  if (!wire::IsMeshFrameType(static_cast<uint8_t>(type))) {
    conn.CloseWithError(net::CloseReason::kProtocolError,
                        wire::ErrorCode::kUnexpected,
                        "client frame on a peer link", type);
    return;
  }
  HandleMeshFrame(l, info, conn, frame);
}

void Mesh::Impl::OnTooLarge(net::Connection& conn,
                            const wire::FrameHeader& header) {
  // A peer never sends more than max_body; losing a sequenced frame would
  // break the channel, so the link is closed (and redialled).
  conn.Close(
      net::CloseReason::kProtocolError,
      fmt::format("peer frame of {} bytes above max_body", header.body_len));
}

void Mesh::Impl::OnClose(net::Connection& conn) {
  auto it = conns_.find(&conn);
  if (it == conns_.end()) return;
  Link& l = *it->second.link;
  conns_.erase(it);
  if (l.active.get() == &conn) {
    l.active.reset();
    l.synced = false;
    // The channel survives: the resend buffer is kept and LINK_SYNC after
    // the reconnect resends exactly what the peer lacks.
    ScheduleRedial(l, true);
  } else if (l.dialing.get() == &conn) {
    l.dialing.reset();
    if (!l.active) ScheduleRedial(l, false);
  }
}

void Mesh::Impl::OnDrained(net::Connection& conn) {
  auto it = conns_.find(&conn);
  if (it == conns_.end() || !running_) return;
  Link& l = *it->second.link;
  if (l.active.get() == &conn) Pump(l);
}

void Mesh::Impl::HandleMeshFrame(Link& l, ConnInfo& info, net::Connection& conn,
                                 const wire::Frame& frame) {
  wire::LinkPrefix prefix;
  std::span<const uint8_t> rest;
  Status s = wire::DecodeLinkPrefix(frame, &prefix, &rest);
  const uint8_t type = static_cast<uint8_t>(frame.header.type);
  if (s.ok() && !wire::IsKnownMeshFrameType(type)) {
    s = Status::ProtocolError(fmt::format("unknown mesh frame 0x{:02x}", type));
  }
  if (!s.ok()) {
    conn.CloseWithError(net::CloseReason::kProtocolError,
                        wire::ErrorCode::kBadFrame, s.message(),
                        frame.header.type);
    return;
  }
  if (type == static_cast<uint8_t>(MeshFrameType::kLinkSync)) {
    HandleSync(l, info, conn, frame);
    return;
  }
  if (!l.synced) {
    conn.Close(net::CloseReason::kProtocolError, "mesh frame before LINK_SYNC");
    return;
  }
  // The peer sends acks (and BYE aside, anything but its LINK_SYNC) on a
  // connection only after our LINK_SYNC there: it has seen the restart.
  if (info.sent_reset && l.reset_unconfirmed &&
      type != static_cast<uint8_t>(MeshFrameType::kBye)) {
    l.reset_unconfirmed = false;
  }
  ProcessAck(l, prefix.ack);
  switch (static_cast<MeshFrameType>(type)) {
    case MeshFrameType::kLinkAck:
      return;
    case MeshFrameType::kBye:
      MSGC_LOG_NOTICE("mesh {}: peer {} is stopping", options_.self,
                      l.spec.name);
      MarkLost(l, "said BYE");
      conn.Close(net::CloseReason::kGoodbye, "peer stopping");
      return;
    default:
      break;
  }
  if (prefix.link_seq <= l.recv_seq) return;  // already had it
  if (prefix.link_seq != l.recv_seq + 1) {
    conn.Close(
        net::CloseReason::kProtocolError,
        fmt::format("link_seq {} after {}", prefix.link_seq, l.recv_seq));
    return;
  }
  l.recv_seq = prefix.link_seq;
  NoteReceived(l);
  ReleaseBarriers(l, prefix.ack);
  switch (static_cast<MeshFrameType>(type)) {
    case MeshFrameType::kReach: {
      wire::Reach r;
      s = wire::DecodeReach(frame, &r);
      if (!s.ok()) break;
      Gossip& g = gossip_[l.spec.name];
      g.conf_id = r.conf_id;
      g.flags = r.flags;
      g.lock = ProposalKey{std::string(r.lock.coordinator), r.lock.attempt};
      g.reach.clear();
      for (const auto& n : r.reachable)
        g.reach[std::string(n.name)] = n.incarnation;
      max_conf_id_ = std::max(max_conf_id_, r.conf_id);
      ScheduleEvaluate();
      return;
    }
    case MeshFrameType::kItem:
      OnItem(l, frame);
      return;
    case MeshFrameType::kItems:
      OnItems(l, frame);
      return;
    case MeshFrameType::kClock:
      OnClock(l, frame);
      return;
    case MeshFrameType::kPropose:
      OnPropose(l, frame);
      return;
    case MeshFrameType::kAccept:
      OnAccept(l, frame);
      return;
    case MeshFrameType::kInstall:
      OnInstall(l, frame);
      return;
    case MeshFrameType::kRetrans:
      OnRetrans(l, frame);
      return;
    case MeshFrameType::kLateBody:
      OnLateBody(l, frame);
      return;
    case MeshFrameType::kGatherReq:
      OnGatherReq(l, frame);
      return;
    case MeshFrameType::kGatherItem:
      OnGatherItem(l, frame);
      return;
    case MeshFrameType::kGatherDone:
      OnGatherDone(l, frame);
      return;
    default:
      break;
  }
  if (!s.ok()) {
    conn.CloseWithError(net::CloseReason::kProtocolError,
                        wire::ErrorCode::kBadFrame, s.message(),
                        frame.header.type);
  }
}

void Mesh::Impl::HandleSync(Link& l, ConnInfo& info, net::Connection& conn,
                            const wire::Frame& frame) {
  wire::LinkSync sync;
  Status s = wire::DecodeLinkSync(frame, &sync);
  if (!s.ok() || sync.incarnation != l.peer_inc) {
    conn.Close(
        net::CloseReason::kProtocolError,
        s.ok() ? std::string("LINK_SYNC incarnation mismatch") : s.message());
    return;
  }
  if (sync.flags & wire::kSyncReset) {
    // The peer dropped what it had not sent us yet (we were out of its
    // configuration) and numbers its stream from 1 again.
    MSGC_LOG_INFO("mesh {}: peer {} restarted its channel to us after {}",
                  options_.self, l.spec.name, l.recv_seq);
    l.recv_seq = 0;
    l.acked_sent = 0;
  }
  // A peer that knew another incarnation of us has nothing of our channel;
  // one that sent its LINK_SYNC before seeing our restart counts our old
  // stream.
  const uint64_t received =
      sync.your_incarnation == options_.incarnation && !info.sent_reset
          ? sync.received
          : 0;
  ProcessAck(l, received);
  l.sent_seq = received;
  if (!l.resend.empty() && l.resend.front().first > received + 1) {
    // Cannot happen unless the resend buffer overflowed: frames are gone.
    MSGC_LOG_ERROR(
        "mesh {}: link to {} lost frames {}..{}; treating it as "
        "lost",
        options_.self, l.spec.name, received + 1, l.resend.front().first - 1);
    MarkLost(l, "resend buffer overflow");
  }
  l.synced = true;
  MSGC_LOG_INFO("mesh {}: link to {} up via {} ({} frames resent)",
                options_.self, l.spec.name, conn.remote(),
                l.resend.empty() ? 0 : l.next_seq - 1 - received);
  // The resend goes out at the pace the peer reads (Pump, OnDrained);
  // frames sent meanwhile queue behind it in the resend buffer.
  Pump(l);
  if (!l.alive) {
    l.alive = true;
    RecomputeReach(false);
  }
  // The peer may have lost our gossip with its last incarnation.
  SendReach(l);
}

void Mesh::Impl::ProcessAck(Link& l, uint64_t ack) {
  while (!l.resend.empty() && l.resend.front().first <= ack) {
    l.resend.pop_front();
  }
}

void Mesh::Impl::Pump(Link& l) {
  if (!l.active || !l.synced || l.resend.empty() || l.test_held) return;
  net::Connection& c = *l.active;
  // Fill up to 3/4 of max_backlog: at least the low-water mark, so that
  // OnDrained comes back for more, and with room left for the unsequenced
  // frames (acks, keepalives) that go straight to the connection.
  const size_t limit =
      std::max(c.low_water_mark(), c.options().max_backlog / 4 * 3 +
                                       c.options().max_backlog % 4 * 3 / 4);
  const uint64_t first = l.resend.front().first;
  // Acknowledged frames left the buffer (possibly received on an earlier
  // connection); an overflow may have dropped unsent ones.
  if (l.sent_seq + 1 < first) l.sent_seq = first - 1;
  while (c.is_open() && c.queued_frames() < limit &&
         l.sent_seq < l.resend.back().first) {
    const Link::Unacked& u = l.resend[l.sent_seq + 1 - first];
    c.Send(u.second, u.messages);
    ++l.sent_seq;
  }
}

void Mesh::Impl::NoteReceived(Link& l) {
  if (l.recv_seq - l.acked_sent >= kAckEvery) {
    SendAck(l);
    return;
  }
  if (l.ack_armed) return;
  l.ack_armed = true;
  std::weak_ptr<Impl> w = weak_from_this();
  Link* lp = &l;
  l.ack_timer.expires_after(kAckDelay);
  l.ack_timer.async_wait([w, lp](const std::error_code& ec) {
    if (ec) return;
    auto self = w.lock();
    if (!self) return;
    lp->ack_armed = false;
    if (lp->recv_seq > lp->acked_sent) self->SendAck(*lp);
  });
}

void Mesh::Impl::SendAck(Link& l) {
  if (!l.active || !l.synced) return;
  auto f = std::make_shared<std::string>();
  wire::EncodeLinkAck({0, l.recv_seq}, f.get());
  l.acked_sent = l.recv_seq;
  l.active->SendUrgent(std::move(f));
}

void Mesh::Impl::AppendBatch(Link& l, const wire::Item& item,
                             const wire::ItemRecordHead& head) {
  if (!l.batch.empty() && (l.batch_conf != item.conf_id ||
                           l.batch.size() + item.body.size() > kMaxBatchBytes ||
                           wire::ItemsCount(l.batch, 0) >= BatchItemsLimit())) {
    FlushBatch(l);
  }
  if (l.batch.empty()) {
    // Header, link prefix, conf_id and count, then this item's record.
    const size_t first = wire::kHeaderSize + wire::kLinkPrefixSize + 10 +
                         wire::kItemRecordHeadSize + item.body.size();
    l.batch.reserve(std::max(l.batch_hint, first));
    wire::BeginItems(&l.batch, item.conf_id);
    l.batch_conf = item.conf_id;
    ScheduleFlushBatches();
  }
  wire::AppendItemRecord(&l.batch, 0, head, item.body);
  ++batched_items_;
}

void Mesh::Impl::FlushBatch(Link& l) {
  wire::FinishItems(&l.batch, 0);
  const uint32_t n = wire::ItemsCount(l.batch, 0);
  l.batch_hint = l.batch.size();
  // The frame waits in the resend buffer until acknowledged: a reservation
  // that overshot (the previous turn had more items) is not kept that long.
  if (l.batch.capacity() > 2 * l.batch.size() + 1024) l.batch.shrink_to_fit();
  std::string f = std::move(l.batch);
  l.batch.clear();
  SendSeqNow(l, std::move(f), n);
}

void Mesh::Impl::ScheduleFlushBatches() {
  if (batch_posted_) return;
  batch_posted_ = true;
  batch_since_ = SteadyClock::now();
  PostFlushBatches();
}

void Mesh::Impl::PostFlushBatches() {
  // Runs after the handlers already queued. A client's read is handled
  // messages_per_iter frames per turn (the rest continues from a posted
  // handler), so flushing after the first turn would send one small frame
  // per link every messages_per_iter messages: a system call and a wake-up
  // of the peer each, most of a busy server's system time. While the
  // batches keep growing from one such turn to the next, the flush waits
  // for the next; a turn that added nothing, a full batch (AppendBatch) or
  // kMaxBatchWait sends them. A lone message thus waits one extra turn.
  std::weak_ptr<Impl> w = weak_from_this();
  asio::post(io_, [w] {
    auto self = w.lock();
    if (!self) return;
    if (self->batched_items_ != self->batched_at_check_ &&
        SteadyClock::now() - self->batch_since_ < kMaxBatchWait) {
      self->batched_at_check_ = self->batched_items_;
      self->PostFlushBatches();
      return;
    }
    self->batch_posted_ = false;
    for (auto& [name, l] : self->links_) {
      if (!l->batch.empty()) self->FlushBatch(*l);
    }
  });
}

void Mesh::Impl::SendSeqNow(Link& l, std::string&& frame, uint32_t messages) {
  auto f = std::make_shared<std::string>(std::move(frame));
  const uint64_t seq = l.next_seq++;
  wire::PatchLinkPrefix(f.get(), {seq, l.recv_seq});
  l.acked_sent = l.recv_seq;
  FramePtr p = std::move(f);
  l.resend.push_back(Link::Unacked{seq, p, messages});
  if (l.resend.size() > kMaxResendFrames) {
    MSGC_LOG_ERROR(
        "mesh {}: {} unacknowledged frames to {}; dropping the "
        "oldest, the peer is lost",
        options_.self, l.resend.size(), l.spec.name);
    l.resend.pop_front();
    MarkLost(l, "resend buffer overflow");
  }
  if (!l.active || !l.synced || l.test_held) return;
  if (l.sent_seq + 1 == seq) {
    // Nothing waits before it: straight to the connection. If the peer
    // does not read, its queue passes max_backlog and the connection is
    // closed as stuck (kSlowConsumer); the frame stays in the buffer.
    l.sent_seq = seq;
    l.active->Send(std::move(p), messages);
  } else {
    Pump(l);  // behind a resend in progress
  }
}

void Mesh::Impl::MaybeReleaseChannel(Link& l) {
  // A peer that is unreachable and out of our configuration needs nothing
  // of what we have not delivered to it: our configuration's items never
  // went to it, and the rest (items and clocks of a configuration we both
  // left, gossip, old proposals) is obsolete — after a merge it is in no
  // transitional set with us, and gossip is resent on every link. Keeping
  // the frames would only grow the buffer without bound and make the peer
  // wade through them when it comes back, so we restart our send channel
  // (LINK_SYNC kSyncReset).
  if (l.alive || l.resend.empty() || state_ != State::kOperational ||
      MemberIndex(l.spec.name) >= 0) {
    return;
  }
  if (proposing_ && std::find(proposal_names_.begin(), proposal_names_.end(),
                              l.spec.name) != proposal_names_.end()) {
    return;
  }
  MSGC_LOG_NOTICE(
      "mesh {}: peer {} is unreachable and out of the configuration: "
      "{} unacknowledged frames released, send channel restarted",
      options_.self, l.spec.name, l.resend.size());
  l.resend.clear();
  l.next_seq = 1;
  l.sent_seq = 0;
  l.reset_unconfirmed = true;
  // A connection that carried the old numbering cannot carry the new one;
  // nothing more goes on it until OnClose (the redial then syncs anew).
  l.synced = false;
  if (l.active && l.active->is_open()) {
    l.active->Close(net::CloseReason::kShutdown, "send channel restarted");
  }
}

// ---------------------------------------------------------------------------
// Failure detection and reachability.

void Mesh::Impl::MarkLost(Link& l, const std::string& why) {
  if (!l.alive) return;
  l.alive = false;
  MSGC_LOG_NOTICE("mesh {}: peer {} unreachable: {}", options_.self,
                  l.spec.name, why);
  RecomputeReach(false);
}

bool Mesh::Impl::Admissible(const Link& l) const {
  // A restarted peer is not counted until its old incarnation left the
  // configuration, so that the old one is properly dropped first.
  int idx = MemberIndex(l.spec.name);
  return idx < 0 || members_[idx].inc == l.peer_inc;
}

void Mesh::Impl::RecomputeReach(bool force_gossip) {
  std::vector<wire::NodeInc> now;
  for (auto& [name, l] : links_) {
    if (l->alive && !l->blocked && !l->removed && Admissible(*l)) {
      now.push_back({name, l->peer_inc});
    }
  }
  bool changed = now.size() != reach_.size();
  for (size_t i = 0; !changed && i < now.size(); ++i) {
    changed = now[i].name != reach_[i].name ||
              now[i].incarnation != reach_[i].incarnation;
  }
  if (!changed && !force_gossip) return;
  reach_ = std::move(now);
  if (changed) {
    std::vector<std::string> names;
    for (const auto& n : reach_) names.emplace_back(n.name);
    MSGC_LOG_INFO("mesh {}: reaching [{}]", options_.self, JoinNames(names));
  }
  for (auto& [name, l] : links_) {
    if (l->synced) SendReach(*l);
  }
  ScheduleEvaluate();
}

std::string Mesh::Impl::EncodeReachFrame() const {
  wire::Reach r;
  r.conf_id = conf_id_;
  if (state_ == State::kLocked) {
    r.flags |= wire::kReachLocked;
    r.lock = {lock_.coordinator, lock_.attempt};
  }
  if (state_ == State::kGathering) r.flags |= 0x02;
  r.reachable = reach_;
  std::string f;
  wire::EncodeReach({}, r, &f);
  return f;
}

void Mesh::Impl::SendReach(Link& l) { SendSeq(l, EncodeReachFrame()); }

void Mesh::Impl::Tick() {
  if (!running_) return;
  const auto now = SteadyClock::now();
  const auto idle = options_.link.idle_timeout;
  for (auto& [name, l] : links_) {
    if (l->alive && idle.count() > 0 && now - l->last_rx >= idle) {
      MarkLost(*l, fmt::format("nothing received for {}ms", idle.count()));
    }
    MaybeReleaseChannel(*l);
    // OnDrained drives the pacing; this only covers a low-water mark moved
    // by new options while the queue was short.
    Pump(*l);
    // An autotuned link over a long path may need more send buffer than
    // autotuning gives (docs/operations.md, "tcpbuf_size and the distance
    // between servers").
    // One TCP_INFO read serves both that and the clock gap's round trip.
    net::TcpStats tcp;
    const bool known = l->active && l->active->ReadTcpStats(&tcp);
    if (known) l->active->GrowSendBufferIfLimited(tcp, kMaxLinkSendBuffer);
    l->rtt_us = l->test_rtt_us != 0  ? l->test_rtt_us
                : known && l->synced ? tcp.rtt_us
                                     : 0;
  }
  UpdateClockGap();
  // Memory of a burst goes back once it is collected (not on every swing
  // of the queues' length, which would move the items each time).
  for (ConfMember& m : members_) m.items.ShrinkToFit();
  if (!spare_taken_) {
    std::vector<std::string>().swap(spare_bodies_);
    spare_bytes_ = 0;
  }
  spare_taken_ = false;
  if ((state_ == State::kLocked || state_ == State::kInstalling) &&
      now >= lock_deadline_) {
    GiveUp(state_ == State::kLocked ? "no INSTALL in time"
                                    : "flush did not complete in time");
  }
  std::weak_ptr<Impl> w = weak_from_this();
  tick_timer_.expires_after(kTickInterval);
  tick_timer_.async_wait([w](const std::error_code& ec) {
    if (ec) return;
    if (auto self = w.lock()) self->Tick();
  });
}

// ---------------------------------------------------------------------------
// Ordering.

int Mesh::Impl::MemberIndex(std::string_view name) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool Mesh::Impl::Submit(wire::Service service, uint8_t kind, std::string body,
                        uint8_t flags) {
  if (!running_) return false;
  if (state_ != State::kOperational) {
    if (submit_queue_.size() >= options_.link.max_backlog) return false;
    submit_queue_.emplace_back(service, kind, std::move(body), flags);
    return true;
  }
  Stamp(service, kind, std::move(body), flags);
  return true;
}

void Mesh::Impl::Stamp(wire::Service service, uint8_t kind, std::string body,
                       uint8_t flags) {
  ConfMember& me = members_[self_idx_];
  if (members_.size() == 1) {
    // Alone: numbered like any item (reports of a later change count them),
    // delivered in submission order from local_.
    ++me.held;
    me.first_oseq = me.held + 1;  // nothing stored
    local_.push_back(LocalItem{++clock_, service, kind, std::move(body)});
    ScheduleDeliver();
    return;
  }
  // The fifo fast path (docs/mesh.md §3.2): a mark, or a fifo item stamped
  // when every earlier item of ours is delivered (so it is ordered after
  // them in our membership epoch) and no membership item is pending at us.
  const bool mark = (flags & kStampMark) != 0;
  const bool fast =
      mark ||
      (service == wire::Service::kFifo &&
       (flags & (kSubmitMembership | kSubmitInterest)) == 0 && FastOk());
  const bool routed = (flags & kSubmitRouted) != 0 && route_ok_ &&
                      members_.size() > 1 &&
                      members_.size() <= kMaxRoutedMembers;
  // A routed safe item reaches the members without interest as a header
  // (no body), never as a bare number: a member that knew it by number only
  // would neither wait for it to be stable nor put the transitional signal
  // in front of it as its holders do, and members moving on together would
  // deliver what follows it on different sides of the signal (finding F13,
  // docs/mesh.md §3.1).
  const bool header_only = routed && service == wire::Service::kSafe;
  const bool many = members_.size() > 1;
  if (many) {
    need_.assign(members_.size(), 1);
    if (routed) {
      std::fill(need_.begin(), need_.end(), uint8_t{0});
      listener_->SelectBodies(
          ListenerItem(options_.self, clock_ + 1, service, kind, body),
          member_names_, need_);
      // A server whose join we received but did not deliver yet may be
      // interested at this item's place in the order: it gets the body.
      for (size_t i = 0; i < members_.size(); ++i) {
        if (members_[i].pending_interest > 0) need_[i] = 1;
      }
    }
    // Items skipped for a member before this one get their numbers first,
    // so that its stream of our item numbers stays contiguous. Sent before
    // the stamp is taken: a CLOCK announces that no item stamped at or
    // below its ts follows.
    for (size_t i = 0; i < members_.size(); ++i) {
      if (static_cast<int>(i) != self_idx_ && (need_[i] || header_only) &&
          members_[i].owe_clock) {
        SendClockTo(static_cast<int>(i));
      }
    }
  }
  wire::Item item;
  item.flags = mark ? 0 : wire::kItemHasBody;
  if (flags & kSubmitInterest) item.flags |= wire::kItemInterest;
  if (routed) item.flags |= wire::kItemRouted;
  if (flags & kSubmitMembership) item.flags |= wire::kItemMembership;
  if (fast) item.flags |= wire::kItemFast;
  if (mark) item.flags |= wire::kItemMark;
  item.epoch = mark ? own_mark_ : fast ? epoch_ : 0;
  item.conf_id = conf_id_;
  // Strictly above anything we sent or received: the clock condition needs
  // each origin's stamps to increase along its FIFO stream.
  item.ts = ++clock_;
  item.oseq = me.held + 1;
  item.service = service;
  item.kind = kind;
  item.body = body;
  uint64_t sent_mask = 0;
  if (many) {
    // An interest item goes alone: its barrier needs its link_seq. The
    // others join the link's ITEMS frame of this loop turn.
    std::string f;
    wire::ItemRecordHead head{};
    if (flags & kSubmitInterest) {
      wire::EncodeItem({}, item, &f);
    } else {
      head = wire::EncodeItemRecordHead(item);
    }
    wire::Item header;
    wire::ItemRecordHead header_head{};
    if (header_only) {
      header = item;
      header.flags &= static_cast<uint8_t>(~wire::kItemHasBody);
      header.body = {};
      header_head = wire::EncodeItemRecordHead(header);
    }
    bool skipped = false;
    for (size_t i = 0; i < members_.size(); ++i) {
      if (static_cast<int>(i) == self_idx_) continue;
      Link& l = *members_[i].link;
      if (need_[i] && members_[i].first_skipped != 0) {
        SendSkippedBodies(static_cast<int>(i));
      }
      if (!need_[i] && members_[i].first_skipped == 0) {
        members_[i].first_skipped = item.oseq;
      }
      if (!need_[i] && header_only) {
        // Not given the body (sent_mask): a late join still gets it.
        AppendBatch(l, header, header_head);
        ++l.bodies_skipped;
      } else if (need_[i]) {
        if (flags & kSubmitInterest) {
          SendSeq(l, f);
        } else {
          AppendBatch(l, item, head);
        }
        sent_mask |= uint64_t{1} << (i & 63);
        if (routed) ++l.bodies_sent;
      } else {
        // Its number reaches the member in the next CLOCK.
        members_[i].owe_clock = true;
        skipped = true;
        ++l.bodies_skipped;
      }
      if (flags & kSubmitInterest) {
        members_[i].barriers.emplace_back(l.next_seq - 1, item.ts);
      }
    }
    if (flags & kSubmitInterest) {
      // The barrier needs a link_seq per member: the item went to all.
      assert(!skipped);
    }
    if (skipped) {
      ScheduleClock();
    } else {
      announced_ts_ = clock_;
    }
  }
  StoreItem(self_idx_, item, true, false, &body);
  me.items.back().sent_mask = sent_mask;
  if (!fast) last_own_slow_ = item.oseq;
}

bool Mesh::Impl::FastOk() const {
  if (members_.size() < 2 || state_ != State::kOperational ||
      own_mark_ > epoch_) {
    return false;
  }
  if (last_own_slow_ == 0) return true;
  const ConfMember& me = members_[self_idx_];
  // Collected items were delivered.
  return last_own_slow_ < me.first_oseq ||
         me.items[last_own_slow_ - me.first_oseq].delivered;
}

void Mesh::Impl::StoreItem(int idx, const wire::Item& item, bool accept_body,
                           bool fill, std::string* take) {
  ConfMember& m = members_[idx];
  StoredItem* s = nullptr;
  if (fill) {
    // A body for an item we know only by its number (or hold bodiless).
    s = m.Find(item.oseq);
    if (s == nullptr || s->has_body() || !(item.flags & wire::kItemHasBody)) {
      return;
    }
    // Its place passed without it (we were not interested there): kept,
    // not delivered, for a flush to forward (SendSkippedBodies). A fast
    // item known by number only is never ours: its origin chose the
    // recipients in the item's own membership epoch, there is no join in
    // flight to cover. (A known one without body was held bodiless while
    // frozen: the gathered body makes it deliverable.)
    const bool passed =
        s->known ? s->delivered
                 : (item.flags & wire::kItemFast) != 0 ||
                       std::make_pair(item.ts, idx) < last_delivered_;
    if (s->known || passed) {
      if (passed) {
        MSGC_LOG_DEBUG("mesh {}: body of {}#{} came after its place passed",
                       options_.self, m.name, item.oseq);
      }
      if (!s->known) {
        s->ts = item.ts;
        s->service = item.service;
        s->kind = item.kind;
        s->flags = item.flags;
        s->epoch = item.epoch;
        s->known = true;
        s->delivered = true;
      }
      s->body.assign(item.body);
      s->flags |= wire::kItemHasBody;
      return;
    }
    s->delivered = false;
  } else if (item.oseq <= m.held) {
    return;  // duplicate (direct and forwarded)
  } else if (item.oseq != m.held + 1) {
    MSGC_LOG_ERROR("mesh {}: item {} of {} after {}; dropped", options_.self,
                   item.oseq, m.name, m.held);
    return;
  } else {
    m.held = item.oseq;
    s = &m.items.emplace_back();
  }
  m.high = std::max(m.high, item.ts);
  s->ts = item.ts;
  s->service = item.service;
  s->kind = item.kind;
  s->flags = item.flags;
  s->epoch = item.epoch;
  if (item.flags & wire::kItemSkipped) {
    // Forwarded in a flush by a member that knows only the number.
    s->known = false;
    s->delivered = true;  // never delivered, collected like a delivered one
    s->flags &= ~wire::kItemHasBody;
    return;
  }
  s->known = true;
  if (accept_body && (item.flags & wire::kItemHasBody)) {
    if (take != nullptr) {
      s->body = std::move(*take);
    } else {
      // A new item's body is empty: a collected item's buffer saves the
      // allocation (and, later, the free).
      if (s->body.capacity() < item.body.size() && !spare_bodies_.empty()) {
        TakeSpareBody(&s->body);
      }
      s->body.assign(item.body);
    }
  } else {
    if (item.flags & wire::kItemHasBody) {
      MSGC_LOG_DEBUG("mesh {}: frozen: body of {}#{} not kept ({})",
                     options_.self, m.name, item.oseq, BodyTail(item.body));
    }
    s->flags &= ~wire::kItemHasBody;
  }
  if (idx != self_idx_ && (item.flags & wire::kItemInterest)) {
    ++m.pending_interest;
  }
  if (item.flags & wire::kItemFast) {
    // Not in the agreed order: delivered by PumpOrigin.
    if ((item.flags & wire::kItemMark) && !fill) {
      m.marks.emplace_back(item.epoch, item.oseq);
    }
    ScheduleDeliver();
    return;
  }
  undelivered_.emplace(item.ts, idx, item.oseq);
  // Every member waits for stamps at or above it from everyone: our CLOCK
  // goes out this turn (SendClock).
  clock_urgent_ = true;
  if (item.service == wire::Service::kSafe) {
    safe_high_ = std::max(safe_high_, item.ts);
  }
  ScheduleDeliver();
}

void Mesh::Impl::OnItem(Link& l, const wire::Frame& frame) {
  wire::Item item;
  Status s = wire::DecodeItem(frame, &item);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  if (pending_ && item.conf_id == pending_->conf_id) {
    KeepEarly(l, frame);
    return;
  }
  if (item.conf_id != conf_id_) {
    if (state_ != State::kOperational && item.conf_id > conf_id_) {
      future_.emplace_back(&l, item.conf_id, FrameBytes(frame));
    }
    return;  // else an old configuration's
  }
  int idx = MemberIndex(l.spec.name);
  if (idx < 0 || members_[idx].inc != l.peer_inc) return;
  ++l.items_received;
  HandleItem(idx, item);
}

void Mesh::Impl::OnItems(Link& l, const wire::Frame& frame) {
  // The scratch vector's capacity is reused; taken out of the member so that
  // a nested call (an item completing a flush replays early frames) has its
  // own.
  std::vector<wire::Item> items = std::move(items_scratch_);
  Status s = wire::DecodeItems(frame, &items);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  if (items.empty()) return;
  const uint64_t conf_id = items.front().conf_id;
  if (pending_ && conf_id == pending_->conf_id) {
    KeepEarly(l, frame);
    return;
  }
  if (conf_id != conf_id_) {
    if (state_ != State::kOperational && conf_id > conf_id_) {
      future_.emplace_back(&l, conf_id, FrameBytes(frame));
    }
    return;  // else an old configuration's
  }
  int idx = MemberIndex(l.spec.name);
  if (idx < 0 || members_[idx].inc != l.peer_inc) return;
  l.items_received += items.size();
  for (const wire::Item& item : items) {
    // An earlier item may have completed a flush: the rest are obsolete.
    if (conf_id != conf_id_) break;
    HandleItem(idx, item);
  }
  items.clear();
  items_scratch_ = std::move(items);
}

void Mesh::Impl::HandleItem(int idx, const wire::Item& item) {
  // Once frozen (docs/mesh.md §4.1), a routed body that arrives directly is
  // not kept: every member must end the flush with a body only if some
  // member of the transitional set held it when it froze, and the body
  // gathering asks exactly those.
  const bool accept_body =
      state_ == State::kOperational || !(item.flags & wire::kItemRouted);
  StoreItem(idx, item, accept_body);
  if (item.ts > clock_) clock_ = item.ts;
  if ((item.flags & wire::kItemInterest) && state_ == State::kOperational) {
    SendLateBodies(idx, item.ts);
  }
  ScheduleClock();
  if (state_ == State::kInstalling) TryCompleteInstall();
}

// Member idx's join (stamped after_ts) may make it need bodies of our items
// ordered after it that we did not send it: none of those can be delivered
// yet (we had not received its join), so they are all still here. The
// CLOCK first brings its numbering up to date, so each late body fills a
// known gap; the sequenced frames after these carry an ack covering its join
// and release its barrier.
void Mesh::Impl::SendLateBodies(int idx, uint64_t after_ts) {
  ConfMember& to = members_[idx];
  SendClockTo(idx);
  const uint64_t bit = uint64_t{1} << (idx & 63);
  ConfMember& me = members_[self_idx_];
  size_t late = 0;
  for (size_t k = 0; k < me.items.size(); ++k) {
    StoredItem& it = me.items[k];
    // Ordered after the join: a later stamp, or the same stamp and a
    // larger origin index than the joiner's.
    if (std::make_pair(it.ts, self_idx_) < std::make_pair(after_ts, idx) ||
        !(it.flags & wire::kItemRouted) || it.fast() || (it.sent_mask & bit) ||
        it.delivered) {
      continue;
    }
    SendLateBody(idx, static_cast<uint32_t>(me.first_oseq + k), it);
    ++late;
  }
  if (late > 0) {
    MSGC_LOG_INFO("mesh {}: {} late bodies to {} after its join", options_.self,
                  late, to.name);
  }
}

// Member idx gets a body of ours: it first gets the bodies of our earlier
// routed items that were skipped for it and are not known stable yet. So a
// server holding one of our items holds every earlier one whose recipients
// may not all have it, and if we leave, the flush can give those
// recipients what only we and it had; otherwise a recipient that lost one
// of them with us would deliver our later items with a hole in our FIFO
// stream (finding F14, docs/mesh.md §3.1). Costs bodies only where a
// member's interest in our stream changes from item to item.
void Mesh::Impl::SendSkippedBodies(int idx) {
  ConfMember& to = members_[idx];
  ConfMember& me = members_[self_idx_];
  const uint32_t from = std::max(to.first_skipped, me.first_oseq);
  to.first_skipped = 0;
  const uint64_t min_stable = MinStable();
  const uint64_t bit = uint64_t{1} << (idx & 63);
  for (uint32_t o = from; o <= me.held; ++o) {
    StoredItem& it = me.items[o - me.first_oseq];
    if (!(it.flags & wire::kItemRouted) || (it.sent_mask & bit) ||
        !it.has_body() || it.ts <= min_stable) {
      continue;
    }
    // Its number first, so that the body fills a known entry.
    if (to.owe_clock) SendClockTo(idx);
    SendLateBody(idx, o, it);
  }
}

void Mesh::Impl::SendLateBody(int idx, uint32_t oseq, StoredItem& it) {
  ConfMember& to = members_[idx];
  wire::Item item;
  item.flags = it.flags;
  item.conf_id = conf_id_;
  item.ts = it.ts;
  item.oseq = oseq;
  item.service = it.service;
  item.kind = it.kind;
  item.epoch = it.epoch;
  item.body = it.body;
  std::string f;
  wire::EncodeLateBody({}, item, &f);
  SendSeq(*to.link, std::move(f));
  it.sent_mask |= uint64_t{1} << (idx & 63);
  ++to.link->bodies_sent;
  MSGC_LOG_DEBUG("mesh {}: late body {}#{} to {} ({})", options_.self,
                 options_.self, oseq, to.name, BodyTail(it.body));
}

uint64_t Mesh::Impl::MinStable() const {
  if (members_.size() == 1) return UINT64_MAX;
  uint64_t min_stable = Bound();
  for (size_t i = 0; i < members_.size(); ++i) {
    if (static_cast<int>(i) != self_idx_) {
      min_stable = std::min(min_stable, members_[i].stable);
    }
  }
  return min_stable;
}

void Mesh::Impl::OnLateBody(Link& l, const wire::Frame& frame) {
  wire::Item item;
  Status s = wire::DecodeLateBody(frame, &item);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  // Frozen: the flush's body gathering decides (see OnItem).
  if (item.conf_id != conf_id_ || state_ != State::kOperational) return;
  int idx = MemberIndex(l.spec.name);
  if (idx < 0 || members_[idx].inc != l.peer_inc) return;
  StoreItem(idx, item, true, /*fill=*/true);
}

// A sequenced frame acknowledging our interest item shows the member
// handled it, and its late bodies (sent at once) came before this frame.
void Mesh::Impl::ReleaseBarriers(Link& l, uint64_t ack) {
  ConfMember* m = nullptr;
  for (ConfMember& c : members_) {
    if (c.link == &l) m = &c;
  }
  if (m == nullptr || m->barriers.empty()) return;
  auto& b = m->barriers;
  bool released = false;
  while (!b.empty() && b.front().first <= ack) {
    MSGC_LOG_DEBUG("mesh {}: barrier of {} at ts {} released (ack {})",
                   options_.self, m->name, b.front().second, ack);
    b.pop_front();
    released = true;
  }
  if (released) ScheduleDeliver();
}

void Mesh::Impl::OnClock(Link& l, const wire::Frame& frame) {
  wire::Clock c;
  Status s = wire::DecodeClock(frame, &c);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  if (pending_ && c.conf_id == pending_->conf_id) {
    KeepEarly(l, frame);
    return;
  }
  if (c.conf_id != conf_id_) {
    if (state_ != State::kOperational && c.conf_id > conf_id_) {
      future_.emplace_back(&l, c.conf_id, FrameBytes(frame));
    }
    return;
  }
  int idx = MemberIndex(l.spec.name);
  if (idx < 0 || members_[idx].inc != l.peer_inc) return;
  ConfMember& m = members_[idx];
  // Items up to c.oseq that did not come are not for us (routed): known by
  // number only, stamped at most c.ts.
  if (m.held < c.oseq) {
    MSGC_LOG_DEBUG("mesh {}: {}#{}..{} known by number only", options_.self,
                   m.name, m.held + 1, c.oseq);
    // They may be agreed items that others deliver once our stamp passes
    // theirs (we cannot tell from a number).
    clock_urgent_ = true;
  }
  while (m.held < c.oseq) {
    StoredItem& it = m.items.emplace_back();
    it.ts = c.ts;
    it.known = false;
    it.delivered = true;
    ++m.held;
  }
  m.high = std::max(m.high, c.ts);
  m.stable = std::max(m.stable, c.stable);
  if (c.ts > clock_) clock_ = c.ts;
  ScheduleClock();
  ScheduleDeliver();
}

// Keeps a copy of an ITEM/CLOCK frame of the configuration being installed
// (a member that finished its flush first may already use it).
void Mesh::Impl::KeepEarly(Link& l, const wire::Frame& frame) {
  pending_->early.emplace_back(&l, FrameBytes(frame));
}

std::string Mesh::Impl::FrameBytes(const wire::Frame& frame) {
  std::string bytes;
  bytes.reserve(wire::kHeaderSize + frame.body.size());
  const uint32_t len = static_cast<uint32_t>(frame.body.size());
  for (int i = 0; i < 4; ++i)
    bytes.push_back(static_cast<char>(len >> (8 * i)));
  bytes.push_back(static_cast<char>(frame.header.type));
  bytes.push_back(static_cast<char>(frame.header.flags));
  bytes.append(2, '\0');
  bytes.append(reinterpret_cast<const char*>(frame.body.data()),
               frame.body.size());
  return bytes;
}

uint64_t Mesh::Impl::Bound() const {
  uint64_t bound = clock_;
  const bool frozen =
      state_ != State::kOperational && reported_high_.size() == members_.size();
  for (size_t i = 0; i < members_.size(); ++i) {
    if (static_cast<int>(i) != self_idx_) {
      bound = std::min(bound, members_[i].high);
      // Until it handled our join, it may still send late bodies of items
      // ordered after it (docs/mesh.md §3.1), also of items with the join's
      // own stamp (the origin's index breaks the tie): below that stamp.
      if (!members_[i].barriers.empty()) {
        bound = std::min(bound, members_[i].barriers.front().second - 1);
      }
      // Frozen: nothing above what we reported receiving from it, neither
      // delivered nor announced stable. The flush's regular part may stop
      // there if it departs (§4 "Flush"), and a safe item someone delivers
      // in the regular configuration must fall below that stop everywhere.
      if (frozen) bound = std::min(bound, reported_high_[i]);
    }
  }
  return bound;
}

uint64_t Mesh::Impl::SafeBound() const {
  uint64_t b = Bound();
  for (size_t i = 0; i < members_.size(); ++i) {
    if (static_cast<int>(i) != self_idx_) b = std::min(b, members_[i].stable);
  }
  return b;
}

void Mesh::Impl::ScheduleClock() {
  if (clock_posted_ || members_.size() < 2) return;
  clock_posted_ = true;
  std::weak_ptr<Impl> w = weak_from_this();
  asio::post(io_, [w] {
    if (auto self = w.lock()) {
      self->clock_posted_ = false;
      if (self->running_) self->SendClock();
    }
  });
}

std::string Mesh::Impl::EncodeClockFrame() const {
  wire::Clock c;
  c.conf_id = conf_id_;
  c.ts = clock_;
  c.stable = Bound();
  c.oseq = members_[self_idx_].held;
  std::string f;
  wire::EncodeClock({}, c, &f);
  return f;
}

void Mesh::Impl::SendClockTo(int idx) {
  members_[idx].owe_clock = false;
  ++members_[idx].link->clocks_sent;
  SendSeq(*members_[idx].link, EncodeClockFrame());
}

void Mesh::Impl::SendClock() {
  if (hold_clocks_) return;
  const uint64_t bound = Bound();
  const bool clock_news = clock_ > announced_ts_;
  const bool stable_news = StableNews(bound);
  if (!clock_urgent_ && announced_stable_ >= safe_high_) {
    // Nothing of the agreed order waits for this news: our clock rose with
    // fifo items (the fast path delivers them without a clock round), our
    // stability rose (garbage collection), or members learn the numbers of
    // fifo items we skipped for them. It goes out within kClockPace, not
    // every loop turn: a stream of fifo items would otherwise cost a small
    // packet per turn on every link (issue 5 §4).
    bool owed = false;
    for (const ConfMember& m : members_) owed = owed || m.owe_clock;
    if (clock_news || stable_news || owed) {
      ArmClockPace(SteadyClock::now() + kClockPace);
    }
    return;
  }
  if (clock_gap_.count() > 0) {
    // News the agreed order waits for, over long paths: one CLOCK per
    // clock_gap_ carries it all (kClockGapDivisor).
    const SteadyClock::time_point now = SteadyClock::now();
    if (now - last_clock_at_ < clock_gap_) {
      ArmClockPace(last_clock_at_ + clock_gap_);
      return;
    }
  }
  clock_urgent_ = false;
  std::string f;  // encoded only if someone gets it (this runs every turn)
  for (size_t i = 0; i < members_.size(); ++i) {
    if (static_cast<int>(i) == self_idx_) continue;
    // A member we skipped routed items for learns their numbers here.
    if (clock_news || stable_news || members_[i].owe_clock) {
      members_[i].owe_clock = false;
      if (f.empty()) f = EncodeClockFrame();
      ++members_[i].link->clocks_sent;
      SendSeq(*members_[i].link, f);
    }
  }
  if (!f.empty() && clock_gap_.count() > 0) last_clock_at_ = SteadyClock::now();
  if (clock_news || stable_news) {
    announced_ts_ = clock_;
    announced_stable_ = bound;
  }
}

void Mesh::Impl::SetRtt(std::string_view peer, uint32_t rtt_us) {
  auto it = links_.find(std::string(peer));
  if (it == links_.end()) return;
  it->second->test_rtt_us = rtt_us;
  it->second->rtt_us = rtt_us;
  UpdateClockGap();
}

void Mesh::Impl::HoldFramesTo(std::string_view peer, bool hold) {
  auto it = links_.find(std::string(peer));
  if (it == links_.end()) return;
  it->second->test_held = hold;
  if (!hold) Pump(*it->second);
}

void Mesh::Impl::UpdateClockGap() {
  uint32_t rtt = UINT32_MAX;
  for (const ConfMember& m : members_) {
    if (m.link == nullptr) continue;  // ourselves
    // Unknown (not connected, no TCP_INFO): prompt, as on a LAN.
    rtt = std::min(rtt, m.link->rtt_us);
  }
  if (rtt == UINT32_MAX) rtt = 0;
  clock_gap_ = std::min<std::chrono::microseconds>(
      std::chrono::microseconds(rtt / kClockGapDivisor), kClockPace);
}

void Mesh::Impl::ArmClockPace(SteadyClock::time_point at) {
  // Armed already, and no later than needed: keep it. Re-arming cancels
  // the pending wait (its handler sees operation_aborted and leaves
  // clock_pace_armed_ to this one).
  if (clock_pace_armed_ && clock_pace_timer_.expiry() <= at) return;
  clock_pace_armed_ = true;
  clock_pace_timer_.expires_at(at);
  std::weak_ptr<Impl> w = weak_from_this();
  clock_pace_timer_.async_wait([w](const std::error_code& ec) {
    auto self = w.lock();
    if (ec || !self) return;
    self->clock_pace_armed_ = false;
    if (!self->running_ || self->members_.size() < 2) return;
    self->clock_urgent_ = true;
    self->SendClock();
  });
}

void Mesh::Impl::ScheduleDeliver() {
  if (deliver_posted_) return;
  deliver_posted_ = true;
  std::weak_ptr<Impl> w = weak_from_this();
  asio::post(io_, [w] {
    if (auto self = w.lock()) {
      self->deliver_posted_ = false;
      if (self->running_) self->Deliver();
    }
  });
}

void Mesh::Impl::DeliverOne(int idx, uint32_t oseq, StoredItem& it) {
  it.delivered = true;
  last_delivered_ = {it.ts, idx};
  if (idx != self_idx_ && (it.flags & wire::kItemInterest)) {
    --members_[idx].pending_interest;
  }
  MSGC_LOG_DEBUG("mesh {}: {} {}#{} ts {} ({})", options_.self,
                 it.has_body() ? "deliver" : "pass", members_[idx].name, oseq,
                 it.ts, BodyTail(it.body));
  if (deliver_budget_ > 0) --deliver_budget_;
  if (it.flags & wire::kItemMembership) {
    // A membership epoch ends here (docs/mesh.md §3.2).
    ++epoch_;
    DropMarks();
  }
  // A routed item whose body we lack is not for us (docs/mesh.md §3.1): its
  // place in the order passes without a delivery.
  if (!it.has_body()) return;
  listener_->OnDeliver(
      ListenerItem(members_[idx].name, it.ts, it.service, it.kind, it.body));
}

void Mesh::Impl::DeliverFast(int idx, uint32_t oseq, StoredItem& it) {
  it.delivered = true;
  if (it.flags & wire::kItemMark) return;  // information, not an item
  if (deliver_budget_ > 0) --deliver_budget_;
  if (it.epoch != epoch_) {
    // Only a flush's transitional part may do this (an origin whose
    // membership item did not reach the transitional set).
    MSGC_LOG_DEBUG("mesh {}: fast {}#{} of epoch {} delivered in epoch {}",
                   options_.self, members_[idx].name, oseq, it.epoch, epoch_);
  }
  MSGC_LOG_DEBUG("mesh {}: {} fast {}#{} ts {} epoch {} ({})", options_.self,
                 it.has_body() ? "deliver" : "pass", members_[idx].name, oseq,
                 it.ts, it.epoch, BodyTail(it.body));
  if (!it.has_body()) return;
  listener_->OnDeliver(
      ListenerItem(members_[idx].name, it.ts, it.service, it.kind, it.body));
}

size_t Mesh::Impl::PumpOrigin(int idx, uint32_t upto, bool check_epoch,
                              bool hold_bodiless) {
  size_t n = 0;
  ConfMember& m = members_[idx];
  if (m.next < m.first_oseq) m.next = m.first_oseq;  // collected: delivered
  while (running_ && m.next <= std::min(upto, m.held)) {
    StoredItem& it = m.items[m.next - m.first_oseq];
    if (!it.delivered) {
      // An item of the agreed order: it comes at its place there.
      if (!it.fast()) break;
      if (!(it.flags & wire::kItemMark)) {
        if (check_epoch && it.epoch > epoch_) break;  // its epoch comes later
        if (hold_bodiless && !it.has_body() && (it.flags & wire::kItemRouted)) {
          break;  // frozen: the flush's body gathering decides (§4.1)
        }
        if (deliver_budget_ == 0) break;
        ++n;
      }
      DeliverFast(idx, m.next, it);
    }
    ++m.next;
  }
  return n;
}

size_t Mesh::Impl::PumpAll(const std::vector<uint32_t>& limits,
                           bool check_epoch, bool hold_bodiless) {
  size_t n = 0;
  for (size_t i = 0; i < members_.size() && running_; ++i) {
    n +=
        PumpOrigin(static_cast<int>(i), limits.empty() ? UINT32_MAX : limits[i],
                   check_epoch, hold_bodiless);
  }
  return n;
}

bool Mesh::Impl::FastPending(int idx, uint32_t upto, uint32_t max_epoch) {
  ConfMember& m = members_[idx];
  for (uint32_t o = std::max(m.next, m.first_oseq); o <= std::min(upto, m.held);
       ++o) {
    const StoredItem& it = m.items[o - m.first_oseq];
    if (!it.delivered && it.fast() && !(it.flags & wire::kItemMark) &&
        it.epoch <= max_epoch) {
      return true;
    }
  }
  return false;
}

void Mesh::Impl::DropMarks() {
  for (ConfMember& m : members_) {
    while (!m.marks.empty() && m.marks.front().first <= epoch_) {
      m.marks.pop_front();
    }
  }
}

bool Mesh::Impl::MembershipBarrierDone(const std::vector<uint32_t>& limits,
                                       bool frozen) {
  const uint32_t want = epoch_ + 1;
  if (own_mark_ < want) {
    // We reached the membership item: our fast items of this epoch are all
    // stamped; the mark says so to everyone, and until the item is
    // delivered our fifo items take the agreed path (ordered after it).
    if (state_ != State::kOperational) return false;  // the flush decides
    own_mark_ = want;
    Stamp(wire::Service::kFifo, 0, std::string(), kStampMark);
  }
  PumpAll(limits, /*check_epoch=*/true, frozen);
  for (size_t i = 0; i < members_.size(); ++i) {
    const ConfMember& m = members_[i];
    auto mk = std::find_if(m.marks.begin(), m.marks.end(),
                           [&](const auto& e) { return e.first == want; });
    if (mk == m.marks.end()) return false;  // it has not reached it yet
    if (!limits.empty() && mk->second > limits[i]) return false;
    // What is undelivered before its mark must be ordered after the
    // membership item (agreed items it stamped before reaching it).
    if (FastPending(static_cast<int>(i), mk->second)) return false;
  }
  return true;
}

bool Mesh::Impl::FlushBarrierDone(const std::vector<uint32_t>& cut,
                                  const std::vector<bool>& in_set) {
  const uint32_t want = epoch_ + 1;
  for (size_t i = 0; i < members_.size(); ++i) {
    const ConfMember& m = members_[i];
    if (in_set[i]) {
      // All its items up to the cut are here, the whole stream it sent:
      // its fast items of this epoch precede the others in it.
      if (FastPending(static_cast<int>(i), cut[i], epoch_)) return false;
      continue;
    }
    // A member that leaves: it may have fast items of this epoch that the
    // set does not hold, unless its mark is here.
    auto mk = std::find_if(m.marks.begin(), m.marks.end(),
                           [&](const auto& e) { return e.first == want; });
    if (mk == m.marks.end() || mk->second > cut[i]) return false;
    if (FastPending(static_cast<int>(i), mk->second)) return false;
  }
  return true;
}

void Mesh::Impl::DeliverLocal(bool paced) {
  size_t n = 0;
  while (!local_.empty() && running_) {
    if (paced && n++ == kMaxDeliverPerTurn) {
      ScheduleDeliver();
      return;
    }
    LocalItem li = std::move(local_.front());
    local_.pop_front();
    Item out = ListenerItem(options_.self, li.ts, li.service, li.kind, li.body);
    out.owned = &li.body;
    last_delivered_ = {li.ts, self_idx_};
    listener_->OnDeliver(out);
  }
}

void Mesh::Impl::Deliver() {
  if (!local_.empty()) {
    DeliverLocal(/*paced=*/true);
    if (!local_.empty()) return;
  }
  if (state_ == State::kInstalling) return;  // the flush delivers
  const uint64_t bound = Bound();
  const bool frozen = state_ != State::kOperational;
  // Frozen, no safe item beyond what we reported as known stable: the flush
  // delivers the rest after the transitional signal.
  const uint64_t safe_bound =
      frozen ? std::min(SafeBound(), locked_safe_bound_) : SafeBound();
  // Once we told a coordinator what we hold, we deliver no further than
  // that: the flush delivers exactly up to the agreed cut.
  static const std::vector<uint32_t> kNoLimits;
  const std::vector<uint32_t>& limits = frozen ? reported_held_ : kNoLimits;
  deliver_budget_ = kMaxDeliverPerTurn;
  // The fast path first: fifo items of our membership epoch whose origin's
  // earlier items are delivered (docs/mesh.md §3.2).
  PumpAll(limits, /*check_epoch=*/true, frozen);
  while (!undelivered_.empty() && running_) {
    if (deliver_budget_ == 0) break;
    auto [ts, idx, oseq] = *undelivered_.begin();
    if (ts > bound) break;
    if (frozen && oseq > reported_held_[idx]) break;
    StoredItem* it = members_[idx].Find(oseq);
    if (it->service == wire::Service::kSafe && ts > safe_bound) break;
    // Frozen, a routed body that came directly was not kept (docs/mesh.md
    // §4.1): without a body the item may still be ours, and passing it now
    // would lose it. The flush's body gathering decides.
    if (frozen && !it->has_body() && (it->flags & wire::kItemRouted)) break;
    // Its origin's earlier fast items come first (per-sender order); they
    // are of our epoch, as the item is ordered after the membership item
    // that began theirs (or, frozen, wait for a body: so does this one).
    PumpOrigin(idx, oseq - 1, /*check_epoch=*/true, frozen);
    if (members_[idx].next < oseq) break;
    // A membership item waits for every member's mark: the fast items of
    // the epoch it ends are delivered before it everywhere.
    if ((it->flags & wire::kItemMembership) &&
        !MembershipBarrierDone(limits, frozen)) {
      break;
    }
    if (deliver_budget_ == 0) break;
    undelivered_.erase(undelivered_.begin());
    DeliverOne(idx, oseq, *it);
    // A new epoch: its fast items that waited.
    if (it->flags & wire::kItemMembership) {
      PumpAll(limits, /*check_epoch=*/true, frozen);
    }
  }
  if (deliver_budget_ == 0) ScheduleDeliver();  // the rest in a later turn
  if (StableNews(bound)) ScheduleClock();
  CollectGarbage();
}

void Mesh::Impl::CollectGarbage() {
  if (state_ != State::kOperational) return;
  // An item every member holds (stable) and we delivered is never needed
  // for a flush again.
  const uint64_t min_stable = MinStable();
  for (ConfMember& m : members_) {
    while (!m.items.empty() && m.items.front().delivered &&
           m.items.front().ts <= min_stable) {
      RecycleBody(m.items.front().body);
      m.items.pop_front();
      ++m.first_oseq;
    }
  }
}

// ---------------------------------------------------------------------------
// Membership.

void Mesh::Impl::ScheduleEvaluate() {
  if (evaluate_posted_) return;
  evaluate_posted_ = true;
  std::weak_ptr<Impl> w = weak_from_this();
  asio::post(io_, [w] {
    if (auto self = w.lock()) {
      self->evaluate_posted_ = false;
      if (self->running_) self->Evaluate();
    }
  });
}

bool Mesh::Impl::Reaches(std::string_view a, std::string_view b,
                         uint64_t b_inc) const {
  if (a == options_.self) {
    return std::any_of(reach_.begin(), reach_.end(), [&](const auto& r) {
      return r.name == b && r.incarnation == b_inc;
    });
  }
  auto g = gossip_.find(std::string(a));
  if (g == gossip_.end()) return false;
  auto r = g->second.reach.find(std::string(b));
  return r != g->second.reach.end() && r->second == b_inc;
}

std::vector<wire::NodeInc> Mesh::Impl::Clique(
    const wire::NodeInc& from, const std::vector<wire::NodeInc>& candidates,
    const std::set<std::string>& excluded) const {
  std::vector<wire::NodeInc> s;
  s.push_back(from);
  for (const wire::NodeInc& c : candidates) {
    if (c.name == from.name || excluded.contains(std::string(c.name))) {
      continue;
    }
    if (!Reaches(c.name, from.name, from.incarnation)) continue;
    bool ok = true;
    for (size_t i = 1; i < s.size() && ok; ++i) {
      ok = Reaches(c.name, s[i].name, s[i].incarnation) &&
           Reaches(s[i].name, c.name, c.incarnation);
    }
    if (ok) s.push_back(c);
  }
  std::sort(s.begin(), s.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return s;
}

std::vector<wire::NodeInc> Mesh::Impl::Desired() const {
  // Greedy clique of mutual reachability in name order, starting from us.
  // Every server applies the same rule to (eventually) the same gossip.
  // Its lowest-named member coordinates; but with a link cut between two
  // others (a reaches b and c, b and c not each other) the coordinator's
  // own clique may leave us out, and it would never propose one with us:
  // we would wait in the old configuration. So we compute its clique from
  // its gossip, and if we are not in it, go on without it.
  const wire::NodeInc self{options_.self, options_.incarnation};
  std::set<std::string> excluded;
  for (;;) {
    std::vector<wire::NodeInc> s = Clique(self, reach_, excluded);
    const wire::NodeInc& coord = s.front();
    if (coord.name == options_.self) return s;
    std::vector<wire::NodeInc> theirs_candidates;
    auto g = gossip_.find(std::string(coord.name));
    if (g != gossip_.end()) {
      for (const auto& [name, inc] : g->second.reach) {
        theirs_candidates.push_back({name, inc});
      }
    }
    const std::vector<wire::NodeInc> theirs =
        Clique(coord, theirs_candidates, {});
    if (std::any_of(theirs.begin(), theirs.end(), [&](const auto& m) {
          return m.name == options_.self &&
                 m.incarnation == options_.incarnation;
        })) {
      return s;
    }
    excluded.emplace(coord.name);  // bounded: one more each time
  }
}

bool Mesh::Impl::NeedsChange(const std::vector<wire::NodeInc>& desired) const {
  if (state_ != State::kOperational) return true;
  if (desired.size() != members_.size()) return true;
  for (size_t i = 0; i < desired.size(); ++i) {
    if (desired[i].name != members_[i].name ||
        desired[i].incarnation != members_[i].inc) {
      return true;
    }
  }
  for (const auto& d : desired) {
    if (d.name == options_.self) continue;
    auto g = gossip_.find(std::string(d.name));
    if (g == gossip_.end()) return true;
    const Gossip& gs = g->second;
    if (gs.conf_id == conf_id_ && gs.flags == 0) continue;
    // A REACH sent while locked to the proposal that made our configuration
    // is just older than the member's install.
    if ((gs.flags & wire::kReachLocked) && gs.lock == installed_by_) continue;
    return true;
  }
  return false;
}

void Mesh::Impl::Evaluate() {
  if (state_ == State::kInstalling || state_ == State::kLocked || proposing_) {
    return;
  }
  auto desired = Desired();
  if (desired.front().name != options_.self || !NeedsChange(desired)) return;
  if (settle_armed_) return;
  settle_armed_ = true;
  std::weak_ptr<Impl> w = weak_from_this();
  settle_timer_.expires_after(kSettleDelay);
  settle_timer_.async_wait([w](const std::error_code& ec) {
    if (ec) return;
    auto self = w.lock();
    if (!self || !self->running_) return;
    self->settle_armed_ = false;
    self->Propose();
  });
}

void Mesh::Impl::Propose() {
  if (state_ == State::kInstalling || state_ == State::kLocked || proposing_) {
    return;
  }
  auto desired = Desired();
  if (desired.front().name != options_.self || !NeedsChange(desired)) return;
  proposing_ = true;
  ++attempt_;
  proposal_names_.clear();
  for (const auto& d : desired) proposal_names_.emplace_back(d.name);
  proposal_members_ = desired;
  for (size_t i = 0; i < desired.size(); ++i) {
    proposal_members_[i].name = proposal_names_[i];
  }
  accepts_.clear();
  MSGC_LOG_INFO("mesh {}: proposing [{}] (attempt {})", options_.self,
                JoinNames(proposal_names_), attempt_);
  wire::Propose p;
  p.attempt = attempt_;
  p.members = proposal_members_;
  std::string f;
  wire::EncodePropose({}, p, &f);
  for (const auto& m : proposal_members_) {
    if (m.name != options_.self) SendSeq(*links_[std::string(m.name)], f);
  }
  std::weak_ptr<Impl> w = weak_from_this();
  const uint64_t attempt = attempt_;
  form_timer_.expires_after(kFormTimeout);
  form_timer_.async_wait([w, attempt](const std::error_code& ec) {
    if (ec) return;
    auto self = w.lock();
    if (!self || !self->running_ || !self->proposing_ ||
        self->attempt_ != attempt) {
      return;
    }
    MSGC_LOG_WARN("mesh {}: proposal {} not accepted in time",
                  self->options_.self, attempt);
    self->AbortProposal();
    if (self->state_ == State::kLocked &&
        self->lock_.coordinator == self->options_.self) {
      self->GiveUp("own proposal timed out");
    }
  });
  ProposalKey key{options_.self, attempt_};
  LockTo(key);
  RecordAccept(options_.self, MakeAccept());
}

void Mesh::Impl::AbortProposal() {
  proposing_ = false;
  accepts_.clear();
  form_timer_.cancel();
}

void Mesh::Impl::LockTo(const ProposalKey& key) {
  // Everything stamped alone is delivered before we report what we hold.
  DeliverLocal(/*paced=*/false);
  // Late bodies are ignored from now on, so a barrier's items are asked for
  // in the flush instead (kept from the first lock: a barrier may lift
  // while we are frozen).
  for (ConfMember& m : members_) {
    if (!m.barriers.empty()) {
      m.interest_from = std::min(m.interest_from, m.barriers.front().second);
    }
  }
  if (state_ == State::kOperational) {
    locked_safe_bound_ = SafeBound();
    reported_held_.clear();
    reported_high_.clear();
    for (const ConfMember& m : members_) {
      reported_held_.push_back(m.held);
      reported_high_.push_back(m.high);
    }
  } else {
    // Already frozen: reports may only grow (we never deliver past them).
    for (size_t i = 0; i < members_.size(); ++i) {
      reported_held_[i] = members_[i].held;
      reported_high_[i] = members_[i].high;
    }
  }
  state_ = State::kLocked;
  lock_ = key;
  lock_deadline_ = SteadyClock::now() + kLockTimeout;
  RecomputeReach(true);  // gossip the lock
}

AcceptData Mesh::Impl::MakeAccept() const {
  assert(local_.empty());
  AcceptData a;
  a.old_conf_id = conf_id_;
  a.max_conf_id = max_conf_id_;
  a.safe_bound = locked_safe_bound_;
  for (size_t i = 0; i < members_.size(); ++i) {
    a.held.push_back({members_[i].name, reported_held_[i], reported_high_[i]});
  }
  // Our own items not delivered yet are all delivered in the flush (the
  // cut covers every item of ours: we report holding them), so the state
  // handed on is the one after them. (Items stamped alone, in local_, were
  // delivered by LockTo, which runs before every MakeAccept.)
  std::vector<Item> own;
  for (const StoredItem& it : members_[self_idx_].items) {
    if (it.delivered || !it.known || (it.flags & wire::kItemMark)) continue;
    own.push_back(
        ListenerItem(options_.self, it.ts, it.service, it.kind, it.body));
  }
  a.state = listener_->ConfigurationState(own);
  if (a.state.size() > wire::kMaxStateLen) {
    // Nothing sensible to hand on: the others would drop the frame.
    MSGC_LOG_ERROR(
        "mesh {}: state of {} bytes above the limit of {}; sent "
        "empty",
        options_.self, a.state.size(), wire::kMaxStateLen);
    a.state.clear();
  }
  return a;
}

void Mesh::Impl::OnPropose(Link& l, const wire::Frame& frame) {
  wire::Propose p;
  if (!wire::DecodePropose(frame, &p).ok()) return;
  const std::string& coord = l.spec.name;
  if (state_ == State::kInstalling) return;
  bool in = false;
  for (const auto& m : p.members) {
    if (m.name == options_.self) {
      in = m.incarnation == options_.incarnation;
      continue;
    }
    // Accept only configurations whose every member we reach ourselves.
    auto r = std::find_if(reach_.begin(), reach_.end(), [&](const auto& x) {
      return x.name == m.name && x.incarnation == m.incarnation;
    });
    if (r == reach_.end()) {
      MSGC_LOG_DEBUG("mesh {}: ignoring proposal of {}: {} not reached",
                     options_.self, coord, m.name);
      return;
    }
  }
  if (!in) return;
  if (state_ == State::kLocked) {
    const bool newer_same =
        lock_.coordinator == coord && p.attempt > lock_.attempt;
    const bool lower = coord < lock_.coordinator;
    if (!newer_same && !lower) return;
  }
  if (proposing_) AbortProposal();
  LockTo(ProposalKey{coord, p.attempt});
  AcceptData a = MakeAccept();
  wire::Accept acc;
  acc.attempt = p.attempt;
  acc.old_conf_id = a.old_conf_id;
  acc.max_conf_id = a.max_conf_id;
  acc.safe_bound = a.safe_bound;
  for (const auto& h : a.held)
    acc.held.push_back({"", h.origin, h.held, h.high});
  acc.state = a.state;
  std::string f;
  wire::EncodeAccept({}, acc, &f);
  SendSeq(l, f);
}

void Mesh::Impl::OnAccept(Link& l, const wire::Frame& frame) {
  wire::Accept a;
  if (!wire::DecodeAccept(frame, &a).ok()) return;
  if (!proposing_ || a.attempt != attempt_) return;
  AcceptData d;
  d.old_conf_id = a.old_conf_id;
  d.max_conf_id = a.max_conf_id;
  d.safe_bound = a.safe_bound;
  for (const auto& h : a.held) {
    d.held.push_back({std::string(h.origin), h.held, h.high});
  }
  d.state = std::string(a.state);
  RecordAccept(l.spec.name, std::move(d));
}

void Mesh::Impl::RecordAccept(const std::string& member, AcceptData data) {
  if (std::find(proposal_names_.begin(), proposal_names_.end(), member) ==
      proposal_names_.end()) {
    return;
  }
  accepts_[member] = std::move(data);
  if (accepts_.size() == proposal_names_.size()) DoInstall();
}

void Mesh::Impl::DoInstall() {
  uint64_t max_id = max_conf_id_;
  for (const auto& [n, a] : accepts_) {
    max_id = std::max({max_id, a.max_conf_id, a.old_conf_id});
  }
  const uint64_t conf_id =
      (((max_id >> kConfCounterShift) + 1) << kConfCounterShift) |
      Hash16(options_.self);
  wire::Install inst;
  inst.attempt = attempt_;
  inst.conf_id = conf_id;
  for (const auto& m : proposal_members_) {
    const AcceptData& a = accepts_[std::string(m.name)];
    inst.members.push_back(
        {m.name, m.incarnation, a.old_conf_id, a.safe_bound, a.state});
    for (const auto& h : a.held) {
      inst.held.push_back({m.name, h.origin, h.held, h.high});
    }
  }
  std::string f;
  wire::EncodeInstall({}, inst, &f);
  for (const auto& m : proposal_members_) {
    if (m.name != options_.self) SendSeq(*links_[std::string(m.name)], f);
  }
  // Copies: `inst` points into accepts_ and proposal_names_.
  std::vector<std::string> keep;
  keep.reserve(2 * inst.members.size() + 2 * inst.held.size());
  auto own = [&](std::string_view s) {
    keep.emplace_back(s);
    return std::string_view(keep.back());
  };
  for (auto& m : inst.members) {
    m.name = own(m.name);
    m.state = own(m.state);
  }
  for (auto& h : inst.held) {
    h.member = own(h.member);
    h.origin = own(h.origin);
  }
  AbortProposal();
  ApplyInstall(ProposalKey{options_.self, inst.attempt}, conf_id, inst.members,
               inst.held);
}

void Mesh::Impl::OnInstall(Link& l, const wire::Frame& frame) {
  wire::Install inst;
  if (!wire::DecodeInstall(frame, &inst).ok()) return;
  ProposalKey key{l.spec.name, inst.attempt};
  if (state_ != State::kLocked || !(lock_ == key)) {
    MSGC_LOG_INFO("mesh {}: ignoring INSTALL {:x} of {}: not locked to it",
                  options_.self, inst.conf_id, l.spec.name);
    return;
  }
  ApplyInstall(key, inst.conf_id, inst.members, inst.held);
}

void Mesh::Impl::ApplyInstall(const ProposalKey& by, uint64_t conf_id,
                              const std::vector<wire::InstallMember>& members,
                              const std::vector<wire::HeldReport>& held) {
  state_ = State::kInstalling;
  lock_deadline_ = SteadyClock::now() + kLockTimeout;
  max_conf_id_ = std::max(max_conf_id_, conf_id);
  Pending p;
  p.by = by;
  p.conf_id = conf_id;
  std::set<std::string> group;  // members coming from our configuration
  for (const auto& m : members) {
    p.members.emplace_back(std::string(m.name), m.incarnation, m.old_conf_id);
    p.states[std::string(m.name)] = std::string(m.state);
    if (m.old_conf_id == conf_id_) {
      group.emplace(m.name);
      // A safe item any of them knew stable may have been delivered in the
      // regular configuration: all deliver it there (§4 "Flush").
      p.safe_threshold = std::max(p.safe_threshold, m.safe_bound);
    }
  }
  p.moving_together.assign(group.begin(), group.end());
  // held[(member, origin)] for the members of our group.
  std::map<std::pair<std::string, std::string>, uint32_t> rep;
  std::map<std::string, uint64_t> high;  // per origin, max over the group
  for (const auto& h : held) {
    if (group.count(std::string(h.member))) {
      rep[{std::string(h.member), std::string(h.origin)}] = h.held;
      uint64_t& hi = high[std::string(h.origin)];
      hi = std::max(hi, h.high);
    }
  }
  // A departing member may have items stamped above what any of us received
  // from it, which the other side delivers in the old regular
  // configuration: beyond that point our regular part would have a gap
  // (Totem stops at its first gap), so the rest goes after the
  // transitional signal.
  for (const ConfMember& m : members_) {
    if (group.count(m.name) == 0) {
      p.regular_bound = std::min(p.regular_bound, high[m.name]);
    }
  }
  p.cut.assign(members_.size(), 0);
  for (size_t i = 0; i < members_.size(); ++i) {
    const std::string& origin = members_[i].name;
    uint32_t cut = 0;
    for (const auto& g : group) {
      auto r = rep.find({g, origin});
      if (r != rep.end()) cut = std::max(cut, r->second);
    }
    p.cut[i] = cut;
    // The lowest-named member holding the whole cut forwards to the others.
    std::string forwarder;
    for (const auto& g : group) {
      auto r = rep.find({g, origin});
      if (r != rep.end() && r->second == cut) {
        forwarder = g;
        break;
      }
    }
    if (forwarder != options_.self) continue;
    for (const auto& g : group) {
      if (g == options_.self) continue;
      auto r = rep.find({g, origin});
      const uint32_t has = r == rep.end() ? 0 : r->second;
      auto lit = links_.find(g);
      if (lit == links_.end()) continue;
      for (uint32_t o = has + 1; o <= cut; ++o) {
        StoredItem* it = members_[i].Find(o);
        if (!it) {
          MSGC_LOG_ERROR("mesh {}: cannot forward item {} of {}: not held",
                         options_.self, o, origin);
          break;
        }
        wire::Retrans rt;
        rt.origin = origin;
        rt.item.flags =
            it->known ? it->flags : (wire::kItemRouted | wire::kItemSkipped);
        rt.item.conf_id = conf_id_;
        rt.item.ts = it->ts;
        rt.item.oseq = o;
        rt.item.service = it->service;
        rt.item.kind = it->kind;
        rt.item.epoch = it->epoch;
        rt.item.body = it->body;
        std::string f;
        wire::EncodeRetrans({}, rt, &f);
        SendSeq(*lit->second, f);
      }
    }
  }
  MSGC_LOG_INFO("mesh {}: installing {:x} from {} (moving together [{}])",
                options_.self, conf_id, by.coordinator,
                JoinNames(p.moving_together));
  p.gather_asked = std::move(gather_asked_early_[conf_id]);
  gather_asked_early_.clear();
  pending_ = std::move(p);
  for (auto& [lp, id, bytes] : future_) {
    if (id == conf_id) pending_->early.emplace_back(lp, std::move(bytes));
  }
  future_.clear();
  TryCompleteInstall();
}

void Mesh::Impl::OnRetrans(Link& l, const wire::Frame& frame) {
  wire::Retrans rt;
  if (!wire::DecodeRetrans(frame, &rt).ok()) return;
  (void)l;
  if (rt.item.conf_id != conf_id_) return;
  int idx = MemberIndex(rt.origin);
  if (idx < 0) return;
  // The forwarder held it when it froze: its body (if any) counts.
  StoreItem(idx, rt.item, true);
  if (rt.item.ts > clock_) clock_ = rt.item.ts;
  if (state_ == State::kInstalling) TryCompleteInstall();
}

void Mesh::Impl::TryCompleteInstall() {
  if (state_ != State::kInstalling || !pending_) return;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].held < pending_->cut[i]) return;  // forwarding pending
  }
  // Routed bodies we lack up to the cut come from whoever held them when
  // frozen; nobody moves on before everyone asked (docs/mesh.md §4.1).
  if (!pending_->gather_sent) SendGatherReq();
  const size_t others = pending_->moving_together.size() - 1;
  if (pending_->gather_done.size() < others ||
      pending_->gather_asked.size() < others) {
    return;
  }
  Pending p = std::move(*pending_);
  pending_.reset();
  // 1. The old configuration's items up to the cut, in its order, as part
  // of the regular configuration: the members moving on together agree on
  // the cut and the order, and a member on the other side that delivered
  // one of them did so in this regular configuration too. This stops at
  // the first safe item none of us knew stable (it was delivered by
  // nobody in the regular configuration) or at the first item stamped
  // above what we received from a departing member (the other side may
  // hold items before it that we lack), then 2. the transitional signal
  // and 3. the rest up to the cut, whose guarantees hold only within the
  // transitional set (as in Spread/Totem).
  const Configuration old_conf = PublicConf();
  bool signalled = false;
  // For the log line below (operators and the fault harness read it).
  size_t n_regular = 0, n_after = 0, n_departed = 0, n_bodiless = 0;
  size_t n_unknown = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    const ConfMember& m = members_[i];
    for (uint32_t o = m.first_oseq; o <= std::min(p.cut[i], m.held); ++o) {
      if (!m.items[o - m.first_oseq].known) ++n_unknown;
    }
  }
  // Fast items (docs/mesh.md §3.2) go by the same rules as in regular
  // delivery: after their origin's earlier items, and those of an epoch
  // before the membership item that ends it, which in the regular part
  // needs every member's mark (a member moving on with us needs none: we
  // hold its whole stream); where that cannot be kept the regular part
  // ends. After the signal they keep their origin's order, and their epoch
  // as far as the set holds it.
  deliver_budget_ = SIZE_MAX;
  std::vector<bool> in_set(members_.size());
  for (size_t i = 0; i < members_.size(); ++i) {
    in_set[i] = std::binary_search(p.moving_together.begin(),
                                   p.moving_together.end(), members_[i].name);
  }
  auto pump_all = [&](bool check_epoch) {
    const size_t n = PumpAll(p.cut, check_epoch, /*hold_bodiless=*/false);
    (signalled ? n_after : n_regular) += n;
  };
  pump_all(true);
  if (!running_) return;
  for (auto it = undelivered_.begin(); it != undelivered_.end();) {
    auto [ts, idx, oseq] = *it;
    if (oseq > p.cut[idx]) {  // beyond the cut: nobody delivers it
      it = undelivered_.erase(it);
      continue;
    }
    StoredItem* s = members_[idx].Find(oseq);
    const bool membership = (s->flags & wire::kItemMembership) != 0;
    if (!signalled) {
      bool stop = ts > p.regular_bound ||
                  (s->service == wire::Service::kSafe && ts > p.safe_threshold);
      if (!stop) {
        n_regular += PumpOrigin(idx, oseq - 1, /*check_epoch=*/true, false);
        stop = members_[idx].next < oseq;
      }
      if (!stop && membership) {
        // As in Deliver (MembershipBarrierDone): the fast items of this
        // epoch that became deliverable (their origin's agreed item before
        // them was delivered above) come first; a server of the set that
        // delivered the membership item before freezing delivered them.
        pump_all(true);
        if (!running_) return;
        stop = !FlushBarrierDone(p.cut, in_set);
      }
      if (!running_) return;
      if (stop) {
        pump_all(true);  // this epoch's fast items that we hold
        if (!running_) return;
        signalled = true;
        listener_->OnTransitional(old_conf, p.moving_together);
        if (!running_) return;
      }
    }
    if (signalled) {
      if (membership) pump_all(true);
      n_after += PumpOrigin(idx, oseq - 1, /*check_epoch=*/false, false);
      if (!running_) return;
    }
    // After the signal every item up to the cut, whatever its origin (the
    // transitional set agrees on them; docs/mesh.md §4): an item of a
    // member on the other side may be a safe one that someone there
    // delivered in the regular configuration, knowing every server held
    // it, and then every member that stays connected must deliver it.
    it = undelivered_.erase(it);
    if (!s->has_body()) ++n_bodiless;
    ++(signalled ? n_after : n_regular);
    if (signalled && !in_set[idx]) ++n_departed;
    DeliverOne(idx, oseq, *s);
    if (!running_) return;
    if (membership) pump_all(true);
    if (!running_) return;
  }
  if (!signalled) pump_all(true);
  if (!running_) return;
  // The rest of the fast items up to the cut, after the signal below.
  const bool fast_left =
      std::any_of(members_.begin(), members_.end(), [&](const ConfMember& m) {
        const int i = static_cast<int>(&m - members_.data());
        return FastPending(i, p.cut[i]);
      });
  if (fast_left && !signalled) {
    signalled = true;
    listener_->OnTransitional(old_conf, p.moving_together);
    if (!running_) return;
  }
  pump_all(false);
  if (!running_) return;
  MSGC_LOG_INFO(
      "mesh {}: flushed {:x}: {} items in the regular configuration, {} after "
      "the transitional signal ({} without a body passed, {} from members "
      "that left); {} known by number only up to the cut",
      options_.self, conf_id_, n_regular, n_after, n_bodiless, n_departed,
      n_unknown);
  if (!signalled) {
    listener_->OnTransitional(old_conf, p.moving_together);
    if (!running_) return;
  }
  // 4. The new configuration.
  std::vector<ConfMember> next;
  for (const auto& [name, inc, old_id] : p.members) {
    ConfMember& m = next.emplace_back();
    m.name = name;
    m.inc = inc;
    if (name != options_.self) m.link = links_[name].get();
  }
  std::sort(next.begin(), next.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::string> joined, left;
  for (const auto& m : next) {
    if (MemberIndex(m.name) < 0) joined.push_back(m.name);
  }
  for (const auto& m : members_) {
    if (std::none_of(next.begin(), next.end(),
                     [&](const auto& n) { return n.name == m.name; })) {
      left.push_back(m.name);
    }
  }
  std::vector<std::string> states;
  for (const ConfMember& m : next)
    states.push_back(std::move(p.states[m.name]));
  members_ = std::move(next);
  self_idx_ = MemberIndex(options_.self);
  member_names_.clear();
  for (const ConfMember& m : members_) member_names_.push_back(m.name);
  conf_id_ = p.conf_id;
  installed_by_ = p.by;
  state_ = State::kOperational;
  undelivered_.clear();
  last_delivered_ = {0, -1};
  epoch_ = 0;
  own_mark_ = 0;
  last_own_slow_ = 0;
  safe_high_ = 0;
  announced_ts_ = 0;
  announced_stable_ = 0;
  reported_held_.clear();
  reported_high_.clear();
  Configuration conf = PublicConf();
  MSGC_LOG_NOTICE("mesh {}: configuration {:x} [{}] joined [{}] left [{}]",
                  options_.self, conf.id, JoinNames(conf.members),
                  JoinNames(joined), JoinNames(left));
  // Frames of the new configuration that overtook our INSTALL.
  for (auto& [lp, bytes] : p.early) {
    wire::Frame f;
    f.header.body_len = static_cast<uint32_t>(bytes.size() - wire::kHeaderSize);
    f.header.type = static_cast<wire::FrameType>(bytes[4]);
    f.header.flags = static_cast<uint8_t>(bytes[5]);
    f.body = std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(bytes.data()) + wire::kHeaderSize,
        bytes.size() - wire::kHeaderSize);
    if (f.header.type == static_cast<wire::FrameType>(MeshFrameType::kItem)) {
      OnItem(*lp, f);
    } else if (f.header.type ==
               static_cast<wire::FrameType>(MeshFrameType::kItems)) {
      OnItems(*lp, f);
    } else {
      OnClock(*lp, f);
    }
  }
  // Submissions that waited for the change, in their order. The listener
  // has not heard of the new configuration yet, so its routing state is the
  // old configuration's: these bodies go to every member.
  route_ok_ = false;
  while (!submit_queue_.empty()) {
    auto [service, kind, body, flags] = std::move(submit_queue_.front());
    submit_queue_.pop_front();
    Stamp(service, kind, std::move(body), flags);
  }
  route_ok_ = true;
  listener_->OnConfiguration(conf, joined, left, states);
  ScheduleClock();
  ScheduleDeliver();
  for (auto& [name, l] : links_) MaybeReleaseChannel(*l);
  RecomputeReach(true);  // gossip the new conf id; a restarted peer may be
                         // admissible now
}

void Mesh::Impl::SendGatherReq() {
  pending_->gather_sent = true;
  wire::GatherReq req;
  req.conf_id = pending_->conf_id;
  req.old_conf_id = conf_id_;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (static_cast<int>(i) == self_idx_) continue;  // own bodies are held
    const ConfMember& m = members_[i];
    uint32_t first = 0;
    uint32_t last = 0;
    const uint32_t upto = std::min(pending_->cut[i], m.held);
    for (uint32_t o = m.first_oseq; o <= upto; ++o) {
      const StoredItem& it = m.items[o - m.first_oseq];
      // Known by number only: skipped by its origin, which knew whether we
      // need it, unless our join was in flight (interest_from); and only
      // if its place may still be ahead of our last delivery.
      const bool missing =
          it.known
              ? (!it.delivered && !it.has_body())
              : (it.ts >= m.interest_from &&
                 std::make_pair(it.ts, static_cast<int>(i)) > last_delivered_);
      if (!missing) continue;
      if (first == 0) first = o;
      last = o;
    }
    if (first != 0) req.ranges.push_back({m.name, first, last});
  }
  std::string f;
  wire::EncodeGatherReq({}, req, &f);
  for (const std::string& g : pending_->moving_together) {
    if (g == options_.self) continue;
    auto lit = links_.find(g);
    if (lit != links_.end()) SendSeq(*lit->second, f);
  }
}

// Answers from what we hold; we are frozen (locked to the same proposal) or
// have not installed yet, so that is what we held when we froze, plus
// bodies that came from others' such holdings.
void Mesh::Impl::OnGatherReq(Link& l, const wire::Frame& frame) {
  wire::GatherReq req;
  Status s = wire::DecodeGatherReq(frame, &req);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  if (req.old_conf_id == conf_id_ && state_ != State::kOperational) {
    for (const wire::GatherRange& r : req.ranges) {
      int idx = MemberIndex(r.origin);
      if (idx < 0) continue;
      ConfMember& m = members_[idx];
      const uint32_t from = std::max(r.first, m.first_oseq);
      const uint32_t to = std::min(r.last, m.held);
      for (uint32_t o = from; o <= to && o != 0; ++o) {
        const StoredItem& it = m.items[o - m.first_oseq];
        if (!it.has_body()) continue;
        wire::GatherItem gi;
        gi.conf_id = req.conf_id;
        gi.origin = m.name;
        gi.item.flags = it.flags;
        gi.item.conf_id = conf_id_;
        gi.item.ts = it.ts;
        gi.item.oseq = o;
        gi.item.service = it.service;
        gi.item.kind = it.kind;
        gi.item.epoch = it.epoch;
        gi.item.body = it.body;
        std::string f;
        wire::EncodeGatherItem({}, gi, &f);
        SendSeq(l, f);
      }
    }
  }
  std::string done;
  wire::EncodeGatherDone({}, req.conf_id, &done);
  SendSeq(l, done);
  if (pending_ && pending_->conf_id == req.conf_id) {
    pending_->gather_asked.insert(l.spec.name);
    TryCompleteInstall();
  } else {
    gather_asked_early_[req.conf_id].insert(l.spec.name);
  }
}

void Mesh::Impl::OnGatherItem(Link& l, const wire::Frame& frame) {
  wire::GatherItem gi;
  Status s = wire::DecodeGatherItem(frame, &gi);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  if (!pending_ || gi.conf_id != pending_->conf_id ||
      gi.item.conf_id != conf_id_) {
    return;
  }
  int idx = MemberIndex(gi.origin);
  if (idx < 0 || idx == self_idx_) return;
  StoreItem(idx, gi.item, true, /*fill=*/true);
}

void Mesh::Impl::OnGatherDone(Link& l, const wire::Frame& frame) {
  uint64_t id = 0;
  Status s = wire::DecodeGatherDone(frame, &id);
  if (!s.ok()) {
    l.active->Close(net::CloseReason::kProtocolError, s.message());
    return;
  }
  if (!pending_ || pending_->conf_id != id) return;
  pending_->gather_done.insert(l.spec.name);
  TryCompleteInstall();
}

void Mesh::Impl::GiveUp(const std::string& why) {
  MSGC_LOG_WARN("mesh {}: configuration change abandoned: {}", options_.self,
                why);
  if (proposing_) AbortProposal();
  pending_.reset();
  state_ = State::kGathering;
  RecomputeReach(true);
  ScheduleDeliver();
}

// ---------------------------------------------------------------------------
// Status and test hooks.

Configuration Mesh::Impl::PublicConf() const {
  Configuration c;
  c.id = conf_id_;
  for (const auto& m : members_) c.members.push_back(m.name);
  return c;
}

std::vector<LinkInfo> Mesh::Impl::Links() const {
  std::vector<LinkInfo> out;
  for (const auto& [name, l] : links_) {
    LinkInfo i;
    i.peer = name;
    i.state = l->active ? (l->synced ? "up" : "connecting")
                        : (l->dialing || l->connecting ? "connecting" : "down");
    i.reachable = l->alive;
    i.incarnation = l->peer_inc;
    i.unacked = l->resend.size();
    i.queued = l->active ? l->active->queued_frames() : 0;
    i.bodies_sent = l->bodies_sent;
    i.bodies_skipped = l->bodies_skipped;
    i.clocks_sent = l->clocks_sent;
    i.items_received = l->items_received;
    i.last_rx = l->last_rx;
    i.remote = l->active ? l->active->remote() : "";
    out.push_back(std::move(i));
  }
  return out;
}

void Mesh::Impl::BlockPeer(std::string_view peer, bool blocked) {
  auto it = links_.find(std::string(peer));
  if (it == links_.end()) return;
  Link& l = *it->second;
  if (l.blocked == blocked) return;
  l.blocked = blocked;
  if (blocked) {
    CloseConns(l, net::CloseReason::kShutdown, "blocked (test)");
    l.redial_timer.cancel();
    l.redial_armed = false;
  } else {
    Dial(l);
  }
}

void Mesh::Impl::CloseLink(std::string_view peer) {
  auto it = links_.find(std::string(peer));
  if (it == links_.end() || !it->second->active) return;
  it->second->active->Close(net::CloseReason::kIoError, "closed by test");
}

// ---------------------------------------------------------------------------
// Mesh (the public face).

Mesh::Mesh(asio::io_context& io, MeshOptions options, MeshListener* listener)
    : impl_(std::make_shared<Impl>(io, std::move(options), listener)) {}

Mesh::~Mesh() {
  impl_->Stop();
  // Connections closed by Stop() call Impl::OnClose from posted handlers;
  // keep the Impl alive until those have run.
  asio::post(impl_->io(), [keep = impl_] {});
}

Status Mesh::Start() { return impl_->Start(); }
void Mesh::Stop() { impl_->Stop(); }
void Mesh::AdoptInbound(std::shared_ptr<net::Connection> conn,
                        const wire::Hello& hello,
                        const asio::ip::tcp::endpoint& remote) {
  impl_->AdoptInbound(std::move(conn), hello, remote);
}
net::ConnectionHandler* Mesh::link_handler() { return impl_.get(); }
bool Mesh::Submit(wire::Service service, uint8_t kind, std::string body,
                  uint8_t flags) {
  return impl_->Submit(service, kind, std::move(body), flags);
}
Status Mesh::UpdateOptions(const MeshOptions& options) {
  return impl_->UpdateOptions(options);
}
Configuration Mesh::configuration() const { return impl_->PublicConf(); }
std::vector<LinkInfo> Mesh::links() const { return impl_->Links(); }
size_t Mesh::submit_queue() const { return impl_->submit_queue(); }
void Mesh::TakeBodyBuffer(std::string* into) { impl_->TakeBodyBuffer(into); }
bool Mesh::ordering() const { return impl_->ordering(); }
void Mesh::TestBlockPeer(std::string_view peer, bool blocked) {
  impl_->BlockPeer(peer, blocked);
}
void Mesh::TestCloseLink(std::string_view peer) { impl_->CloseLink(peer); }
void Mesh::TestHoldClocks(bool hold) { impl_->HoldClocks(hold); }
void Mesh::TestSetRtt(std::string_view peer, uint32_t rtt_us) {
  impl_->SetRtt(peer, rtt_us);
}
void Mesh::TestHoldFramesTo(std::string_view peer, bool hold) {
  impl_->HoldFramesTo(peer, hold);
}

}  // namespace msgc::mesh
