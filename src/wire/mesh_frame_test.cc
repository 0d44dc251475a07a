#include "wire/mesh_frame.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace msgc::wire {
namespace {

constexpr uint32_t kMax = 1 << 20;

// Decodes the single frame in `bytes` with the stream cut at every split
// point (and byte by byte) and runs `check` on it each time.
void ForEverySplit(const std::string& bytes,
                   const std::function<void(const Frame&)>& check) {
  for (size_t split = 0; split <= bytes.size(); ++split) {
    FrameDecoder dec(kMax);
    Frame f;
    dec.Append(std::string_view(bytes).substr(0, split));
    auto r = dec.Next(&f);
    if (split < bytes.size()) {
      ASSERT_EQ(r, FrameDecoder::Result::kNeedMore) << "split " << split;
      dec.Append(std::string_view(bytes).substr(split));
      r = dec.Next(&f);
    }
    ASSERT_EQ(r, FrameDecoder::Result::kFrame) << "split " << split;
    check(f);
    ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore);
  }
  FrameDecoder dec(kMax);
  Frame f;
  for (size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kNeedMore);
    dec.Append(std::string_view(bytes).substr(i, 1));
  }
  ASSERT_EQ(dec.Next(&f), FrameDecoder::Result::kFrame);
  check(f);
}

// Every truncation of the body, and one trailing byte, must fail to decode
// (with the body length patched so that the frame itself is well formed).
template <typename Decode>
void ExpectStrict(const std::string& bytes, Decode decode) {
  const std::string body = bytes.substr(kHeaderSize);
  for (size_t n = 0; n <= body.size() + 1; ++n) {
    if (n == body.size()) continue;
    std::string b = body.substr(0, std::min(n, body.size()));
    if (n > body.size()) b.push_back('\0');
    Frame f;
    f.header.type = static_cast<FrameType>(bytes[4]);
    f.header.body_len = static_cast<uint32_t>(b.size());
    f.body = std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(b.data()), b.size());
    Status s = decode(f);
    EXPECT_EQ(s.code(), Status::Code::kProtocolError)
        << "body length " << n << " of " << body.size();
  }
}

TEST(MeshFrameTest, LinkSyncRoundTrip) {
  std::string bytes;
  LinkSync m{kSyncReset, 0x1122334455667788ull, 42, 7};
  EncodeLinkSync({0, 9}, m, &bytes);
  ForEverySplit(bytes, [&](const Frame& f) {
    EXPECT_EQ(static_cast<uint8_t>(f.header.type), 0x40);
    LinkPrefix p;
    std::span<const uint8_t> rest;
    ASSERT_TRUE(DecodeLinkPrefix(f, &p, &rest).ok());
    EXPECT_EQ(p.link_seq, 0u);
    EXPECT_EQ(p.ack, 9u);
    LinkSync d;
    ASSERT_TRUE(DecodeLinkSync(f, &d).ok());
    EXPECT_EQ(d.flags, kSyncReset);
    EXPECT_EQ(d.incarnation, m.incarnation);
    EXPECT_EQ(d.your_incarnation, 42u);
    EXPECT_EQ(d.received, 7u);
  });
  ExpectStrict(bytes, [](const Frame& f) {
    LinkSync d;
    return DecodeLinkSync(f, &d);
  });
}

TEST(MeshFrameTest, AckAndByeAreJustThePrefix) {
  std::string ack, bye;
  EncodeLinkAck({0, 77}, &ack);
  EncodeBye({0, 3}, &bye);
  EXPECT_EQ(ack.size(), kHeaderSize + kLinkPrefixSize);
  ForEverySplit(ack, [](const Frame& f) {
    EXPECT_TRUE(DecodeMeshEmpty(f).ok());
    LinkPrefix p;
    std::span<const uint8_t> rest;
    ASSERT_TRUE(DecodeLinkPrefix(f, &p, &rest).ok());
    EXPECT_EQ(p.ack, 77u);
  });
  ForEverySplit(bye, [](const Frame& f) {
    EXPECT_EQ(static_cast<uint8_t>(f.header.type), 0x42);
    EXPECT_TRUE(DecodeMeshEmpty(f).ok());
  });
  ExpectStrict(ack, [](const Frame& f) { return DecodeMeshEmpty(f); });
}

TEST(MeshFrameTest, ItemRoundTrip) {
  std::string bytes;
  Item m;
  m.flags = kItemHasBody;
  m.conf_id = 0x10000abcd;
  m.ts = 123456789;
  m.oseq = 17;
  m.service = Service::kSafe;
  m.kind = 5;
  m.epoch = 0x01020304;
  m.body = std::string_view("hello\0world", 11);
  EncodeItem({3, 4}, m, &bytes);
  ForEverySplit(bytes, [&](const Frame& f) {
    LinkPrefix p;
    std::span<const uint8_t> rest;
    ASSERT_TRUE(DecodeLinkPrefix(f, &p, &rest).ok());
    EXPECT_EQ(p.link_seq, 3u);
    EXPECT_EQ(p.ack, 4u);
    Item d;
    ASSERT_TRUE(DecodeItem(f, &d).ok());
    EXPECT_EQ(d.flags, kItemHasBody);
    EXPECT_EQ(d.conf_id, m.conf_id);
    EXPECT_EQ(d.ts, m.ts);
    EXPECT_EQ(d.oseq, 17u);
    EXPECT_EQ(d.service, Service::kSafe);
    EXPECT_EQ(d.kind, 5);
    EXPECT_EQ(d.epoch, 0x01020304u);
    EXPECT_EQ(d.body, m.body);
  });
  ExpectStrict(bytes, [](const Frame& f) {
    Item d;
    return DecodeItem(f, &d);
  });
}

TEST(MeshFrameTest, ItemBadServiceRejected) {
  std::string bytes;
  Item m;
  EncodeItem({1, 0}, m, &bytes);
  // service is at header + prefix + flags(1) + conf(8) + ts(8) + oseq(4).
  bytes[kHeaderSize + kLinkPrefixSize + 21] = 3;
  Frame f;
  f.header.type = static_cast<FrameType>(bytes[4]);
  f.body = std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()) + kHeaderSize,
      bytes.size() - kHeaderSize);
  Item d;
  Status s = DecodeItem(f, &d);
  EXPECT_EQ(s.code(), Status::Code::kProtocolError);
  EXPECT_NE(s.message().find("service"), std::string::npos) << s.message();
}

TEST(MeshFrameTest, SequencingMustMatchType) {
  std::string item, ack;
  EncodeItem({0, 0}, Item{}, &item);  // sequenced type without link_seq
  EncodeLinkAck({5, 0}, &ack);        // unsequenced type with one
  for (const std::string* b : {&item, &ack}) {
    Frame f;
    f.header.type = static_cast<FrameType>((*b)[4]);
    f.body = std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(b->data()) + kHeaderSize,
        b->size() - kHeaderSize);
    LinkPrefix p;
    std::span<const uint8_t> rest;
    Status s = DecodeLinkPrefix(f, &p, &rest);
    EXPECT_EQ(s.code(), Status::Code::kProtocolError);
    EXPECT_NE(s.message().find("link_seq"), std::string::npos);
  }
}

TEST(MeshFrameTest, ClockRoundTrip) {
  std::string bytes;
  EncodeClock({8, 2}, Clock{99, 1000, 990, 77}, &bytes);
  ForEverySplit(bytes, [](const Frame& f) {
    Clock d;
    ASSERT_TRUE(DecodeClock(f, &d).ok());
    EXPECT_EQ(d.conf_id, 99u);
    EXPECT_EQ(d.ts, 1000u);
    EXPECT_EQ(d.stable, 990u);
    EXPECT_EQ(d.oseq, 77u);
  });
  ExpectStrict(bytes, [](const Frame& f) {
    Clock d;
    return DecodeClock(f, &d);
  });
}

TEST(MeshFrameTest, LateBodyRoundTrip) {
  std::string bytes;
  Item m;
  m.flags = kItemHasBody | kItemRouted;
  m.conf_id = 5;
  m.ts = 44;
  m.oseq = 3;
  m.service = Service::kSafe;
  m.kind = 5;
  m.body = "payload";
  EncodeLateBody({9, 1}, m, &bytes);
  ForEverySplit(bytes, [](const Frame& f) {
    Item d;
    ASSERT_TRUE(DecodeLateBody(f, &d).ok());
    EXPECT_EQ(d.flags, kItemHasBody | kItemRouted);
    EXPECT_EQ(d.ts, 44u);
    EXPECT_EQ(d.oseq, 3u);
    EXPECT_EQ(d.service, Service::kSafe);
    EXPECT_EQ(d.body, "payload");
    Item wrong;
    EXPECT_FALSE(DecodeItem(f, &wrong).ok());  // the type is checked
  });
  ExpectStrict(bytes, [](const Frame& f) {
    Item d;
    return DecodeLateBody(f, &d);
  });
}

TEST(MeshFrameTest, GatherRoundTrip) {
  std::string req;
  GatherReq r;
  r.conf_id = 0x30000abcd;
  r.old_conf_id = 0x20000abcd;
  r.ranges = {{"alpha", 4, 9}, {"gamma", 1, 1}};
  EncodeGatherReq({2, 0}, r, &req);
  ForEverySplit(req, [](const Frame& f) {
    GatherReq d;
    ASSERT_TRUE(DecodeGatherReq(f, &d).ok());
    EXPECT_EQ(d.conf_id, 0x30000abcdu);
    EXPECT_EQ(d.old_conf_id, 0x20000abcdu);
    ASSERT_EQ(d.ranges.size(), 2u);
    EXPECT_EQ(d.ranges[0].origin, "alpha");
    EXPECT_EQ(d.ranges[0].first, 4u);
    EXPECT_EQ(d.ranges[0].last, 9u);
    EXPECT_EQ(d.ranges[1].origin, "gamma");
  });
  ExpectStrict(req, [](const Frame& f) {
    GatherReq d;
    return DecodeGatherReq(f, &d);
  });

  std::string item;
  GatherItem g;
  g.conf_id = 7;
  g.origin = "beta";
  g.item.flags = kItemHasBody | kItemRouted;
  g.item.conf_id = 6;
  g.item.ts = 100;
  g.item.oseq = 12;
  g.item.body = "x";
  EncodeGatherItem({3, 0}, g, &item);
  ForEverySplit(item, [](const Frame& f) {
    GatherItem d;
    ASSERT_TRUE(DecodeGatherItem(f, &d).ok());
    EXPECT_EQ(d.conf_id, 7u);
    EXPECT_EQ(d.origin, "beta");
    EXPECT_EQ(d.item.conf_id, 6u);
    EXPECT_EQ(d.item.oseq, 12u);
    EXPECT_EQ(d.item.body, "x");
  });
  ExpectStrict(item, [](const Frame& f) {
    GatherItem d;
    return DecodeGatherItem(f, &d);
  });

  std::string done;
  EncodeGatherDone({4, 0}, 7, &done);
  ForEverySplit(done, [](const Frame& f) {
    uint64_t id = 0;
    ASSERT_TRUE(DecodeGatherDone(f, &id).ok());
    EXPECT_EQ(id, 7u);
  });
  ExpectStrict(done, [](const Frame& f) {
    uint64_t id = 0;
    return DecodeGatherDone(f, &id);
  });
}

TEST(MeshFrameTest, ItemsRoundTrip) {
  std::string bytes;
  const size_t start = BeginItems(&bytes, 0x50000aaaa);
  for (uint32_t k = 1; k <= 3; ++k) {
    Item m;
    m.flags = kItemHasBody | kItemRouted;
    m.ts = 100 + k;
    m.oseq = k;
    m.service = k == 2 ? Service::kSafe : Service::kAgreed;
    m.kind = 5;
    if (k == 2) m.flags |= kItemFast;
    m.epoch = k == 2 ? 9 : 0;
    m.body = k == 3 ? "" : "body";
    AppendItem(&bytes, start, m);
  }
  EXPECT_EQ(ItemsCount(bytes, start), 3u);
  FinishItems(&bytes, start);
  PatchLinkPrefix(&bytes, {7, 6});
  ForEverySplit(bytes, [](const Frame& f) {
    std::vector<Item> d;
    ASSERT_TRUE(DecodeItems(f, &d).ok());
    ASSERT_EQ(d.size(), 3u);
    for (uint32_t k = 1; k <= 3; ++k) {
      EXPECT_EQ(d[k - 1].conf_id, 0x50000aaaau);
      EXPECT_EQ(d[k - 1].ts, 100 + k);
      EXPECT_EQ(d[k - 1].oseq, k);
      EXPECT_EQ(d[k - 1].body, k == 3 ? "" : "body");
      EXPECT_EQ(d[k - 1].epoch, k == 2 ? 9u : 0u);
    }
    EXPECT_EQ(d[1].service, Service::kSafe);
  });
  ExpectStrict(bytes, [](const Frame& f) {
    std::vector<Item> d;
    return DecodeItems(f, &d);
  });
}

// The bytes of an ITEMS frame, field by field (docs/mesh.md §5): the record
// encoder writes them in one go, and a record head encoded once for several
// frames gives the same bytes as AppendItem.
TEST(MeshFrameTest, ItemsBytesAreTheDocumentedLayout) {
  Item m;
  m.flags = kItemHasBody | kItemRouted;
  m.ts = 0x0102030405060708;
  m.oseq = 0x0a0b0c0d;
  m.service = Service::kSafe;
  m.kind = 0x21;
  m.epoch = 0x41424344;
  m.body = "xyz";
  std::string bytes;
  const size_t start = BeginItems(&bytes, 0x1112131415161718);
  AppendItem(&bytes, start, m);
  const ItemRecordHead head = EncodeItemRecordHead(m);
  AppendItemRecord(&bytes, start, head, m.body);
  FinishItems(&bytes, start);
  PatchLinkPrefix(&bytes, {0x31, 0x32});
  const std::string record = std::string(
      "\x05\x08\x07\x06\x05\x04\x03\x02\x01"
      "\x0d\x0c\x0b\x0a\x02\x21\x44\x43\x42\x41\x03\x00\x00\x00xyz",
      26);
  const std::string want =
      std::string("\x4e\x00\x00\x00\x4e\x00\x00\x00", 8) +
      std::string("\x31\x00\x00\x00\x00\x00\x00\x00", 8) +
      std::string("\x32\x00\x00\x00\x00\x00\x00\x00", 8) +
      std::string("\x18\x17\x16\x15\x14\x13\x12\x11\x02\x00", 10) + record +
      record;
  EXPECT_EQ(bytes, want);
  EXPECT_EQ(std::string_view(head.bytes, kItemRecordHeadSize),
            std::string_view(record).substr(0, kItemRecordHeadSize));
}

TEST(MeshFrameTest, ReachRoundTrip) {
  std::string bytes;
  Reach m;
  m.flags = kReachLocked;
  m.conf_id = 0x20000ffff;
  m.lock = {"alpha", 12};
  m.reachable = {{"beta", 1}, {"gamma", 2}};
  EncodeReach({1, 0}, m, &bytes);
  ForEverySplit(bytes, [](const Frame& f) {
    Reach d;
    ASSERT_TRUE(DecodeReach(f, &d).ok());
    EXPECT_EQ(d.flags, kReachLocked);
    EXPECT_EQ(d.conf_id, 0x20000ffffu);
    EXPECT_EQ(d.lock.coordinator, "alpha");
    EXPECT_EQ(d.lock.attempt, 12u);
    ASSERT_EQ(d.reachable.size(), 2u);
    EXPECT_EQ(d.reachable[0].name, "beta");
    EXPECT_EQ(d.reachable[1].name, "gamma");
    EXPECT_EQ(d.reachable[1].incarnation, 2u);
  });
  ExpectStrict(bytes, [](const Frame& f) {
    Reach d;
    return DecodeReach(f, &d);
  });
}

TEST(MeshFrameTest, ProposeAcceptInstallRoundTrip) {
  std::string p, a, i;
  EncodePropose({1, 0}, Propose{7, {{"a", 1}, {"b", 2}}}, &p);
  Accept acc;
  acc.attempt = 7;
  acc.old_conf_id = 5;
  acc.max_conf_id = 6;
  acc.safe_bound = 77;
  acc.held = {{"", "a", 3, 30}, {"", "c", 9, 90}};
  acc.state = std::string_view("st\0a", 4);
  EncodeAccept({2, 1}, acc, &a);
  Install inst;
  inst.attempt = 7;
  inst.conf_id = 0x30000;
  inst.members = {{"a", 1, 5, 40, "state-a"}, {"b", 2, 4, 41, ""}};
  inst.held = {{"a", "a", 3, 30}, {"b", "b", 1, 10}, {"a", "c", 9, 91}};
  EncodeInstall({3, 1}, inst, &i);
  ForEverySplit(p, [](const Frame& f) {
    Propose d;
    ASSERT_TRUE(DecodePropose(f, &d).ok());
    EXPECT_EQ(d.attempt, 7u);
    ASSERT_EQ(d.members.size(), 2u);
    EXPECT_EQ(d.members[1].name, "b");
    EXPECT_EQ(d.members[1].incarnation, 2u);
  });
  ForEverySplit(a, [](const Frame& f) {
    Accept d;
    ASSERT_TRUE(DecodeAccept(f, &d).ok());
    EXPECT_EQ(d.attempt, 7u);
    EXPECT_EQ(d.old_conf_id, 5u);
    EXPECT_EQ(d.max_conf_id, 6u);
    EXPECT_EQ(d.safe_bound, 77u);
    ASSERT_EQ(d.held.size(), 2u);
    EXPECT_EQ(d.held[1].origin, "c");
    EXPECT_EQ(d.held[1].held, 9u);
    EXPECT_EQ(d.held[1].high, 90u);
    EXPECT_EQ(d.state, std::string_view("st\0a", 4));
  });
  ForEverySplit(i, [](const Frame& f) {
    Install d;
    ASSERT_TRUE(DecodeInstall(f, &d).ok());
    EXPECT_EQ(d.conf_id, 0x30000u);
    ASSERT_EQ(d.members.size(), 2u);
    EXPECT_EQ(d.members[1].old_conf_id, 4u);
    EXPECT_EQ(d.members[0].state, "state-a");
    EXPECT_EQ(d.members[1].state, "");
    ASSERT_EQ(d.held.size(), 3u);
    EXPECT_EQ(d.held[2].member, "a");
    EXPECT_EQ(d.held[2].origin, "c");
    EXPECT_EQ(d.held[2].held, 9u);
    EXPECT_EQ(d.held[2].high, 91u);
  });
  ExpectStrict(p, [](const Frame& f) {
    Propose d;
    return DecodePropose(f, &d);
  });
  ExpectStrict(a, [](const Frame& f) {
    Accept d;
    return DecodeAccept(f, &d);
  });
  ExpectStrict(i, [](const Frame& f) {
    Install d;
    return DecodeInstall(f, &d);
  });
}

TEST(MeshFrameTest, RetransRoundTrip) {
  std::string bytes;
  Retrans m;
  m.origin = "gamma";
  m.item.conf_id = 4;
  m.item.ts = 10;
  m.item.oseq = 2;
  m.item.kind = 1;
  m.item.body = "x";
  EncodeRetrans({4, 0}, m, &bytes);
  ForEverySplit(bytes, [](const Frame& f) {
    Retrans d;
    ASSERT_TRUE(DecodeRetrans(f, &d).ok());
    EXPECT_EQ(d.origin, "gamma");
    EXPECT_EQ(d.item.ts, 10u);
    EXPECT_EQ(d.item.oseq, 2u);
    EXPECT_EQ(d.item.body, "x");
  });
  ExpectStrict(bytes, [](const Frame& f) {
    Retrans d;
    return DecodeRetrans(f, &d);
  });
}

TEST(MeshFrameTest, HugeCountRejectedWithoutAllocating) {
  std::string bytes;
  Propose m{1, {}};
  EncodePropose({1, 0}, m, &bytes);
  // Claim 1000 members with no bytes behind the count.
  bytes[kHeaderSize + kLinkPrefixSize + 8] = static_cast<char>(1000 & 0xff);
  bytes[kHeaderSize + kLinkPrefixSize + 9] = static_cast<char>(1000 >> 8);
  Frame f;
  f.header.type = static_cast<FrameType>(bytes[4]);
  f.body = std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()) + kHeaderSize,
      bytes.size() - kHeaderSize);
  Propose d;
  EXPECT_EQ(DecodePropose(f, &d).code(), Status::Code::kProtocolError);
}

TEST(MeshFrameTest, PatchLinkPrefix) {
  std::string bytes;
  EncodeClock({1, 1}, Clock{1, 2, 3}, &bytes);
  PatchLinkPrefix(&bytes, {0x0102030405060708ull, 55});
  Frame f;
  f.header.type = static_cast<FrameType>(bytes[4]);
  f.body = std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()) + kHeaderSize,
      bytes.size() - kHeaderSize);
  LinkPrefix p;
  std::span<const uint8_t> rest;
  ASSERT_TRUE(DecodeLinkPrefix(f, &p, &rest).ok());
  EXPECT_EQ(p.link_seq, 0x0102030405060708ull);
  EXPECT_EQ(p.ack, 55u);
  Clock d;
  ASSERT_TRUE(DecodeClock(f, &d).ok());
  EXPECT_EQ(d.stable, 3u);
}

TEST(MeshFrameTest, TypeNames) {
  EXPECT_EQ(MeshFrameTypeName(0x44), "ITEM");
  EXPECT_TRUE(IsKnownMeshFrameType(0x49));
  EXPECT_EQ(MeshFrameTypeName(0x4b), "GATHER_REQ");
  EXPECT_TRUE(IsKnownMeshFrameType(0x4d));
  EXPECT_TRUE(IsSequencedMeshFrameType(0x4d));
  EXPECT_TRUE(IsKnownMeshFrameType(0x4e));
  EXPECT_FALSE(IsKnownMeshFrameType(0x4f));
  EXPECT_TRUE(IsSequencedMeshFrameType(0x43));
  EXPECT_FALSE(IsSequencedMeshFrameType(0x41));
}

}  // namespace
}  // namespace msgc::wire
