// msgc::Result: the outcome of a libmsgc call that can fail in an expected
// way (no exceptions cross the API).
//
// A Result is either OK or carries a category code and a message. The codes
// have the same names and numeric values as the server-side msgc::Status
// (src/base/status.h) and as the C API's msgc_err_t (msgc.h), so tools can
// map them to exit codes and enums without tables.
//
// Thread-safety: a value type; const methods may be called from several
// threads at once, non-const ones need external synchronisation.
#ifndef MSGC_STATUS_H_
#define MSGC_STATUS_H_

#include <string>
#include <string_view>
#include <utility>

#include "msgc/export.h"

namespace msgc {

class MSGC_EXPORT Result {
 public:
  // Categories. Stable: never renumber.
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,  // bad input from the caller or a config file
    kNotFound = 2,
    kIoError = 3,        // socket or file error
    kProtocolError = 4,  // the server broke the wire protocol
    kTooLarge = 5,       // payload above the server's max_message_size
    kAlreadyExists = 6,  // e.g. the session name is in use
    kNotConnected = 7,   // no live server connection (or the client is closed)
    kTimedOut = 8,       // e.g. the outgoing queue stayed full
    kRefused = 9,        // the server refused a request
    kInternal = 10,
  };

  Result() = default;  // OK
  Result(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Result OK() { return Result(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "<category>: <message>".
  std::string ToString() const;

  friend bool operator==(const Result& a, const Result& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Name of a category, e.g. "not connected".
MSGC_EXPORT std::string_view ResultCodeName(Result::Code code);

}  // namespace msgc

#endif  // MSGC_STATUS_H_
