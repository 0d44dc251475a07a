// The msgc wire protocol: frame layout, message structs, encoder and a pure,
// resumable decoder. No I/O happens here.
//
// The byte-level specification is docs/protocol.md; this header and that
// document must agree. Numeric values marked "never reorder" are exchanged
// between processes of different versions.
//
// Every frame is an 8-byte header followed by a body:
//   u32 body_len (little-endian) | u8 type | u8 flags | u16 reserved (= 0)
// Body fields are little-endian fixed-width integers, str16 (u16 length +
// bytes) and blob32 (u32 length + bytes).
//
// Decoded structs hold std::string_view / spans that point into the frame's
// bytes: they are valid only while those bytes are (for FrameDecoder output,
// until the next call to FrameDecoder::Next or Append*).
//
// Thread-safety: everything here is either a value type or a single-owner
// object (FrameDecoder); no internal synchronisation.
#ifndef MSGC_WIRE_FRAME_H_
#define MSGC_WIRE_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace msgc::wire {

inline constexpr size_t kHeaderSize = 8;
inline constexpr uint32_t kMagic = 0x4347534d;  // "MSGC" as little-endian u32
inline constexpr uint16_t kProtocolVersion = 1;

// Limits that are part of the protocol (servers may be stricter).
inline constexpr size_t kMaxNameLen = 64;        // client session name
inline constexpr size_t kMaxGroupLen = 255;      // group name, or private name
inline constexpr size_t kMaxGroupsPerSend = 64;  // destinations of one message
inline constexpr size_t kMaxCapabilitiesLen = 65535;
// Largest body of a frame that is not a message (control frames).
inline constexpr uint32_t kMaxControlBody = 16 * 1024 * 1024;

// Frame types. Never reorder; values are on the wire.
enum class FrameType : uint8_t {
  // Either direction, any connection kind.
  kHello = 0x01,    // first frame of a connection, from the dialling side
  kWelcome = 0x02,  // server's answer to a good kHello
  kError = 0x03,    // server -> client: a request failed (maybe fatal)
  kNoop = 0x04,     // keepalive; carries nothing
  kGoodbye = 0x05,  // client -> server: intentional close follows
  // Client -> server requests.
  kJoin = 0x10,
  kLeave = 0x11,
  kSend = 0x12,  // multicast to groups and/or unicast to private names
  // Server -> client events.
  kDeliver = 0x20,
  kMembership = 0x21,
  // 0x40..0x7f: server <-> server (mesh) frames; see docs/protocol.md §5.
  // Their bodies are defined by src/wire/mesh_frame.h.
};

inline constexpr uint8_t kFirstMeshFrameType = 0x40;
inline constexpr uint8_t kLastMeshFrameType = 0x7f;
inline bool IsMeshFrameType(uint8_t type) {
  return type >= kFirstMeshFrameType && type <= kLastMeshFrameType;
}

// True for client-protocol types and for the whole mesh range.
bool IsKnownFrameType(uint8_t type);
std::string_view FrameTypeName(FrameType type);

// Who is dialling. Never reorder.
enum class Role : uint8_t { kClient = 1, kPeer = 2 };

// Delivery service of one message (docs/semantics.md). Never reorder.
enum class Service : uint8_t { kFifo = 0, kAgreed = 1, kSafe = 2 };
std::string_view ServiceName(Service s);  // "fifo", "agreed", "safe"

// Flags of kSend / kDeliver frames (the header's flags byte).
inline constexpr uint8_t kSendSelfDiscard = 0x01;  // don't deliver to sender

// Why a membership view changed. Never reorder.
enum class Cause : uint8_t {
  kJoin = 1,
  kLeave = 2,
  kDisconnect = 3,  // the member's connection dropped
  kNetwork = 4,     // servers were lost or came back
};
std::string_view CauseName(
    Cause c);  // "join", "leave", "disconnect", "network"

// Flags of kMembership frames (the header's flags byte).
inline constexpr uint8_t kMembershipTransitional = 0x01;
inline constexpr uint8_t kMembershipSelfLeave = 0x02;  // you left; no members

// Error codes carried by kError. Never reorder.
enum class ErrorCode : uint16_t {
  kBadFrame = 1,            // fatal: malformed frame
  kUnsupportedVersion = 2,  // fatal
  kNameInUse = 3,           // fatal: private name taken
  kBadName = 4,             // fatal: session name not acceptable
  kTooLarge = 5,            // payload above max_message_size; not fatal
  kBadGroup = 6,            // invalid group name; not fatal
  kNotMember = 7,           // leave of a group not joined; not fatal
  kNoSuchRecipient = 8,     // unicast to an unknown private name; not fatal
  kSlowConsumer = 9,        // fatal: output queue passed max_backlog
  kIdleTimeout = 10,        // fatal
  kShuttingDown = 11,       // fatal
  kNotAllowed = 12,         // fatal: e.g. a peer not in `peers`
  kUnexpected = 13,         // fatal: a frame not valid in this state
};
std::string_view ErrorCodeName(ErrorCode c);

// A view identifier: (epoch, seq). `epoch` identifies the configuration of
// servers (on a single node: the server's incarnation); `seq` orders views
// within it. Two views are equal iff both fields are.
struct ViewId {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  // "<epoch as 16 hex digits>.<seq decimal>"
  std::string ToString() const;
  // 32-bit id for Momentum's membership_subscribe hook (a mix of both fields).
  uint32_t Gid() const;
  friend bool operator==(const ViewId&, const ViewId&) = default;
};

// A list of str16 names inside a frame, validated when decoded; iteration
// cannot fail. Cheap to copy (it is a view).
class NameList {
 public:
  class Iterator {
   public:
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(const uint8_t* p, uint16_t left) : p_(p), left_(left) {}
    std::string_view operator*() const;
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(const Iterator& o) const { return left_ == o.left_; }

   private:
    const uint8_t* p_ = nullptr;
    uint16_t left_ = 0;
  };
  NameList() = default;
  NameList(uint16_t count, std::span<const uint8_t> raw)
      : count_(count), raw_(raw) {}
  uint16_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  Iterator begin() const { return Iterator(raw_.data(), count_); }
  Iterator end() const { return Iterator(nullptr, 0); }
  // The encoded entries (without the u16 count), for re-encoding unchanged.
  std::span<const uint8_t> raw() const { return raw_; }
  std::vector<std::string_view> ToVector() const;

 private:
  uint16_t count_ = 0;
  std::span<const uint8_t> raw_;
};

// One member in a membership frame.
struct Member {
  std::string_view name;          // private name "#session#node"
  std::string_view capabilities;  // opaque blob given at join
};

// A list of (str16 name, blob32 capabilities) inside a frame.
class MemberList {
 public:
  MemberList() = default;
  MemberList(uint16_t count, std::span<const uint8_t> raw)
      : count_(count), raw_(raw) {}
  uint16_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::vector<Member> ToVector() const;
  std::span<const uint8_t> raw() const { return raw_; }

 private:
  uint16_t count_ = 0;
  std::span<const uint8_t> raw_;
};

// ---- Message structs (one per frame type) ----

struct Hello {
  uint16_t min_version = kProtocolVersion;
  uint16_t max_version = kProtocolVersion;
  Role role = Role::kClient;
  std::string_view name;      // client: session name ("" = server picks one);
                              // peer: the dialler's node name
  uint64_t incarnation = 0;   // peer: the dialler's start id; client: 0
  std::string_view software;  // free text, e.g. "msgc/0.1.0"
  // Client: the session this connection replaces after its connection
  // failed (its private name and WELCOME.session_id), "" and 0 for none.
  // Every server then drops what that session still sends from the point
  // where this one connects (docs/semantics.md §4). Peer: "" and 0.
  std::string_view replaces;
  uint64_t replaces_session = 0;
};

struct Welcome {
  uint16_t version = kProtocolVersion;
  std::string_view private_name;  // client: "#session#node"; peer: node name
  std::string_view node;          // the server's node name
  uint64_t incarnation = 0;       // the server's start id
  uint32_t max_message_size = 0;  // largest payload the server accepts
  uint32_t keepalive_ms = 0;      // the server sends kNoop this often
  uint32_t idle_timeout_ms = 0;   // and drops a connection silent this long
  uint64_t session_id = 0;        // client: the session's id, unique in the
                                  // cluster (for HELLO.replaces); peer: 0
};

struct Error {
  ErrorCode code = ErrorCode::kBadFrame;
  bool fatal = false;  // the server closes the connection after it
  FrameType request =
      FrameType::kError;     // type of the offending frame, or kError
  uint64_t ref = 0;          // msg_id of the offending kSend, else 0
  std::string_view subject;  // group or name concerned, may be empty
  std::string_view text;     // human-readable reason
};

struct Join {
  std::string_view group;
  std::string_view capabilities;
};

struct Leave {
  std::string_view group;
};

struct Send {
  Service service = Service::kFifo;
  uint8_t flags = 0;    // kSendSelfDiscard
  uint64_t msg_id = 0;  // per-connection counter chosen by the client
  NameList groups;      // groups and/or private names, 1..kMaxGroupsPerSend
  std::string_view data;
};

struct Deliver {
  Service service = Service::kFifo;
  uint8_t flags = 0;
  std::string_view sender;  // private name of the sender
  NameList groups;          // as sent
  std::string_view data;
};

struct Membership {
  std::string_view group;
  Cause cause = Cause::kJoin;
  uint8_t flags = 0;  // kMembershipTransitional, kMembershipSelfLeave
  ViewId view;
  MemberList changed;  // who joined / left / disconnected / moved
  MemberList members;  // the whole view, same order at every member
};

// ---- Encoding: each appends one whole frame (header + body) to *out. ----
// REQUIRES: string lengths within the protocol limits (asserted).

void EncodeHello(const Hello& m, std::string* out);
void EncodeWelcome(const Welcome& m, std::string* out);
void EncodeError(const Error& m, std::string* out);
void EncodeNoop(std::string* out);
void EncodeGoodbye(std::string* out);
void EncodeJoin(const Join& m, std::string* out);
void EncodeLeave(const Leave& m, std::string* out);
void EncodeSend(Service service, uint8_t flags, uint64_t msg_id,
                std::span<const std::string_view> groups, std::string_view data,
                std::string* out);
// `groups` is re-encoded from its raw bytes (e.g. straight from a kSend).
void EncodeDeliver(Service service, uint8_t flags, std::string_view sender,
                   const NameList& groups, std::string_view data,
                   std::string* out);
void EncodeDeliver(Service service, uint8_t flags, std::string_view sender,
                   std::span<const std::string_view> groups,
                   std::string_view data, std::string* out);
void EncodeMembership(std::string_view group, Cause cause, uint8_t flags,
                      const ViewId& view, std::span<const Member> changed,
                      std::span<const Member> members, std::string* out);

// Size of the frame EncodeDeliver would produce, to reserve once.
size_t DeliverFrameSize(std::string_view sender, size_t groups_raw_size,
                        std::string_view data);

// ---- Decoding ----

struct FrameHeader {
  uint32_t body_len = 0;
  FrameType type = FrameType::kNoop;
  uint8_t flags = 0;
};

// One complete frame; `body` points into the decoder's buffer.
struct Frame {
  FrameHeader header;
  std::span<const uint8_t> body;
};

// Body decoders. Each checks every length against the body and the protocol
// limits and returns ProtocolError naming the field on any mismatch,
// including trailing bytes.
Status DecodeHello(const Frame& f, Hello* out);
Status DecodeWelcome(const Frame& f, Welcome* out);
Status DecodeError(const Frame& f, Error* out);
Status DecodeJoin(const Frame& f, Join* out);
Status DecodeLeave(const Frame& f, Leave* out);
Status DecodeSend(const Frame& f, Send* out);
Status DecodeDeliver(const Frame& f, Deliver* out);
// DecodeDeliver's common case without building a Status, for the servers'
// per-message path: true exactly when DecodeDeliver would succeed with the
// same result; false means "call DecodeDeliver" (for the error).
bool TryDecodeDeliver(const Frame& f, Deliver* out);
Status DecodeMembership(const Frame& f, Membership* out);
// kNoop and kGoodbye must have empty bodies.
Status DecodeEmpty(const Frame& f);

// FrameDecoder splits a byte stream into frames. Input comes in one of two
// ways:
//  - copied into the decoder's own buffer: PrepareAppend()/CommitAppend()
//    (read straight into it) or Append();
//  - lent with SetInput(): Next() returns the frames that lie wholly in the
//    lent bytes in place, without copying them, and copies into its own
//    buffer only what must outlive the lent bytes: the start of a frame that
//    the lent bytes end in (when Next() returns kNeedMore), or everything
//    not yet returned (KeepInput()). A frame begun in earlier input is
//    completed from the lent bytes by copying just the bytes it lacks. This
//    lets many connections share one read buffer and hold none while idle
//    (net::Connection).
// Then the caller calls Next() until it returns kNeedMore.
//
// Frames whose body is larger than `max_body` are not buffered: Next()
// returns kTooLarge once with the header, then silently discards the body as
// it arrives, so the connection can survive an oversized message.
//
// Once Next() returned kError the decoder stays in error (the stream cannot
// be resynchronised); the caller closes the connection.
class FrameDecoder {
 public:
  enum class Result { kNeedMore, kFrame, kTooLarge, kError };

  explicit FrameDecoder(uint32_t max_body);
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Changes the limit for frames not yet started.
  void set_max_body(uint32_t max_body) { max_body_ = max_body; }
  uint32_t max_body() const { return max_body_; }

  // Returns writable space of at least `min_size` bytes at the end of the
  // buffer; call CommitAppend(n) with the number of bytes written.
  std::span<uint8_t> PrepareAppend(size_t min_size);
  void CommitAppend(size_t n);
  // Convenience: copies bytes in (tests, fuzzers).
  void Append(std::span<const uint8_t> bytes);
  void Append(std::string_view bytes);

  // Lends `bytes` (the stream's next bytes, after everything given before)
  // to the decoder. They must stay valid and unchanged until Next() returns
  // kNeedMore (which means they are used up; a trailing partial frame has
  // been copied) or KeepInput() / DropInput() is called. No other input
  // may be added meanwhile.
  void SetInput(std::span<const uint8_t> bytes);
  // Copies the lent bytes not yet returned as frames into the own buffer
  // and forgets the lent bytes (which the caller may then reuse).
  void KeepInput();
  // Forgets the lent bytes without keeping the rest (the stream ends).
  void DropInput();

  // kFrame: *frame is valid until the next call of any non-const method
  // (and, when it lies in lent bytes, while those are).
  // kTooLarge: *frame has the header and an empty body.
  // kError: error() says why.
  Result Next(Frame* frame);

  const std::string& error() const { return error_; }
  // Bytes buffered (own and lent) and not yet returned as frames.
  size_t buffered() const {
    return (end_ - begin_) + (input_.size() - input_pos_);
  }
  // Bytes of the own buffer's allocation (for memory accounting).
  size_t capacity() const { return buf_.size(); }
  // Frees the own buffer's allocation when it holds nothing: with lent
  // input the own buffer only holds partial frames, so an idle stream then
  // costs no buffer memory.
  void ShrinkIfIdle();

 private:
  // PrepareAppend without the check that no input is lent.
  std::span<uint8_t> Reserve(size_t min_size);
  // Copies `bytes` to the end of the own buffer.
  void CopyIn(std::span<const uint8_t> bytes);
  // Decodes one frame from base[*pos, end), advancing *pos.
  Result Decode(const uint8_t* base, size_t end, size_t* pos, Frame* frame);
  // Copies from the lent input into the own buffer the bytes that the frame
  // begun there still lacks (its header, then its body if within limits).
  void TopUp();

  std::vector<uint8_t> buf_;
  size_t begin_ = 0;                // first unconsumed byte
  size_t end_ = 0;                  // one past the last valid byte
  std::span<const uint8_t> input_;  // lent by SetInput()
  size_t input_pos_ = 0;            // first unconsumed byte of input_
  uint64_t skip_ = 0;  // body bytes of an oversized frame still to discard
  uint32_t max_body_;
  bool failed_ = false;
  std::string error_;
};

}  // namespace msgc::wire

#endif  // MSGC_WIRE_FRAME_H_
