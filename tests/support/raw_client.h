// RawClient: a minimal, blocking msgc wire-protocol client for tests.
//
// It speaks frames directly (encoded with msgc_wire) over one loopback TCP
// socket, so tests can assert the exact frames a server sends and can also
// send malformed bytes. It does no reconnecting and keeps no state beyond
// the socket and a FrameDecoder. Every receive is bounded by a timeout.
//
// Received frames are returned as owned values (ReceivedFrame and the *Msg
// structs below), so they stay valid after the next read.
//
// Expect*() helpers return ::testing::AssertionResult describing what
// arrived instead when they fail, so tests write
//   ASSERT_TRUE(client.ExpectMembership(&m));
// NOOP frames (keepalives) are skipped by every receive unless
// set_skip_noops(false).
//
// Thread-safety: one RawClient per thread. Different RawClients may be used
// from different threads at once (e.g. a sender thread and a reader).
#ifndef MSGC_TESTS_SUPPORT_RAW_CLIENT_H_
#define MSGC_TESTS_SUPPORT_RAW_CLIENT_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "support/test_support.h"
#include "wire/frame.h"

namespace msgc::test {

struct ReceivedFrame {
  wire::FrameHeader header;
  std::string body;
  // A wire::Frame view of this frame, for the wire::Decode* functions.
  wire::Frame frame() const;
};

struct MemberInfo {
  std::string name;
  std::string capabilities;
  friend bool operator==(const MemberInfo&, const MemberInfo&) = default;
};

struct WelcomeMsg {
  uint16_t version = 0;
  std::string private_name;
  std::string node;
  uint64_t incarnation = 0;
  uint32_t max_message_size = 0;
  uint32_t keepalive_ms = 0;
  uint32_t idle_timeout_ms = 0;
  uint64_t session_id = 0;
};

struct ErrorMsg {
  wire::ErrorCode code = wire::ErrorCode::kBadFrame;
  bool fatal = false;
  wire::FrameType request = wire::FrameType::kError;
  uint64_t ref = 0;
  std::string subject;
  std::string text;
};

struct DeliverMsg {
  wire::Service service = wire::Service::kFifo;
  uint8_t flags = 0;
  std::string sender;
  std::vector<std::string> groups;
  std::string data;
};

struct MembershipMsg {
  std::string group;
  wire::Cause cause = wire::Cause::kJoin;
  uint8_t flags = 0;
  wire::ViewId view;
  std::vector<MemberInfo> changed;
  std::vector<MemberInfo> members;
  std::vector<std::string> ChangedNames() const;
  std::vector<std::string> MemberNames() const;
};

// One-line description of a frame, for failure messages.
std::string Describe(const ReceivedFrame& f);

class RawClient {
 public:
  RawClient();
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Connects to host:port (blocking, bounded by kDefaultTimeout).
  Status Connect(uint16_t port, const std::string& host = "127.0.0.1");
  void Close();
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Shrinks SO_RCVBUF (call before Connect) so that a client that stops
  // reading backs up into the server quickly (slow-consumer tests).
  void set_receive_buffer(int bytes) { rcvbuf_ = bytes; }
  void set_skip_noops(bool skip) { skip_noops_ = skip; }

  // ---- Sending (each writes one whole frame, blocking) ----
  Status SendBytes(std::string_view bytes);
  Status SendHello(std::string_view name,
                   uint16_t min_version = wire::kProtocolVersion,
                   uint16_t max_version = wire::kProtocolVersion,
                   wire::Role role = wire::Role::kClient,
                   std::string_view replaces = "",
                   uint64_t replaces_session = 0);
  Status SendJoin(std::string_view group, std::string_view capabilities = "");
  Status SendLeave(std::string_view group);
  Status SendMessage(const std::vector<std::string_view>& destinations,
                     std::string_view data, uint64_t msg_id = 0,
                     uint8_t flags = 0,
                     wire::Service service = wire::Service::kFifo);
  Status SendNoop();
  Status SendGoodbye();

  // ---- Receiving ----
  // The next frame (NOOPs skipped unless disabled). TimedOut if none within
  // `timeout`; NotConnected once the server closed the connection (EOF).
  Status ReadFrame(ReceivedFrame* out, milliseconds timeout = kDefaultTimeout);

  // The next frame must be of the given type; decoded into *out.
  ::testing::AssertionResult ExpectWelcome(WelcomeMsg* out = nullptr,
                                           milliseconds t = kDefaultTimeout);
  ::testing::AssertionResult ExpectError(ErrorMsg* out = nullptr,
                                         milliseconds t = kDefaultTimeout);
  ::testing::AssertionResult ExpectDeliver(DeliverMsg* out = nullptr,
                                           milliseconds t = kDefaultTimeout);
  ::testing::AssertionResult ExpectMembership(MembershipMsg* out = nullptr,
                                              milliseconds t = kDefaultTimeout);
  // The next frame must be an ERROR with `code` (and `fatal`).
  ::testing::AssertionResult ExpectErrorCode(wire::ErrorCode code, bool fatal,
                                             ErrorMsg* out = nullptr,
                                             milliseconds t = kDefaultTimeout);
  // No frame (other than NOOP) arrives within `t`.
  ::testing::AssertionResult ExpectNothing(milliseconds t);
  // The server closes the connection within `t`; any frames before the EOF
  // are read and discarded, and their count stored in *frames_before. On
  // success the socket is closed (connected() is then false).
  ::testing::AssertionResult ExpectClosed(milliseconds t = kDefaultTimeout,
                                          int* frames_before = nullptr);

  // HELLO(name) then expects WELCOME. The private name is kept in
  // private_name().
  ::testing::AssertionResult Handshake(std::string_view name,
                                       WelcomeMsg* out = nullptr);
  // JOIN(group) then expects the MEMBERSHIP(join) that admits us.
  ::testing::AssertionResult JoinAndWait(std::string_view group,
                                         std::string_view caps = "",
                                         MembershipMsg* out = nullptr);
  const std::string& private_name() const { return private_name_; }

 private:
  // Reads whatever the socket has (waiting at most until `deadline`).
  Status Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  int rcvbuf_ = 0;
  bool skip_noops_ = true;
  bool eof_ = false;
  std::unique_ptr<wire::FrameDecoder> decoder_;
  std::string private_name_;
};

// A RawClient connected to 127.0.0.1:`port` that completed the handshake as
// session `name` (failures are recorded as test failures). `rcvbuf` > 0 sets
// SO_RCVBUF first (slow-reader tests).
std::unique_ptr<RawClient> ConnectRawClient(uint16_t port,
                                            const std::string& name,
                                            int rcvbuf = 0);

}  // namespace msgc::test

#endif  // MSGC_TESTS_SUPPORT_RAW_CLIENT_H_
