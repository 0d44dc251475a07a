// GroupTable: the replicated table of sessions and group memberships of the
// whole cluster, and the views that result.
//
// A pure data structure (no sockets, no logging) so that membership rules
// can be unit-tested alone (group_table_test.cc). Every server applies the
// same items of the mesh's agreed order to its own copy (server.cc), so the
// copies are identical within a configuration.
//
// Sessions are identified by their private name "#session#node", unique
// cluster-wide because the node part is; each records its home node and the
// session id (sid) its home server gave it, so the home server can find the
// connection.
//
// Member order: within a group members are sorted by their JoinKey
// (Lamport stamp and origin of the JOIN item, then name). In normal
// operation that is join order; after a configuration change the table is
// rebuilt from every server's state and every server sorts identically.
//
// View ids are (epoch, seq): `epoch` identifies the configuration (its id
// mixed with its members' incarnations, see Server::Rebuild), `seq` a
// table-wide counter incremented on every view change of any group, so
// every view id within a configuration is distinct. Renumber() restarts it
// when a configuration is installed, giving every group a
// fresh id in group-name order, identical at every server.
//
// Invariants: a group exists iff it has at least one member; members of a
// group are unique; SessionEntry::groups is the exact inverse of the groups'
// member lists (in the order the session joined them).
//
// Thread-safety: none (the server uses it from its loop thread only).
#ifndef MSGC_SERVER_GROUP_TABLE_H_
#define MSGC_SERVER_GROUP_TABLE_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wire/frame.h"

namespace msgc::server {

// A session id, unique in the cluster: the server mixes its random
// incarnation into the ids it gives.
using MemberId = uint64_t;

// Transparent string hash so maps keyed by std::string can be searched with
// a string_view (from a decoded frame) without allocating.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const {
    return std::hash<std::string_view>{}(s);
  }
};
template <typename V>
using StringMap =
    std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// Global order of members within a group.
struct JoinKey {
  uint64_t ts = 0;     // Lamport stamp of the JOIN item
  std::string origin;  // node that submitted it
  std::string name;    // tie-break (one JOIN item carries one member)
  friend auto operator<=>(const JoinKey&, const JoinKey&) = default;
  friend bool operator==(const JoinKey&, const JoinKey&) = default;
};

struct GroupMember {
  MemberId id = 0;   // sid at the home node
  std::string name;  // private name "#session#node"
  std::string capabilities;
  std::string node;  // home node
  JoinKey key;

  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

// One new view of one group.
struct ViewChange {
  std::string group;
  wire::Cause cause = wire::Cause::kJoin;
  wire::ViewId view;
  std::vector<GroupMember> changed;  // who joined / left / disconnected
  std::vector<GroupMember> members;  // the whole new view, JoinKey order
};

struct SessionEntry {
  std::string node;
  MemberId sid = 0;
  // The client's previous session, which this one replaced (its CONNECT
  // named it); kept so that a rebuild from states drops it too.
  std::string replaces;
  MemberId replaces_sid = 0;
  std::vector<std::string> groups;  // in the order joined
};

class GroupTable {
 public:
  explicit GroupTable(uint64_t epoch) : epoch_(epoch) {}

  GroupTable(const GroupTable&) = delete;
  GroupTable& operator=(const GroupTable&) = delete;

  // Records a session (CONNECT). Replaces an entry of the same name (which
  // cannot be in any group: its DISCONNECT came first in the order).
  void AddSession(std::string_view name, std::string_view node, MemberId sid,
                  std::string_view replaces = {}, MemberId replaces_sid = 0);
  const SessionEntry* FindSession(std::string_view name) const;

  // Adds `m` to `group` (creating the group and, if needed, the session).
  // Returns the new view, or nullopt if m.name was already a member (joins
  // are idempotent; the capabilities of the first join stay).
  std::optional<ViewChange> Join(std::string_view group, GroupMember m);

  // Removes `name` from `group` with cause kLeave. Returns the new view
  // (whose `members` may be empty), or nullopt if it was not a member.
  std::optional<ViewChange> Leave(std::string_view group,
                                  std::string_view name);

  // Removes the session `name` from every group it is in, with `cause`, in
  // the order it joined them, and forgets it. One view change per group.
  std::vector<ViewChange> RemoveSession(
      std::string_view name, wire::Cause cause = wire::Cause::kDisconnect);

  // The members of `group` in JoinKey order, or null if it has none. The
  // pointer is valid until the next non-const call.
  const std::vector<GroupMember>* Members(std::string_view group) const;
  // The groups session `name` is in, in the order it joined them.
  std::vector<std::string> GroupsOf(std::string_view name) const;
  bool IsMember(std::string_view group, std::string_view name) const;

  // The id of the last view of `group` (nullopt if it has no members).
  std::optional<wire::ViewId> CurrentView(std::string_view group) const;

  // Every group's members, sorted by group name (for a rebuild).
  std::map<std::string, std::vector<GroupMember>> Snapshot() const;
  const StringMap<SessionEntry>& sessions() const { return sessions_; }

  // Forgets every session and group (before a rebuild from states).
  void Clear();
  // Starts epoch `epoch`: seq restarts at 0 and every group gets a new view
  // id, in group-name order.
  void Renumber(uint64_t epoch);
  // Starts epoch `epoch` without touching current views: the next view
  // change gets (epoch, 1). Used for the transitional configuration.
  void StartEpoch(uint64_t epoch) {
    epoch_ = epoch;
    seq_ = 0;
  }

  size_t group_count() const { return groups_.size(); }
  uint64_t epoch() const { return epoch_; }
  // seq of the most recent view change of any group.
  uint64_t last_seq() const { return seq_; }
  // Changes whenever a session or a membership is added or removed: a
  // result derived from the table (the server's cached message routes) is
  // current while this is unchanged.
  uint64_t version() const { return version_; }

 private:
  struct Group {
    std::vector<GroupMember> members;
    wire::ViewId view;
  };

  // Removes `name` from the group `it` points to; erases the group when it
  // becomes empty. REQUIRES: `name` is a member.
  ViewChange RemoveFrom(StringMap<Group>::iterator it, std::string_view name,
                        wire::Cause cause);
  wire::ViewId NextView() { return wire::ViewId{epoch_, ++seq_}; }

  uint64_t epoch_;
  uint64_t seq_ = 0;
  uint64_t version_ = 0;
  StringMap<Group> groups_;
  StringMap<SessionEntry> sessions_;
};

}  // namespace msgc::server

#endif  // MSGC_SERVER_GROUP_TABLE_H_
