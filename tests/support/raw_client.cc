#include "support/raw_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace msgc::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string NamesToString(const std::vector<std::string>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += v[i];
  }
  return s + "]";
}

std::vector<MemberInfo> ToMembers(const wire::MemberList& list) {
  std::vector<MemberInfo> out;
  for (const wire::Member& m : list.ToVector()) {
    out.push_back(MemberInfo{std::string(m.name), std::string(m.capabilities)});
  }
  return out;
}

}  // namespace

wire::Frame ReceivedFrame::frame() const {
  wire::Frame f;
  f.header = header;
  f.body = std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(body.data()), body.size());
  return f;
}

std::vector<std::string> MembershipMsg::ChangedNames() const {
  std::vector<std::string> v;
  for (const MemberInfo& m : changed) v.push_back(m.name);
  return v;
}

std::vector<std::string> MembershipMsg::MemberNames() const {
  std::vector<std::string> v;
  for (const MemberInfo& m : members) v.push_back(m.name);
  return v;
}

std::string Describe(const ReceivedFrame& f) {
  std::ostringstream os;
  os << wire::FrameTypeName(f.header.type) << " (" << f.body.size()
     << " bytes)";
  const wire::Frame frame = f.frame();
  switch (f.header.type) {
    case wire::FrameType::kError: {
      wire::Error e;
      if (wire::DecodeError(frame, &e).ok()) {
        os << " code=" << wire::ErrorCodeName(e.code) << " fatal=" << e.fatal
           << " ref=" << e.ref << " subject='" << e.subject << "' text='"
           << e.text << "'";
      }
      break;
    }
    case wire::FrameType::kMembership: {
      wire::Membership m;
      if (wire::DecodeMembership(frame, &m).ok()) {
        os << " group=" << m.group << " cause=" << wire::CauseName(m.cause)
           << " flags=" << int{m.flags} << " view=" << m.view.ToString()
           << " members=" << m.members.size();
      }
      break;
    }
    case wire::FrameType::kDeliver: {
      wire::Deliver d;
      if (wire::DecodeDeliver(frame, &d).ok()) {
        os << " sender=" << d.sender << " data=" << d.data.size() << " bytes";
      }
      break;
    }
    default:
      break;
  }
  return os.str();
}

RawClient::RawClient()
    : decoder_(std::make_unique<wire::FrameDecoder>(0xffffffffu)) {}

RawClient::~RawClient() { Close(); }

void RawClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Status RawClient::Connect(uint16_t port, const std::string& host) {
  Close();
  eof_ = false;
  decoder_ = std::make_unique<wire::FrameDecoder>(0xffffffffu);
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Status::IoError(std::strerror(errno));
  if (rcvbuf_ > 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof(rcvbuf_));
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    Close();
    return Status::InvalidArgument("not an IPv4 address: " + host);
  }
  // Loopback connects complete or fail at once; no timeout needed.
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    Close();
    return Status::IoError("connect " + host + ":" + std::to_string(port) +
                           ": " + std::strerror(e));
  }
  return Status::OK();
}

Status RawClient::SendBytes(std::string_view bytes) {
  if (fd_ < 0) return Status::NotConnected("not connected");
  while (!bytes.empty()) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status RawClient::SendHello(std::string_view name, uint16_t min_version,
                            uint16_t max_version, wire::Role role,
                            std::string_view replaces,
                            uint64_t replaces_session) {
  wire::Hello h;
  h.replaces = replaces;
  h.replaces_session = replaces_session;
  h.min_version = min_version;
  h.max_version = max_version;
  h.role = role;
  h.name = name;
  h.software = "msgc-test-rawclient";
  std::string out;
  wire::EncodeHello(h, &out);
  return SendBytes(out);
}

Status RawClient::SendJoin(std::string_view group,
                           std::string_view capabilities) {
  std::string out;
  wire::EncodeJoin(wire::Join{group, capabilities}, &out);
  return SendBytes(out);
}

Status RawClient::SendLeave(std::string_view group) {
  std::string out;
  wire::EncodeLeave(wire::Leave{group}, &out);
  return SendBytes(out);
}

Status RawClient::SendMessage(const std::vector<std::string_view>& destinations,
                              std::string_view data, uint64_t msg_id,
                              uint8_t flags, wire::Service service) {
  std::string out;
  out.reserve(data.size() + 64 + destinations.size() * 32);
  wire::EncodeSend(service, flags, msg_id, destinations, data, &out);
  return SendBytes(out);
}

Status RawClient::SendNoop() {
  std::string out;
  wire::EncodeNoop(&out);
  return SendBytes(out);
}

Status RawClient::SendGoodbye() {
  std::string out;
  wire::EncodeGoodbye(&out);
  return SendBytes(out);
}

Status RawClient::Fill(Clock::time_point deadline) {
  if (fd_ < 0) return Status::NotConnected("not connected");
  if (eof_) return Status::NotConnected("connection closed by server");
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int r =
        poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(std::string("poll: ") + std::strerror(errno));
    }
    if (r == 0) return Status::TimedOut("no data");
    std::span<uint8_t> buf = decoder_->PrepareAppend(256 * 1024);
    const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) {
        eof_ = true;
        return Status::NotConnected("connection reset by server");
      }
      return Status::IoError(std::string("recv: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof_ = true;
      return Status::NotConnected("connection closed by server");
    }
    decoder_->CommitAppend(static_cast<size_t>(n));
    return Status::OK();
  }
}

Status RawClient::ReadFrame(ReceivedFrame* out, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    wire::Frame f;
    switch (decoder_->Next(&f)) {
      case wire::FrameDecoder::Result::kFrame:
        if (skip_noops_ && f.header.type == wire::FrameType::kNoop) continue;
        out->header = f.header;
        out->body.assign(reinterpret_cast<const char*>(f.body.data()),
                         f.body.size());
        return Status::OK();
      case wire::FrameDecoder::Result::kTooLarge:
        return Status::Internal("frame too large for the test decoder");
      case wire::FrameDecoder::Result::kError:
        return Status::ProtocolError(decoder_->error());
      case wire::FrameDecoder::Result::kNeedMore:
        break;
    }
    if (Status s = Fill(deadline); !s.ok()) return s;
  }
}

namespace {

template <typename Msg, typename Wire>
::testing::AssertionResult ExpectTyped(
    RawClient* c, wire::FrameType type, milliseconds t,
    Status (*decode)(const wire::Frame&, Wire*),
    void (*convert)(const Wire&, Msg*), Msg* out) {
  ReceivedFrame f;
  if (Status s = c->ReadFrame(&f, t); !s.ok()) {
    return ::testing::AssertionFailure()
           << "expected " << wire::FrameTypeName(type) << ", got "
           << s.ToString();
  }
  if (f.header.type != type) {
    return ::testing::AssertionFailure()
           << "expected " << wire::FrameTypeName(type) << ", got "
           << Describe(f);
  }
  Wire w;
  if (Status s = decode(f.frame(), &w); !s.ok()) {
    return ::testing::AssertionFailure()
           << "cannot decode " << wire::FrameTypeName(type) << ": "
           << s.ToString();
  }
  if (out != nullptr) convert(w, out);
  return ::testing::AssertionSuccess();
}

void ConvertWelcome(const wire::Welcome& w, WelcomeMsg* m) {
  m->version = w.version;
  m->private_name = std::string(w.private_name);
  m->node = std::string(w.node);
  m->incarnation = w.incarnation;
  m->max_message_size = w.max_message_size;
  m->keepalive_ms = w.keepalive_ms;
  m->idle_timeout_ms = w.idle_timeout_ms;
  m->session_id = w.session_id;
}

void ConvertError(const wire::Error& e, ErrorMsg* m) {
  m->code = e.code;
  m->fatal = e.fatal;
  m->request = e.request;
  m->ref = e.ref;
  m->subject = std::string(e.subject);
  m->text = std::string(e.text);
}

void ConvertDeliver(const wire::Deliver& d, DeliverMsg* m) {
  m->service = d.service;
  m->flags = d.flags;
  m->sender = std::string(d.sender);
  m->groups.clear();
  for (std::string_view g : d.groups) m->groups.emplace_back(g);
  m->data = std::string(d.data);
}

void ConvertMembership(const wire::Membership& w, MembershipMsg* m) {
  m->group = std::string(w.group);
  m->cause = w.cause;
  m->flags = w.flags;
  m->view = w.view;
  m->changed = ToMembers(w.changed);
  m->members = ToMembers(w.members);
}

}  // namespace

::testing::AssertionResult RawClient::ExpectWelcome(WelcomeMsg* out,
                                                    milliseconds t) {
  return ExpectTyped<WelcomeMsg, wire::Welcome>(this, wire::FrameType::kWelcome,
                                                t, &wire::DecodeWelcome,
                                                &ConvertWelcome, out);
}

::testing::AssertionResult RawClient::ExpectError(ErrorMsg* out,
                                                  milliseconds t) {
  return ExpectTyped<ErrorMsg, wire::Error>(
      this, wire::FrameType::kError, t, &wire::DecodeError, &ConvertError, out);
}

::testing::AssertionResult RawClient::ExpectDeliver(DeliverMsg* out,
                                                    milliseconds t) {
  return ExpectTyped<DeliverMsg, wire::Deliver>(this, wire::FrameType::kDeliver,
                                                t, &wire::DecodeDeliver,
                                                &ConvertDeliver, out);
}

::testing::AssertionResult RawClient::ExpectMembership(MembershipMsg* out,
                                                       milliseconds t) {
  return ExpectTyped<MembershipMsg, wire::Membership>(
      this, wire::FrameType::kMembership, t, &wire::DecodeMembership,
      &ConvertMembership, out);
}

::testing::AssertionResult RawClient::ExpectErrorCode(wire::ErrorCode code,
                                                      bool fatal, ErrorMsg* out,
                                                      milliseconds t) {
  ErrorMsg e;
  ::testing::AssertionResult r = ExpectError(&e, t);
  if (!r) return r;
  if (e.code != code || e.fatal != fatal) {
    return ::testing::AssertionFailure()
           << "expected ERROR " << wire::ErrorCodeName(code)
           << " fatal=" << fatal << ", got " << wire::ErrorCodeName(e.code)
           << " fatal=" << e.fatal << " text='" << e.text << "'";
  }
  if (out != nullptr) *out = e;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult RawClient::ExpectNothing(milliseconds t) {
  ReceivedFrame f;
  Status s = ReadFrame(&f, t);
  if (s.ok()) {
    return ::testing::AssertionFailure() << "unexpected frame " << Describe(f);
  }
  if (s.code() != Status::Code::kTimedOut) {
    return ::testing::AssertionFailure()
           << "expected nothing, got " << s.ToString();
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult RawClient::ExpectClosed(milliseconds t,
                                                   int* frames_before) {
  const auto deadline = Clock::now() + t;
  int frames = 0;
  for (;;) {
    ReceivedFrame f;
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    Status s = ReadFrame(&f, std::max(left, milliseconds{0}));
    if (s.ok()) {
      ++frames;
      continue;
    }
    if (frames_before != nullptr) *frames_before = frames;
    if (s.code() == Status::Code::kNotConnected) {
      // Close our side too, as a real client would, so the server does not
      // wait for our FIN.
      Close();
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "expected the server to close the connection, got "
           << s.ToString() << " after " << frames << " frames";
  }
}

::testing::AssertionResult RawClient::Handshake(std::string_view name,
                                                WelcomeMsg* out) {
  if (Status s = SendHello(name); !s.ok()) {
    return ::testing::AssertionFailure() << "HELLO: " << s.ToString();
  }
  WelcomeMsg w;
  ::testing::AssertionResult r = ExpectWelcome(&w);
  if (!r) return r;
  private_name_ = w.private_name;
  if (out != nullptr) *out = w;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult RawClient::JoinAndWait(std::string_view group,
                                                  std::string_view caps,
                                                  MembershipMsg* out) {
  if (Status s = SendJoin(group, caps); !s.ok()) {
    return ::testing::AssertionFailure() << "JOIN: " << s.ToString();
  }
  MembershipMsg m;
  ::testing::AssertionResult r = ExpectMembership(&m);
  if (!r) return r;
  if (m.group != group || m.cause != wire::Cause::kJoin ||
      m.ChangedNames() != std::vector<std::string>{private_name_}) {
    return ::testing::AssertionFailure()
           << "expected our join of " << group << ", got group=" << m.group
           << " cause=" << wire::CauseName(m.cause)
           << " changed=" << NamesToString(m.ChangedNames());
  }
  if (out != nullptr) *out = m;
  return ::testing::AssertionSuccess();
}

std::unique_ptr<RawClient> ConnectRawClient(uint16_t port,
                                            const std::string& name,
                                            int rcvbuf) {
  auto c = std::make_unique<RawClient>();
  if (rcvbuf > 0) c->set_receive_buffer(rcvbuf);
  EXPECT_TRUE(c->Connect(port).ok());
  EXPECT_TRUE(c->Handshake(name));
  return c;
}

}  // namespace msgc::test
