#include "client/internal.h"

#include <bit>
#include <cassert>
#include <charconv>
#include <cstring>

namespace msgc {

std::string Result::ToString() const {
  if (ok()) return "OK";
  std::string out(ResultCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

std::string_view ResultCodeName(Result::Code code) {
  // The categories are those of msgc::Status, with the same numbers.
  return StatusCodeName(static_cast<Status::Code>(code));
}

std::string_view ServiceName(Service service) {
  return wire::ServiceName(static_cast<wire::Service>(service));
}

std::string_view MembershipCauseName(MembershipCause cause) {
  return wire::CauseName(static_cast<wire::Cause>(cause));
}

namespace client_internal {

static_assert(static_cast<int>(Result::Code::kInternal) ==
              static_cast<int>(Status::Code::kInternal));
static_assert(static_cast<int>(Result::Code::kNotConnected) ==
              static_cast<int>(Status::Code::kNotConnected));
static_assert(static_cast<int>(Service::kSafe) ==
              static_cast<int>(wire::Service::kSafe));
static_assert(static_cast<int>(MembershipCause::kNetwork) ==
              static_cast<int>(wire::Cause::kNetwork));

Result ToResult(const Status& status) {
  return Result(static_cast<Result::Code>(status.code()), status.message());
}

Result ParseHostPort(std::string_view text, HostPort* out) {
  auto bad = [&](std::string_view why) {
    return Result(Result::Code::kInvalidArgument,
                  "bad server address \"" + std::string(text) +
                      "\": " + std::string(why) + " (want host:port)");
  };
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return bad("missing port");
    port = rest.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("missing port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad("IPv6 addresses need brackets");
    }
  }
  if (host.empty()) return bad("empty host");
  unsigned value = 0;
  auto [ptr, ec] =
      std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return bad("port must be 1..65535");
  }
  out->host = std::string(host);
  out->port = static_cast<uint16_t>(value);
  return Result::OK();
}

namespace {
Result Invalid(std::string msg) {
  return Result(Result::Code::kInvalidArgument, std::move(msg));
}
}  // namespace

Result CheckGroupName(std::string_view group) {
  if (group.empty()) return Invalid("empty group name");
  if (group.size() > wire::kMaxGroupLen) {
    return Invalid("group name longer than 255 bytes");
  }
  if (group.front() == '#') {
    return Invalid("group name \"" + std::string(group) +
                   "\" starts with '#' (that is a private name)");
  }
  return Result::OK();
}

Result CheckPrivateName(std::string_view name) {
  if (name.size() < 4 || name.front() != '#' ||
      name.find('#', 1) == std::string_view::npos || name.find('#', 1) == 1 ||
      name.back() == '#') {
    return Invalid("bad private name \"" + std::string(name) +
                   "\" (want #session#node)");
  }
  if (name.size() > wire::kMaxGroupLen) {
    return Invalid("private name longer than 255 bytes");
  }
  return Result::OK();
}

Result CheckDestination(std::string_view dest) {
  if (!dest.empty() && dest.front() == '#') return CheckPrivateName(dest);
  return CheckGroupName(dest);
}

Result CheckSessionName(std::string_view name) {
  if (name.size() > wire::kMaxNameLen) {
    return Invalid("session name longer than 64 bytes");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) {
      return Invalid("session name \"" + std::string(name) +
                     "\" may only contain [A-Za-z0-9_.-]");
    }
  }
  return Result::OK();
}

namespace {
std::vector<msgc::Member> ToMembers(const wire::MemberList& list) {
  std::vector<msgc::Member> out;
  out.reserve(list.size());
  for (const wire::Member& m : list.ToVector()) {
    out.push_back({std::string(m.name), std::string(m.capabilities)});
  }
  return out;
}
}  // namespace

MessageEvent ToMessageEvent(const wire::Deliver& d) {
  MessageEvent ev;
  FillMessageEvent(d, &ev);
  return ev;
}

namespace {
// Copies `from` into *to; a string of the same length (the usual case when
// one event is refilled: same sender, same group, same payload size) is
// overwritten in place, without assign()'s general replace path.
void CopyInto(std::string_view from, std::string* to) {
  if (to->size() == from.size()) {
    if (!from.empty()) std::memcpy(to->data(), from.data(), from.size());
  } else {
    to->assign(from);
  }
}
}  // namespace

void FillMessageEvent(const wire::Deliver& d, MessageEvent* ev) {
  CopyInto(d.sender, &ev->sender);
  // resize() keeps the strings (and their buffers) already in the vector.
  ev->groups.resize(d.groups.size());
  size_t i = 0;
  for (std::string_view g : d.groups) CopyInto(g, &ev->groups[i++]);
  ev->service = static_cast<Service>(d.service);
  ev->self_discard = (d.flags & wire::kSendSelfDiscard) != 0;
  CopyInto(d.data, &ev->data);
}

namespace {
// Little-endian stores (docs/protocol.md §1): one plain store on the
// little-endian machines we run on, byte by byte elsewhere.
template <typename T>
char* PutLE(char* p, T v) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof(v));
  } else {
    for (size_t i = 0; i < sizeof(v); ++i) {
      p[i] = static_cast<char>(static_cast<uint64_t>(v) >> (8 * i));
    }
  }
  return p + sizeof(v);
}
char* Put16(char* p, uint16_t v) { return PutLE(p, v); }
char* Put32(char* p, uint32_t v) { return PutLE(p, v); }
char* Put64(char* p, uint64_t v) { return PutLE(p, v); }
}  // namespace

void EncodeSendInto(char* out, wire::Service service, uint8_t flags,
                    uint64_t msg_id,
                    std::span<const std::string_view> destinations,
                    std::string_view data) {
  const size_t size = SendFrameSize(destinations, data.size());
  assert(size - wire::kHeaderSize <= 0xffffffffu);
  char* p = Put32(out, static_cast<uint32_t>(size - wire::kHeaderSize));
  *p++ = static_cast<char>(wire::FrameType::kSend);
  *p++ = static_cast<char>(flags);
  p = Put16(p, 0);
  *p++ = static_cast<char>(service);
  p = Put64(p, msg_id);
  p = Put16(p, static_cast<uint16_t>(destinations.size()));
  for (std::string_view d : destinations) {
    p = Put16(p, static_cast<uint16_t>(d.size()));
    std::memcpy(p, d.data(), d.size());
    p += d.size();
  }
  p = Put32(p, static_cast<uint32_t>(data.size()));
  if (!data.empty()) std::memcpy(p, data.data(), data.size());
}

size_t SendFrameSize(std::span<const std::string_view> destinations,
                     size_t data_size) {
  // header, u8 service, u64 msg_id, u16 n, n x str16, blob32 data
  size_t size = wire::kHeaderSize + 1 + 8 + 2 + 4 + data_size;
  for (std::string_view d : destinations) size += 2 + d.size();
  return size;
}

MembershipEvent ToMembershipEvent(const wire::Membership& m) {
  MembershipEvent ev;
  ev.group = std::string(m.group);
  ev.cause = static_cast<MembershipCause>(m.cause);
  ev.transitional = (m.flags & wire::kMembershipTransitional) != 0;
  ev.self_leave = (m.flags & wire::kMembershipSelfLeave) != 0;
  ev.view = m.view.ToString();
  ev.view_epoch = m.view.epoch;
  ev.view_seq = m.view.seq;
  ev.gid = m.view.Gid();
  ev.changed = ToMembers(m.changed);
  ev.members = ToMembers(m.members);
  return ev;
}

ServerError ToServerError(const wire::Error& e) {
  ServerError out;
  out.code = static_cast<uint16_t>(e.code);
  out.code_name = std::string(wire::ErrorCodeName(e.code));
  out.fatal = e.fatal;
  out.request = std::string(wire::FrameTypeName(e.request));
  out.ref = e.ref;
  out.subject = std::string(e.subject);
  out.text = std::string(e.text);
  return out;
}

Result ResultForServerError(const ServerError& e) {
  std::string msg = "server error " + e.code_name;
  if (!e.subject.empty()) msg += " (" + e.subject + ")";
  if (!e.text.empty()) msg += ": " + e.text;
  Result::Code code = Result::Code::kRefused;
  switch (static_cast<wire::ErrorCode>(e.code)) {
    case wire::ErrorCode::kNameInUse:
      code = Result::Code::kAlreadyExists;
      break;
    case wire::ErrorCode::kBadName:
    case wire::ErrorCode::kBadGroup:
      code = Result::Code::kInvalidArgument;
      break;
    case wire::ErrorCode::kBadFrame:
    case wire::ErrorCode::kUnsupportedVersion:
    case wire::ErrorCode::kUnexpected:
      code = Result::Code::kProtocolError;
      break;
    case wire::ErrorCode::kTooLarge:
      code = Result::Code::kTooLarge;
      break;
    case wire::ErrorCode::kNotMember:
    case wire::ErrorCode::kNoSuchRecipient:
      code = Result::Code::kNotFound;
      break;
    case wire::ErrorCode::kIdleTimeout:
      code = Result::Code::kTimedOut;
      break;
    default:
      break;
  }
  return Result(code, std::move(msg));
}

}  // namespace client_internal
}  // namespace msgc
