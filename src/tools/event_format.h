// Formatting of msgc events as the `msgc listen` tool prints them: one JSON
// object a line (--json) or one human-readable line.
//
// JSON lines (keys in this order; the tests and scripts rely on it):
//   {"type":"message","group":"g","groups":["g"],"sender":"#a#n1",
//    "service":"fifo","data":"hi"}
//   {"type":"membership","group":"g","cause":"join","member":"#a#n1",
//    "members":["#a#n1","#b#n1"],"view":"...","changed":["#a#n1"]}
// A message's "group" is its first destination. A payload that is not valid
// UTF-8 is written as "data_b64" (standard base64) instead of "data". A
// membership line has "transitional":true / "self_leave":true only when set
// and "member" (the first changed member) only when something changed.
//
// Thread-safety: pure functions.
#ifndef MSGC_TOOLS_EVENT_FORMAT_H_
#define MSGC_TOOLS_EVENT_FORMAT_H_

#include <string>
#include <string_view>

#include "msgc/client.h"

namespace msgc::tools {

bool IsValidUtf8(std::string_view text);
std::string Base64Encode(std::string_view data);

// Without the trailing newline.
std::string MessageToJson(const MessageEvent& m);
std::string MembershipToJson(const MembershipEvent& m);
std::string MessageToText(const MessageEvent& m);
std::string MembershipToText(const MembershipEvent& m);

// Printable form of arbitrary bytes: C-style escapes for control and
// non-ASCII bytes, e.g. "a\n\x01".
std::string Escape(std::string_view data);

}  // namespace msgc::tools

#endif  // MSGC_TOOLS_EVENT_FORMAT_H_
