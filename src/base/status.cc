#include "base/status.h"

namespace msgc {

std::string_view StatusCodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kInvalidArgument:
      return "invalid argument";
    case Status::Code::kNotFound:
      return "not found";
    case Status::Code::kIoError:
      return "I/O error";
    case Status::Code::kProtocolError:
      return "protocol error";
    case Status::Code::kTooLarge:
      return "too large";
    case Status::Code::kAlreadyExists:
      return "already exists";
    case Status::Code::kNotConnected:
      return "not connected";
    case Status::Code::kTimedOut:
      return "timed out";
    case Status::Code::kRefused:
      return "refused";
    case Status::Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

}  // namespace msgc
