#include "server/group_table.h"

#include <algorithm>
#include <cassert>

namespace msgc::server {

void GroupTable::AddSession(std::string_view name, std::string_view node,
                            MemberId sid, std::string_view replaces,
                            MemberId replaces_sid) {
  ++version_;
  SessionEntry& e = sessions_[std::string(name)];
  e.node = std::string(node);
  e.sid = sid;
  e.replaces = std::string(replaces);
  e.replaces_sid = replaces_sid;
}

const SessionEntry* GroupTable::FindSession(std::string_view name) const {
  auto it = sessions_.find(name);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::optional<ViewChange> GroupTable::Join(std::string_view group,
                                           GroupMember m) {
  ++version_;
  auto [it, inserted] = groups_.try_emplace(std::string(group));
  Group& g = it->second;
  if (!inserted) {
    for (const GroupMember& x : g.members) {
      if (x.name == m.name) return std::nullopt;
    }
  }
  auto [si, new_session] = sessions_.try_emplace(m.name);
  if (new_session) {
    si->second.node = m.node;
    si->second.sid = m.id;
  }
  si->second.groups.push_back(it->first);
  auto pos = std::upper_bound(
      g.members.begin(), g.members.end(), m.key,
      [](const JoinKey& k, const GroupMember& x) { return k < x.key; });
  g.members.insert(pos, m);
  g.view = NextView();

  ViewChange change;
  change.group = it->first;
  change.cause = wire::Cause::kJoin;
  change.view = g.view;
  change.changed.push_back(std::move(m));
  change.members = g.members;
  return change;
}

std::optional<ViewChange> GroupTable::Leave(std::string_view group,
                                            std::string_view name) {
  auto it = groups_.find(group);
  if (it == groups_.end() || !IsMember(group, name)) return std::nullopt;
  return RemoveFrom(it, name, wire::Cause::kLeave);
}

std::vector<ViewChange> GroupTable::RemoveSession(std::string_view name,
                                                  wire::Cause cause) {
  std::vector<ViewChange> changes;
  auto si = sessions_.find(name);
  if (si == sessions_.end()) return changes;
  ++version_;
  // Copy: RemoveFrom edits the session's group list.
  const std::vector<std::string> groups = si->second.groups;
  const std::string key = si->first;  // `name` may point into the entry
  for (const std::string& g : groups) {
    auto it = groups_.find(g);
    assert(it != groups_.end());
    changes.push_back(RemoveFrom(it, key, cause));
  }
  sessions_.erase(key);
  return changes;
}

ViewChange GroupTable::RemoveFrom(StringMap<Group>::iterator it,
                                  std::string_view name, wire::Cause cause) {
  ++version_;
  Group& g = it->second;
  auto m =
      std::find_if(g.members.begin(), g.members.end(),
                   [name](const GroupMember& x) { return x.name == name; });
  assert(m != g.members.end());

  ViewChange change;
  change.group = it->first;
  change.cause = cause;
  change.changed.push_back(std::move(*m));
  g.members.erase(m);
  g.view = NextView();
  change.view = g.view;
  change.members = g.members;

  auto si = sessions_.find(change.changed.front().name);
  if (si != sessions_.end()) std::erase(si->second.groups, it->first);
  if (g.members.empty()) groups_.erase(it);
  return change;
}

const std::vector<GroupMember>* GroupTable::Members(
    std::string_view group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second.members;
}

std::vector<std::string> GroupTable::GroupsOf(std::string_view name) const {
  auto it = sessions_.find(name);
  return it == sessions_.end() ? std::vector<std::string>{} : it->second.groups;
}

bool GroupTable::IsMember(std::string_view group, std::string_view name) const {
  const std::vector<GroupMember>* members = Members(group);
  if (members == nullptr) return false;
  return std::any_of(members->begin(), members->end(),
                     [name](const GroupMember& m) { return m.name == name; });
}

std::optional<wire::ViewId> GroupTable::CurrentView(
    std::string_view group) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return it->second.view;
}

std::map<std::string, std::vector<GroupMember>> GroupTable::Snapshot() const {
  std::map<std::string, std::vector<GroupMember>> out;
  for (const auto& [name, g] : groups_) out.emplace(name, g.members);
  return out;
}

void GroupTable::Clear() {
  ++version_;
  groups_.clear();
  sessions_.clear();
}

void GroupTable::Renumber(uint64_t epoch) {
  epoch_ = epoch;
  seq_ = 0;
  std::vector<std::string> names;
  names.reserve(groups_.size());
  for (const auto& [name, g] : groups_) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) groups_.find(n)->second.view = NextView();
}

}  // namespace msgc::server
