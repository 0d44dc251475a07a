// Helpers shared by the libmsgc implementation files: Status <-> Result,
// address parsing, name validation and wire -> public event conversion.
//
// Thread-safety: pure functions.
#ifndef MSGC_CLIENT_INTERNAL_H_
#define MSGC_CLIENT_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <span>
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
// Same as ToMessageEvent, into an existing event: reuses the capacity of
// its strings and vector, so refilling one event allocates nothing once it
// has grown to the sizes in use (the callback dispatch path).
void FillMessageEvent(const wire::Deliver& d, MessageEvent* ev);
MembershipEvent ToMembershipEvent(const wire::Membership& m);
ServerError ToServerError(const wire::Error& e);

// Size of the SEND frame wire::EncodeSend produces for these arguments
// (header included), known before encoding it (for the queue's byte bound).
size_t SendFrameSize(std::span<const std::string_view> destinations,
                     size_t data_size);

// Writes the SEND frame that wire::EncodeSend would append to a string at
// `out`, which has room for SendFrameSize(destinations, data.size()) bytes:
// no string growth or per-field appends on the publish path.
// REQUIRES: arguments within the protocol limits (1..64 destinations of at
// most 255 bytes, data below 4 GiB).
void EncodeSendInto(char* out, wire::Service service, uint8_t flags,
                    uint64_t msg_id,
                    std::span<const std::string_view> destinations,
                    std::string_view data);

// The Result a fatal server ERROR stands for (NAME_IN_USE ->
// kAlreadyExists, BAD_NAME -> kInvalidArgument, ... else kRefused).
Result ResultForServerError(const ServerError& e);

}  // namespace msgc::client_internal

#endif  // MSGC_CLIENT_INTERNAL_H_
