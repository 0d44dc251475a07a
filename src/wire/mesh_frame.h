// Server <-> server ("mesh") frames: types 0x40..0x7f of the msgc protocol.
//
// Every mesh frame has the usual 8-byte header (wire/frame.h) and then a
// 16-byte link prefix:
//   u64 link_seq   per-link sequence number of this frame, 0 = unsequenced
//   u64 ack        highest link_seq received in order from the other side
// followed by the type's body. Sequenced frames (link_seq >= 1) are kept by
// the sender until acknowledged and resent after a reconnect; unsequenced
// ones (LINK_SYNC, LINK_ACK, BYE) are not. The byte-level specification is
// docs/mesh.md; this header and that document must agree. Numeric values
// are on the wire: never reorder.
//
// Decoded structs hold views into the frame's bytes (valid while the frame
// is). Decoders check every length and return ProtocolError naming the field,
// including for trailing bytes.
//
// Thread-safety: pure functions and value types.
#ifndef MSGC_WIRE_MESH_FRAME_H_
#define MSGC_WIRE_MESH_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "wire/frame.h"

namespace msgc::wire {

// Mesh frame types. Never reorder; values are on the wire.
enum class MeshFrameType : uint8_t {
  kLinkSync = 0x40,    // unsequenced: channel state after (re)connect
  kLinkAck = 0x41,     // unsequenced: just the prefix's ack
  kBye = 0x42,         // unsequenced: the sender is stopping on purpose
  kReach = 0x43,       // whom the sender reaches, its configuration
  kItem = 0x44,        // one ordered item, stamped by its origin
  kClock = 0x45,       // the sender's Lamport clock and stability bound
  kPropose = 0x46,     // coordinator -> members: form this configuration
  kAccept = 0x47,      // member -> coordinator: yes, and what I hold
  kInstall = 0x48,     // coordinator -> members: install, with all reports
  kRetrans = 0x49,     // flush: an old-configuration item of another origin
  kLateBody = 0x4a,    // an item of the sender's, sent after it was skipped
  kGatherReq = 0x4b,   // flush: send me the bodies you hold in these ranges
  kGatherItem = 0x4c,  // flush: one body asked for by GATHER_REQ
  kGatherDone = 0x4d,  // flush: the answer to a GATHER_REQ is complete
  kItems = 0x4e,       // several ITEMs of one configuration in one frame
};

inline constexpr size_t kLinkPrefixSize = 16;
// Protocol limits of mesh frames.
inline constexpr size_t kMaxNodeNameLen = 255;
inline constexpr size_t kMaxMeshNodes = 1024;  // entries of a node list
inline constexpr size_t kMaxReports = 1024 * 1024;
// Largest state blob of one member in ACCEPT / INSTALL (docs/mesh.md §4).
inline constexpr size_t kMaxStateLen = 1024 * 1024;
// Peer links accept frames up to at least this size: an INSTALL carries
// every member's state (kMaxStateLen each for a mesh of 64 servers) and
// their reports.
inline constexpr uint32_t kMinPeerMaxBody = 65 * 1024 * 1024;

// Flags of LINK_SYNC.
inline constexpr uint8_t kSyncReset = 0x01;  // my send channel restarted at 1
// Flags of REACH.
inline constexpr uint8_t kReachLocked = 0x01;  // locked to a proposal
// Flags of ITEM / RETRANS / LATE_BODY / GATHER_ITEM.
inline constexpr uint8_t kItemHasBody = 0x01;   // the body follows
inline constexpr uint8_t kItemInterest = 0x02;  // may make its origin need
                                                // bodies (docs/mesh.md §3.1)
inline constexpr uint8_t kItemRouted = 0x04;    // body only where needed
inline constexpr uint8_t kItemSkipped = 0x08;   // RETRANS only: the forwarder
                                                // knows no more than the oseq
// A membership item (a client's connect, join, leave or disconnect): it
// ends a membership epoch of the configuration (docs/mesh.md §3.2).
inline constexpr uint8_t kItemMembership = 0x10;
// The fifo fast path (docs/mesh.md §3.2): delivered on receipt, after the
// origin's earlier items, in membership epoch `epoch`; not in the agreed
// order.
inline constexpr uint8_t kItemFast = 0x20;
// With kItemFast: no body, never delivered; the origin's last fast item of
// epoch `epoch - 1` precedes it (it reached membership item `epoch`).
inline constexpr uint8_t kItemMark = 0x40;

bool IsKnownMeshFrameType(uint8_t type);
std::string_view MeshFrameTypeName(uint8_t type);
inline bool IsSequencedMeshFrameType(uint8_t type) {
  return type >= static_cast<uint8_t>(MeshFrameType::kReach) &&
         type <= static_cast<uint8_t>(MeshFrameType::kItems);
}

struct LinkPrefix {
  uint64_t link_seq = 0;
  uint64_t ack = 0;
};

struct LinkSync {
  uint8_t flags = 0;
  uint64_t incarnation = 0;       // the sender's
  uint64_t your_incarnation = 0;  // the receiver's as the sender knows it
  uint64_t received = 0;  // last link_seq received in order from the receiver
};

// A node and its process incarnation.
struct NodeInc {
  std::string_view name;
  uint64_t incarnation = 0;
};

// Identifies one proposal: its coordinator and the coordinator's attempt
// counter (increasing per coordinator process).
struct ProposalId {
  std::string_view coordinator;
  uint64_t attempt = 0;
};

struct Reach {
  uint8_t flags = 0;               // kReachLocked
  uint64_t conf_id = 0;            // the sender's installed configuration
  ProposalId lock;                 // meaningful with kReachLocked
  std::vector<NodeInc> reachable;  // excluding the sender
};

struct Item {
  uint8_t flags = 0;  // kItem*
  uint64_t conf_id = 0;
  uint64_t ts = 0;    // Lamport stamp
  uint32_t oseq = 0;  // origin's item number in this configuration, from 1
  Service service = Service::kAgreed;
  uint8_t kind = 0;
  // kItemFast: the membership epoch (membership items its origin had
  // delivered in conf_id) it is delivered in; kItemMark: the membership
  // item it announces. 0 otherwise.
  uint32_t epoch = 0;
  std::string_view body;
};

struct Clock {
  uint64_t conf_id = 0;
  uint64_t ts = 0;      // the sender's Lamport clock
  uint64_t stable = 0;  // the sender holds every item stamped <= stable
  // The sender's last item number in conf_id: each of its items up to it
  // was sent to the receiver before this frame or is not for it (skipped).
  uint32_t oseq = 0;
};

struct Propose {
  uint64_t attempt = 0;  // coordinator = the sender
  std::vector<NodeInc> members;
};

// What one member holds from one origin of its old configuration.
struct HeldReport {
  std::string_view member;
  std::string_view origin;
  uint32_t held = 0;  // highest contiguous oseq
  // The highest stamp the member had received from the origin: it holds
  // every item of the origin stamped up to it (the flush's regular part
  // stops there for an origin that departs, docs/mesh.md §4).
  uint64_t high = 0;
};

struct Accept {
  uint64_t attempt = 0;  // of the proposal accepted (coordinator = receiver)
  uint64_t old_conf_id = 0;
  uint64_t max_conf_id = 0;  // the largest configuration id the sender saw
  // Safe items stamped up to this were known stable by the sender when it
  // froze (it may have delivered them in the regular configuration).
  uint64_t safe_bound = 0;
  std::vector<HeldReport> held;  // member = the sender
  // The sender's state for the next configuration: opaque to the mesh
  // (MeshListener::ConfigurationState), handed to every member at install.
  std::string_view state;
};

struct InstallMember {
  std::string_view name;
  uint64_t incarnation = 0;
  uint64_t old_conf_id = 0;
  uint64_t safe_bound = 0;  // from its ACCEPT
  std::string_view state;   // from its ACCEPT
};

struct Install {
  uint64_t attempt = 0;                // coordinator = the sender
  uint64_t conf_id = 0;                // the new configuration's id
  std::vector<InstallMember> members;  // sorted by name
  std::vector<HeldReport> held;        // every member's reports
};

struct Retrans {
  std::string_view origin;
  Item item;  // item.conf_id = the old configuration
};

// One range of one origin's items (oseq first..last, inclusive).
struct GatherRange {
  std::string_view origin;
  uint32_t first = 0;
  uint32_t last = 0;
};

struct GatherReq {
  uint64_t conf_id = 0;      // the configuration being installed
  uint64_t old_conf_id = 0;  // the one being flushed (the ranges' items)
  std::vector<GatherRange> ranges;
};

struct GatherItem {
  uint64_t conf_id = 0;  // the configuration being installed
  std::string_view origin;
  Item item;  // item.conf_id = the old configuration
};

// ---- Encoding: each appends one whole frame to *out. ----
void EncodeLinkSync(const LinkPrefix& p, const LinkSync& m, std::string* out);
void EncodeLinkAck(const LinkPrefix& p, std::string* out);
void EncodeBye(const LinkPrefix& p, std::string* out);
void EncodeReach(const LinkPrefix& p, const Reach& m, std::string* out);
void EncodeItem(const LinkPrefix& p, const Item& m, std::string* out);
void EncodeClock(const LinkPrefix& p, const Clock& m, std::string* out);
void EncodePropose(const LinkPrefix& p, const Propose& m, std::string* out);
void EncodeAccept(const LinkPrefix& p, const Accept& m, std::string* out);
void EncodeInstall(const LinkPrefix& p, const Install& m, std::string* out);
void EncodeRetrans(const LinkPrefix& p, const Retrans& m, std::string* out);
void EncodeLateBody(const LinkPrefix& p, const Item& m, std::string* out);
void EncodeGatherReq(const LinkPrefix& p, const GatherReq& m, std::string* out);
void EncodeGatherItem(const LinkPrefix& p, const GatherItem& m,
                      std::string* out);
void EncodeGatherDone(const LinkPrefix& p, uint64_t conf_id, std::string* out);

// Rewrites the link prefix of the whole encoded frame `frame` in place.
// REQUIRES: frame holds exactly one mesh frame.
void PatchLinkPrefix(std::string* frame, const LinkPrefix& p);

// ITEMS is built in place, one item at a time, so that a sender can batch
// the items of a loop turn per link without copying them again:
//   BeginItems(&f, conf_id); AppendItem(&f, start, item) ...; FinishItems.
// Records are the ITEM fields without conf_id (the frame's). At most
// kMaxItemsPerFrame records.
inline constexpr size_t kMaxItemsPerFrame = 0xffff;
size_t BeginItems(std::string* out, uint64_t conf_id);
void AppendItem(std::string* out, size_t start, const Item& m);
// The same, for a sender that puts one item into the ITEMS frames of
// several links: the record's fixed part (every field but conf_id, up to
// the body's length) is encoded once, and each AppendItemRecord is then one
// growth of `out` and two copies. Byte for byte what AppendItem writes.
inline constexpr size_t kItemRecordHeadSize = 23;
struct ItemRecordHead {
  char bytes[kItemRecordHeadSize];
};
ItemRecordHead EncodeItemRecordHead(const Item& m);
// REQUIRES: `head` is EncodeItemRecordHead of an item whose body is `body`.
void AppendItemRecord(std::string* out, size_t start,
                      const ItemRecordHead& head, std::string_view body);
uint16_t ItemsCount(const std::string& out, size_t start);
void FinishItems(std::string* out, size_t start);

// ---- Decoding ----
// Splits off the prefix. `rest` is the type's body.
Status DecodeLinkPrefix(const Frame& f, LinkPrefix* prefix,
                        std::span<const uint8_t>* rest);
// Each takes the whole frame (prefix included; it is skipped).
Status DecodeLinkSync(const Frame& f, LinkSync* out);
Status DecodeReach(const Frame& f, Reach* out);
Status DecodeItem(const Frame& f, Item* out);
Status DecodeClock(const Frame& f, Clock* out);
Status DecodePropose(const Frame& f, Propose* out);
Status DecodeAccept(const Frame& f, Accept* out);
Status DecodeInstall(const Frame& f, Install* out);
Status DecodeRetrans(const Frame& f, Retrans* out);
Status DecodeLateBody(const Frame& f, Item* out);
Status DecodeGatherReq(const Frame& f, GatherReq* out);
Status DecodeGatherItem(const Frame& f, GatherItem* out);
Status DecodeGatherDone(const Frame& f, uint64_t* conf_id);
// Fills *out (cleared first); item.conf_id = the frame's.
Status DecodeItems(const Frame& f, std::vector<Item>* out);
// LINK_ACK and BYE: the prefix only.
Status DecodeMeshEmpty(const Frame& f);

}  // namespace msgc::wire

#endif  // MSGC_WIRE_MESH_FRAME_H_
