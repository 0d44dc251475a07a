#include "net/connection.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "base/log.h"
#include "net/endpoint.h"
#include "net/tcp_stats.h"

namespace msgc::net {
namespace {

// A view of the first `n` entries of the connection's iovec array, usable as
// an asio ConstBufferSequence without copying a container per write.
struct IovView {
  using value_type = asio::const_buffer;
  using const_iterator = const asio::const_buffer*;
  const asio::const_buffer* first;
  size_t n;
  const_iterator begin() const { return first; }
  const_iterator end() const { return first + n; }
};

}  // namespace

std::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kNone:
      return "open";
    case CloseReason::kPeerClosed:
      return "peer closed";
    case CloseReason::kGoodbye:
      return "goodbye";
    case CloseReason::kProtocolError:
      return "protocol error";
    case CloseReason::kSlowConsumer:
      return "slow consumer";
    case CloseReason::kIdleTimeout:
      return "idle timeout";
    case CloseReason::kIoError:
      return "i/o error";
    case CloseReason::kRefused:
      return "refused";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kReplaced:
      return "replaced";
  }
  return "unknown";
}

bool IsAbnormalClose(CloseReason reason) {
  switch (reason) {
    case CloseReason::kNone:
    case CloseReason::kPeerClosed:
    case CloseReason::kGoodbye:
    case CloseReason::kShutdown:
    case CloseReason::kReplaced:
      return false;
    default:
      return true;
  }
}

const Connection::FramePtr& Connection::NoopFrame() {
  static const FramePtr* frame = [] {
    auto s = std::make_shared<std::string>();
    wire::EncodeNoop(s.get());
    return new FramePtr(std::move(s));
  }();
  return *frame;
}

std::shared_ptr<Connection> Connection::Create(asio::ip::tcp::socket socket,
                                               uint64_t id,
                                               const ConnectionOptions& options,
                                               ConnectionHandler* handler) {
  return std::shared_ptr<Connection>(
      new Connection(std::move(socket), id, options, handler));
}

Connection::Connection(asio::ip::tcp::socket socket, uint64_t id,
                       const ConnectionOptions& options,
                       ConnectionHandler* handler)
    : socket_(std::move(socket)),
      id_(id),
      options_(options),
      handler_(handler),
      decoder_(options.max_body),
      keepalive_timer_(socket_.get_executor()),
      idle_timer_(socket_.get_executor()) {
  std::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("?") : FormatEndpoint(ep);
}

Connection::~Connection() = default;

void Connection::Start() {
  ApplySocketOptions();
  // Reads happen after a readiness wait (OnReadable) and must never block
  // the loop when the readiness was spurious.
  std::error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) {
    Close(CloseReason::kIoError, "non-blocking mode: " + ec.message());
    return;
  }
  last_receive_ = std::chrono::steady_clock::now();
  ArmKeepalive();
  ArmIdle();
  StartRead();
}

void Connection::ApplySocketOptions() {
  std::error_code ec;
  // Frames are already batched by the gather writes; Nagle would only add
  // latency to small control frames.
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // tcpbuf_size 0: nothing is set, the kernel autotunes both buffers (and
  // a buffer set before stays as it is: Linux cannot undo SO_SNDBUF or
  // SO_RCVBUF, which is why an owner that does not know yet what a
  // connection is for starts it with 0; see ConnectionOptions).
  if (options_.tcpbuf_size == 0) return;
  const int size = static_cast<int>(
      std::min<uint32_t>(options_.tcpbuf_size, kMaxSocketBuffer));
  socket_.set_option(asio::socket_base::send_buffer_size(size), ec);
  if (ec) {
    MSGC_LOG_DEBUG("{}: SO_SNDBUF {}: {}", remote_, size, ec.message());
  }
  // SO_RCVBUF is best set before the TCP handshake (the listener or the
  // dialler does that). Set on an established connection it must not
  // shrink the buffer: below the window already advertised the kernel
  // drops data in flight and the connection stalls. Growing it, or setting
  // what the listener already set, is safe. (asio reports half the
  // kernel's figure on Linux, i.e. in the units of `size`: the kernel
  // doubles what is set.)
  asio::socket_base::receive_buffer_size current;
  socket_.get_option(current, ec);
  if (ec) {
    MSGC_LOG_DEBUG("{}: SO_RCVBUF: {}", remote_, ec.message());
    return;
  }
  if (current.value() > size) {
    MSGC_LOG_DEBUG("{}: SO_RCVBUF {} left at {}: would shrink it", remote_,
                   size, current.value());
    return;
  }
  socket_.set_option(asio::socket_base::receive_buffer_size(size), ec);
  if (ec) {
    MSGC_LOG_DEBUG("{}: SO_RCVBUF {}: {}", remote_, size, ec.message());
  }
}

int Connection::send_buffer() const {
  asio::socket_base::send_buffer_size v;
  std::error_code ec;
  socket_.get_option(v, ec);
  return ec ? -1 : v.value();
}

int Connection::receive_buffer() const {
  asio::socket_base::receive_buffer_size v;
  std::error_code ec;
  socket_.get_option(v, ec);
  return ec ? -1 : v.value();
}

bool Connection::ReadTcpStats(TcpStats* out) {
  return state_ == State::kOpen &&
         net::ReadTcpStats(socket_.native_handle(), out);
}

namespace {

// The `index`th number in a /proc/sys file (read each time: an operator
// may change it while we run); 0 if unreadable. Files under
// /proc/sys/net/ipv4 answer for the reader's network namespace.
int64_t ReadSysctl(const char* path, int index) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  long long v = 0;
  for (int i = 0; i <= index; ++i) {
    if (std::fscanf(f, "%lld", &v) != 1) {
      v = 0;
      break;
    }
  }
  std::fclose(f);
  return v;
}

// Sets `option` (SO_SNDBUF or SO_SNDBUFFORCE) so that the kernel uses
// `bytes` (setsockopt takes half of it); true if the buffer, read back into
// *got, is now larger than `current`.
bool SetSendBuffer(int fd, int option, int bytes, int current, int* got) {
  const int half = bytes / 2;
  socklen_t len = sizeof(*got);
  return setsockopt(fd, SOL_SOCKET, option, &half, sizeof(half)) == 0 &&
         getsockopt(fd, SOL_SOCKET, SO_SNDBUF, got, &len) == 0 &&
         *got > current;
}

}  // namespace

int Connection::GrowSendBufferIfLimited(const TcpStats& now, int max_bytes) {
  if (state_ != State::kOpen || sndbuf_at_limit_ || options_.tcpbuf_size != 0) {
    return 0;
  }
  const int fd = socket_.native_handle();
  const TcpStats last = tcp_last_;
  tcp_last_ = now;
  int current = 0;
  socklen_t len = sizeof(current);
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &current, &len) != 0) return 0;
  const auto min_rtt = static_cast<uint32_t>(kGrowSendBufferMinRtt.count());
  const int grow =
      SendBufferToGrowTo(last, now, current, INT64_MAX, max_bytes, min_rtt);
  if (grow == 0) return 0;
  // Limited, but autotuning grows the buffer by itself up to
  // net.ipv4.tcp_wmem's maximum (per network namespace; an operator may
  // have raised it past 4 MiB) and an explicit size would end that: the
  // buffer is left to the kernel until it got there.
  if (current < ReadSysctl("/proc/sys/net/ipv4/tcp_wmem", 2)) return 0;
  // The kernel clamps an explicit size to net.core.wmem_max (then doubles
  // it), except for SO_SNDBUFFORCE, which a process with CAP_NET_ADMIN may
  // use (up to max_bytes here; it is a per-socket setting, the host's
  // limits stay as they are). Below what autotuning reached, setting less
  // would shrink the buffer: then it is left alone, and that is said once.
  const int capped = SendBufferToGrowTo(
      last, now, current, 2 * ReadSysctl("/proc/sys/net/core/wmem_max", 0),
      max_bytes, min_rtt);
  int got = 0;
  const bool forced =
      capped < grow && SetSendBuffer(fd, SO_SNDBUFFORCE, grow, current, &got);
  if (!forced) {
    if (capped == 0) {
      sndbuf_at_limit_ = true;
      MSGC_LOG_INFO(
          "{}: the send buffer ({} bytes) limits the link at a {:.1f} ms "
          "round trip and net.core.wmem_max does not let it grow "
          "(docs/operations.md, \"tcpbuf_size and the distance between "
          "servers\")",
          remote_, current, now.rtt_us / 1000.0);
      return 0;
    }
    if (!SetSendBuffer(fd, SO_SNDBUF, capped, current, &got)) {
      sndbuf_at_limit_ = true;
      return 0;
    }
  }
  MSGC_LOG_INFO(
      "{}: send buffer limited the link {}% of its busy time at a {:.1f} ms "
      "round trip: SO_SNDBUF {} -> {} bytes",
      remote_,
      (now.sndbuf_limited_us - last.sndbuf_limited_us) * 100 /
          (now.busy_us - last.busy_us),
      now.rtt_us / 1000.0, current, got);
  return got;
}

void Connection::SetOptions(const ConnectionOptions& options) {
  const bool keepalive_changed =
      options.keepalive_interval != options_.keepalive_interval;
  const bool idle_changed = options.idle_timeout != options_.idle_timeout;
  const bool buf_changed = options.tcpbuf_size != options_.tcpbuf_size;
  options_ = options;
  decoder_.set_max_body(options_.max_body);
  if (state_ != State::kOpen) return;
  if (buf_changed) ApplySocketOptions();
  if (keepalive_changed) ArmKeepalive();
  if (idle_changed) ArmIdle();
}

// ---- Input ----

namespace {

// The read buffer of every connection run by this thread. A connection does
// not keep a read buffer of its own while it waits: it waits for the socket
// to become readable, reads into this buffer, has the complete frames
// decoded in place and copies only what must outlive the callback (a
// trailing partial frame, or the frames left for a posted ProcessInput)
// into its decoder's own buffer, which is freed again once empty. An idle
// connection thus holds no input memory at all (issue 5: it used to pin
// kReadChunk bytes each).
//
// Sharing is safe because the buffer is used only within one read callback,
// from the read to decoder_.KeepInput()/DropInput(): nothing else runs on
// this thread meanwhile (handlers do not run the io_context recursively).
// Allocated on first use and not zero-filled, so a thread that reads
// nothing (or only a little) pays for no more than the pages touched.
std::span<uint8_t> ReadBuffer() {
  thread_local std::unique_ptr<uint8_t[]> buf;
  if (buf == nullptr) buf.reset(new uint8_t[kReadChunk]);
  return {buf.get(), kReadChunk};
}

}  // namespace

void Connection::StartRead() {
  if (state_ != State::kOpen || reading_) return;
  WaitReadable();
}

void Connection::WaitReadable() {
  reading_ = true;
  socket_.async_wait(asio::socket_base::wait_read,
                     [self = shared_from_this()](const std::error_code& ec) {
                       self->OnReadable(ec);
                     });
}

void Connection::OnReadable(const std::error_code& ec) {
  reading_ = false;
  if (state_ == State::kClosed) return;
  // Closing without draining (yet): input is no longer interesting and
  // nothing is read; HalfCloseAndDrain waits again once the queue is out.
  if (state_ == State::kClosing && !draining_) return;
  if (ec) {
    if (draining_) {
      CloseSocket();
    } else if (ec != asio::error::operation_aborted) {
      Close(CloseReason::kIoError, "wait: " + ec.message());
    }
    return;
  }
  std::span<uint8_t> buf = ReadBuffer();
  std::error_code rec;
  // The socket is non-blocking (Start): readiness can be spurious (another
  // reader, a wakeup for an error that is gone), and then this must wait
  // again instead of blocking the loop.
  const size_t n = socket_.read_some(asio::buffer(buf.data(), buf.size()), rec);
  if (rec == asio::error::would_block || rec == asio::error::try_again ||
      rec == asio::error::interrupted) {
    WaitReadable();
    return;
  }
  if (draining_) {
    // Half-closed: input is discarded; EOF (or an error) ends the linger.
    if (rec) {
      CloseSocket();
    } else {
      WaitReadable();
    }
    return;
  }
  if (rec) {
    if (rec == asio::error::eof) {
      Close(CloseReason::kPeerClosed, "connection closed by peer");
    } else {
      Close(CloseReason::kIoError, "read: " + rec.message());
    }
    return;
  }
  last_receive_ = std::chrono::steady_clock::now();
  decoder_.SetInput(buf.first(n));
  ProcessInput();
  // The read buffer is reused by the next read of any connection of this
  // thread: frames ProcessInput left for its posted continuation (it
  // handles at most messages_per_iter per turn) must be copied now. Losing
  // them would silently drop frames from the middle of the stream.
  if (state_ == State::kOpen) {
    decoder_.KeepInput();
  } else {
    decoder_.DropInput();
  }
}

void Connection::ProcessInput() {
  for (size_t i = 0; i < options_.messages_per_iter; ++i) {
    wire::Frame frame;
    switch (decoder_.Next(&frame)) {
      case wire::FrameDecoder::Result::kNeedMore:
        decoder_.ShrinkIfIdle();
        StartRead();
        return;
      case wire::FrameDecoder::Result::kFrame:
        handler_->OnFrame(*this, frame);
        break;
      case wire::FrameDecoder::Result::kTooLarge:
        handler_->OnTooLarge(*this, frame.header);
        break;
      case wire::FrameDecoder::Result::kError:
        CloseWithError(CloseReason::kProtocolError, wire::ErrorCode::kBadFrame,
                       "malformed frame: " + decoder_.error());
        return;
    }
    if (state_ != State::kOpen) return;
  }
  // messages_per_iter frames handled and maybe more buffered: yield to the
  // other connections and continue from a posted handler.
  if (process_posted_) return;
  process_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->process_posted_ = false;
    if (self->state_ == State::kOpen) self->ProcessInput();
  });
}

// ---- Output ----

void Connection::Send(FramePtr frame, uint32_t messages) {
  if (state_ != State::kOpen) return;
  queue_.push_back(Queued{std::move(frame), messages});
  backlog_ += messages;
  if (backlog_ > options_.max_backlog) {
    Close(CloseReason::kSlowConsumer,
          fmt::format("{} messages queued > max_backlog {}", backlog_,
                      options_.max_backlog));
    return;
  }
  if (backlog_ >= low_water_mark()) above_low_water_ = true;
  ScheduleFlush();
}

void Connection::SendUrgent(FramePtr frame) {
  if (state_ != State::kOpen) return;
  if (writing_) {
    // The pending write's iovec points into the queue: leave it alone and
    // let OnWrite put the frame right behind whatever that write finishes.
    urgent_.push_back(std::move(frame));
    return;
  }
  InsertUrgent(std::move(frame));
  ScheduleFlush();
}

void Connection::InsertUrgent(FramePtr frame) {
  // A partly written head frame must be finished first; nothing after it
  // has touched the socket yet.
  const std::ptrdiff_t at = head_offset_ > 0 ? 1 : 0;
  queue_.insert(queue_.begin() + at, Queued{std::move(frame), 1});
  ++backlog_;
}

void Connection::ScheduleFlush() {
  if (writing_ || flush_posted_) return;
  // Posting instead of writing now lets every frame queued during this loop
  // turn (e.g. a burst of fan-outs) go out in one gather write.
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->StartWrite();
  });
}

void Connection::StartWrite() {
  if (writing_ || state_ == State::kClosed) return;
  if (queue_.empty()) {
    if (state_ == State::kClosing) HalfCloseAndDrain();
    return;
  }
  size_t n = 0;
  size_t offset = head_offset_;
  for (const Queued& q : queue_) {
    if (n == iov_.size()) break;
    const FramePtr& f = q.frame;
    iov_[n++] = asio::buffer(f->data() + offset, f->size() - offset);
    offset = 0;
  }
  writing_ = true;
  socket_.async_write_some(
      IovView{iov_.data(), n},
      [self = shared_from_this()](const std::error_code& ec, size_t written) {
        self->OnWrite(ec, written);
      });
}

void Connection::OnWrite(const std::error_code& ec, size_t n) {
  writing_ = false;
  if (state_ == State::kClosed) return;
  if (ec) {
    if (ec != asio::error::operation_aborted) {
      const bool was_open = state_ == State::kOpen;
      Close(was_open ? CloseReason::kIoError : close_reason_,
            "write: " + ec.message());
    }
    return;
  }
  // Pop the frames that are now fully written.
  while (n > 0) {
    const size_t left = queue_.front().frame->size() - head_offset_;
    if (n < left) {
      head_offset_ += n;
      break;
    }
    n -= left;
    head_offset_ = 0;
    backlog_ -= queue_.front().messages;
    queue_.pop_front();
  }
  // Urgent frames that arrived during the write go next, in their order.
  while (!urgent_.empty() && state_ == State::kOpen) {
    InsertUrgent(std::move(urgent_.back()));
    urgent_.pop_back();
  }
  urgent_.clear();
  if (above_low_water_ && backlog_ < low_water_mark() &&
      state_ == State::kOpen && handler_ != nullptr) {
    above_low_water_ = false;
    // The handler may Send (which only posts a flush: writing_ is false and
    // StartWrite below picks the new frames up) or Close (StartWrite then
    // finds the connection closed).
    handler_->OnDrained(*this);
  }
  StartWrite();
}

// ---- Timers ----

void Connection::ArmKeepalive() {
  keepalive_timer_.cancel();
  if (options_.keepalive_interval.count() <= 0) return;
  keepalive_timer_.expires_after(options_.keepalive_interval);
  keepalive_timer_.async_wait(
      [self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->state_ != State::kOpen) return;
        self->SendUrgent(NoopFrame());
        if (self->state_ == State::kOpen) self->ArmKeepalive();
      });
}

void Connection::ArmIdle() {
  idle_timer_.cancel();
  if (options_.idle_timeout.count() <= 0) return;
  // Re-armed lazily from the last receive time instead of on every read,
  // which would cost a timer operation per read.
  idle_timer_.expires_at(last_receive_ + options_.idle_timeout);
  idle_timer_.async_wait(
      [self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->state_ != State::kOpen) return;
        self->OnIdleTimer();
      });
}

void Connection::OnIdleTimer() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_receive_ >= options_.idle_timeout) {
    const double secs =
        std::chrono::duration<double>(options_.idle_timeout).count();
    CloseWithError(CloseReason::kIdleTimeout, wire::ErrorCode::kIdleTimeout,
                   fmt::format("nothing received for {:g}s", secs));
    return;
  }
  ArmIdle();
}

// ---- Closing ----

void Connection::RecordClose(CloseReason reason, std::string detail) {
  close_reason_ = reason;
  close_detail_ = std::move(detail);
  if (IsAbnormalClose(reason)) {
    MSGC_LOG_WARN("closing {} ({}): {}: {}", name_, remote_,
                  CloseReasonName(reason), close_detail_);
  } else {
    MSGC_LOG_INFO("closing {} ({}): {}: {}", name_, remote_,
                  CloseReasonName(reason), close_detail_);
  }
  keepalive_timer_.cancel();
  idle_timer_.cancel();
  // The owner usually drops its reference in OnClose; doing that from a
  // posted handler means the connection is never destroyed while one of its
  // own member functions is still on the stack.
  ConnectionHandler* handler = std::exchange(handler_, nullptr);
  if (handler != nullptr) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), handler] {
      handler->OnClose(*self);
    });
  }
}

void Connection::Close(CloseReason reason, std::string detail) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kOpen) RecordClose(reason, std::move(detail));
  state_ = State::kClosed;
  queue_.clear();
  backlog_ = 0;
  head_offset_ = 0;
  CloseSocket();
}

void Connection::CloseAfterFlush(CloseReason reason, std::string detail,
                                 FramePtr last) {
  if (state_ != State::kOpen) return;
  RecordClose(reason, std::move(detail));
  state_ = State::kClosing;
  // Best effort: a final frame is only worth queueing if the queue is not
  // the problem.
  if (last != nullptr && backlog_ < options_.max_backlog) {
    queue_.push_back(Queued{std::move(last), 1});
    ++backlog_;
  }
  idle_timer_.expires_after(kCloseLinger);
  idle_timer_.async_wait(
      [self = shared_from_this()](const std::error_code& ec) {
        if (ec || self->state_ == State::kClosed) return;
        self->state_ = State::kClosed;
        self->queue_.clear();
        self->backlog_ = 0;
        self->CloseSocket();
      });
  ScheduleFlush();
}

void Connection::CloseWithError(CloseReason reason, wire::ErrorCode code,
                                std::string detail, wire::FrameType request) {
  auto frame = std::make_shared<std::string>();
  wire::Error e;
  e.code = code;
  e.fatal = true;
  e.request = request;
  e.text = detail;
  wire::EncodeError(e, frame.get());
  CloseAfterFlush(reason, std::move(detail), std::move(frame));
}

void Connection::HalfCloseAndDrain() {
  if (draining_) return;
  draining_ = true;
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) {
    state_ = State::kClosed;
    CloseSocket();
    return;
  }
  // Closing with unread input would make the kernel send a reset, which can
  // destroy the final frame before the other side reads it; read until the
  // other side closes too (bounded by the linger timer). A wait still
  // pending from the open state carries on draining (OnReadable).
  if (!reading_) WaitReadable();
}

void Connection::CloseSocket() {
  state_ = State::kClosed;
  keepalive_timer_.cancel();
  idle_timer_.cancel();
  std::error_code ec;
  if (socket_.is_open()) {
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
}

}  // namespace msgc::net
