// Parser for msgc configuration text (Momentum's config grammar).
//
// Grammar (EBNF; names and keywords are case-insensitive):
//
//   file      = { statement } ;
//   statement = include | option | scope ;
//   include   = ( "include" | "readonly_include" ) ( STRING | WORD ) ;
//   option    = NAME "=" value ;
//   scope     = NAME [ STRING | WORD ] "{" { statement } "}" ;
//   value     = STRING | WORD | array | dict ;
//   array     = "(" { value } ")" ;                  (* may be empty *)
//   dict      = "[" { KEY "=" value } "]" ;          (* may be empty *)
//   NAME      = WORD ;
//   KEY       = WORD | STRING ;                      (* may contain dots *)
//   WORD      = a run of characters other than whitespace, # " ' = { } ( ) [ ]
//               (and not containing the start of a /* comment) ;
//   STRING    = '"' { char | escape } '"' | "'" { char | escape } "'" ;
//   escape    = "\\" ( '"' | "'" | "\\" | "n" | "t" ) ;
//
// Comments: `#` to end of line, and `/* ... */` (not nesting). Whitespace
// and newlines are insignificant, so several statements may share a line
// (`node n1 { a = 1  b = 2 }`). A word `include` / `readonly_include`
// followed by a string or word is always an include directive.
//
// The parser never reads files: include directives become Node::kInclude
// nodes that the loader (load.cc) expands. On a syntax error it records a
// diagnostic, skips to the next plausible statement and continues, so one
// pass reports every syntax error. Nesting deeper than kMaxNestingDepth is an
// error (it bounds recursion on hostile input).
//
// Thread-safety: Parse() is a pure function.
#ifndef MSGC_CONFIG_PARSER_H_
#define MSGC_CONFIG_PARSER_H_

#include <string>
#include <string_view>
#include <vector>

#include "config/syntax.h"

namespace msgc::config {

inline constexpr int kMaxNestingDepth = 64;

struct ParseResult {
  std::vector<Node> nodes;         // top-level statements, in order
  std::vector<Diagnostic> errors;  // lexer and parser errors, in order
  bool ok() const { return errors.empty(); }
};

// Parses a whole file. `file` names the text in positions.
ParseResult Parse(std::string_view text, const std::string& file);

// Parses a single value (as typed on a console: `60`, `"x"`, `( a b )`,
// `[ k = v ]`); an optional leading `=` is accepted. On success `*out` holds
// the value and the result has no errors; trailing text is an error.
ParseResult ParseValue(std::string_view text, const std::string& file,
                       Value* out);

}  // namespace msgc::config

#endif  // MSGC_CONFIG_PARSER_H_
