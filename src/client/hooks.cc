#include "client/hooks.h"

#include <algorithm>

namespace msgc::client_internal {

namespace {
bool Contains(const std::vector<Member>& list, const std::string& name) {
  return std::any_of(list.begin(), list.end(),
                     [&](const Member& m) { return m.name == name; });
}
}  // namespace

std::vector<HookMembership> MembershipTracker::OnEvent(
    const MembershipEvent& event) {
  std::vector<HookMembership> out;
  if (event.transitional) return out;
  if (event.self_leave) {
    for (const Member& m : event.changed) {
      out.push_back({0, m.name, m.capabilities, event.gid});
    }
    views_.erase(event.group);
    return out;
  }
  std::vector<Member>& old = views_[event.group];
  for (const Member& m : old) {
    if (!Contains(event.members, m.name)) {
      out.push_back({0, m.name, m.capabilities, event.gid});
    }
  }
  for (const Member& m : event.members) {
    if (!Contains(old, m.name)) {
      out.push_back({1, m.name, m.capabilities, event.gid});
    }
  }
  if (out.empty()) out.push_back({2, "", "", event.gid});
  old = event.members;
  if (old.empty()) views_.erase(event.group);
  return out;
}

}  // namespace msgc::client_internal
