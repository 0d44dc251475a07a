// Items: what the server submits to the mesh's agreed order, and their body
// layouts. The mesh treats `kind` and the body as opaque; every server
// decodes them in the same order and applies them to its replicated group
// table, so these layouts are the server-to-server state machine protocol.
// (To be folded into docs/protocol.md §5.)
//
// Encoding: little-endian, str16 = u16 length + bytes, blob32 = u32 length +
// bytes, like the client frames. Decoders check every length and reject
// trailing bytes. `sid` is the session id the member's home server gave it;
// the home node is the item's origin (mesh::Item::origin), or in the server
// state its `node`.
//
//   kind 1 CONNECT    str16 private_name, u64 sid, str16 replaces,
//                     u64 replaces_sid
//       A session finished its handshake: its private name exists
//       cluster-wide (unicast, NO_SUCH_RECIPIENT). `replaces` (may be
//       empty) is the client's previous session, from its HELLO: if that
//       session (name and sid) is in the table it is removed there, with
//       cause disconnect, and anything it still sends is dropped.
//   kind 2 JOIN       str16 private_name, u64 sid, str16 group, blob32 caps
//   kind 3 LEAVE      str16 private_name, u64 sid, str16 group
//   kind 4 DISCONNECT str16 private_name, u64 sid
//       The session is gone; it leaves all its groups (cause disconnect).
//   kind 5 MESSAGE    u64 sender_sid, u8 flags (0x01 SELF_DISCARD),
//                     then the complete encoded DELIVER frame (header
//                     included) up to the end of the body. It is queued
//                     as-is to the local recipients; destinations are read
//                     back from it.
//   (kind 6 was STATE, the state exchange of earlier versions; unused.)
//
// The server state (not an item): what a server hands on to the next
// configuration in the mesh's ACCEPT (mesh::MeshListener::
// ConfigurationState), which every member gets with the INSTALL:
//       str16 node, u64 incarnation, u32 n, n x (str16 private_name, u64 sid,
//       str16 replaces, u64 replaces_sid,
//       u16 g, g x (str16 group, blob32 caps, u64 key_ts, str16 key_origin))
//   its local sessions and their groups with their join keys (see
//   group_table.h), as they are once its own undelivered items are applied.
#ifndef MSGC_SERVER_ITEMS_H_
#define MSGC_SERVER_ITEMS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace msgc::server {

enum class ItemKind : uint8_t {
  kConnect = 1,
  kJoin = 2,
  kLeave = 3,
  kDisconnect = 4,
  kMessage = 5,
  // 6: reserved (was STATE).
};

inline constexpr uint8_t kMessageSelfDiscard = 0x01;

// CONNECT, JOIN, LEAVE and DISCONNECT share one struct; unused fields empty.
struct MemberItem {
  std::string_view name;
  uint64_t sid = 0;
  std::string_view group;     // JOIN, LEAVE
  std::string_view caps;      // JOIN
  std::string_view replaces;  // CONNECT: the session this one replaces
  uint64_t replaces_sid = 0;  // CONNECT
};

struct MessageItem {
  uint64_t sender_sid = 0;
  uint8_t flags = 0;
  std::span<const uint8_t> deliver_frame;  // header + body
};

struct StateGroup {
  std::string group;
  std::string caps;
  uint64_t key_ts = 0;
  std::string key_origin;
};
struct StateSession {
  std::string name;
  uint64_t sid = 0;
  std::string replaces;  // from its CONNECT
  uint64_t replaces_sid = 0;
  std::vector<StateGroup> groups;  // in the order the session joined them
};
struct ServerState {
  std::string node;
  uint64_t incarnation = 0;  // the sender's; mixed into the view epoch
  std::vector<StateSession> sessions;
};

std::string EncodeMemberItem(ItemKind kind, const MemberItem& m);
Status DecodeMemberItem(ItemKind kind, std::span<const uint8_t> body,
                        MemberItem* out);

// The MESSAGE prefix; the DELIVER frame is appended by the caller.
void EncodeMessagePrefix(uint64_t sender_sid, uint8_t flags, std::string* out);
inline constexpr size_t kMessagePrefixSize = 9;
Status DecodeMessageItem(std::span<const uint8_t> body, MessageItem* out);

std::string EncodeServerState(const ServerState& s);
Status DecodeServerState(std::span<const uint8_t> body, ServerState* out);

}  // namespace msgc::server

#endif  // MSGC_SERVER_ITEMS_H_
