#include "wire/mesh_frame.h"

#include <fmt/format.h>

#include <cassert>

namespace msgc::wire {
namespace {

// Primitive writers and the bounds-checked reader. They mirror the private
// helpers of frame.cc (which are not exported); the two must keep the same
// conventions (LE integers, str16, blob32).

void PutU8(std::string* out, uint8_t v) {
  out->push_back(static_cast<char>(v));
}
void PutU16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
  out->append(b, 2);
}
void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 4);
}
void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 8);
}
void PutStr16(std::string* out, std::string_view s) {
  assert(s.size() <= 0xffff);
  PutU16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
}
void PutBlob32(std::string* out, std::string_view s) {
  assert(s.size() <= 0xffffffffu);
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}
void SetU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t GetLE(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

size_t BeginMesh(std::string* out, MeshFrameType type, const LinkPrefix& p) {
  size_t start = out->size();
  PutU32(out, 0);
  PutU8(out, static_cast<uint8_t>(type));
  PutU8(out, 0);
  PutU16(out, 0);
  PutU64(out, p.link_seq);
  PutU64(out, p.ack);
  return start;
}

void FinishMesh(std::string* out, size_t start) {
  size_t body = out->size() - start - kHeaderSize;
  assert(body <= 0xffffffffu);
  for (int i = 0; i < 4; ++i)
    (*out)[start + i] = static_cast<char>((body >> (8 * i)) & 0xff);
}

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> body)
      : p_(body.data()), left_(body.size()) {}

  bool U8(const char* field, uint8_t* v) { return Int(field, 1, v); }
  bool U16(const char* field, uint16_t* v) { return Int(field, 2, v); }
  bool U32(const char* field, uint32_t* v) { return Int(field, 4, v); }
  bool U64(const char* field, uint64_t* v) { return Int(field, 8, v); }
  bool Str16(const char* field, size_t max_len, std::string_view* v) {
    uint16_t len;
    if (!U16(field, &len)) return false;
    return Bytes(field, len, max_len, v);
  }
  bool Blob32(const char* field, size_t max_len, std::string_view* v) {
    uint32_t len;
    if (!U32(field, &len)) return false;
    return Bytes(field, len, max_len, v);
  }
  // A count (u16 or u32) at most `max`.
  bool Count16(const char* field, size_t max, size_t* n) {
    uint16_t c;
    if (!U16(field, &c)) return false;
    return CheckCount(field, c, max, n);
  }
  bool Count32(const char* field, size_t max, size_t* n) {
    uint32_t c;
    if (!U32(field, &c)) return false;
    return CheckCount(field, c, max, n);
  }
  bool Service(const char* field, wire::Service* s) {
    uint8_t v;
    if (!U8(field, &v)) return false;
    if (v > static_cast<uint8_t>(Service::kSafe)) {
      error_ = fmt::format("{} is {}", field, v);
      return false;
    }
    *s = static_cast<wire::Service>(v);
    return true;
  }
  // Entries must each be at least `min_size` bytes: a count larger than the
  // remaining bytes allow is rejected before any allocation.
  bool Fits(const char* field, size_t n, size_t min_size) {
    if (!error_.empty()) return false;
    if (n * min_size > left_) {
      error_ = fmt::format("{} truncated", field);
      return false;
    }
    return true;
  }

  Status Done(uint8_t type) {
    if (error_.empty() && left_ != 0) {
      error_ = fmt::format("{} trailing bytes", left_);
    }
    if (error_.empty()) return Status::OK();
    return Status::ProtocolError(
        fmt::format("malformed {} frame: {}", MeshFrameTypeName(type), error_));
  }

 private:
  template <typename T>
  bool Int(const char* field, int n, T* v) {
    if (!Need(field, n)) return false;
    *v = static_cast<T>(GetLE(p_, n));
    p_ += n;
    left_ -= n;
    return true;
  }
  bool Bytes(const char* field, size_t len, size_t max_len,
             std::string_view* v) {
    if (len > max_len) {
      error_ = fmt::format("{} is {} bytes, more than {}", field, len, max_len);
      return false;
    }
    if (!Need(field, len)) return false;
    *v = std::string_view(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    left_ -= len;
    return true;
  }
  bool CheckCount(const char* field, size_t c, size_t max, size_t* n) {
    if (c > max) {
      error_ = fmt::format("{} has {} entries, more than {}", field, c, max);
      return false;
    }
    *n = c;
    return true;
  }
  bool Need(const char* field, size_t n) {
    if (!error_.empty()) return false;
    if (left_ < n) {
      error_ = fmt::format("{} truncated", field);
      return false;
    }
    return true;
  }

  const uint8_t* p_;
  size_t left_;
  std::string error_;
};

// Checks the type and skips the prefix; *r reads the type's body.
Status Open(const Frame& f, MeshFrameType want,
            std::span<const uint8_t>* rest) {
  if (static_cast<uint8_t>(f.header.type) != static_cast<uint8_t>(want)) {
    return Status::Internal(
        fmt::format("decoding a {} frame as {}",
                    MeshFrameTypeName(static_cast<uint8_t>(f.header.type)),
                    MeshFrameTypeName(static_cast<uint8_t>(want))));
  }
  LinkPrefix p;
  return DecodeLinkPrefix(f, &p, rest);
}

void PutNodes(std::string* out, const std::vector<NodeInc>& nodes) {
  assert(nodes.size() <= kMaxMeshNodes);
  PutU16(out, static_cast<uint16_t>(nodes.size()));
  for (const NodeInc& n : nodes) {
    PutStr16(out, n.name);
    PutU64(out, n.incarnation);
  }
}

bool GetNodes(Reader* r, const char* field, std::vector<NodeInc>* out) {
  size_t n;
  if (!r->Count16(field, kMaxMeshNodes, &n) || !r->Fits(field, n, 10)) {
    return false;
  }
  out->resize(n);
  for (NodeInc& e : *out) {
    if (!r->Str16(field, kMaxNodeNameLen, &e.name) ||
        !r->U64(field, &e.incarnation)) {
      return false;
    }
  }
  return true;
}

void PutItemFields(std::string* out, const Item& m) {
  PutU8(out, m.flags);
  PutU64(out, m.conf_id);
  PutU64(out, m.ts);
  PutU32(out, m.oseq);
  PutU8(out, static_cast<uint8_t>(m.service));
  PutU8(out, m.kind);
  PutBlob32(out, m.body);
}

bool GetItemFields(Reader* r, Item* m) {
  return r->U8("flags", &m->flags) && r->U64("conf_id", &m->conf_id) &&
         r->U64("ts", &m->ts) && r->U32("oseq", &m->oseq) &&
         r->Service("service", &m->service) && r->U8("kind", &m->kind) &&
         r->Blob32("body", 0xffffffffu, &m->body);
}

}  // namespace

bool IsKnownMeshFrameType(uint8_t type) {
  return type >= static_cast<uint8_t>(MeshFrameType::kLinkSync) &&
         type <= static_cast<uint8_t>(MeshFrameType::kRetrans);
}

std::string_view MeshFrameTypeName(uint8_t type) {
  switch (static_cast<MeshFrameType>(type)) {
    case MeshFrameType::kLinkSync:
      return "LINK_SYNC";
    case MeshFrameType::kLinkAck:
      return "LINK_ACK";
    case MeshFrameType::kBye:
      return "BYE";
    case MeshFrameType::kReach:
      return "REACH";
    case MeshFrameType::kItem:
      return "ITEM";
    case MeshFrameType::kClock:
      return "CLOCK";
    case MeshFrameType::kPropose:
      return "PROPOSE";
    case MeshFrameType::kAccept:
      return "ACCEPT";
    case MeshFrameType::kInstall:
      return "INSTALL";
    case MeshFrameType::kRetrans:
      return "RETRANS";
  }
  return "MESH_UNKNOWN";
}

void EncodeLinkSync(const LinkPrefix& p, const LinkSync& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kLinkSync, p);
  PutU8(out, m.flags);
  PutU64(out, m.incarnation);
  PutU64(out, m.your_incarnation);
  PutU64(out, m.received);
  FinishMesh(out, s);
}

void EncodeLinkAck(const LinkPrefix& p, std::string* out) {
  FinishMesh(out, BeginMesh(out, MeshFrameType::kLinkAck, p));
}

void EncodeBye(const LinkPrefix& p, std::string* out) {
  FinishMesh(out, BeginMesh(out, MeshFrameType::kBye, p));
}

void EncodeReach(const LinkPrefix& p, const Reach& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kReach, p);
  PutU8(out, m.flags);
  PutU64(out, m.conf_id);
  PutStr16(out, m.lock.coordinator);
  PutU64(out, m.lock.attempt);
  PutNodes(out, m.reachable);
  FinishMesh(out, s);
}

void EncodeItem(const LinkPrefix& p, const Item& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kItem, p);
  PutItemFields(out, m);
  FinishMesh(out, s);
}

void EncodeClock(const LinkPrefix& p, const Clock& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kClock, p);
  PutU64(out, m.conf_id);
  PutU64(out, m.ts);
  PutU64(out, m.stable);
  FinishMesh(out, s);
}

void EncodePropose(const LinkPrefix& p, const Propose& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kPropose, p);
  PutU64(out, m.attempt);
  PutNodes(out, m.members);
  FinishMesh(out, s);
}

void EncodeAccept(const LinkPrefix& p, const Accept& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kAccept, p);
  PutU64(out, m.attempt);
  PutU64(out, m.old_conf_id);
  PutU64(out, m.max_conf_id);
  assert(m.held.size() <= kMaxMeshNodes);
  PutU16(out, static_cast<uint16_t>(m.held.size()));
  for (const HeldReport& h : m.held) {
    PutStr16(out, h.origin);
    PutU32(out, h.held);
  }
  FinishMesh(out, s);
}

void EncodeInstall(const LinkPrefix& p, const Install& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kInstall, p);
  PutU64(out, m.attempt);
  PutU64(out, m.conf_id);
  assert(m.members.size() <= kMaxMeshNodes);
  PutU16(out, static_cast<uint16_t>(m.members.size()));
  for (const InstallMember& e : m.members) {
    PutStr16(out, e.name);
    PutU64(out, e.incarnation);
    PutU64(out, e.old_conf_id);
  }
  assert(m.held.size() <= kMaxReports);
  PutU32(out, static_cast<uint32_t>(m.held.size()));
  for (const HeldReport& h : m.held) {
    PutStr16(out, h.member);
    PutStr16(out, h.origin);
    PutU32(out, h.held);
  }
  FinishMesh(out, s);
}

void EncodeRetrans(const LinkPrefix& p, const Retrans& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kRetrans, p);
  PutStr16(out, m.origin);
  PutItemFields(out, m.item);
  FinishMesh(out, s);
}

void PatchLinkPrefix(std::string* frame, const LinkPrefix& p) {
  assert(frame->size() >= kHeaderSize + kLinkPrefixSize);
  SetU64(frame->data() + kHeaderSize, p.link_seq);
  SetU64(frame->data() + kHeaderSize + 8, p.ack);
}

Status DecodeLinkPrefix(const Frame& f, LinkPrefix* prefix,
                        std::span<const uint8_t>* rest) {
  const uint8_t type = static_cast<uint8_t>(f.header.type);
  if (f.body.size() < kLinkPrefixSize) {
    return Status::ProtocolError(fmt::format(
        "malformed {} frame: link prefix truncated", MeshFrameTypeName(type)));
  }
  prefix->link_seq = GetLE(f.body.data(), 8);
  prefix->ack = GetLE(f.body.data() + 8, 8);
  // Sequenced types must carry a sequence number and the others must not:
  // a mix-up would corrupt the channel, so it is a protocol error here.
  if (IsKnownMeshFrameType(type) &&
      IsSequencedMeshFrameType(type) != (prefix->link_seq != 0)) {
    return Status::ProtocolError(
        fmt::format("malformed {} frame: link_seq is {}",
                    MeshFrameTypeName(type), prefix->link_seq));
  }
  *rest = f.body.subspan(kLinkPrefixSize);
  return Status::OK();
}

Status DecodeLinkSync(const Frame& f, LinkSync* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kLinkSync, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  r.U8("flags", &out->flags) && r.U64("incarnation", &out->incarnation) &&
      r.U64("your_incarnation", &out->your_incarnation) &&
      r.U64("received", &out->received);
  return r.Done(static_cast<uint8_t>(MeshFrameType::kLinkSync));
}

Status DecodeReach(const Frame& f, Reach* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kReach, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  r.U8("flags", &out->flags) && r.U64("conf_id", &out->conf_id) &&
      r.Str16("lock_coordinator", kMaxNodeNameLen, &out->lock.coordinator) &&
      r.U64("lock_attempt", &out->lock.attempt) &&
      GetNodes(&r, "reachable", &out->reachable);
  return r.Done(static_cast<uint8_t>(MeshFrameType::kReach));
}

Status DecodeItem(const Frame& f, Item* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kItem, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  GetItemFields(&r, out);
  return r.Done(static_cast<uint8_t>(MeshFrameType::kItem));
}

Status DecodeClock(const Frame& f, Clock* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kClock, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  r.U64("conf_id", &out->conf_id) && r.U64("ts", &out->ts) &&
      r.U64("stable", &out->stable);
  return r.Done(static_cast<uint8_t>(MeshFrameType::kClock));
}

Status DecodePropose(const Frame& f, Propose* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kPropose, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  r.U64("attempt", &out->attempt) && GetNodes(&r, "members", &out->members);
  return r.Done(static_cast<uint8_t>(MeshFrameType::kPropose));
}

Status DecodeAccept(const Frame& f, Accept* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kAccept, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  size_t n = 0;
  if (r.U64("attempt", &out->attempt) &&
      r.U64("old_conf_id", &out->old_conf_id) &&
      r.U64("max_conf_id", &out->max_conf_id) &&
      r.Count16("held", kMaxMeshNodes, &n) && r.Fits("held", n, 6)) {
    out->held.resize(n);
    for (HeldReport& h : out->held) {
      if (!r.Str16("held", kMaxNodeNameLen, &h.origin) ||
          !r.U32("held", &h.held)) {
        break;
      }
    }
  }
  return r.Done(static_cast<uint8_t>(MeshFrameType::kAccept));
}

Status DecodeInstall(const Frame& f, Install* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kInstall, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  size_t n = 0;
  if (!r.U64("attempt", &out->attempt) || !r.U64("conf_id", &out->conf_id) ||
      !r.Count16("members", kMaxMeshNodes, &n) || !r.Fits("members", n, 18)) {
    return r.Done(static_cast<uint8_t>(MeshFrameType::kInstall));
  }
  out->members.resize(n);
  for (InstallMember& m : out->members) {
    if (!r.Str16("members", kMaxNodeNameLen, &m.name) ||
        !r.U64("members", &m.incarnation) ||
        !r.U64("members", &m.old_conf_id)) {
      return r.Done(static_cast<uint8_t>(MeshFrameType::kInstall));
    }
  }
  if (r.Count32("held", kMaxReports, &n) && r.Fits("held", n, 8)) {
    out->held.resize(n);
    for (HeldReport& h : out->held) {
      if (!r.Str16("held", kMaxNodeNameLen, &h.member) ||
          !r.Str16("held", kMaxNodeNameLen, &h.origin) ||
          !r.U32("held", &h.held)) {
        break;
      }
    }
  }
  return r.Done(static_cast<uint8_t>(MeshFrameType::kInstall));
}

Status DecodeRetrans(const Frame& f, Retrans* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kRetrans, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  r.Str16("origin", kMaxNodeNameLen, &out->origin) &&
      GetItemFields(&r, &out->item);
  return r.Done(static_cast<uint8_t>(MeshFrameType::kRetrans));
}

Status DecodeMeshEmpty(const Frame& f) {
  LinkPrefix p;
  std::span<const uint8_t> rest;
  Status s = DecodeLinkPrefix(f, &p, &rest);
  if (!s.ok()) return s;
  Reader r(rest);
  return r.Done(static_cast<uint8_t>(f.header.type));
}

}  // namespace msgc::wire
