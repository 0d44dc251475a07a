// Lexer for msgc configuration text.
//
// Splits text into tokens: bare words, quoted strings and the punctuation
// `= { } ( ) [ ]`. Skips whitespace, `#` comments (to end of line) and
// `/* ... */` comments (which do not nest: an inner `/*` is ordinary comment
// text). A word is a run of characters other than whitespace, `#`, quotes and
// punctuation; a word also ends where a `/*` comment begins.
//
// Strings are enclosed in "double" or 'single' quotes, must end on the line
// they start on and understand the escapes \" \' \\ \n \t; any other
// backslash sequence is kept verbatim (so "C:\dir" and regexes survive).
//
// Errors (unterminated string or comment, control characters) are reported at
// the position where the offending construct starts; lexing continues after
// them so that all errors are collected.
//
// Thread-safety: Lex() is a pure function.
#ifndef MSGC_CONFIG_LEXER_H_
#define MSGC_CONFIG_LEXER_H_

#include <string>
#include <string_view>
#include <vector>

#include "config/syntax.h"

namespace msgc::config {

struct Token {
  enum class Kind {
    kWord,
    kString,
    kEquals,    // =
    kLBrace,    // {
    kRBrace,    // }
    kLParen,    // (
    kRParen,    // )
    kLBracket,  // [
    kRBracket,  // ]
    kEnd,       // end of input (always the last token)
  };

  Kind kind = Kind::kEnd;
  std::string text;  // word text, or unescaped string contents
  Position pos;
};

struct LexResult {
  std::vector<Token> tokens;  // ends with a kEnd token
  std::vector<Diagnostic> errors;
};

// `file` is the name used in token positions.
LexResult Lex(std::string_view text, const std::string& file);

// For messages: "'word'", "string \"x\"", "'{'", "end of file".
std::string DescribeToken(const Token& token);

// True when `word` can be written bare (without quotes) and lexes back as a
// single kWord token with the same text.
bool IsBareWord(std::string_view word);

}  // namespace msgc::config

#endif  // MSGC_CONFIG_LEXER_H_
