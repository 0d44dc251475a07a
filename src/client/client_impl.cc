#include "client/client_impl.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/log.h"

namespace msgc {

Result Client::Connect(const ClientOptions& options,
                       std::unique_ptr<Client>* client) {
  if (client == nullptr) {
    return Result(Result::Code::kInvalidArgument, "client must not be null");
  }
  Result r = options.Validate();
  if (!r.ok()) return r;
  auto impl = std::make_unique<client_internal::ClientImpl>(options);
  r = impl->Start();
  if (!r.ok()) return r;
  *client = std::move(impl);
  return Result::OK();
}

Result ClientOptions::Validate() const {
  auto bad = [](std::string msg) {
    return Result(Result::Code::kInvalidArgument, std::move(msg));
  };
  if (servers.empty()) return bad("servers: the list is empty");
  for (const std::string& s : servers) {
    client_internal::HostPort hp;
    Result r = client_internal::ParseHostPort(s, &hp);
    if (!r.ok()) return r;
  }
  Result r = client_internal::CheckSessionName(name);
  if (!r.ok()) return r;
  if (!bind_address.empty()) {
    asio::error_code ec;
    asio::ip::make_address(bind_address, ec);
    if (ec)
      return bad("bind_address \"" + bind_address + "\" is not an IP address");
  }
  struct {
    const char* name;
    double value;
  } const times[] = {{"connect_timeout", connect_timeout},
                     {"reconnect_interval", reconnect_interval},
                     {"keepalive_interval", keepalive_interval},
                     {"idle_timeout", idle_timeout},
                     {"close_timeout", close_timeout}};
  for (const auto& t : times) {
    if (!(t.value > 0) || !std::isfinite(t.value) || t.value > 86400) {
      return bad(std::string(t.name) + " must be in (0, 86400] seconds");
    }
  }
  if (std::isnan(send_timeout)) return bad("send_timeout is not a number");
  if (max_backlog == 0) return bad("max_backlog must be at least 1");
  return Result::OK();
}

namespace client_internal {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(s));
}

Result NotConnected(std::string msg) {
  return Result(Result::Code::kNotConnected, std::move(msg));
}

constexpr size_t kReadChunk = 64 * 1024;
// Outgoing chunks: small frames are appended to a chunk of this capacity;
// a frame of kLargeFrame bytes or more gets a chunk of its own, encoded
// outside the lock. A write takes chunks up to kMaxBatchBytes (at least
// one), and up to kMaxSpareChunks written chunks are kept for reuse.
constexpr size_t kChunkBytes = 64 * 1024;
constexpr size_t kLargeFrame = 16 * 1024;
constexpr size_t kMaxBatchBytes = 4 * 1024 * 1024;
constexpr size_t kMaxBatchChunks = 64;
constexpr size_t kMaxSpareChunks = 4;
// A SEND at least this long after the previous one, with nothing queued, is
// written from the sending thread (see SendFrame); closer sends are queued
// and batched by the I/O thread.
constexpr std::chrono::microseconds kDirectWriteGap{20};
// A pass over the read buffer yields to other handlers (at a multiple of
// messages_per_iter frames) once it has run this long.
constexpr std::chrono::microseconds kMaxPassTime{100};
constexpr std::string_view kSoftware = "libmsgc/0.1.0";

}  // namespace

ClientImpl::ClientImpl(ClientOptions options)
    : options_(std::move(options)),
      resolver_(io_),
      connect_timer_(io_),
      reconnect_timer_(io_),
      keepalive_timer_(io_),
      idle_timer_(io_),
      close_timer_(io_),
      session_name_(options_.name) {
  for (const std::string& s : options_.servers) {
    HostPort hp;
    (void)ParseHostPort(s, &hp);  // validated by Connect()
    servers_.push_back(hp);
  }
}

ClientImpl::~ClientImpl() {
  Close();
  for (int& fd : event_pipe_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

Result ClientImpl::Start() {
  if (::pipe2(event_pipe_, O_NONBLOCK | O_CLOEXEC) != 0) {
    return Result(Result::Code::kIoError,
                  std::string("pipe: ") + std::strerror(errno));
  }
  std::future<Result> first = first_.get_future();
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
  io_thread_id_ = thread_.get_id();
  asio::post(io_, [this] { StartRound(); });
  if (!options_.wait_for_connection) return Result::OK();
  Result r = first.get();
  if (!r.ok()) Close();
  return r;
}

// ---------------------------------------------------------------------------
// Application-thread API.

Result ClientImpl::Join(std::string_view group, std::string_view capabilities) {
  Result r = CheckGroupName(group);
  if (!r.ok()) return r;
  if (capabilities.size() > wire::kMaxCapabilitiesLen) {
    return Result(Result::Code::kInvalidArgument,
                  "capabilities longer than 65535 bytes");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) return NotConnected("client is closed");
  for (auto& [g, caps] : groups_) {
    if (g == group) {
      // Joining again is a no-op at the server; remember new capabilities
      // for the next reconnection.
      caps = std::string(capabilities);
      return Result::OK();
    }
  }
  groups_.emplace_back(std::string(group), std::string(capabilities));
  if (connected_) {
    std::string frame;
    wire::EncodeJoin({group, capabilities}, &frame);
    PushLocked(frame, false);
  }
  return Result::OK();
}

Result ClientImpl::Leave(std::string_view group) {
  Result r = CheckGroupName(group);
  if (!r.ok()) return r;
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) return NotConnected("client is closed");
  auto it = std::find_if(groups_.begin(), groups_.end(),
                         [&](const auto& p) { return p.first == group; });
  if (it == groups_.end()) {
    return Result(Result::Code::kNotFound,
                  "not a member of group \"" + std::string(group) + "\"");
  }
  groups_.erase(it);
  if (connected_) {
    std::string frame;
    wire::EncodeLeave({group}, &frame);
    PushLocked(frame, false);
  }
  return Result::OK();
}

Result ClientImpl::Multicast(std::string_view group, std::string_view data,
                             const SendOptions& options) {
  Result r = CheckGroupName(group);
  if (!r.ok()) return r;
  return SendFrame(std::span<const std::string_view>(&group, 1), data, options);
}

Result ClientImpl::Unicast(std::string_view private_name, std::string_view data,
                           const SendOptions& options) {
  Result r = CheckPrivateName(private_name);
  if (!r.ok()) return r;
  return SendFrame(std::span<const std::string_view>(&private_name, 1), data,
                   options);
}

Result ClientImpl::Send(const std::vector<std::string>& destinations,
                        std::string_view data, const SendOptions& options) {
  if (destinations.empty() || destinations.size() > wire::kMaxGroupsPerSend) {
    return Result(Result::Code::kInvalidArgument,
                  "a message needs 1..64 destinations");
  }
  std::vector<std::string_view> dests;
  dests.reserve(destinations.size());
  for (const std::string& d : destinations) {
    Result r = CheckDestination(d);
    if (!r.ok()) return r;
    dests.push_back(d);
  }
  return SendFrame(dests, data, options);
}

Result ClientImpl::SendFrame(std::span<const std::string_view> destinations,
                             std::string_view data,
                             const SendOptions& options) {
  const size_t frame_size = SendFrameSize(destinations, data.size());
  const uint8_t flags = options.self_discard ? wire::kSendSelfDiscard : 0;
  const auto service = static_cast<wire::Service>(options.service);
  // A large payload is encoded (copied) once, outside the lock, into a
  // chunk of its own; small ones are encoded under it, straight into the
  // last chunk of the queue.
  OutChunk large;
  std::unique_lock<std::mutex> lock(mu_);
  if (closing_) return NotConnected("client is closed");
  if (!connected_) return NotConnected("not connected to a server");
  if (data.size() > max_message_size_ || data.size() > UINT32_MAX) {
    uint64_t max_size = max_message_size_;
    lock.unlock();
    return Result(Result::Code::kTooLarge,
                  "message of " + std::to_string(data.size()) +
                      " bytes exceeds the server's max_message_size of " +
                      std::to_string(max_size) + " bytes");
  }
  if (frame_size >= kLargeFrame) {
    lock.unlock();
    large.data = std::make_unique_for_overwrite<char[]>(frame_size);
    large.capacity = frame_size;  // size: counted by CountPushedLocked()
    EncodeSendInto(large.data.get(), service, flags, next_msg_id_.fetch_add(1),
                   destinations, data);
    lock.lock();
  }
  auto room = [&] {
    return closing_ || !connected_ ||
           (queued_msgs_ < options_.max_backlog &&
            (queued_bytes_ == 0 ||
             queued_bytes_ + frame_size <= options_.max_backlog_bytes));
  };
  if (!room() && !OnIoThread()) {
    std::chrono::milliseconds timeout = options.timeout;
    if (timeout.count() < 0) {
      timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::duration<double>(std::max(0.0, options_.send_timeout)));
    }
    if (!cv_.wait_for(lock, timeout, room)) {
      return Result(Result::Code::kTimedOut,
                    "outgoing queue full (" + std::to_string(queued_msgs_) +
                        " messages, " + std::to_string(queued_bytes_) +
                        " bytes) for " + std::to_string(timeout.count()) +
                        " ms");
    }
  }
  if (closing_) return NotConnected("client is closed");
  if (!connected_) return NotConnected("not connected to a server");
  // A send after a pause, with nothing queued or being written, goes to the
  // socket from this thread: waking the I/O thread for it would add a
  // thread hand-off (tens of microseconds on a busy machine) to the
  // message's latency. Sends in quick succession are queued, so that a
  // fast producer gets gather writes, not a system call per message.
  const auto now = std::chrono::steady_clock::now();
  const bool direct = direct_fd_ >= 0 && !write_active_ && pending_.empty() &&
                      !large.data && now - last_send_ >= kDirectWriteGap;
  last_send_ = now;
  if (large.data) {
    pending_.push_back(std::move(large));
  } else {
    EncodeSendInto(ReserveLocked(frame_size), service, flags,
                   next_msg_id_.fetch_add(1), destinations, data);
  }
  if (direct) {
    DirectWriteLocked(frame_size);
  } else {
    CountPushedLocked(frame_size, true);
  }
  return Result::OK();
}

void ClientImpl::DirectWriteLocked(size_t size) {
  OutChunk& chunk = pending_.back();
  // Non-blocking whatever the descriptor's mode; no SIGPIPE. An error
  // (the peer went away) leaves the frame queued: the I/O thread's write
  // or read reports it.
  const ssize_t n = ::send(direct_fd_, chunk.data.get() + chunk.size, size,
                           MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(size)) {
    // All written: the (empty) chunk goes back to the spares.
    if (chunk.capacity == kChunkBytes && spare_.size() < kMaxSpareChunks) {
      spare_.push_back(std::move(chunk.data));
    }
    pending_.pop_back();
    return;
  }
  if (n > 0) {
    // The rest, in order, for the I/O thread.
    const size_t done = static_cast<size_t>(n);
    std::memmove(chunk.data.get() + chunk.size,
                 chunk.data.get() + chunk.size + done, size - done);
    CountPushedLocked(size - done, true);
    return;
  }
  CountPushedLocked(size, true);
}

char* ClientImpl::ReserveLocked(size_t size) {
  if (!pending_.empty()) {
    OutChunk& last = pending_.back();
    if (last.capacity - last.size >= size) return last.data.get() + last.size;
  }
  OutChunk& chunk = pending_.emplace_back();
  if (size <= kChunkBytes && !spare_.empty()) {
    chunk.data = std::move(spare_.back());
    spare_.pop_back();
    chunk.capacity = kChunkBytes;
  } else {
    chunk.capacity = std::max(size, kChunkBytes);
    chunk.data = std::make_unique_for_overwrite<char[]>(chunk.capacity);
  }
  return chunk.data.get();
}

void ClientImpl::CountPushedLocked(size_t size, bool message) {
  OutChunk& chunk = pending_.back();
  chunk.size += size;
  ++chunk.frames;
  queued_bytes_ += size;
  ++queued_frames_;
  if (message) {
    ++queued_msgs_;
    ++chunk.messages;
  }
  if (!write_active_) {
    // The I/O thread takes everything queued until its write completes:
    // one wake-up per batch, not per frame.
    write_active_ = true;
    asio::post(io_, [this] { StartWrite(); });
  }
}

void ClientImpl::PushLocked(std::string_view bytes, bool message) {
  std::memcpy(ReserveLocked(bytes.size()), bytes.data(), bytes.size());
  CountPushedLocked(bytes.size(), message);
}

Result ClientImpl::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (queued_frames_ == 0) return Result::OK();
  uint64_t drops = drops_;
  auto done = [&] { return queued_frames_ == 0 || drops_ != drops; };
  if (timeout.count() < 0) {
    cv_.wait(lock, done);
  } else if (!cv_.wait_for(lock, timeout, done)) {
    return Result(Result::Code::kTimedOut,
                  std::to_string(queued_msgs_) + " messages still queued");
  }
  if (drops_ != drops) {
    return NotConnected("connection lost before the queue was written");
  }
  return Result::OK();
}

std::string ClientImpl::PrivateName() const {
  std::lock_guard<std::mutex> lock(mu_);
  return private_name_;
}

bool ClientImpl::IsConnected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_ && !closing_;
}

uint64_t ClientImpl::MaxMessageSize() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_message_size_;
}

Result ClientImpl::Receive(Event* event, std::chrono::milliseconds timeout) {
  if (event == nullptr) {
    return Result(Result::Code::kInvalidArgument, "event must not be null");
  }
  std::unique_lock<std::mutex> lock(ev_mu_);
  auto ready = [&] { return !events_.empty() || events_closed_; };
  if (timeout.count() < 0) {
    ev_cv_.wait(lock, ready);
  } else {
    ev_cv_.wait_for(lock, timeout, ready);
  }
  if (events_.empty()) {
    if (events_closed_) return NotConnected("client is closed");
    return Result(Result::Code::kTimedOut,
                  "no event within " + std::to_string(timeout.count()) + " ms");
  }
  *event = std::move(events_.front());
  events_.pop_front();
  if (events_.empty() && fd_signaled_ && !events_closed_) {
    char buf[16];
    while (::read(event_pipe_[0], buf, sizeof(buf)) > 0) {
    }
    fd_signaled_ = false;
  }
  if (read_paused_ && events_.size() <= options_.max_pending_events / 2) {
    read_paused_ = false;
    asio::post(io_, [this] { ResumeRead(); });
  }
  return Result::OK();
}

void ClientImpl::SetCallbacks(Callbacks callbacks) {
  auto cbs = std::make_shared<const Callbacks>(std::move(callbacks));
  std::lock_guard<std::mutex> lock(cb_mu_);
  callbacks_ = std::move(cbs);
  cb_version_.fetch_add(1, std::memory_order_release);
}

Result ClientImpl::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    cv_.notify_all();
  }
  if (OnIoThread()) {
    // From a callback: the thread is joined by the destructor.
    asio::post(io_, [this] { DoClose(); });
    return Result::OK();
  }
  std::lock_guard<std::mutex> lock(close_mu_);
  if (!thread_.joinable()) return Result::OK();
  asio::post(io_, [this] { DoClose(); });
  thread_.join();
  return Result::OK();
}

// ---------------------------------------------------------------------------
// I/O thread: connecting.

std::string ClientImpl::CurrentServer() const {
  return options_.servers[std::min(server_index_, servers_.size() - 1)];
}

void ClientImpl::ResetSocket() {
  ++gen_;
  reading_ = false;
  {
    // No sending thread may use the descriptor once it is closed (and
    // perhaps reused).
    std::lock_guard<std::mutex> lock(mu_);
    direct_fd_ = -1;
  }
  if (socket_) {
    asio::error_code ec;
    socket_->close(ec);
    socket_.reset();
  }
  decoder_.reset();
}

void ClientImpl::StartRound() {
  if (phase_ != Phase::kIdle) return;
  round_errors_.clear();
  round_error_code_ = Result::Code::kNotConnected;
  TryServer(0);
}

void ClientImpl::TryServer(size_t index) {
  if (phase_ == Phase::kClosing || phase_ == Phase::kClosed) return;
  if (index >= servers_.size()) {
    RoundFailed();
    return;
  }
  ResetSocket();
  server_index_ = index;
  phase_ = Phase::kConnecting;
  fatal_error_.reset();
  uint64_t gen = gen_;
  connect_timer_.expires_after(Seconds(options_.connect_timeout));
  connect_timer_.async_wait([this, gen](const asio::error_code& ec) {
    if (ec || gen != gen_) return;
    AttemptFailed(Result(Result::Code::kTimedOut,
                         "no session within connect_timeout (" +
                             std::to_string(options_.connect_timeout) + " s)"));
  });
  const HostPort& hp = servers_[index];
  resolver_.async_resolve(
      hp.host, std::to_string(hp.port), tcp::resolver::numeric_service,
      [this, gen](const asio::error_code& ec,
                  tcp::resolver::results_type results) {
        if (gen != gen_) return;
        if (ec) {
          AttemptFailed(Result(Result::Code::kIoError,
                               "cannot resolve: " + ec.message()));
          return;
        }
        endpoints_.clear();
        for (const auto& entry : results)
          endpoints_.push_back(entry.endpoint());
        last_connect_error_ = "no address";
        TryEndpoint(gen, 0);
      });
}

void ClientImpl::TryEndpoint(uint64_t gen, size_t index) {
  if (gen != gen_) return;
  if (index >= endpoints_.size()) {
    AttemptFailed(Result(Result::Code::kIoError,
                         "cannot connect: " + last_connect_error_));
    return;
  }
  const tcp::endpoint& ep = endpoints_[index];
  if (socket_) {
    asio::error_code ignored;
    socket_->close(ignored);
  }
  socket_ = std::make_unique<tcp::socket>(io_);
  asio::error_code ec;
  socket_->open(ep.protocol(), ec);
  if (!ec && options_.tcpbuf_size > 0) {
    asio::error_code ignored;
    int size =
        static_cast<int>(std::min<uint32_t>(options_.tcpbuf_size, INT32_MAX));
    socket_->set_option(asio::socket_base::send_buffer_size(size), ignored);
    socket_->set_option(asio::socket_base::receive_buffer_size(size), ignored);
  }
  if (!ec && !options_.bind_address.empty()) {
    asio::ip::address local = asio::ip::make_address(options_.bind_address, ec);
    if (!ec) socket_->bind(tcp::endpoint(local, 0), ec);
  }
  if (ec) {
    last_connect_error_ = ec.message();
    TryEndpoint(gen, index + 1);
    return;
  }
  socket_->async_connect(ep, [this, gen, index](const asio::error_code& ec) {
    if (gen != gen_) return;
    if (ec) {
      last_connect_error_ = ec.message();
      TryEndpoint(gen, index + 1);
      return;
    }
    OnTcpConnected(gen);
  });
}

void ClientImpl::OnTcpConnected(uint64_t gen) {
  asio::error_code ignored;
  socket_->set_option(tcp::no_delay(true), ignored);
  phase_ = Phase::kHandshake;
  decoder_ = std::make_shared<wire::FrameDecoder>(wire::kMaxControlBody);
  auto hello = std::make_shared<std::string>();
  wire::Hello h;
  h.role = wire::Role::kClient;
  h.name = session_name_;
  h.software = kSoftware;
  std::string replaces;
  {
    std::lock_guard<std::mutex> lock(mu_);
    replaces = private_name_;  // "" before the first session
  }
  h.replaces = replaces;
  h.replaces_session = last_session_id_;
  wire::EncodeHello(h, hello.get());
  asio::async_write(*socket_, asio::buffer(*hello),
                    [this, gen, hello](const asio::error_code& ec, size_t) {
                      if (gen != gen_ || !ec) return;
                      ConnectionLost(Result(Result::Code::kIoError,
                                            "write HELLO: " + ec.message()));
                    });
  StartRead();
}

void ClientImpl::AttemptFailed(Result why) {
  MSGC_LOG_DEBUG("msgc client: {}: {}", CurrentServer(), why.ToString());
  connect_timer_.cancel();
  resolver_.cancel();
  ResetSocket();
  round_errors_.push_back(CurrentServer() + ": " + why.message());
  round_error_code_ = why.code();
  phase_ = Phase::kIdle;
  // A refusal by name (NAME_IN_USE, BAD_NAME) is reported as such; network
  // errors as they were.
  TryServer(server_index_ + 1);
}

void ClientImpl::RoundFailed() {
  std::string text = "could not connect to ";
  text += servers_.size() == 1 ? "the server: " : "any server: ";
  for (size_t i = 0; i < round_errors_.size(); ++i) {
    if (i > 0) text += "; ";
    text += round_errors_[i];
  }
  Result r(round_error_code_, text);
  phase_ = Phase::kIdle;
  if (first_pending_ && options_.wait_for_connection) {
    first_pending_ = false;
    first_.set_value(r);
    FinishClose();
    return;
  }
  MSGC_LOG_WARN("msgc client: {}; retrying in {} s", text,
                options_.reconnect_interval);
  ScheduleRound();
}

void ClientImpl::ScheduleRound() {
  reconnect_timer_.expires_after(Seconds(options_.reconnect_interval));
  reconnect_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || phase_ != Phase::kIdle) return;
    StartRound();
  });
}

// ---------------------------------------------------------------------------
// I/O thread: reading.

void ClientImpl::StartRead() {
  if (!socket_ || !decoder_ || reading_) return;
  reading_ = true;
  std::span<uint8_t> space = decoder_->PrepareAppend(kReadChunk);
  uint64_t gen = gen_;
  socket_->async_read_some(
      asio::buffer(space.data(), space.size()),
      [this, gen, keep = decoder_](const asio::error_code& ec, size_t n) {
        OnRead(gen, ec, n);
      });
}

void ClientImpl::ResumeRead() {
  if (phase_ == Phase::kSession || phase_ == Phase::kClosing ||
      phase_ == Phase::kHandshake) {
    StartRead();
  }
}

void ClientImpl::OnRead(uint64_t gen, const asio::error_code& ec, size_t n) {
  if (gen != gen_) return;
  reading_ = false;
  if (ec) {
    if (phase_ == Phase::kClosing) {
      ConnectionLost(Result::OK());
    } else if (fatal_error_) {
      ConnectionLost(*fatal_error_);
    } else if (ec == asio::error::eof) {
      ConnectionLost(
          Result(Result::Code::kIoError, "server closed the connection"));
    } else {
      ConnectionLost(Result(Result::Code::kIoError, "read: " + ec.message()));
    }
    return;
  }
  decoder_->CommitAppend(n);
  last_read_ = Clock::now();
  ProcessFrames(gen);
}

void ClientImpl::ProcessFrames(uint64_t gen) {
  if (gen != gen_ || !decoder_) return;
  std::shared_ptr<wire::FrameDecoder> decoder = decoder_;
  wire::Frame frame;
  const uint32_t per_iter = std::max<uint32_t>(1, options_.messages_per_iter);
  const Clock::time_point pass_start = Clock::now();
  for (uint32_t until_check = per_iter;; --until_check) {
    // Every messages_per_iter frames, let timers, writes and other handlers
    // run, then continue with the frames already buffered -- but only once
    // this pass has taken kMaxPassTime: a yield costs the loop a trip
    // through epoll_wait (a system call), which at 20 small frames a time
    // was a large part of the cost of receiving.
    if (until_check == 0) {
      if (Clock::now() - pass_start >= kMaxPassTime) {
        FlushEvents();
        asio::post(io_, [this, gen] { ProcessFrames(gen); });
        return;
      }
      until_check = per_iter;
    }
    wire::FrameDecoder::Result res = decoder->Next(&frame);
    if (res == wire::FrameDecoder::Result::kNeedMore) break;
    if (res == wire::FrameDecoder::Result::kError) {
      FlushEvents();
      ConnectionLost(Result(Result::Code::kProtocolError, decoder->error()));
      return;
    }
    if (res == wire::FrameDecoder::Result::kTooLarge) {
      MSGC_LOG_WARN("msgc client: dropped a {} frame of {} bytes (limit {})",
                    wire::FrameTypeName(frame.header.type),
                    frame.header.body_len, decoder->max_body());
      continue;
    }
    if (!HandleFrame(frame) || gen != gen_) {
      FlushEvents();
      return;
    }
  }
  FlushEvents();
  {
    std::lock_guard<std::mutex> lock(ev_mu_);
    if (options_.max_pending_events > 0 &&
        events_.size() >= options_.max_pending_events) {
      read_paused_ = true;  // Receive() resumes us
      return;
    }
  }
  StartRead();
}

bool ClientImpl::HandleFrame(const wire::Frame& frame) {
  wire::FrameType type = frame.header.type;
  if (phase_ == Phase::kHandshake) {
    if (type == wire::FrameType::kWelcome) return OnWelcome(frame);
    if (type != wire::FrameType::kError) {
      AttemptFailed(Result(
          Result::Code::kProtocolError,
          "expected WELCOME, got " + std::string(wire::FrameTypeName(type))));
      return false;
    }
  }
  Status st;
  switch (type) {
    case wire::FrameType::kNoop:
      st = wire::DecodeEmpty(frame);
      break;
    case wire::FrameType::kDeliver: {
      wire::Deliver d;
      st = wire::DecodeDeliver(frame, &d);
      if (st.ok()) DispatchDeliver(d);
      break;
    }
    case wire::FrameType::kMembership: {
      wire::Membership m;
      st = wire::DecodeMembership(frame, &m);
      if (st.ok()) {
        Event ev;
        ev.type = Event::Type::kMembership;
        ev.membership = ToMembershipEvent(m);
        Emit(std::move(ev));
      }
      break;
    }
    case wire::FrameType::kError: {
      wire::Error e;
      st = wire::DecodeError(frame, &e);
      if (st.ok()) {
        Event ev;
        ev.type = Event::Type::kError;
        ev.error = ToServerError(e);
        if (e.fatal) {
          Result r = ResultForServerError(ev.error);
          if (phase_ == Phase::kHandshake) {
            AttemptFailed(r);
            return false;
          }
          fatal_error_ = r;
        } else {
          MSGC_LOG_DEBUG("msgc client: server error {} {} {}",
                         ev.error.code_name, ev.error.subject, ev.error.text);
        }
        Emit(std::move(ev));
      }
      break;
    }
    default:
      st = Status::ProtocolError("unexpected " +
                                 std::string(wire::FrameTypeName(type)) +
                                 " frame from the server");
      break;
  }
  if (!st.ok()) {
    ConnectionLost(ToResult(st));
    return false;
  }
  return true;
}

bool ClientImpl::OnWelcome(const wire::Frame& frame) {
  wire::Welcome w;
  Status st = wire::DecodeWelcome(frame, &w);
  if (st.ok() && w.version != wire::kProtocolVersion) {
    st = Status::ProtocolError("server chose unsupported version " +
                               std::to_string(w.version));
  }
  if (!st.ok()) {
    AttemptFailed(ToResult(st));
    return false;
  }
  connect_timer_.cancel();
  std::string private_name(w.private_name);
  last_session_id_ = w.session_id;
  if (session_name_.empty()) {
    // Keep the name the server picked, so reconnections keep it too.
    size_t second = private_name.find('#', 1);
    if (private_name.size() > 1 && second != std::string::npos) {
      session_name_ = private_name.substr(1, second - 1);
    }
  }
  decoder_->set_max_body(std::max<uint64_t>(
      wire::kMaxControlBody,
      std::min<uint64_t>(uint64_t{w.max_message_size} + 64 * 1024,
                         UINT32_MAX)));
  idle_limit_ = Seconds(options_.idle_timeout);
  if (w.keepalive_ms > 0) {
    idle_limit_ = std::max<Clock::duration>(
        idle_limit_, std::chrono::milliseconds(2 * uint64_t{w.keepalive_ms}));
  }
  // Our keepalives must beat the server's idle_timeout, whatever our own
  // keepalive_interval says: send at least three per server idle period.
  keepalive_period_ = Seconds(options_.keepalive_interval);
  if (w.idle_timeout_ms > 0) {
    keepalive_period_ = std::min<Clock::duration>(
        keepalive_period_, std::chrono::milliseconds(
                               std::max<uint64_t>(1, w.idle_timeout_ms / 3)));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    private_name_ = private_name;
    max_message_size_ = w.max_message_size;
    connected_ = true;
    direct_fd_ = socket_->native_handle();
    // Re-join every group (in join order) before any new send can queue.
    for (const auto& [group, caps] : groups_) {
      std::string f;
      wire::EncodeJoin({group, caps}, &f);
      PushLocked(f, false);
    }
    cv_.notify_all();
  }
  phase_ = Phase::kSession;
  MSGC_LOG_INFO("msgc client: connected to {} as {}", CurrentServer(),
                private_name);
  last_read_ = Clock::now();
  ArmKeepalive();
  ArmIdle();
  Event ev;
  ev.type = Event::Type::kConnected;
  ev.connection.server = CurrentServer();
  ev.connection.private_name = private_name;
  ev.connection.reconnect = ever_connected_;
  ever_connected_ = true;
  Emit(std::move(ev));
  if (first_pending_) {
    first_pending_ = false;
    first_.set_value(Result::OK());
  }
  return true;
}

// ---------------------------------------------------------------------------
// I/O thread: writing, timers, disconnects.

void ClientImpl::StartWrite() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!connected_ || !socket_ || pending_.empty() ||
        (phase_ != Phase::kSession && phase_ != Phase::kClosing)) {
      write_active_ = false;
      return;
    }
    // Everything queued so far (bounded), in one gather write.
    size_t bytes = 0;
    writing_.clear();
    while (!pending_.empty() && writing_.size() < kMaxBatchChunks &&
           (bytes == 0 || bytes + pending_.front().size <= kMaxBatchBytes)) {
      bytes += pending_.front().size;
      writing_.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
  }
  write_buffers_.clear();
  for (const OutChunk& c : writing_) {
    write_buffers_.push_back(asio::buffer(c.data.get(), c.size));
  }
  uint64_t gen = gen_;
  asio::async_write(*socket_, write_buffers_,
                    [this, gen](const asio::error_code& ec, size_t) {
                      OnWriteDone(gen, ec);
                    });
}

void ClientImpl::OnWriteDone(uint64_t gen, const asio::error_code& ec) {
  if (gen != gen_) return;
  if (ec) {
    ConnectionLost(Result(Result::Code::kIoError, "write: " + ec.message()));
    return;
  }
  bool all_written;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (OutChunk& c : writing_) {
      queued_bytes_ -= c.size;
      queued_msgs_ -= c.messages;
      queued_frames_ -= c.frames;
      if (spare_.size() < kMaxSpareChunks && c.capacity == kChunkBytes) {
        spare_.push_back(std::move(c.data));
      }
    }
    all_written = queued_frames_ == 0;
    cv_.notify_all();
  }
  writing_.clear();
  if (phase_ == Phase::kClosing && all_written) {
    // GOODBYE is out (it was queued last): half-close, wait for EOF.
    std::lock_guard<std::mutex> lock(mu_);
    write_active_ = false;
    asio::error_code ignored;
    socket_->shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  StartWrite();
}

void ClientImpl::ConnectionLost(Result reason) {
  if (phase_ == Phase::kConnecting || phase_ == Phase::kHandshake) {
    AttemptFailed(std::move(reason));
    return;
  }
  if (phase_ != Phase::kSession && phase_ != Phase::kClosing) return;
  bool closing = phase_ == Phase::kClosing;
  ResetSocket();
  keepalive_timer_.cancel();
  idle_timer_.cancel();
  close_timer_.cancel();
  uint64_t unsent;
  {
    std::lock_guard<std::mutex> lock(mu_);
    unsent = queued_msgs_;
    if (queued_frames_ > 0) ++drops_;
    pending_.clear();
    queued_frames_ = queued_msgs_ = queued_bytes_ = 0;
    connected_ = false;
    write_active_ = false;
    cv_.notify_all();
  }
  writing_.clear();
  if (closing) {
    MSGC_LOG_DEBUG("msgc client: closed");
  } else {
    MSGC_LOG_WARN("msgc client: lost {}: {}", CurrentServer(),
                  reason.ToString());
  }
  Event ev;
  ev.type = Event::Type::kDisconnected;
  ev.connection.server = CurrentServer();
  ev.connection.private_name = PrivateName();
  ev.connection.reason = std::move(reason);
  ev.connection.unsent_messages = unsent;
  Emit(std::move(ev));
  if (closing) {
    FinishClose();
    return;
  }
  phase_ = Phase::kIdle;
  ScheduleRound();
}

void ClientImpl::ArmKeepalive() {
  uint64_t gen = gen_;
  keepalive_timer_.expires_after(keepalive_period_);
  keepalive_timer_.async_wait([this, gen](const asio::error_code& ec) {
    if (ec || gen != gen_ || phase_ != Phase::kSession) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (connected_) {
        std::string f;
        wire::EncodeNoop(&f);
        PushLocked(f, false);
      }
    }
    ArmKeepalive();
  });
}

void ClientImpl::ArmIdle() {
  uint64_t gen = gen_;
  idle_timer_.expires_at(last_read_ + idle_limit_);
  idle_timer_.async_wait([this, gen](const asio::error_code& ec) {
    if (ec || gen != gen_ || phase_ != Phase::kSession) return;
    bool paused;
    {
      std::lock_guard<std::mutex> lock(ev_mu_);
      paused = read_paused_;
    }
    if (paused) last_read_ = Clock::now();  // we stopped reading, not it
    if (Clock::now() - last_read_ >= idle_limit_) {
      ConnectionLost(
          Result(Result::Code::kTimedOut,
                 "nothing from the server for " +
                     std::to_string(
                         std::chrono::duration<double>(idle_limit_).count()) +
                     " s (idle_timeout)"));
      return;
    }
    ArmIdle();
  });
}

void ClientImpl::DoClose() {
  switch (phase_) {
    case Phase::kClosing:
    case Phase::kClosed:
      return;
    case Phase::kSession: {
      phase_ = Phase::kClosing;
      keepalive_timer_.cancel();
      idle_timer_.cancel();
      {
        std::lock_guard<std::mutex> lock(mu_);
        std::string f;
        wire::EncodeGoodbye(&f);
        PushLocked(f, false);
      }
      uint64_t gen = gen_;
      close_timer_.expires_after(Seconds(options_.close_timeout));
      close_timer_.async_wait([this, gen](const asio::error_code& ec) {
        if (ec || gen != gen_ || phase_ != Phase::kClosing) return;
        ConnectionLost(Result(Result::Code::kTimedOut,
                              "server did not close within close_timeout"));
      });
      return;
    }
    default:
      FinishClose();
      return;
  }
}

void ClientImpl::FinishClose() {
  phase_ = Phase::kClosed;
  ResetSocket();
  asio::error_code ignored;
  resolver_.cancel();
  connect_timer_.cancel();
  reconnect_timer_.cancel();
  keepalive_timer_.cancel();
  idle_timer_.cancel();
  close_timer_.cancel();
  if (first_pending_) {
    first_pending_ = false;
    first_.set_value(NotConnected("client closed while connecting"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    connected_ = false;
    closing_ = true;
    pending_.clear();
    queued_frames_ = queued_msgs_ = queued_bytes_ = 0;
    cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(ev_mu_);
    events_closed_ = true;
    if (!fd_signaled_) {
      // Readable from now on: Receive() reports the close.
      (void)!::write(event_pipe_[1], "c", 1);
      fd_signaled_ = true;
    }
  }
  ev_cv_.notify_all();
  work_.reset();
}

const Client::Callbacks* ClientImpl::CurrentCallbacks() {
  // One atomic load per event; the lock only after SetCallbacks().
  uint64_t version = cb_version_.load(std::memory_order_acquire);
  if (version != cbs_cache_version_) {
    std::lock_guard<std::mutex> lock(cb_mu_);
    cbs_cache_ = callbacks_;
    cbs_cache_version_ = cb_version_.load(std::memory_order_relaxed);
  }
  return cbs_cache_.get();
}

void ClientImpl::DispatchDeliver(const wire::Deliver& d) {
  const Callbacks* cbs = CurrentCallbacks();
  if (cbs != nullptr && cbs->on_message) {
    // Events queued earlier reach Receive() before this one is handled.
    if (!staged_.empty()) FlushEvents();
    FillMessageEvent(d, &message_scratch_);
    // cbs_cache_ (which keeps *cbs alive) changes only in
    // CurrentCallbacks(), and no client method a callback may call emits an
    // event synchronously: a SetCallbacks() from the callback takes effect
    // with the next event.
    cbs->on_message(message_scratch_);
    return;
  }
  Event& ev = staged_.emplace_back();
  ev.type = Event::Type::kMessage;
  FillMessageEvent(d, &ev.message);
}

void ClientImpl::Emit(Event&& event) {
  // Events handled or queued earlier come first.
  FlushEvents();
  // See DispatchDeliver() for why *cbs outlives the callback.
  const Callbacks* cbs = CurrentCallbacks();
  if (cbs != nullptr) {
    switch (event.type) {
      case Event::Type::kMessage:
        if (cbs->on_message) {
          cbs->on_message(event.message);
          return;
        }
        break;
      case Event::Type::kMembership:
        if (cbs->on_membership) {
          cbs->on_membership(event.membership);
          return;
        }
        break;
      case Event::Type::kConnected:
      case Event::Type::kDisconnected:
        if (cbs->on_connection) {
          cbs->on_connection(event.type == Event::Type::kConnected,
                             event.connection);
          return;
        }
        break;
      case Event::Type::kError:
        if (cbs->on_error) {
          cbs->on_error(event.error);
          return;
        }
        break;
    }
  }
  // Rare events are queued at once.
  staged_.push_back(std::move(event));
  FlushEvents();
}

void ClientImpl::FlushEvents() {
  if (staged_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(ev_mu_);
    if (events_.empty()) {
      events_.swap(staged_);
    } else {
      for (Event& ev : staged_) events_.push_back(std::move(ev));
    }
    if (!fd_signaled_) {
      (void)!::write(event_pipe_[1], "e", 1);
      fd_signaled_ = true;
    }
  }
  staged_.clear();
  ev_cv_.notify_all();
}

}  // namespace client_internal
}  // namespace msgc
