// Micro-benchmarks of the wire codec (src/wire/frame.h): the server's hot
// path encodes one DELIVER per message and splits the client's byte stream
// with FrameDecoder. Run: build/bench/wire_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <array>
#include <string>
#include <string_view>

#include "wire/frame.h"

namespace {

using msgc::wire::EncodeDeliver;
using msgc::wire::Frame;
using msgc::wire::FrameDecoder;
using msgc::wire::Service;

// One DELIVER of `payload` bytes to one group, as msgcd builds it.
void BM_EncodeDeliver(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'x');
  const std::array<std::string_view, 1> groups = {"bench"};
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeDeliver(Service::kFifo, 0, "#publisher#node1", groups, data, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(out.size()));
}
BENCHMARK(BM_EncodeDeliver)->Arg(100)->Arg(1024)->Arg(16384);

// FrameDecoder::Next over a stream of 100 B DELIVER frames fed in 64 KiB
// reads, the way a connection reads its socket.
void BM_FrameDecoderNext(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'x');
  const std::array<std::string_view, 1> groups = {"bench"};
  std::string one;
  EncodeDeliver(Service::kFifo, 0, "#publisher#node1", groups, data, &one);
  std::string chunk;
  while (chunk.size() + one.size() <= 64 * 1024) chunk += one;
  const int64_t frames_per_chunk =
      static_cast<int64_t>(chunk.size() / one.size());
  FrameDecoder decoder(64u << 20);
  int64_t frames = 0;
  for (auto _ : state) {
    decoder.Append(chunk);
    Frame f;
    while (decoder.Next(&f) == FrameDecoder::Result::kFrame) {
      benchmark::DoNotOptimize(f.body.data());
      ++frames;
    }
  }
  if (frames != state.iterations() * frames_per_chunk) {
    state.SkipWithError("decoder lost frames");
  }
  state.SetItemsProcessed(frames);
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(chunk.size()));
}
BENCHMARK(BM_FrameDecoderNext)->Arg(100)->Arg(1024);

// Decode + DecodeDeliver: what a client does per message.
void BM_DecodeDeliver(benchmark::State& state) {
  const std::string data(100, 'x');
  const std::array<std::string_view, 1> groups = {"bench"};
  std::string one;
  EncodeDeliver(Service::kFifo, 0, "#publisher#node1", groups, data, &one);
  FrameDecoder decoder(64u << 20);
  for (auto _ : state) {
    decoder.Append(one);
    Frame f;
    if (decoder.Next(&f) != FrameDecoder::Result::kFrame) {
      state.SkipWithError("no frame");
      break;
    }
    msgc::wire::Deliver d;
    benchmark::DoNotOptimize(msgc::wire::DecodeDeliver(f, &d));
    benchmark::DoNotOptimize(d.data.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeDeliver);

}  // namespace

BENCHMARK_MAIN();
