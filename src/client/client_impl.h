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
// queues: the outgoing frame queue (mu_; bounded; producers block on cv_)
// and the event queue (ev_mu_; read by Receive(), signalled through a pipe
// for EventFd()).
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
  struct OutFrame {
    std::string bytes;
    bool message = false;  // a SEND (counts against max_backlog)
  };
  using Batch = std::vector<OutFrame>;

  bool OnIoThread() const {
    return std::this_thread::get_id() == io_thread_id_;
  }
  Result SendFrame(std::span<const std::string_view> destinations,
                   std::string_view data, const SendOptions& options);
  // REQUIRES: mu_ held.
  void PushLocked(std::string bytes, bool message);

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
  // Decodes and handles up to messages_per_iter buffered frames, then
  // either yields (posting itself) or reads more.
  void ProcessFrames(uint64_t gen);
  // False when the frame ended the connection.
  bool HandleFrame(const wire::Frame& frame);
  bool OnWelcome(const wire::Frame& frame);
  void StartWrite();
  void OnWriteDone(uint64_t gen, const std::shared_ptr<Batch>& batch,
                   const asio::error_code& ec);
  void ConnectionLost(Result reason);
  void ArmKeepalive();
  void ArmIdle();
  void DoClose();
  void FinishClose();
  void ResetSocket();
  void Emit(Event event);
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
  std::optional<Result> fatal_error_;  // a fatal ERROR arrived
  std::string session_name_;           // HELLO name (adopted if "")
  bool ever_connected_ = false;
  bool first_pending_ = true;
  std::promise<Result> first_;

  // ---- Shared with application threads (mu_) ----
  mutable std::mutex mu_;
  std::condition_variable cv_;  // queue space / flushed / state changes
  std::deque<OutFrame> pending_;
  uint64_t queued_frames_ = 0;  // pending_ + being written
  uint64_t queued_msgs_ = 0;
  uint64_t queued_bytes_ = 0;
  uint64_t drops_ = 0;         // connections lost with unsent frames
  bool write_active_ = false;  // a write chain runs or is posted
  bool connected_ = false;     // WELCOME received, not yet lost
  bool closing_ = false;       // Close() called
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
  std::shared_ptr<const Callbacks> callbacks_;
};

}  // namespace msgc::client_internal

#endif  // MSGC_CLIENT_CLIENT_IMPL_H_
