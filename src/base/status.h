// Status: the result of an operation that can fail in an expected way.
//
// A Status is either OK or carries a category code and a message. Expected
// failures (bad config, peer disconnects, protocol errors) are values, never
// exceptions; a broken invariant is a bug and aborts instead.
//
// Thread-safety: a Status is a value type; const methods may be called from
// several threads at once, non-const ones need external synchronisation.
#ifndef MSGC_BASE_STATUS_H_
#define MSGC_BASE_STATUS_H_

#include <string>
#include <string_view>
#include <utility>

namespace msgc {

class Status {
 public:
  // Categories. Stable: tools and the C API map them to exit codes / enums.
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,  // bad input from a caller or a config file
    kNotFound = 2,
    kIoError = 3,        // socket or file error
    kProtocolError = 4,  // a peer broke the wire protocol
    kTooLarge = 5,       // payload above the configured maximum
    kAlreadyExists = 6,  // e.g. a duplicate private name
    kNotConnected = 7,   // the client has no live server connection
    kTimedOut = 8,
    kRefused = 9,  // the server refused a request
    kInternal = 10,
  };

  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) {
    return Status(Code::kNotFound, std::move(msg));
  }
  static Status IoError(std::string msg) {
    return Status(Code::kIoError, std::move(msg));
  }
  static Status ProtocolError(std::string msg) {
    return Status(Code::kProtocolError, std::move(msg));
  }
  static Status TooLarge(std::string msg) {
    return Status(Code::kTooLarge, std::move(msg));
  }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status NotConnected(std::string msg) {
    return Status(Code::kNotConnected, std::move(msg));
  }
  static Status TimedOut(std::string msg) {
    return Status(Code::kTimedOut, std::move(msg));
  }
  static Status Refused(std::string msg) {
    return Status(Code::kRefused, std::move(msg));
  }
  static Status Internal(std::string msg) {
    return Status(Code::kInternal, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "<category>: <message>".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Name of a category, e.g. "invalid argument".
std::string_view StatusCodeName(Status::Code code);

}  // namespace msgc

#endif  // MSGC_BASE_STATUS_H_
