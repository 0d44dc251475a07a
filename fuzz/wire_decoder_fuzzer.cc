// libFuzzer target for the wire codec: the input is a byte stream cut into
// chunks (the first byte picks the chunk size), fed to a FrameDecoder, and
// every frame is decoded by its type's decoder (client and mesh frames).
// Anything but a clean Status or a clean decoder error is a bug; sanitizers
// catch the rest.
#include <cstddef>
#include <cstdint>

#include "wire/frame.h"
#include "wire/mesh_frame.h"

using msgc::wire::Frame;
using msgc::wire::FrameDecoder;
using msgc::wire::FrameType;

namespace {

void DecodeMesh(const Frame& f) {
  using msgc::wire::MeshFrameType;
  switch (static_cast<MeshFrameType>(f.header.type)) {
    case MeshFrameType::kLinkSync: {
      msgc::wire::LinkSync m;
      (void)msgc::wire::DecodeLinkSync(f, &m);
      break;
    }
    case MeshFrameType::kLinkAck:
    case MeshFrameType::kBye:
      (void)msgc::wire::DecodeMeshEmpty(f);
      break;
    case MeshFrameType::kReach: {
      msgc::wire::Reach m;
      (void)msgc::wire::DecodeReach(f, &m);
      break;
    }
    case MeshFrameType::kItem: {
      msgc::wire::Item m;
      (void)msgc::wire::DecodeItem(f, &m);
      break;
    }
    case MeshFrameType::kClock: {
      msgc::wire::Clock m;
      (void)msgc::wire::DecodeClock(f, &m);
      break;
    }
    case MeshFrameType::kPropose: {
      msgc::wire::Propose m;
      (void)msgc::wire::DecodePropose(f, &m);
      break;
    }
    case MeshFrameType::kAccept: {
      msgc::wire::Accept m;
      (void)msgc::wire::DecodeAccept(f, &m);
      break;
    }
    case MeshFrameType::kInstall: {
      msgc::wire::Install m;
      (void)msgc::wire::DecodeInstall(f, &m);
      break;
    }
    case MeshFrameType::kRetrans: {
      msgc::wire::Retrans m;
      (void)msgc::wire::DecodeRetrans(f, &m);
      break;
    }
    case MeshFrameType::kLateBody: {
      msgc::wire::Item m;
      (void)msgc::wire::DecodeLateBody(f, &m);
      break;
    }
    case MeshFrameType::kGatherReq: {
      msgc::wire::GatherReq m;
      (void)msgc::wire::DecodeGatherReq(f, &m);
      break;
    }
    case MeshFrameType::kGatherItem: {
      msgc::wire::GatherItem m;
      (void)msgc::wire::DecodeGatherItem(f, &m);
      break;
    }
    case MeshFrameType::kItems: {
      std::vector<msgc::wire::Item> m;
      (void)msgc::wire::DecodeItems(f, &m);
      break;
    }
    case MeshFrameType::kGatherDone: {
      uint64_t id = 0;
      (void)msgc::wire::DecodeGatherDone(f, &id);
      break;
    }
    default: {
      msgc::wire::LinkPrefix prefix;
      std::span<const uint8_t> rest;
      (void)msgc::wire::DecodeLinkPrefix(f, &prefix, &rest);
      break;
    }
  }
}

void DecodeOne(const Frame& f) {
  switch (f.header.type) {
    case FrameType::kHello: {
      msgc::wire::Hello m;
      (void)msgc::wire::DecodeHello(f, &m);
      break;
    }
    case FrameType::kWelcome: {
      msgc::wire::Welcome m;
      (void)msgc::wire::DecodeWelcome(f, &m);
      break;
    }
    case FrameType::kError: {
      msgc::wire::Error m;
      (void)msgc::wire::DecodeError(f, &m);
      break;
    }
    case FrameType::kJoin: {
      msgc::wire::Join m;
      (void)msgc::wire::DecodeJoin(f, &m);
      break;
    }
    case FrameType::kLeave: {
      msgc::wire::Leave m;
      (void)msgc::wire::DecodeLeave(f, &m);
      break;
    }
    case FrameType::kSend: {
      msgc::wire::Send m;
      if (msgc::wire::DecodeSend(f, &m).ok()) {
        // Walk the names: iteration must stay inside the frame.
        size_t total = 0;
        for (std::string_view g : m.groups) total += g.size();
        (void)total;
        std::string out;
        msgc::wire::EncodeDeliver(m.service, m.flags, "#f#n", m.groups, m.data,
                                  &out);
      }
      break;
    }
    case FrameType::kDeliver: {
      msgc::wire::Deliver m;
      (void)msgc::wire::DecodeDeliver(f, &m);
      break;
    }
    case FrameType::kMembership: {
      msgc::wire::Membership m;
      if (msgc::wire::DecodeMembership(f, &m).ok()) {
        (void)m.changed.ToVector();
        (void)m.members.ToVector();
      }
      break;
    }
    case FrameType::kNoop:
    case FrameType::kGoodbye:
      (void)msgc::wire::DecodeEmpty(f);
      break;
    default:  // the mesh range (0x40-0x7f)
      DecodeMesh(f);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = (data[0] % 16) + 1;
  ++data;
  --size;
  // A small body limit so that the oversized-frame path is exercised too.
  FrameDecoder dec(4096);
  Frame f;
  for (size_t pos = 0; pos < size; pos += chunk) {
    size_t n = std::min(chunk, size - pos);
    dec.Append(std::span<const uint8_t>(data + pos, n));
    for (;;) {
      auto r = dec.Next(&f);
      if (r == FrameDecoder::Result::kFrame) {
        DecodeOne(f);
        continue;
      }
      if (r == FrameDecoder::Result::kTooLarge) continue;
      if (r == FrameDecoder::Result::kError) return 0;
      break;
    }
  }
  return 0;
}
