#include "server/group_table.h"

#include <algorithm>
#include <cassert>

namespace msgc::server {

std::optional<ViewChange> GroupTable::Join(std::string_view group, MemberId id,
                                           std::string_view name,
                                           std::string_view capabilities) {
  auto [it, inserted] = groups_.try_emplace(std::string(group));
  Group& g = it->second;
  if (!inserted) {
    for (const GroupMember& m : g.members) {
      if (m.id == id) return std::nullopt;
    }
  }
  GroupMember member{id, std::string(name), std::string(capabilities)};
  g.members.push_back(member);
  g.view = NextView();
  member_groups_[id].push_back(it->first);

  ViewChange change;
  change.group = it->first;
  change.cause = wire::Cause::kJoin;
  change.view = g.view;
  change.changed.push_back(std::move(member));
  change.members = g.members;
  return change;
}

std::optional<ViewChange> GroupTable::Leave(std::string_view group,
                                            MemberId id) {
  auto it = groups_.find(group);
  if (it == groups_.end() || !IsMember(group, id)) return std::nullopt;
  return RemoveFrom(it, id, wire::Cause::kLeave);
}

std::vector<ViewChange> GroupTable::RemoveMember(MemberId id,
                                                 wire::Cause cause) {
  std::vector<ViewChange> changes;
  auto mg = member_groups_.find(id);
  if (mg == member_groups_.end()) return changes;
  // Copy: RemoveFrom edits member_groups_.
  const std::vector<std::string> groups = mg->second;
  for (const std::string& name : groups) {
    auto it = groups_.find(name);
    assert(it != groups_.end());
    changes.push_back(RemoveFrom(it, id, cause));
  }
  return changes;
}

ViewChange GroupTable::RemoveFrom(StringMap<Group>::iterator it, MemberId id,
                                  wire::Cause cause) {
  Group& g = it->second;
  auto m = std::find_if(g.members.begin(), g.members.end(),
                        [id](const GroupMember& x) { return x.id == id; });
  assert(m != g.members.end());

  ViewChange change;
  change.group = it->first;
  change.cause = cause;
  change.changed.push_back(std::move(*m));
  g.members.erase(m);
  g.view = NextView();
  change.view = g.view;
  change.members = g.members;

  auto mg = member_groups_.find(id);
  assert(mg != member_groups_.end());
  std::erase(mg->second, it->first);
  if (mg->second.empty()) member_groups_.erase(mg);
  if (g.members.empty()) groups_.erase(it);
  return change;
}

const std::vector<GroupMember>* GroupTable::Members(
    std::string_view group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second.members;
}

std::vector<std::string> GroupTable::GroupsOf(MemberId id) const {
  auto it = member_groups_.find(id);
  return it == member_groups_.end() ? std::vector<std::string>{} : it->second;
}

bool GroupTable::IsMember(std::string_view group, MemberId id) const {
  const std::vector<GroupMember>* members = Members(group);
  if (members == nullptr) return false;
  return std::any_of(members->begin(), members->end(),
                     [id](const GroupMember& m) { return m.id == id; });
}

std::optional<wire::ViewId> GroupTable::CurrentView(
    std::string_view group) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return it->second.view;
}

}  // namespace msgc::server
