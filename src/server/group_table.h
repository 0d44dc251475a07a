// GroupTable: which members are in which group, and the views that result.
//
// A pure data structure (no sockets, no logging) so that membership rules
// can be unit-tested alone (group_table_test.cc). Members are identified by
// a numeric MemberId chosen by the caller (the server's session id) and carry
// their private name and the capabilities blob they joined with.
//
// Every change of a group produces a ViewChange describing the new view,
// which the server encodes once into a MEMBERSHIP frame and sends to every
// member of the new view (and, for a leave, a SELF_LEAVE event to the
// leaver). View ids are (epoch, seq): `epoch` is fixed per table (the
// server's incarnation) and `seq` is a table-wide counter incremented on
// every view change of any group, so every view id is distinct.
//
// Invariants: a group exists iff it has at least one member; members of a
// group are unique and kept in the order they joined; member_groups_ is the
// exact inverse of the groups' member lists.
//
// Thread-safety: none (the server uses it from its loop thread only).
#ifndef MSGC_SERVER_GROUP_TABLE_H_
#define MSGC_SERVER_GROUP_TABLE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "wire/frame.h"

namespace msgc::server {

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

struct GroupMember {
  MemberId id = 0;
  std::string name;  // private name "#session#node"
  std::string capabilities;

  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

// One new view of one group.
struct ViewChange {
  std::string group;
  wire::Cause cause = wire::Cause::kJoin;
  wire::ViewId view;
  std::vector<GroupMember> changed;  // who joined / left / disconnected
  std::vector<GroupMember> members;  // the whole new view, join order
};

class GroupTable {
 public:
  explicit GroupTable(uint64_t epoch) : epoch_(epoch) {}

  GroupTable(const GroupTable&) = delete;
  GroupTable& operator=(const GroupTable&) = delete;

  // Adds `id` to `group` (creating the group). Returns the new view, or
  // nullopt if `id` was already a member (joins are idempotent; the
  // capabilities of the first join stay).
  std::optional<ViewChange> Join(std::string_view group, MemberId id,
                                 std::string_view name,
                                 std::string_view capabilities);

  // Removes `id` from `group` with cause kLeave. Returns the new view (whose
  // `members` may be empty), or nullopt if `id` was not a member.
  std::optional<ViewChange> Leave(std::string_view group, MemberId id);

  // Removes `id` from every group it is in, with `cause` (kDisconnect for a
  // dropped connection), in the order the member joined them. Returns one
  // view change per group.
  std::vector<ViewChange> RemoveMember(
      MemberId id, wire::Cause cause = wire::Cause::kDisconnect);

  // The members of `group` in join order, or null if it has none. The
  // pointer is valid until the next non-const call.
  const std::vector<GroupMember>* Members(std::string_view group) const;
  // The groups `id` is in, in the order it joined them.
  std::vector<std::string> GroupsOf(MemberId id) const;
  bool IsMember(std::string_view group, MemberId id) const;

  // The id of the last view of `group` (nullopt if it has no members).
  std::optional<wire::ViewId> CurrentView(std::string_view group) const;

  size_t group_count() const { return groups_.size(); }
  uint64_t epoch() const { return epoch_; }
  // seq of the most recent view change of any group.
  uint64_t last_seq() const { return seq_; }

 private:
  struct Group {
    std::vector<GroupMember> members;
    wire::ViewId view;
  };

  // Removes `id` from the group `it` points to; erases the group when it
  // becomes empty. REQUIRES: `id` is a member.
  ViewChange RemoveFrom(StringMap<Group>::iterator it, MemberId id,
                        wire::Cause cause);
  wire::ViewId NextView() { return wire::ViewId{epoch_, ++seq_}; }

  const uint64_t epoch_;
  uint64_t seq_ = 0;
  StringMap<Group> groups_;
  std::unordered_map<MemberId, std::vector<std::string>> member_groups_;
};

}  // namespace msgc::server

#endif  // MSGC_SERVER_GROUP_TABLE_H_
