// ClientImpl: the implementation of msgc::Client (include/msgc/client.h).
//
// Structure: one asio::io_context run by one I/O thread owns the socket, the
// frame decoder, the timers and the connection state machine
//
//   kIdle --(round)--> kConnecting --(TCP up, HELLO sent)--> kHandshake
//        --(WELCOME)--> kSession --(drop)--> kIdle (after reconnect_interval)
//   kSession --(Close)--> kClosing --(GOODBYE written, server EOF)--> kClosed
//
// A "round" tries options.servers in order; a failed round waits
// reconnect_interval and starts over. Every socket gets a new generation
// number; asynchronous handlers carry the generation they were started
// with and ignore their completion when it is stale.
//
// Application threads talk to the I/O thread through two mutex-protected
// queues, each handed over in batches so that neither side takes a lock or
// wakes the other once per message:
//
// - Outgoing (mu_; bounded; producers block on cv_): frames are encoded,
//   under mu_, straight into the last of a list of byte chunks (pending_).
//   The I/O thread is woken (one asio::post) only when no write is active;
//   each write takes every pending chunk, up to kMaxBatchBytes, and writes
//   them in one gather write. Written chunks are recycled (spare_), so a
//   steady stream of sends allocates nothing. Frames larger than
//   kLargeFrame are encoded outside the lock into a chunk of their own.
// - Events (ev_mu_; read by Receive(), signalled through a pipe for
//   EventFd()): events for which no callback is set are collected during
//   one pass over the read buffer (staged_) and appended under one lock,
//   with one notification, at the end of the pass.
//
// Callbacks are cached on the I/O thread and re-read (under cb_mu_) only
// when SetCallbacks() bumped cb_version_. With an on_message callback the
// message is decoded into one reused MessageEvent: no allocation per message
// once it has grown to the message sizes in use.
//
// Thread-safety: public methods are thread-safe; methods marked "I/O
// thread" run only on the I/O thread.
#ifndef MSGC_CLIENT_CLIENT_IMPL_H_
#define MSGC_CLIENT_CLIENT_IMPL_H_

#include <asio.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/internal.h"
#include "msgc/client.h"
#include "wire/frame.h"

namespace msgc::client_internal {

class ClientImpl final : public Client {
 public:
  explicit ClientImpl(ClientOptions options);
  ~ClientImpl() override;

  // Starts the I/O thread and, if options.wait_for_connection, waits for
  // the first session. On failure the client is closed.
  Result Start();

  Result Join(std::string_view group, std::string_view capabilities) override;
  Result Leave(std::string_view group) override;
  Result Multicast(std::string_view group, std::string_view data,
                   const SendOptions& options) override;
  Result Unicast(std::string_view private_name, std::string_view data,
                 const SendOptions& options) override;
  Result Send(const std::vector<std::string>& destinations,
              std::string_view data, const SendOptions& options) override;
  Result Flush(std::chrono::milliseconds timeout) override;
  std::string PrivateName() const override;
  bool IsConnected() const override;
  uint64_t MaxMessageSize() const override;
  Result Receive(Event* event, std::chrono::milliseconds timeout) override;
  int EventFd() const override { return event_pipe_[0]; }
  void SetCallbacks(Callbacks callbacks) override;
  Result Close() override;

 private:
  using tcp = asio::ip::tcp;
  enum class Phase {
    kIdle,
    kConnecting,
    kHandshake,
    kSession,
    kClosing,
    kClosed
  };
  // Whole encoded frames, written in order. A plain buffer rather than a
  // string: frames are encoded in place, without zero-filling.
  struct OutChunk {
    std::unique_ptr<char[]> data;
    size_t size = 0;
    size_t capacity = 0;
    uint32_t frames = 0;
    uint32_t messages = 0;  // SENDs (count against max_backlog)
  };

  bool OnIoThread() const {
    return std::this_thread::get_id() == io_thread_id_;
  }
  Result SendFrame(std::span<const std::string_view> destinations,
                   std::string_view data, const SendOptions& options);
  // Appends one whole encoded frame to the outgoing queue and wakes the
  // I/O thread if no write is active. REQUIRES: mu_ held.
  void PushLocked(std::string_view bytes, bool message);
  // Room for a frame of `size` bytes at the end of the queue: in the last
  // pending chunk when it has room, else in a new (recycled) one. Write
  // the frame there, then call CountPushedLocked(). REQUIRES: mu_ held.
  char* ReserveLocked(size_t size);
  // Commits the frame of `size` bytes just written at ReserveLocked()'s
  // pointer and wakes the I/O thread if needed. REQUIRES: mu_ held.
  void CountPushedLocked(size_t size, bool message);
  // Tries to write the frame of `size` bytes at ReserveLocked()'s pointer
  // (the start of an otherwise empty queue) on the socket at once, from the
  // calling thread; what the socket does not take is committed to the queue
  // as by CountPushedLocked(). REQUIRES: mu_ held, direct write allowed.
  void DirectWriteLocked(size_t size);

  // ---- I/O thread ----
  void StartRound();
  void TryServer(size_t index);
  void TryEndpoint(uint64_t gen, size_t index);
  void OnTcpConnected(uint64_t gen);
  void AttemptFailed(Result why);
  void RoundFailed();
  void ScheduleRound();
  void StartRead();
  void ResumeRead();
  void OnRead(uint64_t gen, const asio::error_code& ec, size_t n);
  // Decodes and handles the buffered frames, then reads more; after a
  // multiple of messages_per_iter frames that took kMaxPassTime it yields
  // instead (posting itself).
  void ProcessFrames(uint64_t gen);
  // False when the frame ended the connection.
  bool HandleFrame(const wire::Frame& frame);
  bool OnWelcome(const wire::Frame& frame);
  void StartWrite();
  void OnWriteDone(uint64_t gen, const asio::error_code& ec);
  void ConnectionLost(Result reason);
  void ArmKeepalive();
  void ArmIdle();
  void DoClose();
  void FinishClose();
  void ResetSocket();
  // Delivers `event` to its callback, or queues it for Receive() (after
  // the staged messages, at once).
  void Emit(Event&& event);
  // Moves staged_ events to the Receive() queue (one lock, one wake-up).
  void FlushEvents();
  // The current callbacks (cached; reloaded when SetCallbacks() ran).
  const Client::Callbacks* CurrentCallbacks();
  // A DELIVER: into the reused message event for on_message, or queued.
  void DispatchDeliver(const wire::Deliver& d);
  std::string CurrentServer() const;

  const ClientOptions options_;
  std::vector<HostPort> servers_;  // parsed options_.servers

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work_;
  std::thread thread_;
  std::thread::id io_thread_id_;
  std::mutex close_mu_;  // serialises Close()

  // ---- I/O thread state ----
  Phase phase_ = Phase::kIdle;
  uint64_t gen_ = 0;
  std::unique_ptr<tcp::socket> socket_;
  tcp::resolver resolver_;
  std::vector<tcp::endpoint> endpoints_;
  std::string last_connect_error_;
  asio::steady_timer connect_timer_;
  asio::steady_timer reconnect_timer_;
  asio::steady_timer keepalive_timer_;
  asio::steady_timer idle_timer_;
  asio::steady_timer close_timer_;
  size_t server_index_ = 0;
  std::vector<std::string> round_errors_;
  Result::Code round_error_code_ = Result::Code::kNotConnected;
  std::shared_ptr<wire::FrameDecoder> decoder_;
  bool reading_ = false;
  std::chrono::steady_clock::time_point last_read_;
  std::chrono::steady_clock::duration idle_limit_{};
  // NOOP period: keepalive_interval, shortened to a third of the server's
  // idle_timeout (from WELCOME) so that the server never idles us out.
  std::chrono::steady_clock::duration keepalive_period_{};
  std::vector<OutChunk> writing_;  // the chunks of the write in progress
  std::vector<asio::const_buffer> write_buffers_;
  std::deque<Event> staged_;      // events for Receive(), not yet queued
  MessageEvent message_scratch_;  // refilled for every on_message call
  std::shared_ptr<const Callbacks> cbs_cache_;
  uint64_t cbs_cache_version_ = 0;
  std::optional<Result> fatal_error_;  // a fatal ERROR arrived
  std::string session_name_;           // HELLO name (adopted if "")
  // The id of the last session a WELCOME gave us (private_name_ is its
  // name): the next HELLO names it as the session it replaces, so that
  // whatever the old connection still delivers late to its server is
  // dropped instead of being ordered after the new session's messages.
  uint64_t last_session_id_ = 0;
  bool ever_connected_ = false;
  bool first_pending_ = true;
  std::promise<Result> first_;

  // ---- Shared with application threads (mu_) ----
  mutable std::mutex mu_;
  std::condition_variable cv_;  // queue space / flushed / state changes
  std::deque<OutChunk> pending_;
  std::vector<std::unique_ptr<char[]>> spare_;  // kChunkBytes buffers
  uint64_t queued_frames_ = 0;                  // pending_ + being written
  uint64_t queued_msgs_ = 0;
  uint64_t queued_bytes_ = 0;
  uint64_t drops_ = 0;         // connections lost with unsent frames
  bool write_active_ = false;  // a write chain runs or is posted
  bool connected_ = false;     // WELCOME received, not yet lost
  // The session's socket for direct writes from the sending thread (-1: none;
  // cleared here before the I/O thread closes the socket), and when the last
  // SEND was queued or written (see SendFrame: a send after a pause is
  // written at once instead of waking the I/O thread).
  int direct_fd_ = -1;
  std::chrono::steady_clock::time_point last_send_;
  bool closing_ = false;  // Close() called
  std::string private_name_;
  uint64_t max_message_size_ = 0;
  // Joined groups and capabilities, in join order.
  std::vector<std::pair<std::string, std::string>> groups_;
  std::atomic<uint64_t> next_msg_id_{1};

  // ---- Events (ev_mu_) ----
  mutable std::mutex ev_mu_;
  std::condition_variable ev_cv_;
  std::deque<Event> events_;
  bool events_closed_ = false;
  bool fd_signaled_ = false;
  bool read_paused_ = false;
  int event_pipe_[2] = {-1, -1};

  std::mutex cb_mu_;
  std::shared_ptr<const Callbacks> callbacks_;  // cb_mu_
  std::atomic<uint64_t> cb_version_{1};         // bumped by SetCallbacks()
};

}  // namespace msgc::client_internal

#endif  // MSGC_CLIENT_CLIENT_IMPL_H_
