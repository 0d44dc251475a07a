// Translation of membership views into Momentum's membership_subscribe hook
// calls (mode 0 leave, 1 join, 2 gid update), used by the C API.
//
// Momentum's hook reports one member at a time, while msgc reports whole
// views. MembershipTracker remembers the last view of every group and turns
// each new view into the difference: a leave (mode 0) for every member that
// is gone, then a join (mode 1) for every member that is new, each with the
// new view's gid; a view with the same members (e.g. after a network
// change or a reconnection that changed nothing) gives one mode-2 call with
// an empty member. So a joiner first hears a join for every current member
// (itself included), and a reconnection that re-joined everybody produces
// nothing but a gid update. Transitional views produce no calls; a
// self-leave produces one leave for ourselves and forgets the group.
//
// Thread-safety: single owner (the C API calls it from the I/O thread).
#ifndef MSGC_CLIENT_HOOKS_H_
#define MSGC_CLIENT_HOOKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "msgc/client.h"

namespace msgc::client_internal {

struct HookMembership {
  int mode = 0;              // 0 leave, 1 join, 2 gid update
  std::string member;        // private name; "" for mode 2
  std::string capabilities;  // "" for mode 2
  uint32_t gid = 0;

  friend bool operator==(const HookMembership&,
                         const HookMembership&) = default;
};

class MembershipTracker {
 public:
  std::vector<HookMembership> OnEvent(const MembershipEvent& event);

 private:
  std::map<std::string, std::vector<Member>> views_;
};

}  // namespace msgc::client_internal

#endif  // MSGC_CLIENT_HOOKS_H_
