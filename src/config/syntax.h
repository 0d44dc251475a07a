// Syntax tree of a msgc configuration file (Momentum's config grammar).
//
// The parser (parser.h) turns text into a list of Nodes; every Node and every
// Value carries the Position it was written at, so that later stages (include
// expansion, mapping to the typed Config) can report `file:line:column:`
// diagnostics. The tree is a plain value type: it owns all its children, has
// no back pointers and can be copied freely.
//
// Thread-safety: value types; concurrent const access is safe.
#ifndef MSGC_CONFIG_SYNTAX_H_
#define MSGC_CONFIG_SYNTAX_H_

#include <string>
#include <string_view>
#include <vector>

namespace msgc::config {

// Where something was written. `line` and `column` are 1-based (column counts
// bytes); line 0 means "the whole file" (e.g. a file that cannot be read).
struct Position {
  std::string file;
  int line = 0;
  int column = 0;

  // "file:line:column", or just "file" when line is 0.
  std::string ToString() const;

  friend bool operator==(const Position&, const Position&) = default;
};

// One error or problem found while loading a configuration.
struct Diagnostic {
  Position pos;
  std::string message;

  // "file:line:column: message".
  std::string ToString() const;
};

struct DictEntry;

// A value on the right of `=`: a scalar, an array `( ... )` or a dictionary
// `[ key = value ... ]`. Arrays and dictionaries may nest.
struct Value {
  enum class Kind {
    kString,  // "quoted" or 'quoted' text; `text` holds it unescaped
    kWord,    // bare word such as DEBUG, 10.10.10.10, 0.2, yes
    kArray,   // `items`
    kDict,    // `entries`, in the order written
  };

  Kind kind = Kind::kWord;
  Position pos;                    // first character of the value
  std::string text;                // kString / kWord
  std::vector<Value> items;        // kArray
  std::vector<DictEntry> entries;  // kDict

  bool is_scalar() const {
    return kind == Kind::kString || kind == Kind::kWord;
  }
};

struct DictEntry {
  std::string key;  // as written (callers lower-case where names are
                    // case-insensitive)
  Position pos;     // of the key
  Value value;
};

// A statement: `name = value`, `name [instance] { ... }` or an include.
struct Node {
  enum class Kind {
    kOption,   // name = value
    kScope,    // name [instance] { children }
    kInclude,  // include "path" / readonly_include "path"
  };

  Kind kind = Kind::kOption;
  Position pos;      // of the name (or of the include keyword)
  std::string name;  // as written; names are case-insensitive

  // kOption.
  Value value;

  // kScope. `has_instance` distinguishes `listen "" { }` from `listen { }`.
  bool has_instance = false;
  std::string instance;
  Position instance_pos;
  std::vector<Node> children;

  // kInclude. `path` as written (unescaped); `path_pos` is where.
  bool readonly = false;
  std::string path;
  Position path_pos;
};

// Human-readable kind name: "a string", "a word", "an array", "a dictionary".
const char* ValueKindName(Value::Kind kind);

// Lower-cases ASCII letters.
std::string ToLower(std::string_view s);

}  // namespace msgc::config

#endif  // MSGC_CONFIG_SYNTAX_H_
