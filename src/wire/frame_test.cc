#include "wire/frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace msgc::wire {
namespace {

constexpr uint32_t kMax = 1 << 20;

// Feeds `bytes` to a fresh decoder cut at `split` (two appends), collecting
// every frame (copied, since views die with the next call).
struct Decoded {
  std::vector<std::pair<FrameHeader, std::string>> frames;
  int too_large = 0;
  bool error = false;
  std::string error_text;
};

Decoded DecodeAll(const std::string& bytes, size_t split, uint32_t max = kMax) {
  Decoded d;
  FrameDecoder dec(max);
  auto drain = [&] {
    Frame f;
    for (;;) {
      auto r = dec.Next(&f);
      if (r == FrameDecoder::Result::kNeedMore) return;
      if (r == FrameDecoder::Result::kError) {
        d.error = true;
        d.error_text = dec.error();
        return;
      }
      if (r == FrameDecoder::Result::kTooLarge) {
        ++d.too_large;
        continue;
      }
      d.frames.emplace_back(
          f.header, std::string(reinterpret_cast<const char*>(f.body.data()),
                                f.body.size()));
    }
  };
  dec.Append(std::string_view(bytes).substr(0, split));
  drain();
  dec.Append(std::string_view(bytes).substr(split));
  drain();
  return d;
}

Frame AsFrame(const std::pair<FrameHeader, std::string>& p) {
  return Frame{p.first, std::span<const uint8_t>(
                            reinterpret_cast<const uint8_t*>(p.second.data()),
                            p.second.size())};
}

// Runs `check` on the single frame in `bytes`, decoded with every possible
// split point of the stream, and also byte by byte.
void ForEverySplit(const std::string& bytes,
                   const std::function<void(const Frame&)>& check) {
  for (size_t split = 0; split <= bytes.size(); ++split) {
    Decoded d = DecodeAll(bytes, split);
    ASSERT_FALSE(d.error) << d.error_text << " at split " << split;
    ASSERT_EQ(d.frames.size(), 1u) << "split " << split;
    check(AsFrame(d.frames[0]));
  }
  FrameDecoder dec(kMax);
  Frame f;
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore) << "byte " << i;
    dec.Append(std::string_view(bytes).substr(i, 1));
  }
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  check(f);
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore);
}

TEST(Frame, HeaderLayoutIsLittleEndian) {
  std::string out;
  EncodeLeave(Leave{"g"}, &out);
  ASSERT_EQ(out.size(), kHeaderSize + 3);
  EXPECT_EQ(out.substr(0, 8),
            std::string("\x03\x00\x00\x00\x11\x00\x00\x00", 8));
  EXPECT_EQ(out.substr(8), std::string("\x01\x00g", 3));
}

TEST(Frame, HelloRoundTripAtEverySplit) {
  std::string out;
  Hello h;
  h.min_version = 1;
  h.max_version = 3;
  h.role = Role::kPeer;
  h.name = "node-1";
  h.incarnation = 0x1122334455667788ull;
  h.software = "msgc/0.1.0";
  h.replaces = "#a#node-2";
  h.replaces_session = 0x99aabbccddeeff00ull;
  EncodeHello(h, &out);
  ForEverySplit(out, [&](const Frame& f) {
    Hello got;
    ASSERT_TRUE(DecodeHello(f, &got).ok());
    EXPECT_EQ(got.min_version, 1);
    EXPECT_EQ(got.max_version, 3);
    EXPECT_EQ(got.role, Role::kPeer);
    EXPECT_EQ(got.name, "node-1");
    EXPECT_EQ(got.incarnation, 0x1122334455667788ull);
    EXPECT_EQ(got.software, "msgc/0.1.0");
    EXPECT_EQ(got.replaces, "#a#node-2");
    EXPECT_EQ(got.replaces_session, 0x99aabbccddeeff00ull);
  });
}

TEST(Frame, WelcomeRoundTripAtEverySplit) {
  std::string out;
  Welcome w;
  w.version = 1;
  w.private_name = "#a#n1";
  w.node = "n1";
  w.incarnation = 42;
  w.max_message_size = 64 << 20;
  w.keepalive_ms = 5000;
  w.idle_timeout_ms = 30000;
  w.session_id = 0x1234567800000009ull;
  EncodeWelcome(w, &out);
  ForEverySplit(out, [&](const Frame& f) {
    Welcome got;
    ASSERT_TRUE(DecodeWelcome(f, &got).ok());
    EXPECT_EQ(got.version, 1);
    EXPECT_EQ(got.private_name, "#a#n1");
    EXPECT_EQ(got.node, "n1");
    EXPECT_EQ(got.incarnation, 42u);
    EXPECT_EQ(got.max_message_size, 64u << 20);
    EXPECT_EQ(got.keepalive_ms, 5000u);
    EXPECT_EQ(got.idle_timeout_ms, 30000u);
    EXPECT_EQ(got.session_id, 0x1234567800000009ull);
  });
}

TEST(Frame, ErrorRoundTripAtEverySplit) {
  std::string out;
  Error e;
  e.code = ErrorCode::kNoSuchRecipient;
  e.fatal = false;
  e.request = FrameType::kSend;
  e.ref = 77;
  e.subject = "#x#n1";
  e.text = "no such recipient";
  EncodeError(e, &out);
  ForEverySplit(out, [&](const Frame& f) {
    Error got;
    ASSERT_TRUE(DecodeError(f, &got).ok());
    EXPECT_EQ(got.code, ErrorCode::kNoSuchRecipient);
    EXPECT_FALSE(got.fatal);
    EXPECT_EQ(got.request, FrameType::kSend);
    EXPECT_EQ(got.ref, 77u);
    EXPECT_EQ(got.subject, "#x#n1");
    EXPECT_EQ(got.text, "no such recipient");
  });
}

TEST(Frame, NoopAndGoodbyeAreEmpty) {
  std::string out;
  EncodeNoop(&out);
  ForEverySplit(out, [](const Frame& f) {
    EXPECT_EQ(f.header.type, FrameType::kNoop);
    EXPECT_TRUE(DecodeEmpty(f).ok());
  });
  out.clear();
  EncodeGoodbye(&out);
  ForEverySplit(out, [](const Frame& f) {
    EXPECT_EQ(f.header.type, FrameType::kGoodbye);
    EXPECT_TRUE(DecodeEmpty(f).ok());
  });
}

TEST(Frame, JoinAndLeaveRoundTripAtEverySplit) {
  std::string out;
  EncodeJoin(Join{"ec_cluster", std::string_view("caps\0bin", 8)}, &out);
  ForEverySplit(out, [](const Frame& f) {
    Join got;
    ASSERT_TRUE(DecodeJoin(f, &got).ok());
    EXPECT_EQ(got.group, "ec_cluster");
    EXPECT_EQ(got.capabilities, std::string_view("caps\0bin", 8));
  });
  out.clear();
  EncodeLeave(Leave{"ec_cluster"}, &out);
  ForEverySplit(out, [](const Frame& f) {
    Leave got;
    ASSERT_TRUE(DecodeLeave(f, &got).ok());
    EXPECT_EQ(got.group, "ec_cluster");
  });
}

TEST(Frame, SendRoundTripAtEverySplit) {
  std::string out;
  std::vector<std::string_view> groups = {"g1", "#b#n1", "g2"};
  EncodeSend(Service::kAgreed, kSendSelfDiscard, 9, groups, "payload", &out);
  ForEverySplit(out, [&](const Frame& f) {
    Send got;
    ASSERT_TRUE(DecodeSend(f, &got).ok());
    EXPECT_EQ(got.service, Service::kAgreed);
    EXPECT_EQ(got.flags, kSendSelfDiscard);
    EXPECT_EQ(got.msg_id, 9u);
    EXPECT_EQ(got.groups.ToVector(), groups);
    EXPECT_EQ(got.data, "payload");
  });
}

TEST(Frame, DeliverFromSendGroupsRoundTrip) {
  std::string send;
  std::vector<std::string_view> groups = {"a", "bb"};
  EncodeSend(Service::kSafe, 0, 1, groups, "x", &send);
  Decoded d = DecodeAll(send, 0);
  ASSERT_EQ(d.frames.size(), 1u);
  Send s;
  ASSERT_TRUE(DecodeSend(AsFrame(d.frames[0]), &s).ok());
  std::string out;
  EncodeDeliver(s.service, s.flags, "#a#n1", s.groups, s.data, &out);
  EXPECT_EQ(out.size(), DeliverFrameSize("#a#n1", s.groups.raw().size(), "x"));
  // The same frame is produced from a plain list of names.
  std::string out2;
  EncodeDeliver(s.service, s.flags, "#a#n1", groups, "x", &out2);
  EXPECT_EQ(out, out2);
  ForEverySplit(out, [&](const Frame& f) {
    Deliver got;
    ASSERT_TRUE(DecodeDeliver(f, &got).ok());
    EXPECT_EQ(got.service, Service::kSafe);
    EXPECT_EQ(got.sender, "#a#n1");
    EXPECT_EQ(got.groups.ToVector(), groups);
    EXPECT_EQ(got.data, "x");
  });
}

TEST(Frame, MembershipRoundTripAtEverySplit) {
  std::string out;
  std::vector<Member> changed = {{"#b#n1", "cb"}};
  std::vector<Member> members = {{"#a#n1", ""}, {"#b#n1", "cb"}};
  EncodeMembership("g", Cause::kJoin, kMembershipTransitional, ViewId{0xabc, 7},
                   changed, members, &out);
  ForEverySplit(out, [&](const Frame& f) {
    Membership got;
    ASSERT_TRUE(DecodeMembership(f, &got).ok());
    EXPECT_EQ(got.group, "g");
    EXPECT_EQ(got.cause, Cause::kJoin);
    EXPECT_EQ(got.flags, kMembershipTransitional);
    EXPECT_EQ(got.view, (ViewId{0xabc, 7}));
    auto c = got.changed.ToVector();
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].name, "#b#n1");
    EXPECT_EQ(c[0].capabilities, "cb");
    auto m = got.members.ToVector();
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].name, "#a#n1");
    EXPECT_EQ(m[0].capabilities, "");
    EXPECT_EQ(m[1].name, "#b#n1");
  });
}

TEST(Frame, SeveralFramesInOneStreamAtEverySplit) {
  std::string out;
  EncodeNoop(&out);
  EncodeJoin(Join{"g", "c"}, &out);
  std::vector<std::string_view> groups = {"g"};
  EncodeSend(Service::kFifo, 0, 1, groups, "hello", &out);
  for (size_t split = 0; split <= out.size(); ++split) {
    Decoded d = DecodeAll(out, split);
    ASSERT_FALSE(d.error);
    ASSERT_EQ(d.frames.size(), 3u) << split;
    EXPECT_EQ(d.frames[0].first.type, FrameType::kNoop);
    EXPECT_EQ(d.frames[1].first.type, FrameType::kJoin);
    EXPECT_EQ(d.frames[2].first.type, FrameType::kSend);
  }
}

TEST(Frame, ViewIdTextAndGid) {
  ViewId v{0x1f, 12};
  EXPECT_EQ(v.ToString(), "000000000000001f.12");
  EXPECT_EQ(v.Gid(), (ViewId{0x1f, 12}).Gid());
  EXPECT_NE(v.Gid(), (ViewId{0x1f, 13}).Gid());
}

// ---- Malformed input ----

std::string Header(uint32_t len, uint8_t type, uint8_t flags = 0,
                   uint16_t reserved = 0) {
  std::string h(8, '\0');
  for (int i = 0; i < 4; ++i) h[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  h[4] = static_cast<char>(type);
  h[5] = static_cast<char>(flags);
  h[6] = static_cast<char>(reserved & 0xff);
  h[7] = static_cast<char>(reserved >> 8);
  return h;
}

TEST(FrameDecoder, UnknownTypeIsAnErrorAndSticks) {
  Decoded d = DecodeAll(Header(0, 0x8e), 0);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.error_text, "unknown frame type 0x8e");
  FrameDecoder dec(kMax);
  dec.Append(Header(0, 0x99));
  Frame f;
  EXPECT_EQ(dec.Next(&f), FrameDecoder::Result::kError);
  std::string noop;
  EncodeNoop(&noop);
  dec.Append(noop);
  EXPECT_EQ(dec.Next(&f), FrameDecoder::Result::kError);
}

TEST(FrameDecoder, MeshRangeIsPassedThrough) {
  Decoded d = DecodeAll(Header(2, 0x41) + "ab", 3);
  ASSERT_FALSE(d.error);
  ASSERT_EQ(d.frames.size(), 1u);
  EXPECT_TRUE(IsMeshFrameType(static_cast<uint8_t>(d.frames[0].first.type)));
  EXPECT_EQ(d.frames[0].second, "ab");
}

TEST(FrameDecoder, ReservedFieldMustBeZero) {
  Decoded d = DecodeAll(Header(0, 0x04, 0, 1), 0);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.error_text, "NOOP frame with reserved field 0x0001");
}

TEST(FrameDecoder, OversizedControlFrameIsAnError) {
  Decoded d = DecodeAll(Header(kMaxControlBody + 1, 0x10), 0, 0xffffffffu);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.error_text,
            "JOIN frame of 16777217 bytes exceeds the limit of 16777216");
}

TEST(FrameDecoder, OversizedSendIsSkippedAndStreamContinues) {
  // A 100-byte SEND against a 50-byte limit, then a NOOP: at every split the
  // decoder reports kTooLarge once, drops the body and returns the NOOP.
  std::string big;
  std::vector<std::string_view> groups = {"g"};
  EncodeSend(Service::kFifo, 0, 5, groups, std::string(100, 'x'), &big);
  std::string stream = big;
  EncodeNoop(&stream);
  for (size_t split = 0; split <= stream.size(); ++split) {
    Decoded d = DecodeAll(stream, split, 50);
    ASSERT_FALSE(d.error) << split;
    EXPECT_EQ(d.too_large, 1) << split;
    ASSERT_EQ(d.frames.size(), 1u) << split;
    EXPECT_EQ(d.frames[0].first.type, FrameType::kNoop);
  }
}

TEST(FrameDecoder, LargeFrameReassembledFromManyReads) {
  std::string payload(16 << 20, 'p');
  payload[12345] = 'q';
  std::string out;
  std::vector<std::string_view> groups = {"g"};
  EncodeSend(Service::kFifo, 0, 1, groups, payload, &out);
  FrameDecoder dec(64 << 20);
  Frame f;
  size_t pos = 0;
  FrameDecoder::Result r = FrameDecoder::Result::kNeedMore;
  while (pos < out.size()) {
    size_t n = std::min<size_t>(65536, out.size() - pos);
    auto dst = dec.PrepareAppend(n);
    std::memcpy(dst.data(), out.data() + pos, n);
    dec.CommitAppend(n);
    pos += n;
    r = dec.Next(&f);
    if (pos < out.size()) {
      ASSERT_EQ(r, FrameDecoder::Result::kNeedMore);
    }
  }
  ASSERT_EQ(r, FrameDecoder::Result::kFrame);
  Send s;
  ASSERT_TRUE(DecodeSend(f, &s).ok());
  EXPECT_EQ(s.data, payload);
}

// Lent input (SetInput): the decoder must return exactly what copied input
// gives, at every chunk size, although the lent buffer is overwritten after
// every use (as the connections' shared read buffer is) and the caller
// sometimes stops early and keeps the rest (a connection yielding after
// messages_per_iter frames).
TEST(FrameDecoder, LentInputMatchesCopiedInputAtEveryChunkSize) {
  std::vector<std::string_view> groups = {"g"};
  std::string stream;
  EncodeNoop(&stream);
  EncodeSend(Service::kFifo, 0, 5, groups, std::string(100, 'x'), &stream);
  EncodeJoin(Join{"group-one", "cap"}, &stream);
  EncodeSend(Service::kAgreed, 0, 6, groups, std::string(20, 'y'), &stream);
  EncodeNoop(&stream);
  EncodeLeave(Leave{"group-one"}, &stream);
  EncodeSend(Service::kFifo, 0, 7, groups, std::string(15, 'z'), &stream);
  const Decoded want = DecodeAll(stream, 0, 50);
  ASSERT_FALSE(want.error);
  ASSERT_EQ(want.too_large, 1);
  ASSERT_EQ(want.frames.size(), 6u);
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    for (int stop_after : {0, 1, 2}) {
      FrameDecoder dec(50);
      Decoded got;
      std::vector<uint8_t> lent(chunk);
      for (size_t pos = 0; pos < stream.size(); pos += chunk) {
        const size_t n = std::min(chunk, stream.size() - pos);
        std::memcpy(lent.data(), stream.data() + pos, n);
        dec.SetInput(std::span<const uint8_t>(lent.data(), n));
        Frame f;
        int handled = 0;
        for (;;) {
          if (stop_after > 0 && handled == stop_after) {
            dec.KeepInput();
            handled = 0;  // go on from the kept bytes, as a posted turn does
          }
          auto r = dec.Next(&f);
          if (r == FrameDecoder::Result::kNeedMore) break;
          ASSERT_NE(r, FrameDecoder::Result::kError) << dec.error();
          ++handled;
          if (r == FrameDecoder::Result::kTooLarge) {
            ++got.too_large;
            continue;
          }
          got.frames.emplace_back(
              f.header,
              std::string(reinterpret_cast<const char*>(f.body.data()),
                          f.body.size()));
        }
        std::fill(lent.begin(), lent.end(), 0xee);
      }
      ASSERT_EQ(got.too_large, 1) << chunk << " " << stop_after;
      ASSERT_EQ(got.frames.size(), want.frames.size())
          << chunk << " " << stop_after;
      for (size_t i = 0; i < want.frames.size(); ++i) {
        EXPECT_EQ(got.frames[i].first.type, want.frames[i].first.type);
        EXPECT_EQ(got.frames[i].second, want.frames[i].second)
            << chunk << " " << stop_after << " frame " << i;
      }
      EXPECT_EQ(dec.buffered(), 0u);
    }
  }
}

// Whole frames in lent input are returned in place and cost no own buffer;
// only a trailing partial frame is copied, and that buffer is freed once the
// frame is complete.
TEST(FrameDecoder, LentInputCopiesOnlyAPartialFrame) {
  std::string stream;
  EncodeJoin(Join{"a", ""}, &stream);
  EncodeJoin(Join{"b", ""}, &stream);
  const size_t one = stream.size() / 2;
  FrameDecoder dec(kMax);
  auto bytes = [](const std::string& s, size_t from, size_t n) {
    return std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(s.data()) + from, n);
  };
  Frame f;
  dec.SetInput(bytes(stream, 0, stream.size()));
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  EXPECT_EQ(reinterpret_cast<const char*>(f.body.data()),
            stream.data() + kHeaderSize);
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore);
  EXPECT_EQ(dec.capacity(), 0u);

  // One and a half frames: the half is copied.
  dec.SetInput(bytes(stream, 0, one + 3));
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore);
  EXPECT_EQ(dec.buffered(), 3u);
  EXPECT_GT(dec.capacity(), 0u);
  // The rest of it and one more whole frame: the first comes from the own
  // buffer, the second in place.
  std::string more = stream.substr(one + 3);
  EncodeJoin(Join{"c", ""}, &more);
  dec.SetInput(bytes(more, 0, more.size()));
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  Join j;
  ASSERT_TRUE(DecodeJoin(f, &j).ok());
  EXPECT_EQ(j.group, "b");
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  EXPECT_EQ(reinterpret_cast<const char*>(f.body.data()),
            more.data() + (one - 3) + kHeaderSize);
  ASSERT_TRUE(DecodeJoin(f, &j).ok());
  EXPECT_EQ(j.group, "c");
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore);
  EXPECT_EQ(dec.buffered(), 0u);
  dec.ShrinkIfIdle();
  EXPECT_EQ(dec.capacity(), 0u);
}

Frame RawFrame(FrameType type, const std::string& body, uint8_t flags = 0) {
  static std::string keep;
  keep = body;
  return Frame{FrameHeader{static_cast<uint32_t>(keep.size()), type, flags},
               std::span<const uint8_t>(
                   reinterpret_cast<const uint8_t*>(keep.data()), keep.size())};
}

TEST(FrameDecode, TruncatedFieldIsNamed) {
  Join j;
  Status s =
      DecodeJoin(RawFrame(FrameType::kJoin, std::string("\x05\x00gr", 4)), &j);
  EXPECT_EQ(s.code(), Status::Code::kProtocolError);
  EXPECT_EQ(s.message(), "malformed JOIN frame: group truncated");
}

TEST(FrameDecode, TrailingBytesAreAnError) {
  Leave l;
  Status s = DecodeLeave(
      RawFrame(FrameType::kLeave, std::string("\x01\x00gXY", 5)), &l);
  EXPECT_EQ(s.message(), "malformed LEAVE frame: 2 trailing bytes");
  s = DecodeEmpty(RawFrame(FrameType::kNoop, "z"));
  EXPECT_EQ(s.message(), "malformed NOOP frame: 1 trailing bytes");
}

TEST(FrameDecode, GroupNameTooLong) {
  std::string body;
  body += static_cast<char>(0);
  body += static_cast<char>(1);  // 256 bytes
  body += std::string(256, 'g');
  Leave l;
  Status s = DecodeLeave(RawFrame(FrameType::kLeave, body), &l);
  EXPECT_EQ(s.message(),
            "malformed LEAVE frame: group is 256 bytes, more than 255");
}

TEST(FrameDecode, HelloBadMagicAndRole) {
  std::string out;
  EncodeHello(Hello{}, &out);
  std::string body = out.substr(kHeaderSize);
  std::string bad_magic = body;
  bad_magic[0] = 'X';
  Hello h;
  EXPECT_EQ(DecodeHello(RawFrame(FrameType::kHello, bad_magic), &h).message(),
            "malformed HELLO frame: bad magic 0x43475358");
  std::string bad_role = body;
  bad_role[8] = 9;
  EXPECT_EQ(DecodeHello(RawFrame(FrameType::kHello, bad_role), &h).message(),
            "malformed HELLO frame: unknown role 9");
}

TEST(FrameDecode, SendNeedsDestinationsAndKnownService) {
  std::string out;
  std::vector<std::string_view> none;
  EncodeSend(Service::kFifo, 0, 1, none, "d", &out);
  Send s;
  EXPECT_EQ(DecodeSend(RawFrame(FrameType::kSend, out.substr(kHeaderSize)), &s)
                .message(),
            "malformed SEND frame: no destinations");
  out.clear();
  std::vector<std::string_view> g = {"g"};
  EncodeSend(Service::kFifo, 0, 1, g, "d", &out);
  std::string body = out.substr(kHeaderSize);
  body[0] = 7;
  EXPECT_EQ(DecodeSend(RawFrame(FrameType::kSend, body), &s).message(),
            "malformed SEND frame: unknown service 7");
}

TEST(FrameDecode, TooManyDestinations) {
  std::vector<std::string> names(kMaxGroupsPerSend + 1, "g");
  std::vector<std::string_view> views(names.begin(), names.end());
  std::string out;
  EncodeSend(Service::kFifo, 0, 1, views, "d", &out);
  Send s;
  EXPECT_EQ(DecodeSend(RawFrame(FrameType::kSend, out.substr(kHeaderSize)), &s)
                .message(),
            "malformed SEND frame: destinations has 65 entries, more than 64");
}

TEST(FrameDecode, MembershipUnknownCause) {
  std::string out;
  EncodeMembership("g", Cause::kLeave, 0, ViewId{1, 1}, {}, {}, &out);
  std::string body = out.substr(kHeaderSize);
  body[3] = 0;  // cause after str16 "g"
  Membership m;
  EXPECT_EQ(
      DecodeMembership(RawFrame(FrameType::kMembership, body), &m).message(),
      "malformed MEMBERSHIP frame: unknown cause 0");
}

TEST(FrameDecode, EveryTruncationOfEveryFrameIsRejected) {
  // Each valid body, cut short at every length, must fail cleanly.
  std::vector<std::string> frames;
  std::string f;
  EncodeHello(Hello{1, 1, Role::kClient, "a", 0, "s", "#a#m", 7}, &f);
  frames.push_back(f);
  f.clear();
  EncodeWelcome(Welcome{1, "#a#n", "n", 1, 2, 3, 4, 5}, &f);
  frames.push_back(f);
  f.clear();
  EncodeError(Error{ErrorCode::kBadGroup, false, FrameType::kJoin, 0, "g", "t"},
              &f);
  frames.push_back(f);
  f.clear();
  EncodeJoin(Join{"g", "c"}, &f);
  frames.push_back(f);
  f.clear();
  std::vector<std::string_view> g = {"g"};
  EncodeSend(Service::kFifo, 0, 1, g, "d", &f);
  frames.push_back(f);
  f.clear();
  EncodeDeliver(Service::kFifo, 0, "#a#n", g, "d", &f);
  frames.push_back(f);
  f.clear();
  std::vector<Member> m = {{"#a#n", "c"}};
  EncodeMembership("g", Cause::kJoin, 0, ViewId{1, 2}, m, m, &f);
  frames.push_back(f);
  for (const std::string& frame : frames) {
    auto type = static_cast<FrameType>(frame[4]);
    std::string body = frame.substr(kHeaderSize);
    for (size_t len = 0; len < body.size(); ++len) {
      Frame fr = RawFrame(type, body.substr(0, len));
      Status s;
      switch (type) {
        case FrameType::kHello: {
          Hello x;
          s = DecodeHello(fr, &x);
          break;
        }
        case FrameType::kWelcome: {
          Welcome x;
          s = DecodeWelcome(fr, &x);
          break;
        }
        case FrameType::kError: {
          Error x;
          s = DecodeError(fr, &x);
          break;
        }
        case FrameType::kJoin: {
          Join x;
          s = DecodeJoin(fr, &x);
          break;
        }
        case FrameType::kSend: {
          Send x;
          s = DecodeSend(fr, &x);
          break;
        }
        case FrameType::kDeliver: {
          Deliver x;
          s = DecodeDeliver(fr, &x);
          break;
        }
        case FrameType::kMembership: {
          Membership x;
          s = DecodeMembership(fr, &x);
          break;
        }
        default:
          FAIL();
      }
      EXPECT_EQ(s.code(), Status::Code::kProtocolError)
          << FrameTypeName(type) << " cut at " << len;
    }
  }
}

// SEND and DELIVER have a fast decoding path (frame.cc) besides the
// checked one: whatever a mutated frame decodes to must encode back to the
// same bytes, and whatever fails must fail as a protocol error.
TEST(FrameDecode, MessageFramesDecodeExactlyUnderEveryByteMutation) {
  std::vector<std::string_view> groups = {"g1", "#a#n"};
  std::string send;
  EncodeSend(Service::kAgreed, kSendSelfDiscard, 7, groups, "data", &send);
  std::string deliver;
  EncodeDeliver(Service::kSafe, 0, "#b#n", groups, "data", &deliver);
  int decoded = 0;
  for (const std::string& frame : {send, deliver}) {
    const auto type = static_cast<FrameType>(frame[4]);
    const std::string body = frame.substr(kHeaderSize);
    for (size_t i = 0; i < body.size(); ++i) {
      for (int v : {0, 1, 2, 3, 0x7f, 0xff, (body[i] + 1) & 0xff}) {
        std::string m = body;
        m[i] = static_cast<char>(v);
        Frame fr = RawFrame(type, m);
        Status st;
        std::string again;
        if (type == FrameType::kSend) {
          Send x;
          st = DecodeSend(fr, &x);
          if (st.ok()) {
            EncodeSend(x.service, x.flags, x.msg_id, x.groups.ToVector(),
                       x.data, &again);
          }
        } else {
          Deliver x;
          st = DecodeDeliver(fr, &x);
          if (st.ok()) {
            EncodeDeliver(x.service, x.flags, x.sender, x.groups, x.data,
                          &again);
          }
        }
        if (st.ok()) {
          ++decoded;
          EXPECT_EQ(again.substr(kHeaderSize), m)
              << FrameTypeName(type) << " byte " << i << " = " << v;
        } else {
          EXPECT_EQ(st.code(), Status::Code::kProtocolError)
              << FrameTypeName(type) << " byte " << i << " = " << v << ": "
              << st.message();
        }
      }
    }
  }
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace msgc::wire
