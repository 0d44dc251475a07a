#include "server/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

#include "net/endpoint.h"

namespace msgc::server {
namespace {

using wire::ErrorCode;
using wire::FrameType;

std::chrono::milliseconds ToMillis(double seconds) {
  return std::chrono::milliseconds(std::llround(seconds * 1000.0));
}

uint32_t ClampU32(uint64_t v) {
  return static_cast<uint32_t>(
      std::min<uint64_t>(v, std::numeric_limits<uint32_t>::max()));
}

// Session names: 1..64 bytes of [A-Za-z0-9_.-] (docs/protocol.md §1).
bool ValidSessionName(std::string_view name) {
  if (name.empty() || name.size() > wire::kMaxNameLen) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

// Group names: 1..255 bytes, not starting with '#' (private names do).
bool ValidGroupName(std::string_view group) {
  return !group.empty() && group.size() <= wire::kMaxGroupLen &&
         group.front() != '#';
}

net::Connection::FramePtr EncodeErrorFrame(ErrorCode code, bool fatal,
                                           FrameType request, uint64_t ref,
                                           std::string_view subject,
                                           std::string_view text) {
  auto frame = std::make_shared<std::string>();
  wire::Error e;
  e.code = code;
  e.fatal = fatal;
  e.request = request;
  e.ref = ref;
  e.subject = subject;
  e.text = text;
  wire::EncodeError(e, frame.get());
  return frame;
}

std::vector<wire::Member> ToWire(const std::vector<GroupMember>& members) {
  std::vector<wire::Member> out;
  out.reserve(members.size());
  for (const GroupMember& m : members) {
    out.push_back(wire::Member{m.name, m.capabilities});
  }
  return out;
}

// The addresses to listen on. A configuration without msgc_server and
// msgcserver_listener scopes has none; msgcd then listens where the default
// configuration would (127.0.0.1:<port>) rather than on nothing.
std::vector<config::ListenAddress> EffectiveListen(const config::Config& c) {
  if (!c.listener.listen.empty()) return c.listener.listen;
  config::ListenAddress a;
  a.host = "127.0.0.1";
  a.port = c.server.port;
  a.spec = fmt::format("127.0.0.1:{}", c.server.port);
  return {a};
}

}  // namespace

Server::Server(asio::io_context& io, ServerIdentity identity,
               std::shared_ptr<const config::Config> config,
               std::string config_path)
    : io_(io),
      identity_(std::move(identity)),
      config_(std::move(config)),
      config_path_(std::move(config_path)),
      conn_options_(ConnectionOptionsFor(config_->server)),
      max_message_size_(config_->server.max_message_size),
      groups_(identity_.incarnation) {}

Server::~Server() = default;

net::ConnectionOptions Server::ConnectionOptionsFor(
    const config::ServerOptions& s) const {
  net::ConnectionOptions o;
  o.keepalive_interval = ToMillis(s.keepalive_interval);
  o.idle_timeout = ToMillis(s.idle_timeout);
  o.max_backlog = s.max_backlog;
  o.messages_per_iter = std::max<uint32_t>(1, s.messages_per_iter);
  o.tcpbuf_size = s.tcpbuf_size;
  o.max_body = ClampU32(s.max_message_size + kMaxSendOverhead);
  return o;
}

Status Server::Start() {
  if (!debug_level_override_) SetDebugLevel(config_->server.debug_level);
  return BindListeners(EffectiveListen(*config_), config_->server.tcpbuf_size,
                       /*all_or_nothing=*/true);
}

Status Server::BindListeners(
    const std::vector<config::ListenAddress>& addresses, uint32_t tcpbuf_size,
    bool all_or_nothing) {
  std::vector<BoundListener> next;
  std::vector<BoundListener> opened;  // new in this call
  Status result;
  for (const config::ListenAddress& a : addresses) {
    if (!a.enable) continue;
    asio::ip::tcp::endpoint ep;
    Status s = net::MakeEndpoint(a.host, a.port, a.ipv6, &ep);
    if (!s.ok()) {
      s = Status::InvalidArgument("listen \"" + a.spec + "\": " + s.message());
    } else {
      auto same = [&](const BoundListener& b) { return b.endpoint == ep; };
      if (std::any_of(next.begin(), next.end(), same)) continue;
      auto it = std::find_if(listeners_.begin(), listeners_.end(), same);
      if (it != listeners_.end()) {
        next.push_back(*it);  // already bound: keep it (and its sockets)
        continue;
      }
      auto listener = net::Listener::Create(io_);
      s = listener->Open(ep, tcpbuf_size);
      if (s.ok()) {
        BoundListener b{a.spec, listener->local_endpoint(), listener};
        next.push_back(b);
        opened.push_back(b);
        continue;
      }
    }
    MSGC_LOG_ERROR("cannot listen on \"{}\": {}", a.spec, s.message());
    if (result.ok()) result = s;
    if (all_or_nothing) {
      for (BoundListener& b : opened) b.listener->Close();
      return result;
    }
  }
  for (BoundListener& b : listeners_) {
    const bool kept = std::any_of(next.begin(), next.end(), [&](auto& n) {
      return n.listener == b.listener;
    });
    if (!kept) {
      MSGC_LOG_NOTICE("no longer listening on {}",
                      net::FormatEndpoint(b.endpoint));
      b.listener->Close();
    }
  }
  for (BoundListener& b : opened) {
    b.listener->Start(
        [this](asio::ip::tcp::socket socket) { OnAccept(std::move(socket)); });
    MSGC_LOG_INFO("listening on {}", net::FormatEndpoint(b.endpoint));
  }
  listeners_ = std::move(next);
  return result;
}

std::vector<asio::ip::tcp::endpoint> Server::ListenEndpoints() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const BoundListener& b : listeners_) out.push_back(b.endpoint);
  return out;
}

// ---- Configuration ----

void Server::Reload() {
  if (config_path_.empty()) {
    MSGC_LOG_WARN(
        "reload requested but msgcd runs the built-in default "
        "configuration (no -c FILE); nothing to reload");
    return;
  }
  config::LoadResult r = config::LoadFile(config_path_);
  if (!r.ok()) {
    std::string text = r.ErrorText();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    MSGC_LOG_ERROR(
        "reload of {} failed; keeping the running configuration:\n{}",
        config_path_, text);
    return;
  }
  MSGC_LOG_NOTICE("reloading configuration from {}", config_path_);
  ApplyConfig(r.config);
}

void Server::ApplyConfig(std::shared_ptr<const config::Config> config) {
  const std::vector<config::Change> changes = config::Diff(*config_, *config);
  if (changes.empty()) {
    MSGC_LOG_NOTICE("configuration unchanged");
    config_ = std::move(config);
    return;
  }
  const config::ServerOptions& s = config->server;
  if (!debug_level_override_) SetDebugLevel(s.debug_level);
  for (const config::Change& c : changes) {
    MSGC_LOG_NOTICE("config: {} changed from {} to {}", c.path,
                    c.old_value.empty() ? "(unset)" : c.old_value,
                    c.new_value.empty() ? "(unset)" : c.new_value);
  }
  // Connection options: pushed to every live connection.
  conn_options_ = ConnectionOptionsFor(s);
  max_message_size_ = s.max_message_size;
  for (BoundListener& b : listeners_)
    b.listener->SetReceiveBuffer(s.tcpbuf_size);
  for (auto& [id, session] : sessions_) {
    session->conn->SetOptions(conn_options_);
  }
  // Listeners: re-bound where the addresses changed; connections stay up.
  // Peers, connect_timeout and reconnect_interval are only stored until the
  // mesh uses them.
  BindListeners(EffectiveListen(*config), s.tcpbuf_size,
                /*all_or_nothing=*/false);
  config_ = std::move(config);
}

void Server::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  MSGC_LOG_INFO("shutting down: closing {} connections", sessions_.size());
  for (BoundListener& b : listeners_) b.listener->Close();
  listeners_.clear();
  for (auto& [id, session] : sessions_) {
    session->conn->CloseWithError(net::CloseReason::kShutdown,
                                  ErrorCode::kShuttingDown,
                                  "server shutting down");
  }
}

// ---- Connections ----

void Server::OnAccept(asio::ip::tcp::socket socket) {
  if (shutting_down_) return;
  const MemberId id = ++next_id_;
  auto conn =
      net::Connection::Create(std::move(socket), id, conn_options_, this);
  auto session = std::make_unique<Session>(id, conn);
  conn->set_context(session.get());
  MSGC_LOG_DEBUG("connection {} from {}", id, conn->remote());
  sessions_.emplace(id, std::move(session));
  conn->Start();
}

void Server::OnClose(net::Connection& conn) {
  auto it = sessions_.find(conn.id());
  if (it == sessions_.end()) return;
  Session& s = *it->second;
  if (s.state == Session::State::kActive) {
    MSGC_LOG_INFO("client {} disconnected ({}: {})", s.private_name,
                  net::CloseReasonName(conn.close_reason()),
                  conn.close_detail());
    by_name_.erase(s.private_name);
    const std::vector<ViewChange> changes =
        groups_.RemoveMember(s.id, wire::Cause::kDisconnect);
    if (!shutting_down_) {
      for (const ViewChange& c : changes) Publish(c);
    }
  }
  // Drops the session and its connection reference; the connection itself
  // lives on until its pending operations (if any) have completed.
  sessions_.erase(it);
}

Session* Server::FindSession(MemberId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void Server::OnFrame(net::Connection& conn, const wire::Frame& frame) {
  Session& s = *static_cast<Session*>(conn.context());
  const FrameType type = frame.header.type;
  if (s.state == Session::State::kHandshake) {
    if (type == FrameType::kHello) {
      HandleHello(s, frame);
    } else {
      Fail(s, net::CloseReason::kProtocolError, ErrorCode::kUnexpected, type,
           fmt::format("{} before HELLO", wire::FrameTypeName(type)));
    }
    return;
  }
  switch (type) {
    case FrameType::kSend:
      HandleSend(s, frame);
      return;
    case FrameType::kJoin:
      HandleJoin(s, frame);
      return;
    case FrameType::kLeave:
      HandleLeave(s, frame);
      return;
    case FrameType::kNoop:
      if (!wire::DecodeEmpty(frame).ok()) {
        Fail(s, net::CloseReason::kProtocolError, ErrorCode::kBadFrame, type,
             "malformed NOOP frame: body not empty");
      }
      return;
    case FrameType::kGoodbye:
      conn.CloseAfterFlush(net::CloseReason::kGoodbye, "client said goodbye");
      return;
    default:
      Fail(s, net::CloseReason::kProtocolError, ErrorCode::kUnexpected, type,
           fmt::format("unexpected {} frame from a client",
                       wire::FrameTypeName(type)));
      return;
  }
}

void Server::OnTooLarge(net::Connection& conn,
                        const wire::FrameHeader& header) {
  Session& s = *static_cast<Session*>(conn.context());
  if (s.state != Session::State::kActive || header.type != FrameType::kSend) {
    Fail(s, net::CloseReason::kProtocolError, ErrorCode::kUnexpected,
         header.type,
         fmt::format("oversized {} frame ({} bytes)",
                     wire::FrameTypeName(header.type), header.body_len));
    return;
  }
  // The body is being skipped by the decoder, so its msg_id is unknown.
  MSGC_LOG_INFO("{}: SEND of {} bytes exceeds max_message_size {}",
                s.private_name, header.body_len, max_message_size_);
  SendError(s, ErrorCode::kTooLarge, FrameType::kSend, 0, "",
            fmt::format("message of {} bytes exceeds max_message_size {}",
                        header.body_len, max_message_size_));
}

// ---- Requests ----

void Server::HandleHello(Session& s, const wire::Frame& frame) {
  wire::Hello hello;
  if (Status st = wire::DecodeHello(frame, &hello); !st.ok()) {
    Fail(s, net::CloseReason::kProtocolError, ErrorCode::kBadFrame,
         FrameType::kHello, st.message());
    return;
  }
  if (hello.min_version > wire::kProtocolVersion ||
      hello.max_version < wire::kProtocolVersion) {
    Fail(s, net::CloseReason::kRefused, ErrorCode::kUnsupportedVersion,
         FrameType::kHello,
         fmt::format("versions {}..{} not supported; this server speaks {}",
                     hello.min_version, hello.max_version,
                     wire::kProtocolVersion));
    return;
  }
  if (hello.role != wire::Role::kClient) {
    Fail(s, net::CloseReason::kRefused, ErrorCode::kNotAllowed,
         FrameType::kHello, "server links are not supported by this server");
    return;
  }
  std::string name;
  if (hello.name.empty()) {
    name = GenerateName();
  } else if (!ValidSessionName(hello.name)) {
    Fail(s, net::CloseReason::kRefused, ErrorCode::kBadName, FrameType::kHello,
         fmt::format("bad session name '{}': 1..{} characters of "
                     "[A-Za-z0-9_.-] expected",
                     hello.name, wire::kMaxNameLen));
    return;
  } else {
    name = std::string(hello.name);
  }
  std::string private_name = "#" + name + "#" + identity_.node;
  if (private_name.size() > wire::kMaxGroupLen) {
    Fail(s, net::CloseReason::kRefused, ErrorCode::kBadName, FrameType::kHello,
         fmt::format("private name '{}' is longer than {} bytes", private_name,
                     wire::kMaxGroupLen));
    return;
  }
  if (by_name_.contains(private_name)) {
    s.conn->set_name(private_name);
    Fail(s, net::CloseReason::kRefused, ErrorCode::kNameInUse,
         FrameType::kHello,
         fmt::format("name '{}' is in use by a live session", private_name));
    return;
  }

  s.state = Session::State::kActive;
  s.name = std::move(name);
  s.private_name = std::move(private_name);
  s.conn->set_name(s.private_name);
  by_name_.emplace(s.private_name, &s);

  wire::Welcome w;
  w.version = wire::kProtocolVersion;
  w.private_name = s.private_name;
  w.node = identity_.node;
  w.incarnation = identity_.incarnation;
  w.max_message_size = ClampU32(max_message_size_);
  w.keepalive_ms = ClampU32(conn_options_.keepalive_interval.count());
  w.idle_timeout_ms = ClampU32(conn_options_.idle_timeout.count());
  auto frame_out = std::make_shared<std::string>();
  wire::EncodeWelcome(w, frame_out.get());
  s.conn->Send(std::move(frame_out));
  MSGC_LOG_INFO("client {} connected from {} ({})", s.private_name,
                s.conn->remote(), hello.software);
}

std::string Server::GenerateName() {
  for (;;) {
    std::string name = fmt::format("anon-{}", ++next_anonymous_);
    if (!by_name_.contains("#" + name + "#" + identity_.node)) return name;
  }
}

void Server::HandleJoin(Session& s, const wire::Frame& frame) {
  wire::Join join;
  if (Status st = wire::DecodeJoin(frame, &join); !st.ok()) {
    Fail(s, net::CloseReason::kProtocolError, ErrorCode::kBadFrame,
         FrameType::kJoin, st.message());
    return;
  }
  if (!ValidGroupName(join.group)) {
    SendError(s, ErrorCode::kBadGroup, FrameType::kJoin, 0, join.group,
              "group names are 1..255 bytes and do not start with '#'");
    return;
  }
  std::optional<ViewChange> change =
      groups_.Join(join.group, s.id, s.private_name, join.capabilities);
  if (!change) return;  // already a member: joins are idempotent
  MSGC_LOG_DEBUG("{} joined {} (view {})", s.private_name, join.group,
                 change->view.ToString());
  Publish(*change);
}

void Server::HandleLeave(Session& s, const wire::Frame& frame) {
  wire::Leave leave;
  if (Status st = wire::DecodeLeave(frame, &leave); !st.ok()) {
    Fail(s, net::CloseReason::kProtocolError, ErrorCode::kBadFrame,
         FrameType::kLeave, st.message());
    return;
  }
  if (!ValidGroupName(leave.group)) {
    SendError(s, ErrorCode::kBadGroup, FrameType::kLeave, 0, leave.group,
              "group names are 1..255 bytes and do not start with '#'");
    return;
  }
  std::optional<ViewChange> change = groups_.Leave(leave.group, s.id);
  if (!change) {
    SendError(s, ErrorCode::kNotMember, FrameType::kLeave, 0, leave.group,
              "not a member of this group");
    return;
  }
  MSGC_LOG_DEBUG("{} left {} (view {})", s.private_name, leave.group,
                 change->view.ToString());
  Publish(*change);
}

void Server::HandleSend(Session& s, const wire::Frame& frame) {
  wire::Send send;
  if (Status st = wire::DecodeSend(frame, &send); !st.ok()) {
    Fail(s, net::CloseReason::kProtocolError, ErrorCode::kBadFrame,
         FrameType::kSend, st.message());
    return;
  }
  if (send.data.size() > max_message_size_) {
    SendError(s, ErrorCode::kTooLarge, FrameType::kSend, send.msg_id, "",
              fmt::format("message of {} bytes exceeds max_message_size {}",
                          send.data.size(), max_message_size_));
    return;
  }
  const bool self_discard = (send.flags & wire::kSendSelfDiscard) != 0;
  const uint64_t mark = ++delivery_mark_;
  recipients_.clear();
  auto add = [&](Session* r) {
    if (r->delivery_mark == mark) return;  // already reached by another dest
    r->delivery_mark = mark;
    if (r == &s && self_discard) return;
    recipients_.push_back(r);
  };
  for (std::string_view dest : send.groups) {
    if (!dest.empty() && dest.front() == '#') {
      auto it = by_name_.find(dest);
      if (it == by_name_.end()) {
        SendError(s, ErrorCode::kNoSuchRecipient, FrameType::kSend, send.msg_id,
                  dest, "no such private name is connected");
        continue;
      }
      add(it->second);
      continue;
    }
    if (!ValidGroupName(dest)) {
      SendError(s, ErrorCode::kBadGroup, FrameType::kSend, send.msg_id, dest,
                "bad destination name");
      continue;
    }
    if (const std::vector<GroupMember>* members = groups_.Members(dest)) {
      for (const GroupMember& m : *members) {
        if (Session* r = FindSession(m.id)) add(r);
      }
    }
  }
  if (recipients_.empty()) return;
  // One encoding, shared by every recipient's output queue.
  auto out = std::make_shared<std::string>();
  out->reserve(wire::DeliverFrameSize(s.private_name, send.groups.raw().size(),
                                      send.data));
  wire::EncodeDeliver(send.service, send.flags, s.private_name, send.groups,
                      send.data, out.get());
  net::Connection::FramePtr shared = std::move(out);
  for (Session* r : recipients_) r->conn->Send(shared);
}

// ---- Helpers ----

void Server::SendError(Session& s, ErrorCode code, FrameType request,
                       uint64_t ref, std::string_view subject,
                       std::string_view text) {
  s.conn->Send(
      EncodeErrorFrame(code, /*fatal=*/false, request, ref, subject, text));
}

void Server::Fail(Session& s, net::CloseReason reason, ErrorCode code,
                  FrameType request, std::string text) {
  auto frame = EncodeErrorFrame(code, /*fatal=*/true, request, 0, "", text);
  s.conn->CloseAfterFlush(
      reason, fmt::format("{}: {}", wire::ErrorCodeName(code), text),
      std::move(frame));
}

void Server::Publish(const ViewChange& change) {
  const std::vector<wire::Member> changed = ToWire(change.changed);
  if (!change.members.empty()) {
    const std::vector<wire::Member> members = ToWire(change.members);
    auto frame = std::make_shared<std::string>();
    wire::EncodeMembership(change.group, change.cause, 0, change.view, changed,
                           members, frame.get());
    net::Connection::FramePtr shared = std::move(frame);
    for (const GroupMember& m : change.members) {
      if (Session* r = FindSession(m.id)) r->conn->Send(shared);
    }
  }
  if (change.cause == wire::Cause::kLeave) {
    // The leaver learns it is out with a SELF_LEAVE event and no members.
    for (const GroupMember& m : change.changed) {
      Session* r = FindSession(m.id);
      if (r == nullptr) continue;
      auto frame = std::make_shared<std::string>();
      wire::EncodeMembership(change.group, wire::Cause::kLeave,
                             wire::kMembershipSelfLeave, change.view, changed,
                             {}, frame.get());
      r->conn->Send(std::move(frame));
    }
  }
}

}  // namespace msgc::server
