// Helpers shared by the libmsgc implementation files: Status <-> Result,
// address parsing, name validation and wire -> public event conversion.
//
// Thread-safety: pure functions.
#ifndef MSGC_CLIENT_INTERNAL_H_
#define MSGC_CLIENT_INTERNAL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "msgc/client.h"
#include "wire/frame.h"

namespace msgc::client_internal {

// Same code, same message.
Result ToResult(const Status& status);

// Splits "host:port" / "[v6]:port" into its parts. kInvalidArgument when the
// port is missing, not a number or out of 1..65535, or the host is empty.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
Result ParseHostPort(std::string_view text, HostPort* out);

// Local checks done before a request is queued (docs/protocol.md §1).
Result CheckGroupName(std::string_view group);   // 1..255, no leading '#'
Result CheckPrivateName(std::string_view name);  // "#s#n", <= 255
Result CheckDestination(std::string_view dest);  // either of the above
Result CheckSessionName(std::string_view name);  // "" or 1..64 [A-Za-z0-9_.-]

// Wire -> public conversions (copies everything out of the frame).
MessageEvent ToMessageEvent(const wire::Deliver& d);
MembershipEvent ToMembershipEvent(const wire::Membership& m);
ServerError ToServerError(const wire::Error& e);

// The Result a fatal server ERROR stands for (NAME_IN_USE ->
// kAlreadyExists, BAD_NAME -> kInvalidArgument, ... else kRefused).
Result ResultForServerError(const ServerError& e);

}  // namespace msgc::client_internal

#endif  // MSGC_CLIENT_INTERNAL_H_
