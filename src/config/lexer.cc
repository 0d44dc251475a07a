#include "config/lexer.h"

#include <fmt/format.h>

namespace msgc::config {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

bool IsPunct(char c) {
  return c == '=' || c == '{' || c == '}' || c == '(' || c == ')' || c == '[' ||
         c == ']';
}

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && !IsSpace(c)) || u == 0x7f;
}

// Ends a bare word (the `/*` case is checked separately).
bool EndsWord(char c) {
  return IsSpace(c) || IsPunct(c) || c == '#' || c == '"' || c == '\'' ||
         IsControl(c);
}

class Lexer {
 public:
  Lexer(std::string_view text, const std::string& file)
      : text_(text), file_(file) {}

  LexResult Run() {
    while (true) {
      SkipSpaceAndComments();
      if (at_ >= text_.size()) break;
      const char c = text_[at_];
      const Position start = Here();
      if (IsPunct(c)) {
        Emit(PunctKind(c), std::string(1, c), start);
        Advance();
      } else if (c == '"' || c == '\'') {
        LexString(start);
      } else if (IsControl(c)) {
        Error(start, fmt::format("unexpected control character 0x{:02x}",
                                 static_cast<unsigned char>(c)));
        Advance();
      } else {
        LexWord(start);
      }
    }
    Emit(Token::Kind::kEnd, "", Here());
    return std::move(result_);
  }

 private:
  static Token::Kind PunctKind(char c) {
    switch (c) {
      case '=':
        return Token::Kind::kEquals;
      case '{':
        return Token::Kind::kLBrace;
      case '}':
        return Token::Kind::kRBrace;
      case '(':
        return Token::Kind::kLParen;
      case ')':
        return Token::Kind::kRParen;
      case '[':
        return Token::Kind::kLBracket;
      default:
        return Token::Kind::kRBracket;
    }
  }

  Position Here() const { return Position{file_, line_, column_}; }

  void Advance() {
    if (text_[at_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++at_;
  }

  bool StartsComment() const {
    return at_ + 1 < text_.size() && text_[at_] == '/' && text_[at_ + 1] == '*';
  }

  void SkipSpaceAndComments() {
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (IsSpace(c)) {
        Advance();
      } else if (c == '#') {
        while (at_ < text_.size() && text_[at_] != '\n') Advance();
      } else if (StartsComment()) {
        const Position start = Here();
        Advance();
        Advance();
        bool closed = false;
        while (at_ < text_.size()) {
          if (text_[at_] == '*' && at_ + 1 < text_.size() &&
              text_[at_ + 1] == '/') {
            Advance();
            Advance();
            closed = true;
            break;
          }
          Advance();
        }
        if (!closed) Error(start, "unterminated comment: missing '*/'");
      } else {
        return;
      }
    }
  }

  void LexString(const Position& start) {
    const char quote = text_[at_];
    Advance();
    std::string value;
    while (true) {
      if (at_ >= text_.size() || text_[at_] == '\n') {
        Error(start, fmt::format("unterminated string: missing closing {}",
                                 quote == '"' ? "'\"'" : "\"'\""));
        // Keep the partial string so that the parser sees a value and does
        // not pile up follow-on errors.
        Emit(Token::Kind::kString, std::move(value), start);
        return;
      }
      const char c = text_[at_];
      if (c == quote) {
        Advance();
        break;
      }
      if (c == '\\' && at_ + 1 < text_.size()) {
        const char n = text_[at_ + 1];
        switch (n) {
          case '"':
          case '\'':
          case '\\':
            value.push_back(n);
            break;
          case 'n':
            value.push_back('\n');
            break;
          case 't':
            value.push_back('\t');
            break;
          case '\n':
            // A backslash before the newline does not continue the string.
            value.push_back('\\');
            Advance();
            continue;
          default:
            value.push_back('\\');
            value.push_back(n);
            break;
        }
        Advance();
        Advance();
        continue;
      }
      value.push_back(c);
      Advance();
    }
    Emit(Token::Kind::kString, std::move(value), start);
  }

  void LexWord(const Position& start) {
    const size_t begin = at_;
    while (at_ < text_.size() && !EndsWord(text_[at_]) && !StartsComment()) {
      Advance();
    }
    Emit(Token::Kind::kWord, std::string(text_.substr(begin, at_ - begin)),
         start);
  }

  void Emit(Token::Kind kind, std::string text, const Position& pos) {
    result_.tokens.push_back(Token{kind, std::move(text), pos});
  }

  void Error(const Position& pos, std::string message) {
    result_.errors.push_back(Diagnostic{pos, std::move(message)});
  }

  std::string_view text_;
  const std::string& file_;
  size_t at_ = 0;
  int line_ = 1;
  int column_ = 1;
  LexResult result_;
};

}  // namespace

LexResult Lex(std::string_view text, const std::string& file) {
  return Lexer(text, file).Run();
}

std::string DescribeToken(const Token& token) {
  switch (token.kind) {
    case Token::Kind::kWord:
      return fmt::format("'{}'", token.text);
    case Token::Kind::kString:
      return fmt::format("string \"{}\"", token.text);
    case Token::Kind::kEnd:
      return "end of file";
    default:
      return fmt::format("'{}'", token.text);
  }
}

bool IsBareWord(std::string_view word) {
  if (word.empty()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (EndsWord(word[i])) return false;
    if (word[i] == '/' && i + 1 < word.size() && word[i + 1] == '*') {
      return false;
    }
  }
  return true;
}

}  // namespace msgc::config
