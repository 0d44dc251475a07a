// Connection: one framed msgc TCP connection, the single connection type used
// by client sessions and (later) server-to-server peer links.
//
// A Connection owns its asio socket, a wire::FrameDecoder for the input and a
// bounded queue of output frames. Output frames are immutable shared buffers
// (`std::shared_ptr<const std::string>`): a fan-out encodes a frame once and
// enqueues the same buffer on every recipient's connection, so there is no
// per-recipient copy. Queued frames are written with gather writes: one
// async_write_some (sendmsg with an iovec array) carries up to
// kMaxIovecsPerWrite frames, and a write is started at most once per loop turn
// (Send() only posts a flush), never one syscall per message.
//
// Reading is fair: at most `messages_per_iter` frames are handed to the owner
// per read callback; if more are buffered the rest is processed from a posted
// handler so that other connections run in between.
//
// Reading costs no memory while idle: the connection waits for readability
// without a buffer, then reads non-blocking into one read buffer shared by
// every connection of the thread (kReadChunk bytes) and decodes the complete
// frames in place; only a trailing partial frame, or the frames left for the
// posted handler, are copied into the decoder's own buffer, which is freed
// once empty (issue 5: an idle connection used to pin a 64 KiB buffer).
//
// Timers: a NOOP is sent every `keepalive_interval`; the connection is closed
// (kIdleTimeout, after a fatal ERROR IDLE_TIMEOUT) when nothing was received
// for `idle_timeout`. Zero disables either.
//
// Closing: every close records a CloseReason and a detail string, logs
// "closing NAME (REMOTE): REASON: DETAIL" (INFO for normal closes, WARNING for
// abnormal ones) and then notifies the owner with ConnectionHandler::OnClose
// from a *posted* handler, never from inside one of the connection's own
// callbacks. After OnClose the connection never calls its handler again.
//
// Ownership: always held by std::shared_ptr (Create()). The owner keeps one
// reference; every pending asynchronous operation keeps another, so the
// object stays alive until its last completion handler has run, even after
// the owner dropped it (e.g. while a final ERROR frame is being flushed). The
// handler passed to Create() must outlive the io_context's run.
//
// Thread-safety: none. Every method must be called on the thread running the
// io_context that owns the socket (the server has exactly one such thread).
#ifndef MSGC_NET_CONNECTION_H_
#define MSGC_NET_CONNECTION_H_

#include <array>
#include <asio.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/tcp_stats.h"
#include "wire/frame.h"

namespace msgc::net {

// Why a connection was closed. Logged, and visible to tests through logs.
enum class CloseReason {
  kNone = 0,       // still open
  kPeerClosed,     // the other side closed (EOF) without GOODBYE
  kGoodbye,        // the other side said GOODBYE
  kProtocolError,  // malformed or unexpected frame
  kSlowConsumer,   // output queue passed max_backlog
  kIdleTimeout,    // nothing received for idle_timeout
  kIoError,        // a socket error
  kRefused,        // handshake refused (bad name, name in use, version...)
  kShutdown,       // this process is shutting down
  kReplaced,       // the client's next connection replaced this session
};

// "peer closed", "goodbye", "protocol error", "slow consumer", ...
std::string_view CloseReasonName(CloseReason reason);
// True for reasons that indicate a problem (logged at WARNING).
bool IsAbnormalClose(CloseReason reason);

// Limits of the connection machinery that are not configuration.
inline constexpr size_t kMaxIovecsPerWrite = 64;  // frames per gather write
// tcpbuf_size is clamped to this (setsockopt takes an int; the kernel
// clamps further, to net.core.wmem_max / rmem_max).
inline constexpr uint32_t kMaxSocketBuffer = 1u << 30;
// Bytes per read: the size of the per-thread read buffer (not per connection).
inline constexpr size_t kReadChunk = 64 * 1024;
// How long a closing connection may take to flush its last frames and see
// the other side's FIN before the socket is closed anyway.
inline constexpr std::chrono::milliseconds kCloseLinger{2000};
// GrowSendBufferIfLimited acts only on paths with at least this round
// trip: on a LAN the autotuned buffer holds many round trips already.
inline constexpr std::chrono::microseconds kGrowSendBufferMinRtt{1000};

// Tunables, mostly from msgc_server options. Durations of zero disable.
struct ConnectionOptions {
  std::chrono::milliseconds keepalive_interval{5000};
  std::chrono::milliseconds idle_timeout{30000};
  size_t max_backlog = 5000;  // messages queued before kSlowConsumer
  size_t messages_per_iter = 20;
  // SO_SNDBUF and SO_RCVBUF, applied by Start() and by SetOptions() when it
  // changes. 0 = nothing is set: the kernel autotunes both buffers, which an
  // explicit size turns off for good (Linux has no way back), so a
  // connection whose use is not known yet (an accepted one, before its
  // HELLO says client or peer) starts with 0 and gets its size later.
  // SO_RCVBUF is applied only while it does not shrink the current buffer:
  // shrinking it below the advertised window drops data in flight. The creator
  // may set SO_RCVBUF before the handshake (see Listener::Open), which also
  // sizes TCP's window scale for it.
  uint32_t tcpbuf_size = 131072;
  uint32_t max_body = wire::kMaxControlBody;  // larger frames: OnTooLarge
};

class Connection;

// What the owner of a connection implements. All calls happen on the loop
// thread, one at a time.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // A complete frame. `frame.body` is valid only during the call. The
  // handler may call any method of `conn`, including the Close* ones.
  virtual void OnFrame(Connection& conn, const wire::Frame& frame) = 0;
  // A frame whose body is larger than max_body; its body is being discarded
  // as it arrives. The connection stays usable unless the handler closes it.
  virtual void OnTooLarge(Connection& conn,
                          const wire::FrameHeader& header) = 0;
  // The connection was closed (see conn.close_reason()). Called exactly once,
  // from a posted handler; the owner may drop its reference here.
  virtual void OnClose(Connection& conn) = 0;
  // The output queue, after holding at least low_water_mark() frames, fell
  // below it (called from the write completion, while open). Lets an owner
  // that keeps its own backlog (the mesh's resend buffer) hand frames over
  // at the pace the other side reads instead of all at once, which would
  // pass max_backlog. The handler may call any method of `conn`.
  virtual void OnDrained(Connection& /*conn*/) {}
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using FramePtr = std::shared_ptr<const std::string>;

  // `handler` is not owned and must outlive the connection's activity.
  static std::shared_ptr<Connection> Create(asio::ip::tcp::socket socket,
                                            uint64_t id,
                                            const ConnectionOptions& options,
                                            ConnectionHandler* handler);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Applies socket options, starts reading and the timers.
  void Start();

  // Queues one whole encoded frame carrying `messages` messages (a batch
  // frame counts as its messages). Closes the connection with kSlowConsumer
  // if the queue then holds more than max_backlog messages. Ignored unless
  // the connection is open.
  void Send(FramePtr frame, uint32_t messages = 1);
  // Queues a small control frame (keepalive, link ack) ahead of every frame
  // not yet handed to the socket, so that it never waits behind queued
  // data. It goes right after the frames of a write in progress (and after
  // a partly written frame), which keeps the byte stream well formed.
  void SendUrgent(FramePtr frame);

  // Closes at once: queued output is dropped, the socket closed.
  void Close(CloseReason reason, std::string detail);
  // Stops reading, queues `last` (if not null and the queue has room), flushes
  // the queue, half-closes and waits (at most kCloseLinger) for the other
  // side's FIN before closing, so that `last` is not lost to a TCP reset.
  void CloseAfterFlush(CloseReason reason, std::string detail,
                       FramePtr last = nullptr);
  // CloseAfterFlush with a fatal ERROR frame (`request` = offending type).
  void CloseWithError(CloseReason reason, wire::ErrorCode code,
                      std::string detail,
                      wire::FrameType request = wire::FrameType::kError);

  // Hands the connection to another owner (e.g. the server accepted it and,
  // after a peer HELLO, passes it to the mesh). Takes effect for the next
  // callback, including the remaining buffered frames when called from
  // OnFrame. Ignored once the connection is closing (OnClose then goes to
  // the handler that was current at the close). `handler` is not owned.
  void set_handler(ConnectionHandler* handler) {
    if (state_ == State::kOpen) handler_ = handler;
  }

  // Applies new options to a live connection (timers re-armed, socket
  // buffers resized, decoder limit changed for frames not yet started).
  void SetOptions(const ConnectionOptions& options);
  const ConnectionOptions& options() const { return options_; }

  uint64_t id() const { return id_; }
  // Name used in logs: "#a#n1" once known, else "-".
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  // The remote endpoint as "ip:port" ("[v6]:port").
  const std::string& remote() const { return remote_; }

  bool is_open() const { return state_ == State::kOpen; }
  CloseReason close_reason() const { return close_reason_; }
  const std::string& close_detail() const { return close_detail_; }

  // Messages in the output queue (frames, a batch frame counting as its
  // messages; cheap). Compared with max_backlog and low_water_mark().
  size_t queued_frames() const { return backlog_; }
  // OnDrained fires when the queue falls below this after having reached
  // it: max_backlog / 2, at least 1.
  size_t low_water_mark() const {
    return options_.max_backlog / 2 > 0 ? options_.max_backlog / 2 : 1;
  }

  // The socket's SO_SNDBUF / SO_RCVBUF in the units of tcpbuf_size (asio
  // halves the kernel's figure on Linux, which doubles what is set for its
  // bookkeeping), whether set or reached by autotuning; -1 on error.
  // Tests, diagnostics.
  int send_buffer() const;
  int receive_buffer() const;
  // The socket's TCP_INFO figures (one getsockopt): round trip, busy and
  // send-buffer-limited time. False if not open or the kernel does not
  // report them.
  bool ReadTcpStats(TcpStats* out);

  // For a connection whose buffers autotune (tcpbuf_size 0) over a long
  // path. The kernel grows an autotuned send buffer only up to
  // net.ipv4.tcp_wmem's maximum (4 MiB on a stock kernel), and a TCP
  // connection carries at most its send buffer per round trip. When
  // TCP_INFO (`now`, from ReadTcpStats: the caller reads it once for this
  // and whatever else it needs) shows that since the last call the send
  // buffer limited the sender for at least a quarter of its busy time, at
  // a round trip of at least kGrowSendBufferMinRtt, and autotuning reached
  // its maximum, this
  // doubles SO_SNDBUF, up to `max_bytes` (the kernel clamps it further, to
  // twice net.core.wmem_max, unless the process has CAP_NET_ADMIN: then
  // SO_SNDBUFFORCE goes past that, up to `max_bytes`). Setting it ends
  // autotuning of the send buffer only; the receive side still
  // autotunes. Returns the new SO_SNDBUF in kernel bytes, or 0 if
  // unchanged. Called periodically by the owner (the mesh's tick).
  int GrowSendBufferIfLimited(const TcpStats& now, int max_bytes);

  // Bytes of input buffer the connection holds of its own (memory
  // accounting, tests): zero unless a partial frame, or frames left for a
  // later turn, are buffered.
  size_t input_buffer_bytes() const { return decoder_.capacity(); }

  // An opaque pointer for the owner (e.g. its Session); not owned.
  void* context() const { return context_; }
  void set_context(void* context) { context_ = context; }

  // The shared NOOP frame, encoded once per process.
  static const FramePtr& NoopFrame();

 private:
  enum class State { kOpen, kClosing, kClosed };

  Connection(asio::ip::tcp::socket socket, uint64_t id,
             const ConnectionOptions& options, ConnectionHandler* handler);

  void ApplySocketOptions();
  // Waits for input unless closed or already waiting.
  void StartRead();
  void WaitReadable();
  // Readiness (or EOF/error): reads once into the thread's read buffer and
  // processes it; while draining, discards it.
  void OnReadable(const std::error_code& ec);
  void ProcessInput();
  void ScheduleFlush();
  void InsertUrgent(FramePtr frame);
  void StartWrite();
  void OnWrite(const std::error_code& ec, size_t n);
  void ArmKeepalive();
  void ArmIdle();
  void OnIdleTimer();
  // Records the reason, logs it and posts OnClose. Only the first call counts.
  void RecordClose(CloseReason reason, std::string detail);
  // kClosing and the queue is empty: FIN, then drain input until EOF.
  void HalfCloseAndDrain();
  void CloseSocket();

  asio::ip::tcp::socket socket_;
  const uint64_t id_;
  ConnectionOptions options_;
  ConnectionHandler* handler_;  // null after OnClose was posted
  void* context_ = nullptr;
  std::string name_ = "-";
  std::string remote_;

  State state_ = State::kOpen;
  CloseReason close_reason_ = CloseReason::kNone;
  std::string close_detail_;
  // GrowSendBufferIfLimited: TCP_INFO totals at the last call; stopped once
  // a larger size did not take (the kernel's clamp).
  TcpStats tcp_last_;
  bool sndbuf_at_limit_ = false;

  // Holds only input that outlives a read callback (see ReadBuffer()).
  wire::FrameDecoder decoder_;
  bool reading_ = false;         // a readiness wait is pending
  bool process_posted_ = false;  // ProcessInput is posted
  std::chrono::steady_clock::time_point last_receive_;

  // Output. `queue_[0]` has been written up to `head_offset_` bytes.
  struct Queued {
    FramePtr frame;
    uint32_t messages = 1;
  };
  std::deque<Queued> queue_;
  size_t backlog_ = 0;  // sum of queue_[i].messages
  size_t head_offset_ = 0;
  bool writing_ = false;          // an async write is pending
  std::vector<FramePtr> urgent_;  // SendUrgent during a write, for OnWrite
  bool flush_posted_ = false;     // StartWrite is posted
  bool above_low_water_ = false;  // reached low_water_mark(): OnDrained due
  std::array<asio::const_buffer, kMaxIovecsPerWrite> iov_;
  bool draining_ = false;  // half-closed, discarding input until EOF

  asio::steady_timer keepalive_timer_;
  asio::steady_timer idle_timer_;  // idle timeout; linger while closing
};

}  // namespace msgc::net

#endif  // MSGC_NET_CONNECTION_H_
