#include "tools/event_format.h"

#include <nlohmann/json.hpp>

namespace msgc::tools {

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Reject overlong forms, surrogates and values above U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string Base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<unsigned char>(data[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<unsigned char>(data[i + 1])} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

using Json = nlohmann::ordered_json;

// Names and groups are not guaranteed UTF-8 by the protocol; escape any
// that are not so that dump() cannot fail.
std::string Safe(const std::string& s) {
  return IsValidUtf8(s) ? s : Escape(s);
}

Json Names(const std::vector<Member>& list) {
  Json out = Json::array();
  for (const Member& m : list) out.push_back(Safe(m.name));
  return out;
}

std::string Join(const std::vector<Member>& list) {
  std::string out;
  for (const Member& m : list) {
    if (!out.empty()) out += ',';
    out += Escape(m.name);
  }
  return out;
}

}  // namespace

std::string MessageToJson(const MessageEvent& m) {
  Json j;
  j["type"] = "message";
  j["group"] = m.groups.empty() ? std::string() : Safe(m.groups[0]);
  Json groups = Json::array();
  for (const std::string& g : m.groups) groups.push_back(Safe(g));
  j["groups"] = std::move(groups);
  j["sender"] = Safe(m.sender);
  j["service"] = std::string(ServiceName(m.service));
  if (IsValidUtf8(m.data)) {
    j["data"] = m.data;
  } else {
    j["data_b64"] = Base64Encode(m.data);
  }
  return j.dump();
}

std::string MembershipToJson(const MembershipEvent& m) {
  Json j;
  j["type"] = "membership";
  j["group"] = Safe(m.group);
  j["cause"] = std::string(MembershipCauseName(m.cause));
  if (!m.changed.empty()) j["member"] = Safe(m.changed[0].name);
  j["members"] = Names(m.members);
  j["view"] = m.view;
  j["changed"] = Names(m.changed);
  if (m.transitional) j["transitional"] = true;
  if (m.self_leave) j["self_leave"] = true;
  return j.dump();
}

std::string Escape(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size());
  for (char ch : data) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out;
}

std::string MessageToText(const MessageEvent& m) {
  std::string groups;
  for (const std::string& g : m.groups) {
    if (!groups.empty()) groups += ',';
    groups += Escape(g);
  }
  return "message " + groups + " from " + Escape(m.sender) + " (" +
         std::string(ServiceName(m.service)) + ", " +
         std::to_string(m.data.size()) + " bytes): " + Escape(m.data);
}

std::string MembershipToText(const MembershipEvent& m) {
  std::string out = "membership " + Escape(m.group) + " " +
                    std::string(MembershipCauseName(m.cause));
  if (m.transitional) out += " transitional";
  if (m.self_leave) out += " self-leave";
  out += " changed=" + Join(m.changed);
  out += " members=" + Join(m.members);
  out += " view=" + m.view;
  return out;
}

}  // namespace msgc::tools
