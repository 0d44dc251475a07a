// Spread configuration lexer/parser and the mbus.conf -> msgc_server.conf
// conversion. See mbus_conf.h and docs/upgrade.md.
#include "upgrade/mbus_conf.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <utility>

namespace msgc::upgrade {

namespace {

using config::ToLower;

// Parsing stops after this many errors (one more says so).
constexpr size_t kMaxErrors = 50;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Parameters Spread documents (spread.conf sample, config_parse.y).
constexpr std::array<std::string_view, 32> kKnownParameters = {
    "DebugFlags",
    "EventPriority",
    "EventLogFile",
    "EventTimeStamp",
    "EventPreciseTimeStamp",
    "DangerousMonitor",
    "SocketPortReuse",
    "MaxSessionMessages",
    "RuntimeDir",
    "DaemonUser",
    "DaemonGroup",
    "RequiredAuthMethods",
    "AllowedAuthMethods",
    "AccessControlPolicy",
    "AcceleratedRing",
    "Window",
    "PersonalWindow",
    "AcceleratedWindow",
    "TokenTimeout",
    "HurryTimeout",
    "AliveTimeout",
    "JoinTimeout",
    "RepTimeout",
    "SegTimeout",
    "GatherTimeout",
    "FormTimeout",
    "LookupTimeout",
    "LinkProtocol",
    "Hop",
    "TcpHop",
    "RouteMatrix",
    "DebugInitialSequence",
};

// Parameters that may be written without '= value'.
bool MayBeBare(std::string_view name) {
  return IEquals(name, "EventTimeStamp") ||
         IEquals(name, "EventPreciseTimeStamp");
}

bool IsKnownParameter(std::string_view name) {
  return std::any_of(kKnownParameters.begin(), kKnownParameters.end(),
                     [&](std::string_view k) { return IEquals(k, name); });
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + !same});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "; did you mean 'X'?" for a close known keyword, else "".
std::string Suggest(std::string_view name) {
  std::string_view best;
  size_t best_distance = 3;  // at most 2 edits
  auto consider = [&](std::string_view candidate) {
    const size_t d = EditDistance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  };
  for (std::string_view k : kKnownParameters) consider(k);
  consider("Spread_Segment");
  if (best.empty()) return "";
  return fmt::format("; did you mean '{}'?", best);
}

// Dotted-quad IPv4 with decimal parts 0..255 and no leading zeros.
bool IsIpv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    int value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
      value = value * 10 + (s[i] - '0');
      ++i;
    }
    const size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

// Only digits and dots: meant as an address (so a bad one is an error
// rather than a daemon name).
bool LooksNumeric(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.';
  });
}

bool IsDaemonName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == '.';
  });
}

// A word made only of the interface roles D, C and M.
bool IsRoleWord(std::string_view s) {
  return !s.empty() && s.size() <= 3 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           const char u =
               static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
           return u == 'D' || u == 'C' || u == 'M';
         });
}

bool IsLoopback(std::string_view ipv4) { return ipv4.substr(0, 4) == "127."; }

// ---- Lexer -----------------------------------------------------------------

enum class Tok { kWord, kString, kLBrace, kRBrace, kEquals, kSemicolon, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  Position pos;
};

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kWord:
      return fmt::format("'{}'", t.text);
    case Tok::kString:
      return fmt::format("string \"{}\"", t.text);
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kEquals:
      return "'='";
    case Tok::kSemicolon:
      return "';'";
    case Tok::kEnd:
      return "end of file";
  }
  return "?";
}

bool EndsWord(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v' || c == '{' || c == '}' || c == '=' || c == ';' ||
         c == '#' || c == '"' || u < 0x20 || u == 0x7f;
}

class Lexer {
 public:
  Lexer(std::string_view text, const std::string& file,
        std::vector<Diagnostic>* errors, std::vector<SubclusterMarker>* markers)
      : text_(text), file_(file), errors_(errors), markers_(markers) {}

  std::vector<Token> Run() {
    std::vector<Token> tokens;
    while (true) {
      SkipSpaceAndComments();
      Token t;
      t.pos = Here();
      const size_t start = at_;
      if (at_ >= text_.size()) {
        tokens.push_back(std::move(t));
        return tokens;
      }
      const char c = text_[at_];
      switch (c) {
        case '{':
          t.kind = Tok::kLBrace;
          Advance();
          break;
        case '}':
          t.kind = Tok::kRBrace;
          Advance();
          break;
        case '=':
          t.kind = Tok::kEquals;
          Advance();
          break;
        case ';':
          t.kind = Tok::kSemicolon;
          Advance();
          break;
        case '"':
          if (!LexString(&t)) continue;
          break;
        default: {
          const auto u = static_cast<unsigned char>(c);
          if (u < 0x20 || u == 0x7f) {
            errors_->push_back(
                {t.pos, fmt::format("unexpected control character 0x{:02x}",
                                    static_cast<unsigned>(u))});
            Advance();
            continue;
          }
          t.kind = Tok::kWord;
          while (at_ < text_.size() && !EndsWord(text_[at_])) Advance();
          t.text = std::string(text_.substr(start, at_ - start));
          break;
        }
      }
      tokens.push_back(std::move(t));
    }
  }

 private:
  Position Here() const {
    return Position{file_, line_, static_cast<int>(at_ - line_start_) + 1};
  }

  void Advance() {
    if (text_[at_] == '\n') {
      ++line_;
      line_start_ = at_ + 1;
    }
    ++at_;
  }

  // A "..." string on one line; Spread has no escapes.
  bool LexString(Token* t) {
    Advance();  // opening quote
    const size_t begin = at_;
    while (at_ < text_.size() && text_[at_] != '"' && text_[at_] != '\n') {
      Advance();
    }
    if (at_ >= text_.size() || text_[at_] != '"') {
      errors_->push_back(
          {t->pos, "unterminated string (a string must end on its line)"});
      return false;
    }
    t->kind = Tok::kString;
    t->text = std::string(text_.substr(begin, at_ - begin));
    Advance();  // closing quote
    return true;
  }

  void SkipSpaceAndComments() {
    while (at_ < text_.size()) {
      const char c = text_[at_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
          c == '\v') {
        Advance();
      } else if (c == '#') {
        const Position pos = Here();
        const size_t begin = at_ + 1;
        while (at_ < text_.size() && text_[at_] != '\n') Advance();
        Comment(text_.substr(begin, at_ - begin), pos);
      } else {
        return;
      }
    }
  }

  // Records "# Subcluster: X => Y" and "# Subcluster: X = Y".
  void Comment(std::string_view body, const Position& pos) {
    body = Trim(body);
    constexpr std::string_view kTag = "subcluster";
    if (body.size() < kTag.size() ||
        !IEquals(body.substr(0, kTag.size()), kTag)) {
      return;
    }
    body = Trim(body.substr(kTag.size()));
    if (body.empty() || body.front() != ':') return;
    body = Trim(body.substr(1));
    SubclusterMarker m;
    m.pos = pos;
    size_t arrow = body.find("=>");
    size_t width = 2;
    if (arrow == std::string_view::npos) {
      arrow = body.find('=');
      width = 1;
    }
    if (arrow == std::string_view::npos) {
      m.name = std::string(body);
    } else {
      m.name = std::string(Trim(body.substr(0, arrow)));
      m.manager = std::string(Trim(body.substr(arrow + width)));
    }
    if (m.name.empty()) return;
    markers_->push_back(std::move(m));
  }

  std::string_view text_;
  const std::string& file_;
  std::vector<Diagnostic>* errors_;
  std::vector<SubclusterMarker>* markers_;
  size_t at_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

// ---- Parser ----------------------------------------------------------------

class Parser {
 public:
  Parser(std::vector<Token> tokens, ParseResult* out)
      : tokens_(std::move(tokens)), out_(out) {}

  void Run() {
    while (Peek().kind != Tok::kEnd && !TooManyErrors()) {
      const Token& t = Peek();
      if (t.kind == Tok::kSemicolon) {
        Next();
      } else if (t.kind == Tok::kWord && IEquals(t.text, "Spread_Segment")) {
        ParseSegment();
      } else if (t.kind == Tok::kWord) {
        ParseParameter();
      } else {
        Error(t.pos,
              fmt::format("expected a parameter or Spread_Segment, got {}",
                          Describe(t)));
        Next();
        if (t.kind == Tok::kLBrace) SkipBlock();
      }
    }
    if (out_->errors.size() > kMaxErrors) {
      out_->errors.resize(kMaxErrors);
      out_->errors.push_back({out_->errors.back().pos, "too many errors"});
    }
  }

 private:
  const Token& Peek() const { return tokens_[at_]; }
  const Token& Next() {
    const Token& t = tokens_[at_];
    if (at_ + 1 < tokens_.size()) ++at_;
    return t;
  }
  void Error(const Position& pos, std::string message) {
    out_->errors.push_back({pos, std::move(message)});
  }
  void Warn(const Position& pos, std::string message) {
    out_->warnings.push_back({pos, std::move(message)});
  }
  bool TooManyErrors() const { return out_->errors.size() > kMaxErrors; }

  // After an unexpected '{': skips to its matching '}'.
  void SkipBlock() {
    int depth = 1;
    while (depth > 0 && Peek().kind != Tok::kEnd) {
      const Token& t = Next();
      if (t.kind == Tok::kLBrace) ++depth;
      if (t.kind == Tok::kRBrace) --depth;
    }
  }

  // Skips the rest of a bad parameter: to the next token on a later line.
  void SkipLine(int line) {
    while (Peek().kind != Tok::kEnd && Peek().pos.line == line) {
      if (Next().kind == Tok::kLBrace) SkipBlock();
    }
  }

  // `Name = value`, `Name = { words }` or a bare `Name`.
  void ParseParameter() {
    const Token name = Next();
    SpreadParameter p;
    p.name = name.text;
    p.pos = name.pos;
    p.known = IsKnownParameter(name.text);
    if (Peek().kind != Tok::kEquals) {
      if (MayBeBare(name.text)) {
        p.bare = true;
        out_->conf.parameters.push_back(std::move(p));
        return;
      }
      if (p.known) {
        Error(Peek().pos,
              fmt::format("expected '=' after parameter '{}', got {}",
                          name.text, Describe(Peek())));
      } else {
        Error(name.pos,
              fmt::format("unknown keyword '{}' (expected 'Name = value' or "
                          "Spread_Segment){}",
                          name.text, Suggest(name.text)));
      }
      SkipLine(name.pos.line);
      return;
    }
    const Token equals = Next();
    const Token& v = Peek();
    if (v.kind == Tok::kEnd || v.pos.line != equals.pos.line ||
        (v.kind != Tok::kWord && v.kind != Tok::kString &&
         v.kind != Tok::kLBrace)) {
      Error(
          v.kind == Tok::kEnd || v.pos.line != equals.pos.line ? equals.pos
                                                               : v.pos,
          fmt::format("missing value after '=' for parameter '{}'", name.text));
      SkipLine(equals.pos.line);
      return;
    }
    if (v.kind == Tok::kLBrace) {
      const Token open = Next();
      p.value.assign(1, '{');  // not = "{": GCC 12 -Wrestrict false positive
      while (true) {
        const Token& t = Peek();
        if (t.kind == Tok::kRBrace) {
          Next();
          break;
        }
        if (t.kind == Tok::kSemicolon) {
          Next();
          continue;
        }
        if (t.kind == Tok::kWord || t.kind == Tok::kString) {
          p.value += " " + Next().text;
          continue;
        }
        if (t.kind == Tok::kEnd) {
          Error(open.pos,
                fmt::format("'{{' of parameter '{}' is not closed", name.text));
        } else {
          Error(t.pos, fmt::format("unexpected {} in the value of '{}'",
                                   Describe(t), name.text));
          Next();
          if (t.kind == Tok::kLBrace) SkipBlock();
          SkipBlock();
        }
        return;
      }
      p.value += " }";
    } else {
      p.value = Next().text;
    }
    if (!p.known) {
      Warn(name.pos, fmt::format("unknown Spread parameter '{}' ignored{}",
                                 name.text, Suggest(name.text)));
    }
    out_->conf.parameters.push_back(std::move(p));
  }

  // "a.b.c.d[:port]" of a segment header; false (with an error) if bad.
  bool ParseSegmentAddress(const Token& t, std::string* address,
                           uint16_t* port) {
    std::string_view text = t.text;
    *port = kSpreadDefaultPort;
    const size_t colon = text.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view p = text.substr(colon + 1);
      int value = 0;
      const bool digits = !p.empty() && p.size() <= 5 &&
                          std::all_of(p.begin(), p.end(), [](char c) {
                            return c >= '0' && c <= '9';
                          });
      if (digits) {
        for (char c : p) value = value * 10 + (c - '0');
      }
      if (!digits || value < 1 || value > 65535) {
        Error(t.pos, fmt::format("bad port '{}' in segment address '{}' "
                                 "(must be 1..65535)",
                                 p, t.text));
        return false;
      }
      *port = static_cast<uint16_t>(value);
      text = text.substr(0, colon);
    }
    if (!IsIpv4(text)) {
      Error(t.pos, fmt::format("bad segment address '{}' (expected the "
                               "broadcast or multicast IPv4 address, e.g. "
                               "10.0.0.255:4803)",
                               t.text));
      return false;
    }
    *address = std::string(text);
    return true;
  }

  void ParseSegment() {
    const Token keyword = Next();
    SpreadSegment seg;
    seg.pos = keyword.pos;
    // The lexer has already collected every marker: take the last one
    // written before this segment.
    for (const SubclusterMarker& m : out_->conf.subclusters) {
      if (m.pos.line < keyword.pos.line ||
          (m.pos.line == keyword.pos.line &&
           m.pos.column < keyword.pos.column)) {
        seg.subcluster = m.name;
      }
    }
    // Header addresses up to '{'.
    bool first = true;
    while (Peek().kind == Tok::kWord) {
      const Token t = Next();
      std::string address;
      uint16_t port = 0;
      if (!ParseSegmentAddress(t, &address, &port)) continue;
      if (first) {
        seg.address = address;
        seg.port = port;
      } else {
        seg.extra_addresses.push_back(t.text);
      }
      first = false;
    }
    if (Peek().kind != Tok::kLBrace) {
      Error(Peek().pos, fmt::format("expected '{{' after the Spread_Segment "
                                    "address, got {}",
                                    Describe(Peek())));
      SkipLine(keyword.pos.line);
      return;
    }
    if (first) {
      Error(Peek().pos, "Spread_Segment needs an address before '{'");
    }
    const Token open = Next();
    // `entry_open`: the last host may still take an interface block;
    // `wants_address`: it is a bare name that may still take its address.
    bool entry_open = false;
    bool wants_address = false;
    bool closed = false;
    while (!closed && !TooManyErrors()) {
      const Token& t = Peek();
      switch (t.kind) {
        case Tok::kRBrace:
          Next();
          closed = true;
          break;
        case Tok::kSemicolon:
          Next();
          entry_open = wants_address = false;
          break;
        case Tok::kEnd:
          Error(open.pos, fmt::format("Spread_Segment at {} is not closed: "
                                      "missing '}}' before end of file",
                                      keyword.pos.ToString()));
          closed = true;
          break;
        case Tok::kEquals:
          Error(t.pos,
                "unexpected '=' inside Spread_Segment (parameters belong "
                "outside segments)");
          Next();
          entry_open = wants_address = false;
          break;
        case Tok::kLBrace: {
          const Token brace = Next();
          if (!entry_open) {
            Error(brace.pos,
                  "interface block '{' must follow a daemon entry "
                  "('name ip', 'name' or 'ip')");
            SkipBlock();
          } else {
            ParseInterfaces(brace, &seg.hosts.back());
          }
          entry_open = wants_address = false;
          break;
        }
        case Tok::kWord:
        case Tok::kString: {
          const Token w = Next();
          if (LooksNumeric(w.text)) {
            if (!IsIpv4(w.text)) {
              Error(w.pos, fmt::format("bad IPv4 address '{}'", w.text));
              entry_open = wants_address = false;
              break;
            }
            if (!wants_address) {
              SpreadHost h;
              h.pos = w.pos;
              seg.hosts.push_back(std::move(h));
            }
            seg.hosts.back().address = w.text;
            seg.hosts.back().address_pos = w.pos;
            entry_open = true;
            wants_address = false;
            break;
          }
          if (!IsDaemonName(w.text)) {
            Error(w.pos, fmt::format("bad daemon name '{}' (letters, digits, "
                                     "'-', '_' and '.' only)",
                                     w.text));
            entry_open = wants_address = false;
            break;
          }
          if (w.text.size() > kSpreadMaxNameLength) {
            Warn(w.pos, fmt::format("daemon name '{}' is longer than Spread's "
                                    "limit of {} characters",
                                    w.text, kSpreadMaxNameLength));
          }
          SpreadHost h;
          h.name = w.text;
          h.pos = w.pos;
          seg.hosts.push_back(std::move(h));
          entry_open = wants_address = true;
          break;
        }
      }
    }
    if (seg.hosts.empty() && !seg.address.empty()) {
      Warn(keyword.pos,
           fmt::format("Spread_Segment {} lists no daemons", seg.address));
    }
    out_->conf.segments.push_back(std::move(seg));
  }

  // `{ [D][C][M] ip ... }` after a host; the '{' is consumed.
  void ParseInterfaces(const Token& open, SpreadHost* host) {
    std::string roles;
    Position roles_pos;
    bool bad = false;  // an error was reported already
    while (true) {
      const Token& t = Peek();
      if (t.kind == Tok::kRBrace || t.kind == Tok::kEnd) {
        if (t.kind == Tok::kEnd) {
          Error(open.pos, "interface block is not closed: missing '}'");
        } else {
          Next();
        }
        if (!roles.empty()) {
          Error(roles_pos, fmt::format("interface roles '{}' without an "
                                       "address",
                                       roles));
        }
        if (host->interfaces.empty() && roles.empty() && !bad) {
          Error(open.pos, "empty interface block");
        }
        return;
      }
      if (t.kind == Tok::kSemicolon) {
        Next();
        continue;
      }
      if (t.kind == Tok::kWord && IsRoleWord(t.text)) {
        if (roles.empty()) roles_pos = t.pos;
        for (char c : t.text) {
          const char u =
              static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          if (roles.find(u) == std::string::npos) roles += u;
        }
        Next();
        continue;
      }
      if (t.kind == Tok::kWord && IsIpv4(t.text)) {
        SpreadInterface i;
        i.roles = roles;
        i.address = t.text;
        i.pos = roles.empty() ? t.pos : roles_pos;
        host->interfaces.push_back(std::move(i));
        roles.clear();
        Next();
        continue;
      }
      Error(t.pos, fmt::format("expected interface roles (D, C, M) or an "
                               "IPv4 address in the interface block, got {}",
                               Describe(t)));
      roles.clear();
      bad = true;
      Next();
      if (t.kind == Tok::kLBrace) SkipBlock();
    }
  }

  std::vector<Token> tokens_;
  size_t at_ = 0;
  ParseResult* out_;
};

std::string JoinDiagnostics(const std::vector<Diagnostic>& d) {
  std::string out;
  for (const Diagnostic& x : d) out += x.ToString() + "\n";
  return out;
}

// The address msgcd should use for `host`, and where it was written.
struct Chosen {
  std::string address;
  Position pos;
  bool is_name = false;  // a host name left for msgcd to resolve
};

Chosen ChooseAddress(const SpreadHost& host,
                     std::vector<Diagnostic>* warnings) {
  const SpreadInterface* daemon = nullptr;
  const SpreadInterface* all_roles = nullptr;
  int daemon_count = 0;
  for (const SpreadInterface& i : host.interfaces) {
    if (i.roles.find('D') != std::string::npos) {
      ++daemon_count;
      if (daemon == nullptr) daemon = &i;
    } else if (i.roles.empty() && all_roles == nullptr) {
      all_roles = &i;
    }
  }
  const std::string who = host.name.empty() ? host.address : host.name;
  if (daemon_count > 1) {
    warnings->push_back(
        {host.pos, fmt::format("'{}' has {} daemon (D) interfaces; using the "
                               "first, {}",
                               who, daemon_count, daemon->address)});
  }
  const SpreadInterface* pick = daemon != nullptr ? daemon : all_roles;
  if (pick != nullptr) {
    if (!host.address.empty() && pick->address != host.address) {
      warnings->push_back(
          {pick->pos,
           fmt::format("'{}': using its daemon interface {} rather than {}; "
                       "make sure msgc servers can reach each other there",
                       who, pick->address, host.address)});
    }
    return {pick->address, pick->pos, false};
  }
  if (!host.address.empty()) return {host.address, host.address_pos, false};
  return {host.name, host.pos, true};
}

}  // namespace

std::string ConvertResult::ErrorText() const { return JoinDiagnostics(errors); }
std::string ConvertResult::WarningText() const {
  return JoinDiagnostics(warnings);
}

ParseResult ParseMbusConf(std::string_view text, std::string_view file) {
  ParseResult result;
  result.conf.file = std::string(file);
  Lexer lexer(text, result.conf.file, &result.errors, &result.conf.subclusters);
  std::vector<Token> tokens = lexer.Run();
  Parser parser(std::move(tokens), &result);
  parser.Run();
  // Lexer and parser errors interleave: report them in file order.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::pair(a.pos.line, a.pos.column) <
                            std::pair(b.pos.line, b.pos.column);
                   });
  return result;
}

ConvertResult Convert(const MbusConf& conf, const ConvertOptions& options) {
  ConvertResult result;
  struct Entry {
    std::string name;  // lower-cased
    Chosen chosen;
    Position pos;  // of the host entry
  };
  std::vector<Entry> entries;
  std::map<std::string, size_t> by_name;
  std::map<std::string, size_t> by_address;  // IPv4 addresses only

  if (options.port == 0) {
    result.errors.push_back(
        {Position{conf.file, 1, 1}, "port must be 1..65535"});
  }
  for (const SpreadSegment& seg : conf.segments) {
    for (const SpreadHost& host : seg.hosts) {
      Chosen chosen = ChooseAddress(host, &result.warnings);
      std::string name;
      if (host.name.empty()) {
        name = host.address;
        result.warnings.push_back(
            {host.pos, fmt::format("daemon {} has no name; using the address "
                                   "as its peer name",
                                   host.address)});
      } else {
        name = ToLower(host.name);
      }
      if (chosen.is_name) {
        result.warnings.push_back(
            {host.pos, fmt::format("'{}' has no address; msgcd will resolve "
                                   "the name '{}'",
                                   host.name, chosen.address)});
      } else {
        if (chosen.address == seg.address) {
          result.errors.push_back(
              {chosen.pos,
               fmt::format("address {} of '{}' is the segment's broadcast "
                           "address (segment at {})",
                           chosen.address, name, seg.pos.ToString())});
          continue;
        }
        if (IsLoopback(chosen.address)) {
          result.warnings.push_back(
              {chosen.pos, fmt::format("'{}' has the loopback address {}; "
                                       "other nodes cannot reach it",
                                       name, chosen.address)});
        }
      }
      if (auto it = by_name.find(name); it != by_name.end()) {
        const Entry& first = entries[it->second];
        if (first.chosen.address == chosen.address) {
          result.warnings.push_back(
              {host.pos,
               fmt::format("'{}' {} is listed again (first at {}); "
                           "kept once",
                           name, chosen.address, first.pos.ToString())});
        } else {
          result.errors.push_back(
              {host.pos, fmt::format("'{}' has address {} here but {} at {}",
                                     name, chosen.address, first.chosen.address,
                                     first.chosen.pos.ToString())});
        }
        continue;
      }
      if (!chosen.is_name) {
        if (auto it = by_address.find(chosen.address); it != by_address.end()) {
          const Entry& first = entries[it->second];
          result.errors.push_back(
              {chosen.pos,
               fmt::format("address {} is used by '{}' here and by '{}' at {}",
                           chosen.address, name, first.name,
                           first.pos.ToString())});
          continue;
        }
        by_address[chosen.address] = entries.size();
      }
      by_name[name] = entries.size();
      entries.push_back({name, std::move(chosen), host.pos});
    }
  }
  if (entries.empty() && result.errors.empty()) {
    result.errors.push_back(
        {Position{conf.file, 1, 1},
         "no daemons found: there is no Spread_Segment with entries to "
         "convert"});
  }
  if (!result.errors.empty()) return result;

  // Header: source and subclusters (each once, in file order).
  std::string text = fmt::format("# Generated from {}", conf.file);
  std::vector<std::string> subclusters;
  for (const SubclusterMarker& m : conf.subclusters) {
    std::string s =
        m.manager.empty() ? m.name : fmt::format("{} => {}", m.name, m.manager);
    if (std::find(subclusters.begin(), subclusters.end(), s) ==
        subclusters.end()) {
      subclusters.push_back(std::move(s));
    }
  }
  if (!subclusters.empty()) {
    text += " (subclusters: ";
    for (size_t i = 0; i < subclusters.size(); ++i) {
      if (i > 0) text += ", ";
      text += subclusters[i];
    }
    text += ")";
  }
  text += "\nmsgc_server {\n";
  if (options.port != config::kDefaultPort) {
    text += fmt::format("   port = {}\n", options.port);
  }
  text += "   peers = [\n";
  for (const Entry& e : entries) {
    // Names passed IsDaemonName, so they are bare words in Momentum's
    // grammar too; addresses are IPv4 literals or such names.
    text += fmt::format("     {} = \"{}\"\n", e.name, e.chosen.address);
  }
  text += "   ]\n}\n\nmsgcserver_listener {\n";
  text += fmt::format("   listen \":{}\" {{ }}\n}}\n", options.port);

  config::LoadOptions load;
  load.allow_includes = false;
  const config::LoadResult check =
      config::LoadString(text, conf.file + " (generated)", load);
  if (!check.ok()) {
    for (const Diagnostic& d : check.errors) {
      result.errors.push_back(
          {d.pos, "generated configuration does not validate: " + d.message});
    }
    if (result.errors.empty()) {
      result.errors.push_back({Position{conf.file, 1, 1},
                               "generated configuration does not validate"});
    }
    return result;
  }
  result.peers = check.config->server.peers;
  result.text = std::move(text);
  return result;
}

ConvertResult ConvertMbusConf(std::string_view text, std::string_view file,
                              const ConvertOptions& options) {
  ParseResult parsed = ParseMbusConf(text, file);
  if (!parsed.ok()) {
    ConvertResult result;
    result.errors = std::move(parsed.errors);
    result.warnings = std::move(parsed.warnings);
    return result;
  }
  ConvertResult result = Convert(parsed.conf, options);
  result.warnings.insert(result.warnings.begin(), parsed.warnings.begin(),
                         parsed.warnings.end());
  return result;
}

}  // namespace msgc::upgrade
