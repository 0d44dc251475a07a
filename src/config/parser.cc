#include "config/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "config/lexer.h"

namespace msgc::config {
namespace {

using TK = Token::Kind;

bool IsIncludeKeyword(const std::string& word, bool* readonly) {
  const std::string lower = ToLower(word);
  if (lower == "include") {
    *readonly = false;
    return true;
  }
  if (lower == "readonly_include") {
    *readonly = true;
    return true;
  }
  return false;
}

class Parser {
 public:
  explicit Parser(LexResult lexed)
      : tokens_(std::move(lexed.tokens)), errors_(std::move(lexed.errors)) {}

  std::vector<Node> ParseFile() {
    std::vector<Node> nodes;
    while (Peek().kind != TK::kEnd) {
      if (Peek().kind == TK::kRBrace) {
        Error(Peek().pos, "unexpected '}' with no open scope");
        Next();
        continue;
      }
      ParseStatement(&nodes, 0);
    }
    return nodes;
  }

  bool ParseSingleValue(Value* out) {
    if (Peek().kind == TK::kEquals) Next();
    if (Peek().kind == TK::kEnd) {
      Error(Peek().pos, "expected a value");
      return false;
    }
    if (!ParseValueAt(out, 0)) return false;
    if (Peek().kind != TK::kEnd) {
      Error(Peek().pos, fmt::format("unexpected {} after the value",
                                    DescribeToken(Peek())));
      return false;
    }
    return true;
  }

  std::vector<Diagnostic> TakeErrors() { return std::move(errors_); }

 private:
  const Token& Peek(size_t ahead = 0) const {
    const size_t i = at_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }

  const Token& Next() {
    const Token& t = Peek();
    if (at_ < tokens_.size() - 1) ++at_;
    return t;
  }

  void Error(const Position& pos, std::string message) {
    errors_.push_back(Diagnostic{pos, std::move(message)});
  }

  // Error recovery: skips tokens until the start of a line after `line`
  // (at the bracket depth we started at), a '}' closing the enclosing scope,
  // or the end.
  void Synchronize(int line) {
    int depth = 0;
    while (Peek().kind != TK::kEnd) {
      const Token& t = Peek();
      if (depth == 0 && t.kind == TK::kRBrace) return;
      if (depth == 0 && t.pos.line > line && t.kind == TK::kWord) return;
      switch (t.kind) {
        case TK::kLBrace:
        case TK::kLParen:
        case TK::kLBracket:
          ++depth;
          break;
        case TK::kRBrace:
        case TK::kRParen:
        case TK::kRBracket:
          if (depth > 0) --depth;
          break;
        default:
          break;
      }
      Next();
    }
  }

  // Parses one statement into `out`. `depth` is the scope nesting depth.
  void ParseStatement(std::vector<Node>* out, int depth) {
    const Token& first = Peek();
    if (first.kind != TK::kWord) {
      Error(first.pos, fmt::format("expected an option or scope name, got {}",
                                   DescribeToken(first)));
      const int line = first.pos.line;
      Next();
      Synchronize(line);
      return;
    }
    Next();
    const Token& second = Peek();

    bool readonly = false;
    if (IsIncludeKeyword(first.text, &readonly) &&
        (second.kind == TK::kString || second.kind == TK::kWord)) {
      Node node;
      node.kind = Node::Kind::kInclude;
      node.pos = first.pos;
      node.name = first.text;
      node.readonly = readonly;
      node.path = second.text;
      node.path_pos = second.pos;
      Next();
      out->push_back(std::move(node));
      return;
    }

    if (second.kind == TK::kEquals) {
      Next();
      Node node;
      node.kind = Node::Kind::kOption;
      node.pos = first.pos;
      node.name = first.text;
      if (Peek().kind == TK::kEnd || Peek().kind == TK::kRBrace ||
          Peek().kind == TK::kEquals) {
        Error(Peek().pos, fmt::format("expected a value after '{} =', got {}",
                                      first.text, DescribeToken(Peek())));
        if (Peek().kind == TK::kEquals) Synchronize(Peek().pos.line);
        return;
      }
      if (!ParseValueAt(&node.value, depth)) {
        Synchronize(Peek().pos.line);
        return;
      }
      out->push_back(std::move(node));
      return;
    }

    Node node;
    node.kind = Node::Kind::kScope;
    node.pos = first.pos;
    node.name = first.text;
    if ((second.kind == TK::kString || second.kind == TK::kWord) &&
        Peek(1).kind == TK::kLBrace) {
      node.has_instance = true;
      node.instance = second.text;
      node.instance_pos = second.pos;
      Next();
    }
    if (Peek().kind != TK::kLBrace) {
      Error(Peek().pos, fmt::format("expected '=' or '{{' after '{}', got {}",
                                    first.text, DescribeToken(Peek())));
      Synchronize(first.pos.line);
      return;
    }
    const Token& open = Next();
    if (depth + 1 > kMaxNestingDepth) {
      Error(open.pos,
            fmt::format("scopes nested more than {} deep", kMaxNestingDepth));
      SkipToMatchingBrace();
      return;
    }
    while (true) {
      const Token& t = Peek();
      if (t.kind == TK::kRBrace) {
        Next();
        break;
      }
      if (t.kind == TK::kEnd) {
        Error(node.pos,
              fmt::format("scope '{}' is not closed: missing '}}'", node.name));
        break;
      }
      ParseStatement(&node.children, depth + 1);
    }
    out->push_back(std::move(node));
  }

  // After an over-deep '{': skip to its matching '}' (consumed) or the end.
  void SkipToMatchingBrace() {
    int depth = 1;
    while (Peek().kind != TK::kEnd) {
      const TK k = Next().kind;
      if (k == TK::kLBrace) ++depth;
      if (k == TK::kRBrace && --depth == 0) return;
    }
  }

  // Parses a value starting at the current token. Returns false (having
  // recorded an error) if it could not.
  bool ParseValueAt(Value* out, int depth) {
    const Token& t = Peek();
    out->pos = t.pos;
    switch (t.kind) {
      case TK::kString:
      case TK::kWord:
        out->kind =
            t.kind == TK::kString ? Value::Kind::kString : Value::Kind::kWord;
        out->text = t.text;
        Next();
        return true;
      case TK::kLParen:
      case TK::kLBracket:
        break;
      default:
        Error(t.pos, fmt::format("expected a value, got {}", DescribeToken(t)));
        return false;
    }
    if (depth + 1 > kMaxNestingDepth) {
      Error(t.pos,
            fmt::format("values nested more than {} deep", kMaxNestingDepth));
      return false;
    }
    const Token open = Next();
    if (open.kind == TK::kLParen) {
      out->kind = Value::Kind::kArray;
      while (true) {
        const Token& n = Peek();
        if (n.kind == TK::kRParen) {
          Next();
          return true;
        }
        if (n.kind == TK::kEnd || n.kind == TK::kRBrace ||
            n.kind == TK::kRBracket || n.kind == TK::kEquals ||
            n.kind == TK::kLBrace) {
          Error(open.pos, fmt::format("array is not closed: missing ')' "
                                      "before {} at {}",
                                      DescribeToken(n), n.pos.ToString()));
          return false;
        }
        Value item;
        if (!ParseValueAt(&item, depth + 1)) return false;
        out->items.push_back(std::move(item));
      }
    }
    out->kind = Value::Kind::kDict;
    while (true) {
      const Token& k = Peek();
      if (k.kind == TK::kRBracket) {
        Next();
        return true;
      }
      if (k.kind != TK::kWord && k.kind != TK::kString) {
        if (k.kind == TK::kEnd || k.kind == TK::kRBrace) {
          Error(open.pos, fmt::format("dictionary is not closed: missing ']' "
                                      "before {} at {}",
                                      DescribeToken(k), k.pos.ToString()));
        } else {
          Error(k.pos, fmt::format("expected a dictionary key, got {}",
                                   DescribeToken(k)));
        }
        return false;
      }
      DictEntry entry;
      entry.key = k.text;
      entry.pos = k.pos;
      Next();
      if (Peek().kind != TK::kEquals) {
        Error(Peek().pos,
              fmt::format("expected '=' after dictionary key '{}', got {}",
                          entry.key, DescribeToken(Peek())));
        return false;
      }
      Next();
      if (!ParseValueAt(&entry.value, depth + 1)) return false;
      out->entries.push_back(std::move(entry));
    }
  }

  std::vector<Token> tokens_;
  size_t at_ = 0;
  std::vector<Diagnostic> errors_;
};

}  // namespace

ParseResult Parse(std::string_view text, const std::string& file) {
  Parser parser(Lex(text, file));
  ParseResult result;
  result.nodes = parser.ParseFile();
  result.errors = parser.TakeErrors();
  // Lexer errors were collected first; report everything in text order.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::pair(a.pos.line, a.pos.column) <
                            std::pair(b.pos.line, b.pos.column);
                   });
  return result;
}

ParseResult ParseValue(std::string_view text, const std::string& file,
                       Value* out) {
  Parser parser(Lex(text, file));
  ParseResult result;
  parser.ParseSingleValue(out);
  result.errors = parser.TakeErrors();
  return result;
}

}  // namespace msgc::config
