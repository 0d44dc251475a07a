#include "config/syntax.h"

#include <fmt/format.h>

namespace msgc::config {

std::string Position::ToString() const {
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

std::string Diagnostic::ToString() const {
  return fmt::format("{}: {}", pos.ToString(), message);
}

const char* ValueKindName(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kString:
      return "a string";
    case Value::Kind::kWord:
      return "a word";
    case Value::Kind::kArray:
      return "an array";
    case Value::Kind::kDict:
      return "a dictionary";
  }
  return "a value";
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace msgc::config
