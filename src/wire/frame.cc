#include "wire/frame.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "wire/coding.h"

namespace msgc::wire {
namespace {

// Starts a frame: writes a header with a zero length; FinishFrame patches it.
size_t BeginFrame(std::string* out, FrameType type, uint8_t flags) {
  size_t start = out->size();
  PutU32(out, 0);
  PutU8(out, static_cast<uint8_t>(type));
  PutU8(out, flags);
  PutU16(out, 0);
  return start;
}

void FinishFrame(std::string* out, size_t start) {
  size_t body = out->size() - start - kHeaderSize;
  assert(body <= 0xffffffffu);
  auto* p = reinterpret_cast<uint8_t*>(out->data() + start);
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>((body >> (8 * i)) & 0xff);
}

// A u16 count then `count` str16 names, each at most `max_len` bytes.
bool ReadNames(BodyReader& r, const char* field, size_t max_count,
               size_t max_len, NameList* v) {
  size_t count;
  if (!r.Count16(field, max_count, &count)) return false;
  const uint8_t* start = r.position();
  for (size_t i = 0; i < count; ++i) {
    std::string_view s;
    if (!r.Str16(field, max_len, &s)) return false;
  }
  *v = NameList(static_cast<uint16_t>(count),
                std::span<const uint8_t>(start, r.position() - start));
  return true;
}

// A u16 count then `count` (str16 name, blob32 capabilities) pairs.
bool ReadMembers(BodyReader& r, const char* field, MemberList* v) {
  size_t count;
  if (!r.Count16(field, 0xffff, &count)) return false;
  const uint8_t* start = r.position();
  for (size_t i = 0; i < count; ++i) {
    std::string_view s;
    if (!r.Str16(field, kMaxGroupLen, &s)) return false;
    if (!r.Blob32(field, kMaxCapabilitiesLen, &s)) return false;
  }
  *v = MemberList(static_cast<uint16_t>(count),
                  std::span<const uint8_t>(start, r.position() - start));
  return true;
}

// Finishes decoding a body: trailing bytes are an error too.
Status Finish(BodyReader& r, FrameType type) {
  return r.Done([type] {
    return fmt::format("malformed {} frame", FrameTypeName(type));
  });
}

Status CheckType(const Frame& f, FrameType want) {
  if (f.header.type != want) {
    return Status::Internal(fmt::format("decoding a {} frame as {}",
                                        FrameTypeName(f.header.type),
                                        FrameTypeName(want)));
  }
  return Status::OK();
}

void PutNames(std::string* out, std::span<const std::string_view> names) {
  assert(names.size() <= 0xffff);
  PutU16(out, static_cast<uint16_t>(names.size()));
  for (std::string_view n : names) PutStr16(out, n);
}

void PutMembers(std::string* out, std::span<const Member> members) {
  assert(members.size() <= 0xffff);
  PutU16(out, static_cast<uint16_t>(members.size()));
  for (const Member& m : members) {
    PutStr16(out, m.name);
    PutBlob32(out, m.capabilities);
  }
}

}  // namespace

bool IsKnownFrameType(uint8_t type) {
  if (IsMeshFrameType(type)) return true;
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello:
    case FrameType::kWelcome:
    case FrameType::kError:
    case FrameType::kNoop:
    case FrameType::kGoodbye:
    case FrameType::kJoin:
    case FrameType::kLeave:
    case FrameType::kSend:
    case FrameType::kDeliver:
    case FrameType::kMembership:
      return true;
  }
  return false;
}

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kWelcome:
      return "WELCOME";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kNoop:
      return "NOOP";
    case FrameType::kGoodbye:
      return "GOODBYE";
    case FrameType::kJoin:
      return "JOIN";
    case FrameType::kLeave:
      return "LEAVE";
    case FrameType::kSend:
      return "SEND";
    case FrameType::kDeliver:
      return "DELIVER";
    case FrameType::kMembership:
      return "MEMBERSHIP";
  }
  if (IsMeshFrameType(static_cast<uint8_t>(type))) return "MESH";
  return "UNKNOWN";
}

std::string_view ServiceName(Service s) {
  switch (s) {
    case Service::kFifo:
      return "fifo";
    case Service::kAgreed:
      return "agreed";
    case Service::kSafe:
      return "safe";
  }
  return "unknown";
}

std::string_view CauseName(Cause c) {
  switch (c) {
    case Cause::kJoin:
      return "join";
    case Cause::kLeave:
      return "leave";
    case Cause::kDisconnect:
      return "disconnect";
    case Cause::kNetwork:
      return "network";
  }
  return "unknown";
}

std::string_view ErrorCodeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::kBadFrame:
      return "BAD_FRAME";
    case ErrorCode::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case ErrorCode::kNameInUse:
      return "NAME_IN_USE";
    case ErrorCode::kBadName:
      return "BAD_NAME";
    case ErrorCode::kTooLarge:
      return "TOO_LARGE";
    case ErrorCode::kBadGroup:
      return "BAD_GROUP";
    case ErrorCode::kNotMember:
      return "NOT_MEMBER";
    case ErrorCode::kNoSuchRecipient:
      return "NO_SUCH_RECIPIENT";
    case ErrorCode::kSlowConsumer:
      return "SLOW_CONSUMER";
    case ErrorCode::kIdleTimeout:
      return "IDLE_TIMEOUT";
    case ErrorCode::kShuttingDown:
      return "SHUTTING_DOWN";
    case ErrorCode::kNotAllowed:
      return "NOT_ALLOWED";
    case ErrorCode::kUnexpected:
      return "UNEXPECTED";
  }
  return "UNKNOWN";
}

std::string ViewId::ToString() const {
  return fmt::format("{:016x}.{}", epoch, seq);
}

uint32_t ViewId::Gid() const {
  // splitmix64 finaliser over both fields: distinct views almost never share
  // a gid, and the value is the same at every member.
  uint64_t z = epoch ^ (seq * 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<uint32_t>(z ^ (z >> 32));
}

std::string_view NameList::Iterator::operator*() const {
  uint16_t len = GetU16(p_);
  return std::string_view(reinterpret_cast<const char*>(p_ + 2), len);
}

NameList::Iterator& NameList::Iterator::operator++() {
  p_ += 2 + GetU16(p_);
  --left_;
  return *this;
}

std::vector<std::string_view> NameList::ToVector() const {
  return std::vector<std::string_view>(begin(), end());
}

std::vector<Member> MemberList::ToVector() const {
  std::vector<Member> out;
  out.reserve(count_);
  const uint8_t* p = raw_.data();
  for (uint16_t i = 0; i < count_; ++i) {
    Member m;
    uint16_t nlen = GetU16(p);
    m.name = std::string_view(reinterpret_cast<const char*>(p + 2), nlen);
    p += 2 + nlen;
    uint32_t clen = GetU32(p);
    m.capabilities =
        std::string_view(reinterpret_cast<const char*>(p + 4), clen);
    p += 4 + clen;
    out.push_back(m);
  }
  return out;
}

// ---- Encoders ----

void EncodeHello(const Hello& m, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kHello, 0);
  PutU32(out, kMagic);
  PutU16(out, m.min_version);
  PutU16(out, m.max_version);
  PutU8(out, static_cast<uint8_t>(m.role));
  PutStr16(out, m.name);
  PutU64(out, m.incarnation);
  PutStr16(out, m.software);
  PutStr16(out, m.replaces);
  PutU64(out, m.replaces_session);
  FinishFrame(out, start);
}

void EncodeWelcome(const Welcome& m, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kWelcome, 0);
  PutU16(out, m.version);
  PutStr16(out, m.private_name);
  PutStr16(out, m.node);
  PutU64(out, m.incarnation);
  PutU32(out, m.max_message_size);
  PutU32(out, m.keepalive_ms);
  PutU32(out, m.idle_timeout_ms);
  PutU64(out, m.session_id);
  FinishFrame(out, start);
}

void EncodeError(const Error& m, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kError, 0);
  PutU16(out, static_cast<uint16_t>(m.code));
  PutU8(out, m.fatal ? 1 : 0);
  PutU8(out, static_cast<uint8_t>(m.request));
  PutU64(out, m.ref);
  PutStr16(out, m.subject.substr(0, 0xffff));
  PutStr16(out, m.text.substr(0, 0xffff));
  FinishFrame(out, start);
}

void EncodeNoop(std::string* out) {
  FinishFrame(out, BeginFrame(out, FrameType::kNoop, 0));
}

void EncodeGoodbye(std::string* out) {
  FinishFrame(out, BeginFrame(out, FrameType::kGoodbye, 0));
}

void EncodeJoin(const Join& m, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kJoin, 0);
  PutStr16(out, m.group);
  PutBlob32(out, m.capabilities);
  FinishFrame(out, start);
}

void EncodeLeave(const Leave& m, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kLeave, 0);
  PutStr16(out, m.group);
  FinishFrame(out, start);
}

void EncodeSend(Service service, uint8_t flags, uint64_t msg_id,
                std::span<const std::string_view> groups, std::string_view data,
                std::string* out) {
  size_t need = kHeaderSize + 1 + 8 + 2 + 4 + data.size();
  for (std::string_view g : groups) need += 2 + g.size();
  out->reserve(out->size() + need);
  size_t start = BeginFrame(out, FrameType::kSend, flags);
  PutU8(out, static_cast<uint8_t>(service));
  PutU64(out, msg_id);
  PutNames(out, groups);
  PutBlob32(out, data);
  FinishFrame(out, start);
}

size_t DeliverFrameSize(std::string_view sender, size_t groups_raw_size,
                        std::string_view data) {
  return kHeaderSize + 1 + 2 + sender.size() + 2 + groups_raw_size + 4 +
         data.size();
}

void EncodeDeliver(Service service, uint8_t flags, std::string_view sender,
                   const NameList& groups, std::string_view data,
                   std::string* out) {
  // Encoded for every message a server routes: sized once and filled in
  // place rather than appended field by field.
  assert(sender.size() <= 0xffff && data.size() <= 0xffffffffu);
  const size_t size = DeliverFrameSize(sender, groups.raw().size(), data);
  assert(size - kHeaderSize <= 0xffffffffu);
  const size_t start = out->size();
  out->resize(start + size);
  char* p = out->data() + start;
  p = StoreU32(p, static_cast<uint32_t>(size - kHeaderSize));
  p = StoreU8(p, static_cast<uint8_t>(FrameType::kDeliver));
  p = StoreU8(p, flags);
  p = StoreU16(p, 0);
  p = StoreU8(p, static_cast<uint8_t>(service));
  p = StoreU16(p, static_cast<uint16_t>(sender.size()));
  p = StoreBytes(p, sender);
  p = StoreU16(p, groups.size());
  p = StoreBytes(
      p, std::string_view(reinterpret_cast<const char*>(groups.raw().data()),
                          groups.raw().size()));
  p = StoreU32(p, static_cast<uint32_t>(data.size()));
  p = StoreBytes(p, data);
  assert(p == out->data() + out->size());
}

void EncodeDeliver(Service service, uint8_t flags, std::string_view sender,
                   std::span<const std::string_view> groups,
                   std::string_view data, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kDeliver, flags);
  PutU8(out, static_cast<uint8_t>(service));
  PutStr16(out, sender);
  PutNames(out, groups);
  PutBlob32(out, data);
  FinishFrame(out, start);
}

void EncodeMembership(std::string_view group, Cause cause, uint8_t flags,
                      const ViewId& view, std::span<const Member> changed,
                      std::span<const Member> members, std::string* out) {
  size_t start = BeginFrame(out, FrameType::kMembership, flags);
  PutStr16(out, group);
  PutU8(out, static_cast<uint8_t>(cause));
  PutU64(out, view.epoch);
  PutU64(out, view.seq);
  PutMembers(out, changed);
  PutMembers(out, members);
  FinishFrame(out, start);
}

// ---- Decoders ----

Status DecodeHello(const Frame& f, Hello* out) {
  if (Status s = CheckType(f, FrameType::kHello); !s.ok()) return s;
  BodyReader r(f.body);
  uint32_t magic = 0;
  uint8_t role = 0;
  bool ok = r.U32("magic", &magic);
  if (ok && magic != kMagic) {
    return Status::ProtocolError(
        fmt::format("malformed HELLO frame: bad magic 0x{:08x}", magic));
  }
  ok = ok && r.U16("min_version", &out->min_version) &&
       r.U16("max_version", &out->max_version) && r.U8("role", &role) &&
       r.Str16("name", kMaxGroupLen, &out->name) &&
       r.U64("incarnation", &out->incarnation) &&
       r.Str16("software", 0xffff, &out->software) &&
       r.Str16("replaces", kMaxGroupLen, &out->replaces) &&
       r.U64("replaces_session", &out->replaces_session);
  if (Status s = Finish(r, FrameType::kHello); !s.ok()) return s;
  if (role != static_cast<uint8_t>(Role::kClient) &&
      role != static_cast<uint8_t>(Role::kPeer)) {
    return Status::ProtocolError(
        fmt::format("malformed HELLO frame: unknown role {}", role));
  }
  out->role = static_cast<Role>(role);
  return Status::OK();
}

Status DecodeWelcome(const Frame& f, Welcome* out) {
  if (Status s = CheckType(f, FrameType::kWelcome); !s.ok()) return s;
  BodyReader r(f.body);
  r.U16("version", &out->version) &&
      r.Str16("private_name", kMaxGroupLen, &out->private_name) &&
      r.Str16("node", kMaxGroupLen, &out->node) &&
      r.U64("incarnation", &out->incarnation) &&
      r.U32("max_message_size", &out->max_message_size) &&
      r.U32("keepalive_ms", &out->keepalive_ms) &&
      r.U32("idle_timeout_ms", &out->idle_timeout_ms) &&
      r.U64("session_id", &out->session_id);
  return Finish(r, FrameType::kWelcome);
}

Status DecodeError(const Frame& f, Error* out) {
  if (Status s = CheckType(f, FrameType::kError); !s.ok()) return s;
  BodyReader r(f.body);
  uint16_t code = 0;
  uint8_t fatal = 0, request = 0;
  r.U16("code", &code) && r.U8("fatal", &fatal) &&
      r.U8("request_type", &request) && r.U64("ref", &out->ref) &&
      r.Str16("subject", 0xffff, &out->subject) &&
      r.Str16("text", 0xffff, &out->text);
  if (Status s = Finish(r, FrameType::kError); !s.ok()) return s;
  // Unknown codes are kept as numbers: a newer server may send them.
  out->code = static_cast<ErrorCode>(code);
  out->fatal = fatal != 0;
  out->request = static_cast<FrameType>(request);
  return Status::OK();
}

Status DecodeJoin(const Frame& f, Join* out) {
  if (Status s = CheckType(f, FrameType::kJoin); !s.ok()) return s;
  BodyReader r(f.body);
  r.Str16("group", kMaxGroupLen, &out->group) &&
      r.Blob32("capabilities", kMaxCapabilitiesLen, &out->capabilities);
  return Finish(r, FrameType::kJoin);
}

Status DecodeLeave(const Frame& f, Leave* out) {
  if (Status s = CheckType(f, FrameType::kLeave); !s.ok()) return s;
  BodyReader r(f.body);
  r.Str16("group", kMaxGroupLen, &out->group);
  return Finish(r, FrameType::kLeave);
}

namespace {
Status CheckService(FrameType type, uint8_t service, Service* out) {
  if (service > static_cast<uint8_t>(Service::kSafe)) {
    return Status::ProtocolError(
        fmt::format("malformed {} frame: unknown service {}",
                    FrameTypeName(type), service));
  }
  *out = static_cast<Service>(service);
  return Status::OK();
}
}  // namespace

namespace {
// Fast paths for the two message frames, decoded for every message (SEND
// and DELIVER at the server, DELIVER at every subscriber): plain bounds
// checks in one pass, no error text. They accept exactly the frames the
// BodyReader paths below accept; on anything else they return false and
// the BodyReader path decodes again and says what is wrong.
class FastReader {
 public:
  explicit FastReader(std::span<const uint8_t> body)
      : p_(body.data()), end_(body.data() + body.size()) {}

  bool U8(uint8_t* v) {
    if (end_ - p_ < 1) return false;
    *v = *p_++;
    return true;
  }
  bool U64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    *v = GetU64(p_);
    p_ += 8;
    return true;
  }
  bool Str16(size_t max_len, std::string_view* v) {
    if (end_ - p_ < 2) return false;
    const size_t len = GetU16(p_);
    if (len > max_len || static_cast<size_t>(end_ - p_ - 2) < len) {
      return false;
    }
    *v = std::string_view(reinterpret_cast<const char*>(p_ + 2), len);
    p_ += 2 + len;
    return true;
  }
  bool Names(size_t max_count, size_t max_len, NameList* v) {
    if (end_ - p_ < 2) return false;
    const uint16_t count = GetU16(p_);
    if (count > max_count) return false;
    p_ += 2;
    const uint8_t* start = p_;
    for (uint16_t i = 0; i < count; ++i) {
      std::string_view name;
      if (!Str16(max_len, &name)) return false;
    }
    *v = NameList(count, std::span<const uint8_t>(start, p_ - start));
    return true;
  }
  // The last field: a blob32 that ends exactly at the end of the body.
  bool LastBlob32(std::string_view* v) {
    if (end_ - p_ < 4) return false;
    const uint32_t len = GetU32(p_);
    if (static_cast<size_t>(end_ - p_ - 4) != len) return false;
    *v = std::string_view(reinterpret_cast<const char*>(p_ + 4), len);
    p_ = end_;
    return true;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

bool FastDecodeSend(const Frame& f, Send* out) {
  FastReader r(f.body);
  uint8_t service = 0;
  if (!r.U8(&service) || service > static_cast<uint8_t>(Service::kSafe) ||
      !r.U64(&out->msg_id) ||
      !r.Names(kMaxGroupsPerSend, kMaxGroupLen, &out->groups) ||
      out->groups.empty() || !r.LastBlob32(&out->data)) {
    return false;
  }
  out->service = static_cast<Service>(service);
  out->flags = f.header.flags;
  return true;
}

bool FastDecodeDeliver(const Frame& f, Deliver* out) {
  FastReader r(f.body);
  uint8_t service = 0;
  if (!r.U8(&service) || service > static_cast<uint8_t>(Service::kSafe) ||
      !r.Str16(kMaxGroupLen, &out->sender) ||
      !r.Names(kMaxGroupsPerSend, kMaxGroupLen, &out->groups) ||
      !r.LastBlob32(&out->data)) {
    return false;
  }
  out->service = static_cast<Service>(service);
  out->flags = f.header.flags;
  return true;
}
}  // namespace

Status DecodeSend(const Frame& f, Send* out) {
  if (f.header.type == FrameType::kSend && FastDecodeSend(f, out)) [[likely]] {
    return Status::OK();
  }
  if (Status s = CheckType(f, FrameType::kSend); !s.ok()) return s;
  BodyReader r(f.body);
  uint8_t service = 0;
  r.U8("service", &service) && r.U64("msg_id", &out->msg_id) &&
      ReadNames(r, "destinations", kMaxGroupsPerSend, kMaxGroupLen,
                &out->groups) &&
      r.Blob32("data", 0xffffffffu, &out->data);
  if (Status s = Finish(r, FrameType::kSend); !s.ok()) return s;
  if (out->groups.empty()) {
    return Status::ProtocolError("malformed SEND frame: no destinations");
  }
  out->flags = f.header.flags;
  return CheckService(FrameType::kSend, service, &out->service);
}

bool TryDecodeDeliver(const Frame& f, Deliver* out) {
  return f.header.type == FrameType::kDeliver && FastDecodeDeliver(f, out);
}

Status DecodeDeliver(const Frame& f, Deliver* out) {
  if (f.header.type == FrameType::kDeliver && FastDecodeDeliver(f, out))
      [[likely]] {
    return Status::OK();
  }
  if (Status s = CheckType(f, FrameType::kDeliver); !s.ok()) return s;
  BodyReader r(f.body);
  uint8_t service = 0;
  r.U8("service", &service) && r.Str16("sender", kMaxGroupLen, &out->sender) &&
      ReadNames(r, "destinations", kMaxGroupsPerSend, kMaxGroupLen,
                &out->groups) &&
      r.Blob32("data", 0xffffffffu, &out->data);
  if (Status s = Finish(r, FrameType::kDeliver); !s.ok()) return s;
  out->flags = f.header.flags;
  return CheckService(FrameType::kDeliver, service, &out->service);
}

Status DecodeMembership(const Frame& f, Membership* out) {
  if (Status s = CheckType(f, FrameType::kMembership); !s.ok()) return s;
  BodyReader r(f.body);
  uint8_t cause = 0;
  r.Str16("group", kMaxGroupLen, &out->group) && r.U8("cause", &cause) &&
      r.U64("view_epoch", &out->view.epoch) &&
      r.U64("view_seq", &out->view.seq) &&
      ReadMembers(r, "changed", &out->changed) &&
      ReadMembers(r, "members", &out->members);
  if (Status s = Finish(r, FrameType::kMembership); !s.ok()) return s;
  if (cause < static_cast<uint8_t>(Cause::kJoin) ||
      cause > static_cast<uint8_t>(Cause::kNetwork)) {
    return Status::ProtocolError(
        fmt::format("malformed MEMBERSHIP frame: unknown cause {}", cause));
  }
  out->cause = static_cast<Cause>(cause);
  out->flags = f.header.flags;
  return Status::OK();
}

Status DecodeEmpty(const Frame& f) {
  if (!f.body.empty()) {
    return Status::ProtocolError(
        fmt::format("malformed {} frame: {} trailing bytes",
                    FrameTypeName(f.header.type), f.body.size()));
  }
  return Status::OK();
}

// ---- FrameDecoder ----

namespace {
// Smallest allocation of the own buffer.
constexpr size_t kInitialBuffer = 16 * 1024;

// The largest body a frame of `type` may have before it counts as too large.
// Only message-carrying frames may exceed the control limit; an oversized
// control frame is a broken stream, an oversized message is survivable.
uint32_t BodyLimit(FrameType type, uint32_t max_body) {
  const bool carries_data =
      type == FrameType::kSend || type == FrameType::kDeliver;
  return carries_data ? max_body : std::min(max_body, kMaxControlBody);
}
}  // namespace

FrameDecoder::FrameDecoder(uint32_t max_body) : max_body_(max_body) {}

std::span<uint8_t> FrameDecoder::PrepareAppend(size_t min_size) {
  assert(input_.empty());
  return Reserve(min_size);
}

std::span<uint8_t> FrameDecoder::Reserve(size_t min_size) {
  if (buf_.size() - end_ < min_size) {
    // Compact first: consumed bytes at the front are dead.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < min_size) {
      size_t want =
          std::max({kInitialBuffer, buf_.size() * 2, end_ + min_size});
      buf_.resize(want);
    }
  }
  return std::span<uint8_t>(buf_.data() + end_, buf_.size() - end_);
}

void FrameDecoder::CommitAppend(size_t n) {
  assert(end_ + n <= buf_.size());
  end_ += n;
}

void FrameDecoder::Append(std::span<const uint8_t> bytes) {
  assert(input_.empty());
  CopyIn(bytes);
}

void FrameDecoder::CopyIn(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  std::span<uint8_t> dst = Reserve(bytes.size());
  std::memcpy(dst.data(), bytes.data(), bytes.size());
  end_ += bytes.size();
}

void FrameDecoder::Append(std::string_view bytes) {
  Append(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

void FrameDecoder::SetInput(std::span<const uint8_t> bytes) {
  assert(input_.empty());
  input_ = bytes;
  input_pos_ = 0;
}

void FrameDecoder::KeepInput() {
  std::span<const uint8_t> rest = input_.subspan(input_pos_);
  DropInput();
  CopyIn(rest);
}

void FrameDecoder::DropInput() {
  input_ = {};
  input_pos_ = 0;
}

void FrameDecoder::TopUp() {
  auto take = [this](size_t want) {
    const size_t n = std::min(want, input_.size() - input_pos_);
    CopyIn(input_.subspan(input_pos_, n));
    input_pos_ += n;
  };
  if (end_ - begin_ < kHeaderSize) take(kHeaderSize - (end_ - begin_));
  if (end_ - begin_ < kHeaderSize) return;
  const uint8_t* p = buf_.data() + begin_;
  const uint32_t body_len = GetU32(p);
  // A bad or oversized frame: Decode reports it (or discards its body as it
  // comes); copying its body would only waste memory.
  if (!IsKnownFrameType(p[4]) || GetU16(p + 6) != 0 ||
      body_len > BodyLimit(static_cast<FrameType>(p[4]), max_body_)) {
    return;
  }
  const size_t have = end_ - begin_;
  if (have < kHeaderSize + body_len) take(kHeaderSize + body_len - have);
}

FrameDecoder::Result FrameDecoder::Next(Frame* frame) {
  if (failed_) return Result::kError;
  if (begin_ < end_ && skip_ > 0) {
    // Discarding the body of an oversized frame: own bytes come first.
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(skip_, end_ - begin_));
    begin_ += n;
    skip_ -= n;
  }
  if (begin_ < end_) {
    // The own buffer holds the start of a frame: finish it, copying from
    // the lent input only the bytes it lacks, before anything is decoded
    // in place. (Nothing to copy without lent input: the clients append
    // straight into the own buffer.)
    if (input_pos_ < input_.size()) TopUp();
    Result r = Decode(buf_.data(), end_, &begin_, frame);
    if (begin_ == end_) begin_ = end_ = 0;
    // kNeedMore with bytes left means TopUp took all the lent input there
    // was (it stops short only of frames Decode rejects).
    if (r != Result::kNeedMore || begin_ < end_) {
      if (r == Result::kNeedMore) DropInput();
      return r;
    }
  }
  begin_ = end_ = 0;
  if (input_pos_ == input_.size()) {
    DropInput();
    return Result::kNeedMore;
  }
  Result r = Decode(input_.data(), input_.size(), &input_pos_, frame);
  // The lent bytes end inside a frame: keep its start, the caller is about
  // to reuse them.
  if (r == Result::kNeedMore) KeepInput();
  return r;
}

FrameDecoder::Result FrameDecoder::Decode(const uint8_t* base, size_t end,
                                          size_t* pos, Frame* frame) {
  if (skip_ > 0) {
    // Discarding the body of an oversized frame.
    size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, end - *pos));
    *pos += n;
    skip_ -= n;
    if (skip_ > 0) return Result::kNeedMore;  // nothing else is buffered
  }
  size_t avail = end - *pos;
  if (avail < kHeaderSize) return Result::kNeedMore;
  const uint8_t* p = base + *pos;
  FrameHeader h;
  h.body_len = GetU32(p);
  uint8_t type = p[4];
  h.flags = p[5];
  uint16_t reserved = GetU16(p + 6);
  if (!IsKnownFrameType(type)) {
    failed_ = true;
    error_ = fmt::format("unknown frame type 0x{:02x}", type);
    return Result::kError;
  }
  h.type = static_cast<FrameType>(type);
  if (reserved != 0) {
    failed_ = true;
    error_ = fmt::format("{} frame with reserved field 0x{:04x}",
                         FrameTypeName(h.type), reserved);
    return Result::kError;
  }
  uint32_t limit = BodyLimit(h.type, max_body_);
  if (h.body_len > limit) {
    if (h.type != FrameType::kSend && h.type != FrameType::kDeliver) {
      failed_ = true;
      error_ = fmt::format("{} frame of {} bytes exceeds the limit of {}",
                           FrameTypeName(h.type), h.body_len, limit);
      return Result::kError;
    }
    *pos += kHeaderSize;
    skip_ = h.body_len;
    size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, end - *pos));
    *pos += n;
    skip_ -= n;
    frame->header = h;
    frame->body = {};
    return Result::kTooLarge;
  }
  if (avail < kHeaderSize + h.body_len) return Result::kNeedMore;
  frame->header = h;
  frame->body = std::span<const uint8_t>(p + kHeaderSize, h.body_len);
  *pos += kHeaderSize + h.body_len;
  return Result::kFrame;
}

void FrameDecoder::ShrinkIfIdle() {
  if (begin_ == end_ && input_.empty()) {
    std::vector<uint8_t>().swap(buf_);
    begin_ = end_ = 0;
  }
}

}  // namespace msgc::wire
