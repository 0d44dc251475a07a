#include "server/server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <span>
#include <utility>

#include "net/endpoint.h"
#include "wire/coding.h"
#include "wire/mesh_frame.h"

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

// A 64-bit mixing function (splitmix64's finaliser): deterministic and
// well spread, for view epochs.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
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

// The item naming session `s` (CONNECT, JOIN, LEAVE, DISCONNECT).
MemberItem ItemOf(const Session& s, std::string_view group = {},
                  std::string_view caps = {}, std::string_view replaces = {},
                  MemberId replaces_sid = 0) {
  MemberItem m;
  m.name = s.private_name;
  m.sid = s.id;
  m.group = group;
  m.caps = caps;
  m.replaces = replaces;
  m.replaces_sid = replaces_sid;
  return m;
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
      // The epoch is set when the first configuration is installed
      // (Rebuild), before any view is made.
      groups_(0),
      submit_timer_(io) {
  // Session ids must not repeat across restarts (a client's HELLO names
  // its previous session by name and id): the incarnation is random.
  next_id_ = (identity_.incarnation & 0xffffffffull) << 32;
}

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

Status MeshOptionsFor(const config::Config& config, const ServerIdentity& id,
                      const net::ConnectionOptions& link,
                      mesh::MeshOptions* out) {
  const config::ServerOptions& s = config.server;
  mesh::MeshOptions o;
  o.self = id.node;
  o.incarnation = id.incarnation;
  o.link = link;
  // Peer links keep the kernel's buffer autotuning unless tcpbuf_size is
  // set explicitly (docs/operations.md, "tcpbuf_size and the distance").
  o.link.tcpbuf_size = config::PeerLinkTcpbufSize(s);
  // ITEM frames carry a whole DELIVER frame plus the item and mesh headers;
  // an INSTALL every member's state.
  o.link.max_body =
      std::max(ClampU32(uint64_t{link.max_body} + 4096), wire::kMinPeerMaxBody);
  o.connect_timeout = ToMillis(s.connect_timeout);
  o.reconnect_interval = ToMillis(s.reconnect_interval);
  bool self_found = false;
  for (const config::Peer& p : s.peers) {
    o.peers.push_back(mesh::PeerSpec{p.name, p.host, p.port.value_or(s.port)});
    if (p.name == id.node) self_found = true;
  }
  if (s.peers.empty()) {
    // A configuration of one; the address is never dialled.
    o.peers.push_back(mesh::PeerSpec{id.node, "127.0.0.1", s.port});
  } else if (!self_found) {
    return Status::InvalidArgument(
        fmt::format("node {} is not in peers", id.node));
  }
  *out = std::move(o);
  return Status::OK();
}

Status Server::Start() {
  if (!debug_level_override_) SetDebugLevel(config_->server.debug_level);
  if (Status s =
          MeshOptionsFor(*config_, identity_, conn_options_, &mesh_options_);
      !s.ok()) {
    return s;
  }
  Status s = BindListeners(EffectiveListen(*config_),
                           config::PeerLinkTcpbufSize(config_->server),
                           /*all_or_nothing=*/true);
  if (!s.ok()) return s;
  mesh_ = std::make_unique<mesh::Mesh>(io_, mesh_options_, this);
  s = mesh_->Start();
  if (!s.ok()) {
    for (BoundListener& b : listeners_) b.listener->Close();
    listeners_.clear();
  }
  return s;
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
    b.listener->SetReceiveBuffer(config::PeerLinkTcpbufSize(s));
  for (auto& [id, session] : sessions_) {
    // Before HELLO it may be a peer: it gets its options at HELLO.
    if (session->state == Session::State::kActive) {
      session->conn->SetOptions(conn_options_);
    }
  }
  // Listeners: re-bound where the addresses changed; connections stay up.
  BindListeners(EffectiveListen(*config), config::PeerLinkTcpbufSize(s),
                /*all_or_nothing=*/false);
  // Peers and link timing. The node name cannot change at runtime, so a
  // peers list without this server is refused (the old one stays).
  mesh::MeshOptions mo;
  if (Status st = MeshOptionsFor(*config, identity_, conn_options_, &mo);
      !st.ok()) {
    MSGC_LOG_ERROR("reload: {}; keeping the running peers", st.message());
  } else if (mesh_ != nullptr) {
    if (Status u = mesh_->UpdateOptions(mo); !u.ok()) {
      MSGC_LOG_ERROR("reload: {}; keeping the running peers", u.message());
    } else {
      mesh_options_ = std::move(mo);
    }
  }
  config_ = std::move(config);
}

void Server::Shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  MSGC_LOG_INFO("shutting down: closing {} connections", sessions_.size());
  for (BoundListener& b : listeners_) b.listener->Close();
  listeners_.clear();
  // BYE tells the peers at once that our members are gone (they remove them
  // with cause `network`), instead of after idle_timeout.
  if (mesh_ != nullptr) mesh_->Stop();
  submit_timer_.cancel();
  pending_submits_.clear();
  FlushFanout();  // what was delivered goes out before the ERROR
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
  std::error_code ec;
  const asio::ip::tcp::endpoint remote = socket.remote_endpoint(ec);
  // Client or peer is known at HELLO only, and a socket buffer once set
  // cannot be given back to the kernel's autotuning: until then the
  // buffers are the peer links' (unset: autotuning).
  net::ConnectionOptions options = conn_options_;
  options.tcpbuf_size = config::PeerLinkTcpbufSize(config_->server);
  auto conn = net::Connection::Create(std::move(socket), id, options, this);
  auto session = std::make_unique<Session>(id, conn);
  session->remote_endpoint = remote;
  conn->set_context(session.get());
  MSGC_LOG_DEBUG("connection {} from {}", id, conn->remote());
  sessions_.emplace(id, std::move(session));
  conn->Start();
}

void Server::OnClose(net::Connection& conn) {
  auto it = sessions_.find(conn.id());
  if (it == sessions_.end()) return;
  // The batch and the route may point at this session.
  FlushFanout();
  ++sessions_version_;
  Session& s = *it->second;
  if (s.state == Session::State::kActive) {
    MSGC_LOG_INFO("client {} disconnected ({}: {})", s.private_name,
                  net::CloseReasonName(conn.close_reason()),
                  conn.close_detail());
    by_name_.erase(s.private_name);
    // A connection that failed (no GOODBYE) may be followed by the client's
    // next one, through another server, whose messages that server orders
    // at once: the ones still waiting here for a configuration change would
    // be ordered after them, breaking the sender's order (finding F12).
    // They are discarded; the client could not know they had arrived.
    if (conn.close_reason() != net::CloseReason::kGoodbye &&
        conn.close_reason() != net::CloseReason::kShutdown) {
      if (size_t n = DiscardPendingMessages(s.id); n > 0) {
        MSGC_LOG_WARN(
            "client {}: {} message(s) not ordered yet when its connection "
            "failed were discarded",
            s.private_name, n);
      }
    }
    // The other members learn it from the delivered DISCONNECT. (When
    // shutting down the peers learn it from our BYE.)
    SubmitItem(ItemKind::kDisconnect,
               EncodeMemberItem(ItemKind::kDisconnect, ItemOf(s)));
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
      FlushFanout();  // messages delivered before the GOODBYE still go out
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
  if (hello.role == wire::Role::kPeer) {
    HandOverToMesh(s, hello);  // `s` is gone after this
    return;
  }
  if (hello.role != wire::Role::kClient) {
    Fail(s, net::CloseReason::kRefused, ErrorCode::kNotAllowed,
         FrameType::kHello, "unknown role");
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
  s.conn->SetOptions(conn_options_);  // a client: its socket buffers now
  ++sessions_version_;                // a private name to route to
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
  w.session_id = s.id;
  auto frame_out = std::make_shared<std::string>();
  wire::EncodeWelcome(w, frame_out.get());
  s.conn->Send(std::move(frame_out));
  if (hello.replaces.empty()) {
    MSGC_LOG_INFO("client {} connected from {} ({})", s.private_name,
                  s.conn->remote(), hello.software);
  } else {
    MSGC_LOG_INFO("client {} connected from {} ({}), replacing {}",
                  s.private_name, s.conn->remote(), hello.software,
                  hello.replaces);
  }
  // Makes the private name known cluster-wide (unicast from other servers)
  // and, at that point of the order, ends the session it replaces.
  SubmitItem(
      ItemKind::kConnect,
      EncodeMemberItem(ItemKind::kConnect, ItemOf(s, {}, {}, hello.replaces,
                                                  hello.replaces_session)));
}

void Server::HandOverToMesh(Session& s, const wire::Hello& hello) {
  std::shared_ptr<net::Connection> conn = s.conn;
  const asio::ip::tcp::endpoint remote = s.remote_endpoint;
  // From the next callback on (including frames already buffered) the
  // connection talks to the mesh; the mesh checks the name and the source
  // address and refuses non-peers with a logged reason.
  conn->set_context(nullptr);
  conn->set_handler(mesh_->link_handler());
  // Accepted with the client options; a peer link carries ITEM frames that
  // are larger than the largest SEND by the item headers.
  conn->SetOptions(mesh_options_.link);
  ++sessions_version_;
  sessions_.erase(s.id);
  mesh_->AdoptInbound(conn, hello, remote);
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
  // Joins are idempotent: a repeated JOIN (even one still on its way
  // through the mesh) changes nothing.
  if (s.groups.contains(join.group)) return;
  s.groups.emplace(join.group);
  SubmitItem(ItemKind::kJoin,
             EncodeMemberItem(ItemKind::kJoin,
                              ItemOf(s, join.group, join.capabilities)));
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
  // Answered locally: `groups` includes joins not yet delivered, so a
  // LEAVE right after a JOIN is valid and is ordered after it.
  auto it = s.groups.find(leave.group);
  if (it == s.groups.end()) {
    SendError(s, ErrorCode::kNotMember, FrameType::kLeave, 0, leave.group,
              "not a member of this group");
    return;
  }
  s.groups.erase(it);
  SubmitItem(ItemKind::kLeave,
             EncodeMemberItem(ItemKind::kLeave, ItemOf(s, leave.group)));
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
  // Destinations are checked here, against the replicated table (and our
  // own sessions, whose CONNECT may still be on its way); the recipients are
  // picked at delivery, by every server for its own sessions.
  bool any = false;
  for (std::string_view dest : send.groups) {
    if (!dest.empty() && dest.front() == '#') {
      if (groups_.FindSession(dest) == nullptr && !by_name_.contains(dest)) {
        SendError(s, ErrorCode::kNoSuchRecipient, FrameType::kSend, send.msg_id,
                  dest, "no such private name is connected");
        continue;
      }
      any = true;
      continue;
    }
    if (!ValidGroupName(dest)) {
      SendError(s, ErrorCode::kBadGroup, FrameType::kSend, send.msg_id, dest,
                "bad destination name");
      continue;
    }
    any = true;
  }
  if (!any) return;
  // One encoding of the DELIVER frame, carried by the item to every server.
  std::string body;
  if (!spare_bodies_.empty()) {  // capacity kept, no allocation
    body = std::move(spare_bodies_.back());
    spare_bodies_.pop_back();
    body.clear();
  } else {
    mesh_->TakeBodyBuffer(&body);  // a collected item's, when spare
  }
  body.reserve(kMessagePrefixSize +
               wire::DeliverFrameSize(s.private_name, send.groups.raw().size(),
                                      send.data));
  EncodeMessagePrefix(
      s.id,
      (send.flags & wire::kSendSelfDiscard) != 0 ? kMessageSelfDiscard : 0,
      &body);
  wire::EncodeDeliver(send.service, send.flags, s.private_name, send.groups,
                      send.data, &body);
  // `fifo` takes the mesh's fast path (delivered on receipt, in the
  // membership epoch it was sent in; docs/mesh.md §3.2), `agreed` the
  // agreed order, `safe` waits for stability too.
  const wire::Service service = send.service;
  if (!SubmitItem(ItemKind::kMessage, std::move(body), service, s.id)) {
    // Never drop silently: the client learns why and reconnects later.
    MSGC_LOG_WARN("{}: closing: server submit backlog over {} items",
                  s.private_name, conn_options_.max_backlog);
    FlushFanout();
    s.conn->CloseWithError(
        net::CloseReason::kSlowConsumer, ErrorCode::kSlowConsumer,
        "server backlog full (configuration change in progress)",
        FrameType::kSend);
  }
}

// ---- Helpers ----

void Server::SendError(Session& s, ErrorCode code, FrameType request,
                       uint64_t ref, std::string_view subject,
                       std::string_view text) {
  FlushFanout();  // keeps the order of what this session is sent
  s.conn->Send(
      EncodeErrorFrame(code, /*fatal=*/false, request, ref, subject, text));
}

void Server::Fail(Session& s, net::CloseReason reason, ErrorCode code,
                  FrameType request, std::string text) {
  auto frame = EncodeErrorFrame(code, /*fatal=*/true, request, 0, "", text);
  FlushFanout();
  s.conn->CloseAfterFlush(
      reason, fmt::format("{}: {}", wire::ErrorCodeName(code), text),
      std::move(frame));
}

Session* Server::LocalSession(const GroupMember& m) const {
  if (m.node != identity_.node) return nullptr;
  Session* r = FindSession(m.id);
  // The sid alone would do within one process; the name check guards the
  // table against a stale entry.
  if (r == nullptr || r->private_name != m.name) return nullptr;
  return r;
}

void Server::Publish(const ViewChange& change, uint8_t flags,
                     const std::set<std::string>* skip) {
  FlushFanout();  // messages delivered before the view change come first
  const std::vector<wire::Member> changed = ToWire(change.changed);
  if (!change.members.empty()) {
    const std::vector<wire::Member> members = ToWire(change.members);
    net::Connection::FramePtr shared;
    for (const GroupMember& m : change.members) {
      Session* r = LocalSession(m);
      if (r == nullptr || (skip != nullptr && skip->contains(m.name))) {
        continue;
      }
      if (shared == nullptr) {  // encoded only if someone here needs it
        auto frame = std::make_shared<std::string>();
        wire::EncodeMembership(change.group, change.cause, flags, change.view,
                               changed, members, frame.get());
        shared = std::move(frame);
      }
      r->conn->Send(shared);
    }
  }
  if (change.cause == wire::Cause::kLeave) {
    // The leaver learns it is out with a SELF_LEAVE event and no members.
    for (const GroupMember& m : change.changed) {
      Session* r = LocalSession(m);
      if (r == nullptr) continue;
      auto frame = std::make_shared<std::string>();
      wire::EncodeMembership(change.group, wire::Cause::kLeave,
                             wire::kMembershipSelfLeave, change.view, changed,
                             {}, frame.get());
      r->conn->Send(std::move(frame));
    }
  }
}

// ---- Submitting ----

bool Server::SubmitItem(ItemKind kind, std::string&& body,
                        wire::Service service, MemberId sender) {
  // After Stop the mesh takes nothing; the peers learn from our BYE.
  if (shutting_down_ || mesh_ == nullptr) return true;
  const uint8_t k = static_cast<uint8_t>(kind);
  // Messages go only to the servers with recipients; a join may make its
  // server a recipient of messages ordered after it (docs/mesh.md §3.1).
  // Connects, joins, leaves and disconnects change the views: they end a
  // membership epoch of the mesh, which delivers every fifo message in the
  // epoch it was sent in.
  const uint8_t flags = kind == ItemKind::kMessage ? mesh::kSubmitRouted
                        : kind == ItemKind::kJoin
                            ? (mesh::kSubmitInterest | mesh::kSubmitMembership)
                            : mesh::kSubmitMembership;
  // While the mesh changes configuration the items wait here, not in the
  // mesh's own queue: here a failed session's messages can still be taken
  // back (DiscardPendingMessages).
  if (pending_submits_.empty() && mesh_->ordering()) {
    if (!mesh_->Submit(service, k, std::move(body), flags)) {
      MSGC_LOG_ERROR("mesh refused an item of kind {} (not running)", k);
    }
    return true;
  }
  pending_submits_.push_back(
      PendingSubmit{service, k, std::move(body), flags, sender});
  if (!submit_timer_armed_) {
    submit_timer_armed_ = true;
    submit_timer_.expires_after(std::chrono::milliseconds(5));
    submit_timer_.async_wait([this](const std::error_code& ec) {
      submit_timer_armed_ = false;
      if (!ec) DrainSubmits();
    });
  }
  return pending_submits_.size() <= conn_options_.max_backlog;
}

void Server::DrainSubmits() {
  if (shutting_down_) return;
  while (!pending_submits_.empty() && mesh_->ordering()) {
    PendingSubmit& p = pending_submits_.front();
    mesh_->Submit(p.service, p.kind, std::move(p.body), p.flags);
    pending_submits_.pop_front();
  }
  // A configuration change that was given up returns to ordering without
  // an OnConfiguration: the timer covers it.
  if (!pending_submits_.empty() && !submit_timer_armed_) {
    submit_timer_armed_ = true;
    submit_timer_.expires_after(std::chrono::milliseconds(5));
    submit_timer_.async_wait([this](const std::error_code& ec) {
      submit_timer_armed_ = false;
      if (!ec) DrainSubmits();
    });
  }
}

size_t Server::DiscardPendingMessages(MemberId id) {
  const auto n = std::erase_if(
      pending_submits_, [&](const PendingSubmit& p) { return p.sender == id; });
  return static_cast<size_t>(n);
}

// ---- The replicated state machine ----

namespace {

// DecodeMessageDeliver's common case, without a Status (two of them cost
// about as much as the decoding on this per-message path): true exactly
// when DecodeMessageDeliver would succeed, with the same result.
bool TryDecodeMessageDeliver(std::span<const uint8_t> body, MessageItem* mi,
                             wire::Deliver* d) {
  if (body.size() < kMessagePrefixSize + wire::kHeaderSize) return false;
  mi->sender_sid = wire::GetU64(body.data());
  mi->flags = body[8];
  mi->deliver_frame = body.subspan(kMessagePrefixSize);
  const auto& b = mi->deliver_frame;
  wire::Frame f;
  f.header.body_len = wire::GetU32(b.data());
  f.header.type = static_cast<FrameType>(b[4]);
  f.header.flags = b[5];
  f.body = b.subspan(wire::kHeaderSize);
  return f.header.body_len == f.body.size() && wire::TryDecodeDeliver(f, d);
}

// Decodes the DELIVER frame carried by a MESSAGE item (header checked).
Status DecodeMessageDeliver(std::span<const uint8_t> body, MessageItem* mi,
                            wire::Deliver* d) {
  if (TryDecodeMessageDeliver(body, mi, d)) [[likely]] {
    return Status::OK();
  }
  Status st = DecodeMessageItem(body, mi);
  if (!st.ok()) return st;
  const auto& b = mi->deliver_frame;
  if (b.size() < wire::kHeaderSize) {
    return Status::ProtocolError("MESSAGE item: short DELIVER frame");
  }
  wire::Frame f;
  f.header.body_len =
      static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
      static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
  f.header.type = static_cast<FrameType>(b[4]);
  f.header.flags = b[5];
  f.body = b.subspan(wire::kHeaderSize);
  if (f.header.type != FrameType::kDeliver ||
      f.header.body_len != f.body.size()) {
    return Status::ProtocolError("MESSAGE item: bad DELIVER header");
  }
  return wire::DecodeDeliver(f, d);
}

}  // namespace

void Server::SelectBodies(const mesh::Item& item,
                          std::span<const std::string> members,
                          std::span<uint8_t> need) {
  auto mark = [&](std::string_view node) {
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i] == node) need[i] = 1;
    }
  };
  MessageItem mi;
  wire::Deliver d;
  if (item.kind != static_cast<uint8_t>(ItemKind::kMessage) ||
      !TryDecodeMessageDeliver(item.body, &mi, &d)) {
    std::fill(need.begin(), need.end(), uint8_t{1});
    return;
  }
  // A stream of messages to the same destinations needs the same servers
  // until the table or the configuration changes. A configuration id names
  // one member list (the mesh numbers each new one above all it has seen),
  // so comparing the names is needed only when it changed.
  BodyRouteCache& c = body_route_;
  if (c.key.Matches(d.groups, groups_.version()) &&
      c.need.size() == need.size()) {
    if (c.conf_id != item.conf_id &&
        std::equal(members.begin(), members.end(), c.members.begin(),
                   c.members.end())) {
      c.conf_id = item.conf_id;
    }
    if (c.conf_id == item.conf_id) {
      std::copy(c.need.begin(), c.need.end(), need.begin());
      return;
    }
  }
  for (std::string_view dest : d.groups) {
    if (!dest.empty() && dest.front() == '#') {
      // A private name "#name#node" lives on its node, whether or not its
      // CONNECT has reached us yet.
      const size_t at = dest.rfind('#');
      if (at != 0) mark(dest.substr(at + 1));
      continue;
    }
    if (const std::vector<GroupMember>* ms = groups_.Members(dest)) {
      std::string_view last;
      for (const GroupMember& m : *ms) {
        if (m.node == last) continue;
        last = m.node;
        mark(m.node);
      }
    }
  }
  c.key.Set(d.groups, groups_.version());
  c.conf_id = item.conf_id;
  c.members.assign(members.begin(), members.end());
  c.need.assign(need.begin(), need.end());
}

void Server::OnDeliver(const mesh::Item& item) {
  if (item.kind == static_cast<uint8_t>(ItemKind::kMessage)) {
    ApplyMessage(item.origin, item.body, item.owned);
    return;
  }
  Apply(item.origin, item.ts, item.kind, item.body);
}

namespace {

// True if session `name` is in `table` as the session `sid` of `node`.
bool IsLive(const GroupTable& table, std::string_view name, MemberId sid,
            std::string_view node) {
  const SessionEntry* e = table.FindSession(name);
  return e != nullptr && e->sid == sid && e->node == node;
}

// Removes session `name` from `table` if it is the session `sid` (the one a
// client's next session replaces); returns the view changes.
std::vector<ViewChange> RemoveReplaced(GroupTable& table, std::string_view name,
                                       MemberId sid) {
  const SessionEntry* e = table.FindSession(name);
  if (e == nullptr || e->sid != sid) return {};
  return table.RemoveSession(name, wire::Cause::kDisconnect);
}

// Applies a CONNECT, JOIN, LEAVE or DISCONNECT to `table`; returns the view
// changes. One definition for the replicated table and for the projection
// of a server's state (Server::ConfigurationState).
std::vector<ViewChange> ApplyMemberItem(GroupTable& table, ItemKind kind,
                                        std::string_view origin, uint64_t ts,
                                        const MemberItem& m) {
  std::vector<ViewChange> out;
  // A session acts only while it is in the table: a replaced one (below)
  // may still have items on their way, which every server drops here.
  if (kind != ItemKind::kConnect && !IsLive(table, m.name, m.sid, origin)) {
    return out;
  }
  switch (kind) {
    case ItemKind::kConnect:
      if (!m.replaces.empty()) {
        out = RemoveReplaced(table, m.replaces, m.replaces_sid);
      }
      table.AddSession(m.name, origin, m.sid, m.replaces, m.replaces_sid);
      break;
    case ItemKind::kJoin:
      if (auto c = table.Join(
              m.group, GroupMember{m.sid, std::string(m.name),
                                   std::string(m.caps), std::string(origin),
                                   JoinKey{ts, std::string(origin),
                                           std::string(m.name)}})) {
        out.push_back(std::move(*c));
      }
      break;
    case ItemKind::kLeave:
      if (auto c = table.Leave(m.group, m.name)) out.push_back(std::move(*c));
      break;
    case ItemKind::kDisconnect:
      out = table.RemoveSession(m.name, wire::Cause::kDisconnect);
      break;
    default:
      break;
  }
  return out;
}

bool IsMemberKind(uint8_t kind) {
  const auto k = static_cast<ItemKind>(kind);
  return k == ItemKind::kConnect || k == ItemKind::kJoin ||
         k == ItemKind::kLeave || k == ItemKind::kDisconnect;
}

}  // namespace

void Server::Apply(std::string_view origin, uint64_t ts, uint8_t kind,
                   std::span<const uint8_t> body) {
  const auto k = static_cast<ItemKind>(kind);
  if (k == ItemKind::kMessage) {
    ApplyMessage(origin, body);
    return;
  }
  if (!IsMemberKind(kind)) {
    MSGC_LOG_ERROR("item of unknown kind {} from {} ignored", kind, origin);
    return;
  }
  MemberItem m;
  if (Status s = DecodeMemberItem(k, body, &m); !s.ok()) {
    MSGC_LOG_ERROR("item from {}: {}", origin, s.message());
    return;
  }
  for (const ViewChange& c : ApplyMemberItem(groups_, k, origin, ts, m)) {
    MSGC_LOG_DEBUG(
        "{} {} {} (view {})", k == ItemKind::kConnect ? m.replaces : m.name,
        k == ItemKind::kJoin ? "joined" : "left", c.group, c.view.ToString());
    Publish(c);
  }
  if (k == ItemKind::kConnect && !m.replaces.empty()) {
    CloseReplaced(m.replaces, m.replaces_sid, m.name);
  }
}

void Server::CloseReplaced(std::string_view name, MemberId sid,
                           std::string_view by) {
  // Ours if it is still open here: the client has moved on (its library
  // gave up on this connection), we had not noticed yet. What it still
  // sends would be dropped by every server anyway.
  auto it = by_name_.find(name);
  if (it == by_name_.end() || it->second->id != sid) return;
  it->second->conn->Close(net::CloseReason::kReplaced,
                          fmt::format("replaced by {}", by));
}

void Server::ApplyMessage(std::string_view origin,
                          std::span<const uint8_t> body, std::string* owned) {
  MessageItem mi;
  wire::Deliver d;
  if (!TryDecodeMessageDeliver(body, &mi, &d)) [[unlikely]] {
    if (Status st = DecodeMessageDeliver(body, &mi, &d); !st.ok()) {
      MSGC_LOG_ERROR("item from {}: {}", origin, st.message());
      return;
    }
  }
  // The item's buffer, when the mesh gives it up, is kept for the next
  // SEND's item (once the frame was copied out of it, or not needed).
  auto recycle = [&] {
    if (owned != nullptr && spare_bodies_.size() < kMaxSpareBodies &&
        owned->capacity() <= kMaxSpareBodyCapacity) {
      spare_bodies_.push_back(std::move(*owned));
    }
  };
  // Only a session in the table speaks: one replaced by the client's next
  // session (HELLO.replaces) may still have messages on their way, which
  // would come after the new session's (docs/semantics.md §4). The check
  // is the same at every server, at the same point of the order.
  LiveSender& ls = live_sender_;
  if (ls.version != groups_.version() || ls.sid != mi.sender_sid ||
      ls.name != d.sender || ls.origin != origin) {
    if (!IsLive(groups_, d.sender, mi.sender_sid, origin)) {
      if (origin == identity_.node) {
        MSGC_LOG_WARN("client {}: message dropped, the session was replaced",
                      d.sender);
      }
      recycle();
      return;
    }
    ls.name.assign(d.sender);
    ls.origin.assign(origin);
    ls.sid = mi.sender_sid;
    ls.version = groups_.version();
  }
  Route(d.groups);
  const bool self_discard =
      (mi.flags & kMessageSelfDiscard) != 0 && origin == identity_.node;
  const MemberId excluded = self_discard ? mi.sender_sid : 0;
  const size_t size = mi.deliver_frame.size();
  const bool alone = size > kMaxFanoutBatchBytes / 2;
  if (fanout_.frames != nullptr &&
      (alone || fanout_.route_id != route_.id || fanout_.excluded != excluded ||
       fanout_.frames->size() + size > kMaxFanoutBatchBytes)) {
    FlushFanout();  // a different set of recipients, or full
  }
  if (fanout_.frames == nullptr) {
    fanout_.to.clear();
    for (Session* r : route_.sessions) {
      if (r->id != excluded) fanout_.to.push_back(r);
    }
    if (fanout_.to.empty()) {
      recycle();
      return;
    }
    if (alone) {
      // Too large to share a buffer with others: queued alone, in the
      // item's own buffer when the mesh gives it up (the DELIVER frame is
      // its tail), else a copy (the body is only valid during the call).
      net::Connection::FramePtr frame;
      if (owned != nullptr && owned->size() == body.size()) {
        owned->erase(0, owned->size() - size);
        frame = std::make_shared<const std::string>(std::move(*owned));
      } else {
        frame = std::make_shared<const std::string>(
            reinterpret_cast<const char*>(mi.deliver_frame.data()), size);
      }
      for (Session* r : fanout_.to) r->conn->Send(frame);
      return;
    }
    fanout_.frames = std::make_shared<std::string>();
    fanout_.frames->reserve(
        std::clamp<size_t>(fanout_.last_bytes, size, kMaxFanoutBatchBytes));
    fanout_.messages = 0;
    fanout_.route_id = route_.id;
    fanout_.excluded = excluded;
    if (!fanout_.flush_posted) {
      fanout_.flush_posted = true;
      PostFanoutFlush();
    }
  }
  fanout_.frames->append(reinterpret_cast<const char*>(mi.deliver_frame.data()),
                         size);
  ++fanout_.messages;
  recycle();
}

bool Server::RouteKey::Matches(const wire::NameList& d,
                               uint64_t version) const {
  return valid && table_version == version && count == d.size() &&
         std::string_view(destinations) ==
             std::string_view(reinterpret_cast<const char*>(d.raw().data()),
                              d.raw().size());
}

void Server::RouteKey::Set(const wire::NameList& d, uint64_t version) {
  destinations.assign(reinterpret_cast<const char*>(d.raw().data()),
                      d.raw().size());
  count = d.size();
  table_version = version;
  valid = true;
}

void Server::Route(const wire::NameList& destinations) {
  if (route_.key.Matches(destinations, groups_.version()) &&
      route_.sessions_version == sessions_version_) {
    return;
  }
  route_.key.Set(destinations, groups_.version());
  route_.sessions_version = sessions_version_;
  ++route_.id;
  route_.sessions.clear();
  const uint64_t mark = ++delivery_mark_;
  auto add = [&](Session* r) {
    if (r == nullptr || r->delivery_mark == mark) return;
    r->delivery_mark = mark;  // already reached by another destination
    route_.sessions.push_back(r);
  };
  for (std::string_view dest : destinations) {
    if (!dest.empty() && dest.front() == '#') {
      const SessionEntry* e = groups_.FindSession(dest);
      if (e != nullptr && e->node == identity_.node) {
        Session* r = FindSession(e->sid);
        if (r != nullptr && r->private_name == dest) add(r);
      }
      continue;
    }
    if (const std::vector<GroupMember>* members = groups_.Members(dest)) {
      for (const GroupMember& m : *members) add(LocalSession(m));
    }
  }
}

void Server::PostFanoutFlush() {
  // Runs after the handlers already queued: the rest of this delivery run,
  // and the reads that feed the next one. While the batch keeps growing
  // from one such turn to the next (a stream), it waits for the next turn,
  // so that a recipient gets one large write instead of one per turn; a
  // turn without new messages (or a full batch) sends it.
  asio::post(io_, [this] {
    if (fanout_.frames != nullptr &&
        fanout_.messages > fanout_.messages_at_check) {
      fanout_.messages_at_check = fanout_.messages;
      PostFanoutFlush();
      return;
    }
    fanout_.flush_posted = false;
    FlushFanout();
  });
}

void Server::FlushFanout() {
  if (fanout_.frames == nullptr) return;
  fanout_.last_bytes = fanout_.frames->size();
  fanout_.messages_at_check = 0;
  net::Connection::FramePtr frames = std::move(fanout_.frames);
  fanout_.frames = nullptr;
  for (Session* r : fanout_.to) r->conn->Send(frames, fanout_.messages);
  fanout_.to.clear();
}

void Server::OnTransitional(const mesh::Configuration& old_conf,
                            const std::vector<std::string>& moving) {
  auto moves = [&](const std::string& node) {
    return std::find(moving.begin(), moving.end(), node) != moving.end();
  };
  for (const auto& [group, members] : groups_.Snapshot()) {
    ViewChange change;
    change.group = group;
    change.cause = wire::Cause::kNetwork;
    change.view = groups_.CurrentView(group).value_or(wire::ViewId{});
    for (const GroupMember& m : members) {
      (moves(m.node) ? change.members : change.changed).push_back(m);
    }
    if (change.changed.empty()) continue;
    Publish(change, wire::kMembershipTransitional);
    for (const GroupMember& m : change.members) {
      if (LocalSession(m) != nullptr) transitional_told_[group].insert(m.name);
    }
    // A transitional event is always followed by a regular one (Rebuild),
    // even if the member list ends up as before.
    auto& gone = transitional_gone_[group];
    for (const GroupMember& m : change.changed) gone.insert(m.name);
  }
  // Views that change from here to the next configuration (the old
  // configuration's clean-up items) exist only in this transitional set:
  // the other side of a partition may number its own with the same old
  // epoch, so they get an epoch of their own, the same at every server
  // moving with us (FNV-1a of the sorted set, mixed into the old epoch).
  uint64_t h = 0xcbf29ce484222325ull;
  for (const std::string& node : moving) {  // sorted by the mesh
    for (unsigned char c : node) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;  // separator
  }
  uint64_t epoch = SplitMix64(groups_.epoch() ^ SplitMix64(h));
  groups_.StartEpoch(epoch == 0 ? 1 : epoch);
  MSGC_LOG_DEBUG("mesh: leaving configuration {:x}, moving on with [{}]",
                 old_conf.id, fmt::join(moving, ", "));
}

void Server::OnConfiguration(const mesh::Configuration& conf,
                             const std::vector<std::string>& joined,
                             const std::vector<std::string>& left,
                             std::span<const std::string> states) {
  // Exactly this format: tests and operators grep for it.
  MSGC_LOG_INFO("mesh: configuration {:x} members [{}]", conf.id,
                fmt::join(conf.members, ", "));
  MSGC_LOG_DEBUG("mesh: joined [{}], left [{}]", fmt::join(joined, ", "),
                 fmt::join(left, ", "));
  Rebuild(conf, states);
  // What waited for the change, after the new views, in order.
  DrainSubmits();
}

std::string Server::ConfigurationState(
    std::span<const mesh::Item> undelivered) {
  // Our part of the table, as a table of its own...
  GroupTable local(0);
  for (const auto& [name, e] : groups_.sessions()) {
    if (e.node != identity_.node) continue;
    local.AddSession(name, e.node, e.sid, e.replaces, e.replaces_sid);
    for (const std::string& g : e.groups) {  // in the order joined
      const std::vector<GroupMember>* members = groups_.Members(g);
      if (members == nullptr) continue;
      for (const GroupMember& m : *members) {
        if (m.name == name) local.Join(g, m);
      }
    }
  }
  // ... with our items that the flush is still to deliver applied, as they
  // will be to the table before the next configuration.
  for (const mesh::Item& it : undelivered) {
    if (!IsMemberKind(it.kind)) continue;
    const auto k = static_cast<ItemKind>(it.kind);
    MemberItem m;
    if (!DecodeMemberItem(k, it.body, &m).ok()) continue;  // as Apply
    ApplyMemberItem(local, k, it.origin, it.ts, m);
  }
  ServerState st;
  st.node = identity_.node;
  st.incarnation = identity_.incarnation;
  for (const auto& [name, e] : local.sessions()) {
    StateSession& ss = st.sessions.emplace_back();
    ss.name = name;
    ss.sid = e.sid;
    ss.replaces = e.replaces;
    ss.replaces_sid = e.replaces_sid;
    for (const std::string& g : e.groups) {
      for (const GroupMember& m : *local.Members(g)) {
        if (m.name != name) continue;
        ss.groups.push_back(
            StateGroup{g, m.capabilities, m.key.ts, m.key.origin});
      }
    }
  }
  // A deterministic encoding (the table is a hash map): by sid.
  std::sort(st.sessions.begin(), st.sessions.end(),
            [](const StateSession& a, const StateSession& b) {
              return a.sid < b.sid;
            });
  return EncodeServerState(st);
}

void Server::Rebuild(const mesh::Configuration& conf,
                     std::span<const std::string> states) {
  // Decoded first: a member whose state is unreadable counts as having no
  // sessions (every member decodes the same bytes the same way).
  std::map<std::string, ServerState> by_node;
  for (size_t i = 0; i < conf.members.size() && i < states.size(); ++i) {
    const std::string& node = conf.members[i];
    ServerState st;
    const std::string& b = states[i];
    if (Status s = DecodeServerState(
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()),
                                     b.size()),
            &st);
        !s.ok()) {
      MSGC_LOG_ERROR("state of {}: {}", node, s.message());
      st = ServerState{};
    }
    by_node[node] = std::move(st);
  }
  const std::map<std::string, std::vector<GroupMember>> before =
      groups_.Snapshot();
  // The views the rebuilt ones replace: a transitional event published
  // below closes one of these and carries its id.
  std::map<std::string, wire::ViewId> before_ids;
  for (const auto& [group, members] : before) {
    before_ids[group] = groups_.CurrentView(group).value_or(wire::ViewId{});
  }
  groups_.Clear();
  // View epoch: the configuration id alone repeats when every server of a
  // configuration restarts (a lone server always starts with the same id),
  // so the incarnations of the members are mixed in. All members get the
  // same states, so all compute the same epoch.
  uint64_t epoch = SplitMix64(conf.id);
  for (const auto& [node, st] : by_node) {
    epoch = SplitMix64(epoch ^ st.incarnation);
  }
  if (epoch == 0) epoch = 1;
  for (const auto& [node, st] : by_node) {  // node order: deterministic
    for (const StateSession& ss : st.sessions) {
      groups_.AddSession(ss.name, node, ss.sid, ss.replaces, ss.replaces_sid);
      for (const StateGroup& g : ss.groups) {
        groups_.Join(g.group,
                     GroupMember{ss.sid, ss.name, g.caps, node,
                                 JoinKey{g.key_ts, g.key_origin, ss.name}});
      }
    }
  }
  // A session replaced by the client's next one, on a server that did not
  // see the replacing CONNECT (it was on the other side of a partition),
  // comes back in that server's state: it goes again, before any view.
  std::vector<std::pair<std::string, MemberId>> replaced;
  for (const auto& [name, e] : groups_.sessions()) {
    if (!e.replaces.empty()) replaced.emplace_back(e.replaces, e.replaces_sid);
  }
  for (const auto& [name, sid] : replaced) RemoveReplaced(groups_, name, sid);
  groups_.Renumber(epoch);
  const std::map<std::string, std::vector<GroupMember>> after =
      groups_.Snapshot();
  static const std::vector<GroupMember> kNone;
  // Every group gets its new view announced, also one whose members did not
  // change: its view id did (the configuration's epoch), and a member must
  // be able to tell in which configuration it delivers (docs/semantics.md
  // §5: view ids name configurations). Such an event changes no member.
  for (const auto& [group, members] : after) {
    auto b = before.find(group);
    const std::vector<GroupMember>& old = b == before.end() ? kNone : b->second;
    auto tg = transitional_gone_.find(group);
    ViewChange change;
    change.group = group;
    change.cause = wire::Cause::kNetwork;
    change.view = groups_.CurrentView(group).value_or(wire::ViewId{});
    change.members = members;
    // Changed: who appeared, then who disappeared.
    for (const GroupMember& m : members) {
      if (std::none_of(old.begin(), old.end(),
                       [&](const GroupMember& o) { return o.name == m.name; }))
        change.changed.push_back(m);
    }
    for (const GroupMember& o : old) {
      if (std::none_of(members.begin(), members.end(),
                       [&](const GroupMember& m) { return o.name == m.name; }))
        change.changed.push_back(o);
    }
    // A network view that removes members always follows a transitional
    // signal: members here that did not get one (in a group nobody left at
    // the signal, or joined after it) get it now.
    {
      ViewChange t;
      t.group = group;
      t.cause = wire::Cause::kNetwork;
      auto id = before_ids.find(group);
      t.view = id == before_ids.end() ? change.view : id->second;
      bool removes = false;
      for (const GroupMember& o : old) {
        const bool stays =
            std::any_of(members.begin(), members.end(),
                        [&](const GroupMember& m) { return o.name == m.name; });
        (stays ? t.members : t.changed).push_back(o);
        removes = removes || !stays;
      }
      auto told = transitional_told_.find(group);
      if (removes) {
        Publish(t, wire::kMembershipTransitional,
                told == transitional_told_.end() ? nullptr : &told->second);
      }
    }
    // And who the transitional event took away but is back.
    if (tg != transitional_gone_.end()) {
      for (const GroupMember& m : members) {
        if (tg->second.contains(m.name) &&
            std::none_of(
                change.changed.begin(), change.changed.end(),
                [&](const GroupMember& c) { return c.name == m.name; }))
          change.changed.push_back(m);
      }
    }
    Publish(change);
  }
  transitional_gone_.clear();
  transitional_told_.clear();
  for (const auto& [name, sid] : replaced) {
    CloseReplaced(name, sid, "the client's next session");
  }
}

}  // namespace msgc::server
