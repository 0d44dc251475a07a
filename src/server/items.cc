#include "server/items.h"

#include <fmt/format.h>

#include <cstring>

#include "wire/coding.h"

namespace msgc::server {
namespace {

using wire::BodyReader;
using wire::GetU64;
using wire::PutBlob32;
using wire::PutStr16;
using wire::PutU16;
using wire::PutU32;
using wire::PutU64;
using wire::PutU8;
using wire::StoreLE;
using wire::StoreU8;

// Largest string an item may carry in a str16 (names, groups, origins).
constexpr size_t kMaxStr16 = 0xffff;

const char* KindName(ItemKind k) {
  switch (k) {
    case ItemKind::kConnect:
      return "CONNECT";
    case ItemKind::kJoin:
      return "JOIN";
    case ItemKind::kLeave:
      return "LEAVE";
    case ItemKind::kDisconnect:
      return "DISCONNECT";
    case ItemKind::kMessage:
      return "MESSAGE";
  }
  return "?";
}

Status Finish(BodyReader& r, const char* what) {
  return r.Done([what] { return fmt::format("{} item", what); });
}

}  // namespace

std::string EncodeMemberItem(ItemKind kind, const MemberItem& m) {
  std::string o;
  PutStr16(&o, m.name);
  PutU64(&o, m.sid);
  if (kind == ItemKind::kJoin || kind == ItemKind::kLeave) {
    PutStr16(&o, m.group);
  }
  if (kind == ItemKind::kJoin) PutBlob32(&o, m.caps);
  if (kind == ItemKind::kConnect) {
    PutStr16(&o, m.replaces);
    PutU64(&o, m.replaces_sid);
  }
  return o;
}

Status DecodeMemberItem(ItemKind kind, std::span<const uint8_t> body,
                        MemberItem* out) {
  BodyReader r(body);
  bool ok = r.Str16("name", kMaxStr16, &out->name) && r.U64("sid", &out->sid);
  if (ok && (kind == ItemKind::kJoin || kind == ItemKind::kLeave)) {
    ok = r.Str16("group", kMaxStr16, &out->group);
  }
  if (ok && kind == ItemKind::kJoin) {
    r.Blob32("caps", 0xffffffffu, &out->caps);
  }
  if (ok && kind == ItemKind::kConnect) {
    r.Str16("replaces", kMaxStr16, &out->replaces) &&
        r.U64("replaces_sid", &out->replaces_sid);
  }
  return Finish(r, KindName(kind));
}

void EncodeMessagePrefix(uint64_t sender_sid, uint8_t flags, std::string* out) {
  // One per message: sized once, then stored.
  const size_t start = out->size();
  out->resize(start + kMessagePrefixSize);
  StoreU8(StoreLE(out->data() + start, sender_sid, 8), flags);
}

Status DecodeMessageItem(std::span<const uint8_t> body, MessageItem* out) {
  if (body.size() >= kMessagePrefixSize) [[likely]] {
    // Cannot fail: the DELIVER frame is whatever follows.
    out->sender_sid = GetU64(body.data());
    out->flags = body[8];
    out->deliver_frame = body.subspan(kMessagePrefixSize);
    return Status::OK();
  }
  BodyReader r(body);  // says what is missing
  if (r.U64("sender_sid", &out->sender_sid) && r.U8("flags", &out->flags)) {
    out->deliver_frame = r.Rest();
  }
  return Finish(r, "MESSAGE");
}

std::string EncodeServerState(const ServerState& s) {
  std::string o;
  PutStr16(&o, s.node);
  PutU64(&o, s.incarnation);
  PutU32(&o, static_cast<uint32_t>(s.sessions.size()));
  for (const StateSession& ss : s.sessions) {
    PutStr16(&o, ss.name);
    PutU64(&o, ss.sid);
    PutStr16(&o, ss.replaces);
    PutU64(&o, ss.replaces_sid);
    PutU16(&o, static_cast<uint16_t>(ss.groups.size()));
    for (const StateGroup& g : ss.groups) {
      PutStr16(&o, g.group);
      PutBlob32(&o, g.caps);
      PutU64(&o, g.key_ts);
      PutStr16(&o, g.key_origin);
    }
  }
  return o;
}

Status DecodeServerState(std::span<const uint8_t> body, ServerState* out) {
  BodyReader r(body);
  std::string_view node;
  size_t n = 0;
  out->sessions.clear();
  // Each session is at least 22 bytes (empty name, sid, empty replaces,
  // replaces_sid, group count) and each group at least 16: counts are
  // checked against the body first.
  if (r.Str16("node", kMaxStr16, &node) &&
      r.U64("incarnation", &out->incarnation) &&
      r.Count32("session count", 0xffffffffu, &n) &&
      r.Fits("sessions", n, 22)) {
    out->node = std::string(node);
    out->sessions.reserve(n);
    for (size_t i = 0; i < n && !r.failed(); ++i) {
      StateSession& ss = out->sessions.emplace_back();
      std::string_view name, replaces;
      size_t g = 0;
      if (!r.Str16("name", kMaxStr16, &name) || !r.U64("sid", &ss.sid) ||
          !r.Str16("replaces", kMaxStr16, &replaces) ||
          !r.U64("replaces_sid", &ss.replaces_sid) ||
          !r.Count16("group count", 0xffff, &g) || !r.Fits("groups", g, 16)) {
        break;
      }
      ss.name = std::string(name);
      ss.replaces = std::string(replaces);
      for (size_t j = 0; j < g; ++j) {
        std::string_view group, caps, origin;
        StateGroup sg;
        if (!r.Str16("group", kMaxStr16, &group) ||
            !r.Blob32("caps", 0xffffffffu, &caps) ||
            !r.U64("key_ts", &sg.key_ts) ||
            !r.Str16("key_origin", kMaxStr16, &origin)) {
          break;
        }
        sg.group = std::string(group);
        sg.caps = std::string(caps);
        sg.key_origin = std::string(origin);
        ss.groups.push_back(std::move(sg));
      }
    }
  }
  return r.Done([] { return std::string("server state"); });
}

}  // namespace msgc::server
