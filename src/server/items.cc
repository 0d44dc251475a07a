#include "server/items.h"

#include <fmt/format.h>

#include <cstring>

namespace msgc::server {
namespace {

void PutU8(std::string* o, uint8_t v) { o->push_back(static_cast<char>(v)); }
void PutLe(std::string* o, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) o->push_back(static_cast<char>(v >> (8 * i)));
}
void PutStr16(std::string* o, std::string_view s) {
  PutLe(o, s.size(), 2);
  o->append(s);
}
void PutBlob32(std::string* o, std::string_view s) {
  PutLe(o, s.size(), 4);
  o->append(s);
}

// Bounds-checked reader; the first failure is remembered with the field.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  uint64_t Le(int bytes, const char* field) {
    if (!Need(bytes, field)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{b_[pos_ + i]} << (8 * i);
    pos_ += bytes;
    return v;
  }
  std::string_view Str(int len_bytes, const char* field) {
    const uint64_t n = Le(len_bytes, field);
    if (!Need(n, field)) return {};
    std::string_view s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> Rest() {
    auto r = b_.subspan(pos_);
    pos_ = b_.size();
    return r;
  }
  Status Finish(const char* what) {
    if (!error_.empty()) {
      return Status::ProtocolError(fmt::format("{} item: {}", what, error_));
    }
    if (pos_ != b_.size()) {
      return Status::ProtocolError(
          fmt::format("{} item: {} trailing bytes", what, b_.size() - pos_));
    }
    return Status::OK();
  }

 private:
  bool Need(uint64_t n, const char* field) {
    if (!error_.empty()) return false;
    if (b_.size() - pos_ < n) {
      error_ = fmt::format("truncated {}", field);
      return false;
    }
    return true;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  std::string error_;
};

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
    case ItemKind::kState:
      return "STATE";
  }
  return "?";
}

}  // namespace

std::string EncodeMemberItem(ItemKind kind, const MemberItem& m) {
  std::string o;
  PutStr16(&o, m.name);
  PutLe(&o, m.sid, 8);
  if (kind == ItemKind::kJoin || kind == ItemKind::kLeave) {
    PutStr16(&o, m.group);
  }
  if (kind == ItemKind::kJoin) PutBlob32(&o, m.caps);
  return o;
}

Status DecodeMemberItem(ItemKind kind, std::span<const uint8_t> body,
                        MemberItem* out) {
  Reader r(body);
  out->name = r.Str(2, "name");
  out->sid = r.Le(8, "sid");
  if (kind == ItemKind::kJoin || kind == ItemKind::kLeave) {
    out->group = r.Str(2, "group");
  }
  if (kind == ItemKind::kJoin) out->caps = r.Str(4, "caps");
  return r.Finish(KindName(kind));
}

void EncodeMessagePrefix(uint64_t sender_sid, uint8_t flags, std::string* out) {
  PutLe(out, sender_sid, 8);
  PutU8(out, flags);
}

Status DecodeMessageItem(std::span<const uint8_t> body, MessageItem* out) {
  Reader r(body);
  out->sender_sid = r.Le(8, "sender_sid");
  out->flags = static_cast<uint8_t>(r.Le(1, "flags"));
  out->deliver_frame = r.Rest();
  return r.Finish("MESSAGE");
}

std::string EncodeStateItem(const StateItem& s) {
  std::string o;
  PutStr16(&o, s.node);
  PutLe(&o, s.incarnation, 8);
  PutLe(&o, s.conf_id, 8);
  PutLe(&o, s.sessions.size(), 4);
  for (const StateSession& ss : s.sessions) {
    PutStr16(&o, ss.name);
    PutLe(&o, ss.sid, 8);
    PutLe(&o, ss.groups.size(), 2);
    for (const StateGroup& g : ss.groups) {
      PutStr16(&o, g.group);
      PutBlob32(&o, g.caps);
      PutLe(&o, g.key_ts, 8);
      PutStr16(&o, g.key_origin);
    }
  }
  return o;
}

Status DecodeStateItem(std::span<const uint8_t> body, StateItem* out) {
  Reader r(body);
  out->node = std::string(r.Str(2, "node"));
  out->incarnation = r.Le(8, "incarnation");
  out->conf_id = r.Le(8, "conf_id");
  const uint64_t n = r.Le(4, "session count");
  out->sessions.clear();
  for (uint64_t i = 0; i < n; ++i) {
    StateSession ss;
    ss.name = std::string(r.Str(2, "name"));
    ss.sid = r.Le(8, "sid");
    const uint64_t g = r.Le(2, "group count");
    for (uint64_t j = 0; j < g; ++j) {
      StateGroup sg;
      sg.group = std::string(r.Str(2, "group"));
      sg.caps = std::string(r.Str(4, "caps"));
      sg.key_ts = r.Le(8, "key_ts");
      sg.key_origin = std::string(r.Str(2, "key_origin"));
      ss.groups.push_back(std::move(sg));
    }
    Status st = r.Finish("STATE");
    // Finish() also flags trailing bytes; only a decode error stops here.
    if (!st.ok() && st.message().find("trailing") == std::string::npos) {
      return st;
    }
    out->sessions.push_back(std::move(ss));
  }
  return r.Finish("STATE");
}

}  // namespace msgc::server
