#include "wire/mesh_frame.h"

#include <fmt/format.h>

#include <cassert>

#include "wire/coding.h"

namespace msgc::wire {
namespace {

void SetU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
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
  SetU32(out, start, static_cast<uint32_t>(body));
}

bool ReadService(BodyReader* r, const char* field, Service* s) {
  uint8_t v;
  if (!r->U8(field, &v)) return false;
  if (v > static_cast<uint8_t>(Service::kSafe)) {
    return r->Fail(fmt::format("{} is {}", field, v));
  }
  *s = static_cast<Service>(v);
  return true;
}

// Finishes decoding a body: trailing bytes are an error too.
Status Finish(BodyReader& r, uint8_t type) {
  return r.Done([type] {
    return fmt::format("malformed {} frame", MeshFrameTypeName(type));
  });
}

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

bool GetNodes(BodyReader* r, const char* field, std::vector<NodeInc>* out) {
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
  PutU32(out, m.epoch);
  PutBlob32(out, m.body);
}

bool GetItemFields(BodyReader* r, Item* m) {
  return r->U8("flags", &m->flags) && r->U64("conf_id", &m->conf_id) &&
         r->U64("ts", &m->ts) && r->U32("oseq", &m->oseq) &&
         ReadService(r, "service", &m->service) && r->U8("kind", &m->kind) &&
         r->U32("epoch", &m->epoch) && r->Blob32("body", 0xffffffffu, &m->body);
}

}  // namespace

bool IsKnownMeshFrameType(uint8_t type) {
  return type >= static_cast<uint8_t>(MeshFrameType::kLinkSync) &&
         type <= static_cast<uint8_t>(MeshFrameType::kItems);
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
    case MeshFrameType::kLateBody:
      return "LATE_BODY";
    case MeshFrameType::kGatherReq:
      return "GATHER_REQ";
    case MeshFrameType::kGatherItem:
      return "GATHER_ITEM";
    case MeshFrameType::kGatherDone:
      return "GATHER_DONE";
    case MeshFrameType::kItems:
      return "ITEMS";
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
  PutU32(out, m.oseq);
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
  PutU64(out, m.safe_bound);
  assert(m.held.size() <= kMaxMeshNodes);
  PutU16(out, static_cast<uint16_t>(m.held.size()));
  for (const HeldReport& h : m.held) {
    PutStr16(out, h.origin);
    PutU32(out, h.held);
    PutU64(out, h.high);
  }
  assert(m.state.size() <= kMaxStateLen);
  PutBlob32(out, m.state);
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
    PutU64(out, e.safe_bound);
    assert(e.state.size() <= kMaxStateLen);
    PutBlob32(out, e.state);
  }
  assert(m.held.size() <= kMaxReports);
  PutU32(out, static_cast<uint32_t>(m.held.size()));
  for (const HeldReport& h : m.held) {
    PutStr16(out, h.member);
    PutStr16(out, h.origin);
    PutU32(out, h.held);
    PutU64(out, h.high);
  }
  FinishMesh(out, s);
}

void EncodeRetrans(const LinkPrefix& p, const Retrans& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kRetrans, p);
  PutStr16(out, m.origin);
  PutItemFields(out, m.item);
  FinishMesh(out, s);
}

void EncodeLateBody(const LinkPrefix& p, const Item& m, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kLateBody, p);
  PutItemFields(out, m);
  FinishMesh(out, s);
}

void EncodeGatherReq(const LinkPrefix& p, const GatherReq& m,
                     std::string* out) {
  assert(m.ranges.size() <= kMaxMeshNodes);
  size_t s = BeginMesh(out, MeshFrameType::kGatherReq, p);
  PutU64(out, m.conf_id);
  PutU64(out, m.old_conf_id);
  PutU16(out, static_cast<uint16_t>(m.ranges.size()));
  for (const GatherRange& g : m.ranges) {
    PutStr16(out, g.origin);
    PutU32(out, g.first);
    PutU32(out, g.last);
  }
  FinishMesh(out, s);
}

void EncodeGatherItem(const LinkPrefix& p, const GatherItem& m,
                      std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kGatherItem, p);
  PutU64(out, m.conf_id);
  PutStr16(out, m.origin);
  PutItemFields(out, m.item);
  FinishMesh(out, s);
}

void EncodeGatherDone(const LinkPrefix& p, uint64_t conf_id, std::string* out) {
  size_t s = BeginMesh(out, MeshFrameType::kGatherDone, p);
  PutU64(out, conf_id);
  FinishMesh(out, s);
}

size_t BeginItems(std::string* out, uint64_t conf_id) {
  size_t s = BeginMesh(out, MeshFrameType::kItems, {});
  PutU64(out, conf_id);
  PutU16(out, 0);  // count, raised by AppendItem
  return s;
}

namespace {
constexpr size_t kItemsCountOffset = kHeaderSize + kLinkPrefixSize + 8;
}  // namespace

uint16_t ItemsCount(const std::string& out, size_t start) {
  const size_t at = start + kItemsCountOffset;
  return static_cast<uint16_t>(static_cast<uint8_t>(out[at]) |
                               static_cast<uint8_t>(out[at + 1]) << 8);
}

ItemRecordHead EncodeItemRecordHead(const Item& m) {
  assert(m.body.size() <= 0xffffffffu);
  ItemRecordHead h;
  char* p = StoreU8(h.bytes, m.flags);
  p = StoreLE(p, m.ts, 8);
  p = StoreU32(p, m.oseq);
  p = StoreU8(p, static_cast<uint8_t>(m.service));
  p = StoreU8(p, m.kind);
  p = StoreU32(p, m.epoch);
  p = StoreU32(p, static_cast<uint32_t>(m.body.size()));
  assert(p == h.bytes + kItemRecordHeadSize);
  return h;
}

void AppendItemRecord(std::string* out, size_t start,
                      const ItemRecordHead& head, std::string_view body) {
  const uint16_t n = ItemsCount(*out, start);
  assert(n < kMaxItemsPerFrame);
  // Two appends of encoded bytes (not one per field; and no resize, which
  // would zero the bytes first): the batch is on every message's path,
  // once per link, and its capacity is usually reserved.
  out->append(head.bytes, kItemRecordHeadSize);
  out->append(body);
  StoreU16(out->data() + start + kItemsCountOffset,
           static_cast<uint16_t>(n + 1));
}

void AppendItem(std::string* out, size_t start, const Item& m) {
  AppendItemRecord(out, start, EncodeItemRecordHead(m), m.body);
}

void FinishItems(std::string* out, size_t start) { FinishMesh(out, start); }

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
  BodyReader r(rest);
  r.U8("flags", &out->flags) && r.U64("incarnation", &out->incarnation) &&
      r.U64("your_incarnation", &out->your_incarnation) &&
      r.U64("received", &out->received);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kLinkSync));
}

Status DecodeReach(const Frame& f, Reach* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kReach, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  r.U8("flags", &out->flags) && r.U64("conf_id", &out->conf_id) &&
      r.Str16("lock_coordinator", kMaxNodeNameLen, &out->lock.coordinator) &&
      r.U64("lock_attempt", &out->lock.attempt) &&
      GetNodes(&r, "reachable", &out->reachable);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kReach));
}

Status DecodeItem(const Frame& f, Item* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kItem, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  GetItemFields(&r, out);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kItem));
}

Status DecodeClock(const Frame& f, Clock* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kClock, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  r.U64("conf_id", &out->conf_id) && r.U64("ts", &out->ts) &&
      r.U64("stable", &out->stable) && r.U32("oseq", &out->oseq);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kClock));
}

Status DecodePropose(const Frame& f, Propose* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kPropose, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  r.U64("attempt", &out->attempt) && GetNodes(&r, "members", &out->members);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kPropose));
}

Status DecodeAccept(const Frame& f, Accept* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kAccept, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  size_t n = 0;
  if (r.U64("attempt", &out->attempt) &&
      r.U64("old_conf_id", &out->old_conf_id) &&
      r.U64("max_conf_id", &out->max_conf_id) &&
      r.U64("safe_bound", &out->safe_bound) &&
      r.Count16("held", kMaxMeshNodes, &n) && r.Fits("held", n, 14)) {
    out->held.resize(n);
    for (HeldReport& h : out->held) {
      if (!r.Str16("held", kMaxNodeNameLen, &h.origin) ||
          !r.U32("held", &h.held) || !r.U64("held", &h.high)) {
        break;
      }
    }
    r.Blob32("state", kMaxStateLen, &out->state);
  }
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kAccept));
}

Status DecodeInstall(const Frame& f, Install* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kInstall, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  size_t n = 0;
  if (!r.U64("attempt", &out->attempt) || !r.U64("conf_id", &out->conf_id) ||
      !r.Count16("members", kMaxMeshNodes, &n) || !r.Fits("members", n, 30)) {
    return Finish(r, static_cast<uint8_t>(MeshFrameType::kInstall));
  }
  out->members.resize(n);
  for (InstallMember& m : out->members) {
    if (!r.Str16("members", kMaxNodeNameLen, &m.name) ||
        !r.U64("members", &m.incarnation) ||
        !r.U64("members", &m.old_conf_id) || !r.U64("members", &m.safe_bound) ||
        !r.Blob32("members", kMaxStateLen, &m.state)) {
      return Finish(r, static_cast<uint8_t>(MeshFrameType::kInstall));
    }
  }
  if (r.Count32("held", kMaxReports, &n) && r.Fits("held", n, 16)) {
    out->held.resize(n);
    for (HeldReport& h : out->held) {
      if (!r.Str16("held", kMaxNodeNameLen, &h.member) ||
          !r.Str16("held", kMaxNodeNameLen, &h.origin) ||
          !r.U32("held", &h.held) || !r.U64("held", &h.high)) {
        break;
      }
    }
  }
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kInstall));
}

Status DecodeRetrans(const Frame& f, Retrans* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kRetrans, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  r.Str16("origin", kMaxNodeNameLen, &out->origin) &&
      GetItemFields(&r, &out->item);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kRetrans));
}

Status DecodeLateBody(const Frame& f, Item* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kLateBody, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  GetItemFields(&r, out);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kLateBody));
}

Status DecodeGatherReq(const Frame& f, GatherReq* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kGatherReq, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  size_t n = 0;
  if (r.U64("conf_id", &out->conf_id) &&
      r.U64("old_conf_id", &out->old_conf_id) &&
      r.Count16("ranges", kMaxMeshNodes, &n) && r.Fits("ranges", n, 10)) {
    out->ranges.resize(n);
    for (GatherRange& g : out->ranges) {
      if (!r.Str16("origin", kMaxNodeNameLen, &g.origin) ||
          !r.U32("first", &g.first) || !r.U32("last", &g.last)) {
        break;
      }
    }
  }
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kGatherReq));
}

Status DecodeGatherItem(const Frame& f, GatherItem* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kGatherItem, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  r.U64("conf_id", &out->conf_id) &&
      r.Str16("origin", kMaxNodeNameLen, &out->origin) &&
      GetItemFields(&r, &out->item);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kGatherItem));
}

Status DecodeGatherDone(const Frame& f, uint64_t* conf_id) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kGatherDone, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  r.U64("conf_id", conf_id);
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kGatherDone));
}

Status DecodeItems(const Frame& f, std::vector<Item>* out) {
  std::span<const uint8_t> rest;
  Status s = Open(f, MeshFrameType::kItems, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  out->clear();
  uint64_t conf_id = 0;
  size_t n = 0;
  // A record is at least kItemRecordHeadSize bytes (an empty body).
  if (r.U64("conf_id", &conf_id) && r.Count16("items", kMaxItemsPerFrame, &n) &&
      r.Fits("items", n, kItemRecordHeadSize)) {
    out->resize(n);
    for (Item& m : *out) {
      m.conf_id = conf_id;
      if (!r.U8("flags", &m.flags) || !r.U64("ts", &m.ts) ||
          !r.U32("oseq", &m.oseq) || !ReadService(&r, "service", &m.service) ||
          !r.U8("kind", &m.kind) || !r.U32("epoch", &m.epoch) ||
          !r.Blob32("body", 0xffffffffu, &m.body)) {
        break;
      }
    }
  }
  return Finish(r, static_cast<uint8_t>(MeshFrameType::kItems));
}

Status DecodeMeshEmpty(const Frame& f) {
  LinkPrefix p;
  std::span<const uint8_t> rest;
  Status s = DecodeLinkPrefix(f, &p, &rest);
  if (!s.ok()) return s;
  BodyReader r(rest);
  return Finish(r, static_cast<uint8_t>(f.header.type));
}

}  // namespace msgc::wire
